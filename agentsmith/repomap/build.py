"""The repository map: every Python file parsed once per content. Parsed files are cached on disk
(one SQLite table keyed by the content's sha256), so a second map of a big repo reads, hashes and
looks up instead of parsing."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agentsmith import vcs
from agentsmith.errors import GitError
from agentsmith.repomap.model import FileMap, Symbol
from agentsmith.repomap.parse import content_sha, parse_file

# Bump when FileMap's shape or the parser's output changes: old rows are then ignored.
FORMAT = f"2-py{sys.version_info.major}.{sys.version_info.minor}"
SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".venv",
    "venv",
    "env",
    "__pycache__",
    "node_modules",
    ".tox",
    ".nox",
    "build",
    "dist",
    ".eggs",
    ".mypy_cache",
    ".pytest_cache",
    "site-packages",
}
_CHUNK = 500  # stays under SQLite's bound-variable limit on old builds


@dataclass
class RepoMap:
    root: Path
    files: dict[str, FileMap]
    stats: dict[str, float] = field(default_factory=dict)
    _refs: dict[str, set[tuple[str, str]]] | None = field(default=None, repr=False)

    def symbols(self) -> Iterator[tuple[str, Symbol]]:
        for path, fmap in self.files.items():
            for symbol in fmap.symbols:
                yield path, symbol

    def definitions(self, name: str) -> list[tuple[str, Symbol]]:
        return [(p, s) for p, s in self.symbols() if s.name == name or s.qualname == name]

    def referencers(self, name: str) -> set[tuple[str, str]]:
        """(path, qualname or "") of every function, class or module that uses `name`."""
        if self._refs is None:
            index: dict[str, set[tuple[str, str]]] = defaultdict(set)
            for path, fmap in self.files.items():
                for ref in fmap.refs:
                    index[ref].add((path, ""))
                for symbol in fmap.symbols:
                    for ref in symbol.refs:
                        index[ref].add((path, symbol.qualname))
            self._refs = dict(index)
        return self._refs.get(name, set())

    def lines(self) -> int:
        return sum(f.lines for f in self.files.values())


def python_files(root: Path) -> list[str]:
    """Tracked .py files in a git repo (what a worktree holds), else every .py file under root."""
    if (root / ".git").exists():
        with contextlib.suppress(GitError):
            return sorted(vcs.tracked_files(root, "*.py"))
    found: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        rel = Path(folder).relative_to(root)
        found += [(rel / n).as_posix() for n in names if n.endswith(".py")]
    return sorted(found)


def build_map(root: str | Path, *, paths: list[str] | None = None, cache: Path | bool | None = True) -> RepoMap:
    """The map of `root` (or of `paths` under it). cache: True for the default cache, a path for
    another SQLite file, False or None for none."""
    started = time.perf_counter()
    root = Path(root)
    paths = python_files(root) if paths is None else paths
    blobs: dict[str, tuple[str, bytes]] = {}
    for rel in paths:
        try:
            data = (root / rel).read_bytes()
        except OSError:  # deleted or unreadable since listing: it has no symbols
            continue
        blobs[rel] = (content_sha(data), data)
    store = _open_cache(cache)
    known = _cached(store, {sha for sha, _ in blobs.values()}) if store else {}
    files: dict[str, FileMap] = {}
    fresh: list[FileMap] = []
    for rel, (sha, data) in blobs.items():
        if sha in known:
            files[rel] = FileMap.from_dict({**known[sha], "path": rel})
        else:
            files[rel] = parse_file(rel, data, sha)
            fresh.append(files[rel])
    if store is not None:
        _store(store, fresh)
        store.close()
    stats = {
        "files": len(files),
        "parsed": len(fresh),
        "cached": len(files) - len(fresh),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return RepoMap(root=root, files=files, stats=stats)


def default_cache_path() -> Path:
    from agentsmith.config import home

    folder = home() / "repomap"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "blobs.sqlite"


def _open_cache(cache: Path | bool | None) -> sqlite3.Connection | None:
    if cache is None or cache is False:
        return None
    path = default_cache_path() if cache is True else Path(cache)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        store = sqlite3.connect(path, timeout=10)
        store.execute("PRAGMA journal_mode=WAL")
        store.execute("CREATE TABLE IF NOT EXISTS blobs (sha TEXT, format TEXT, data TEXT, PRIMARY KEY (sha, format))")
        return store
    except sqlite3.Error:  # the cache only saves time: a broken one must not stop a run
        return None


def _cached(store: sqlite3.Connection, shas: set[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    wanted = sorted(shas)
    try:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = store.execute(f"SELECT sha, data FROM blobs WHERE format = ? AND sha IN ({marks})", [FORMAT, *chunk])
            found.update((sha, json.loads(data)) for sha, data in rows)
    except (sqlite3.Error, ValueError):
        return {}
    return found


def _store(store: sqlite3.Connection, fresh: list[FileMap]) -> None:
    if not fresh:
        return
    try:
        with store:
            store.executemany(
                "INSERT OR REPLACE INTO blobs (sha, format, data) VALUES (?, ?, ?)",
                [(f.sha, FORMAT, json.dumps(f.to_dict(), separators=(",", ":"))) for f in fresh],
            )
    except sqlite3.Error:
        pass  # another process holds the lock for longer than the timeout; the next run caches
