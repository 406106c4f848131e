"""The repository map: files, symbols, signatures, docstrings and references, parsed with `ast`
and cached by content hash; localisation ranks its symbols for a task."""

from agentsmith.repomap.build import RepoMap, build_map, python_files
from agentsmith.repomap.model import FileMap, Symbol
from agentsmith.repomap.rank import Candidate, covering_tests, is_test_file, rank, split_identifier
from agentsmith.repomap.skeleton import skeleton, skeleton_of

__all__ = [
    "Candidate",
    "FileMap",
    "RepoMap",
    "Symbol",
    "build_map",
    "covering_tests",
    "is_test_file",
    "python_files",
    "rank",
    "skeleton",
    "skeleton_of",
    "split_identifier",
]
