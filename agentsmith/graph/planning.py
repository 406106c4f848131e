"""The planner: localise the task in the repo, then split it into steps. Deterministic and logged:
asking a 1.5B model to plan or explore costs more than it is right.

Localising ranks the repo map's functions and classes (agentsmith.repomap.rank); a file the task
names still wins. Each step is a plain dict:

    id, description, difficulty (1-5), files (repo-relative paths to change),
    context (test files to show), symbols ({path, name, qualname, kind, lineno, end_lineno}: what
    the step changes), tests (pytest node ids using those symbols), candidates (the top ranked
    symbols with score and reasons, so the plan event logs why this choice).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from agentsmith import vcs
from agentsmith.edits import pyast
from agentsmith.repomap import Candidate, RepoMap, build_map, covering_tests, is_test_file, rank
from agentsmith.repomap.rank import words as task_words

__all__ = ["is_test_file", "plan_steps"]

_HARD_WORDS = re.compile(
    r"\b(refactor|concurren\w*|thread\w*|async\w*|architect\w*|migrat\w*|"
    r"security|crypt\w*|parser|optimi[sz]\w*|performance|protocol)\b",
    re.I,
)
_NEW_PATH = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.[a-z]{1,5})(?![\w-])")
SOURCE_SUFFIXES = {".py", ".pyi", ".toml", ".cfg", ".txt", ".md", ".yaml", ".yml", ".json", ".sh"}
CANDIDATES_LOGGED = 8
MAX_STEPS = 4


def plan_steps(task: str, root: Path, *, read_only: list[str]) -> list[dict[str, Any]]:
    tracked = vcs.tracked_files(root)
    named = _named_targets(task, tracked, read_only)
    repo_map = build_map(root, paths=[p for p in tracked if p.endswith(".py")])
    ranked = rank(repo_map, task, exclude=set(read_only), named_files=set(named))
    candidates = [c.to_dict() for c in ranked[:CANDIDATES_LOGGED]]
    if named:
        return [_named_file_step(task, root, tracked, named, ranked, repo_map, candidates)]
    targets = _chosen(task, ranked)
    if not targets:
        return [_whole_repo_step(task, root, tracked, read_only, candidates)]
    steps = [
        _symbol_step(
            task,
            index,
            chosen,
            repo_map,
            candidates,
            several=len(targets) > 1,
            delegates=_delegates(root, chosen, ranked),
        )
        for index, chosen in enumerate(targets, start=1)
    ]
    return steps


def _named_targets(task: str, tracked: list[str], read_only: list[str]) -> list[str]:
    """Files the task names (by path or file name), and files it names that do not exist yet."""
    named = [
        p
        for p in tracked
        if re.search(rf"(?<![\w./-]){re.escape(p)}(?![\w-])", task)
        or re.search(rf"(?<![\w./-]){re.escape(Path(p).name)}(?![\w-])", task)
    ]
    targets = [p for p in named if not is_test_file(p) and p not in read_only]
    tracked_set = set(tracked)
    # A bare name that is a tracked file's name ("in number.py" for src/humanize/number.py) means that
    # file, not a new one at the top: only a name no tracked file has is a file to create.
    known_names = {Path(p).name for p in named}
    # Files the task names that do not exist yet are targets too ("add a module cache.py").
    targets += [
        t
        for t in dict.fromkeys(_NEW_PATH.findall(task))
        if t not in tracked_set
        and not is_test_file(t)
        and Path(t).suffix in SOURCE_SUFFIXES
        and ".." not in t
        and not t.startswith("/")
        and not ("/" not in t and t in known_names)
    ]
    return targets


def _chosen(task: str, ranked: list[Candidate]) -> list[Candidate]:
    """The symbols to change. Several stubs the task names verbatim are several steps (one each, in
    the order the task names them); otherwise the best candidate alone, if anything matched."""
    named_stubs = [
        c
        for c in ranked
        if c.symbol.stub and c.symbol.kind != "class" and any(r.endswith("named in task") for r in c.reasons)
    ]
    if len(named_stubs) > 1:

        def position(c: Candidate) -> int:
            found = re.search(rf"(?<![\w]){re.escape(c.symbol.name)}(?![\w])", task)
            return found.start() if found else len(task)

        return sorted(named_stubs, key=position)[:MAX_STEPS]
    if not ranked or ranked[0].score <= 0:
        return []
    return [_whole_small_class(ranked[0], ranked)]


SMALL_CLASS_LINES = 60


def _whole_small_class(chosen: Candidate, ranked: list[Candidate]) -> Candidate:
    """A method reached from what a bug report names stands for its class when the class is small: the
    fault may be in how the method's class is set up (sqlparse's TruncateStringFilter: the report's words
    chose `__init__`, the bug was in `process`), and the step's edit then reaches every method."""
    parent = chosen.symbol.qualname.rpartition(".")[0]
    if not chosen.chain or not parent:
        return chosen
    for other in ranked:
        s = other.symbol
        if other.path == chosen.path and s.qualname == parent and s.kind == "class":
            if s.end_lineno - s.lineno + 1 <= SMALL_CLASS_LINES:
                above = chosen.chain[:-1]
                other.chain = other.chain or (above if above[-1:] == [parent] else [*above, parent])
                return other
            break
    return chosen


THIN_BODY_LINES = 6  # a body this short (docstring aside) mostly hands its work on
MAX_DELEGATES = 3
DELEGATES_LINES = 120  # what the delegates may add to the code shown


def _delegates(root: Path, chosen: Candidate, ranked: list[Candidate]) -> list[Candidate]:
    """What a thin, written function the task names hands its work to, in its own file: shown and
    editable in the same step. A report names the API the user called, and when that API is a wrapper the
    fault is below it (inflection's `ordinalize` returns `number + ordinal(number)`, the bug was in
    `ordinal`; toolz's `compose_left` calls `compose`, which builds a `Compose`, whose `__init__` held it).
    Followed while each is thin, one callee a level (the one scoring highest for the task, never one the
    task's words miss entirely); a big class reached stands as its `__init__` and `__call__`."""
    symbol = chosen.symbol
    if symbol.stub or symbol.kind == "class" or not any(r.endswith("named in task") for r in chosen.reasons):
        return []
    try:
        tree = pyast.parse((root / chosen.path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []
    if tree is None:
        return []
    in_file = {c.symbol.qualname: c for c in ranked if c.path == chosen.path}
    found: list[Candidate] = []
    current, lines = chosen, 0
    while len(found) < MAX_DELEGATES and _body_lines(tree, current.symbol) <= THIN_BODY_LINES:
        owner = current.symbol.qualname.rpartition(".")[0]  # a method's `self._helper()` is its class's
        callees = [
            c
            for ref in current.symbol.refs
            for c in [in_file.get(ref) or (in_file.get(f"{owner}.{ref}") if owner else None)]
            if c and c is not chosen and c not in found and not c.symbol.stub and c.score > 0
        ]
        if not callees:
            break
        callee = max(callees, key=lambda c: c.score)
        if callee.symbol.kind == "class" and callee.symbol.end_lineno - callee.symbol.lineno + 1 > SMALL_CLASS_LINES:
            parts = [in_file.get(f"{callee.symbol.qualname}.{m}") for m in ("__init__", "__call__")]
            shown = [c for c in parts if c and c not in found]
        else:
            shown = [callee]
        size = sum(c.symbol.end_lineno - c.symbol.lineno + 1 for c in shown)
        if not shown or lines + size > DELEGATES_LINES:
            break
        found += shown[: MAX_DELEGATES - len(found)]
        lines += size
        if callee.symbol.kind == "class":
            break
        current = callee
    return found


def _body_lines(tree: ast.Module, symbol) -> int:
    """The lines of a function's body, its docstring left out (a large number when it is not found)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == symbol.name:
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if start != symbol.lineno:
                continue
            body = node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body
            return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1 if body else 0
    return 1 << 30


def _symbol_step(
    task: str,
    index: int,
    chosen: Candidate,
    repo_map: RepoMap,
    candidates: list[dict[str, Any]],
    *,
    several: bool,
    delegates: list[Candidate] = (),
) -> dict[str, Any]:
    symbol = chosen.symbol
    tests = covering_tests(repo_map, symbol.name)
    if delegates:
        # The wrapper's tests first: they call the API the report names.
        tests = list(dict.fromkeys(tests + [t for d in delegates for t in covering_tests(repo_map, d.symbol.name)]))
        tests = tests[:20]
    if chosen.chain:
        # Reached from what the report names: that symbol's tests reach this code too, those whose names
        # share the report's words first (sqlparse's test_identifiercase_quotes for a quoted-name bug).
        tests = list(
            dict.fromkeys(
                tests + _by_task_words(task, covering_tests(repo_map, chosen.chain[0].rpartition(".")[2], limit=200))
            )
        )
        tests = tests[:20]
    context = list(dict.fromkeys(node.split("::", 1)[0] for node in tests))[:3]
    span = symbol.end_lineno - symbol.lineno + 1
    difficulty = 1 + (span > 40) + (span > 150) + bool(_HARD_WORDS.search(task)) + (symbol.kind == "class")
    description = f"{task}\n\n(This step: `{symbol.qualname}` in {chosen.path}.)" if several else task
    if chosen.chain:
        calls = " -> ".join(f"`{q}`" for q in chosen.chain)
        description += f"\n\n(Where the code at fault is likely to be: {calls}, in {chosen.path}.)"
    elif delegates:
        calls = " -> ".join(f"`{q}`" for q in [symbol.qualname, *(d.symbol.qualname for d in delegates)])
        description += (
            f"\n\n(`{symbol.qualname}` hands its work on: {calls}, in {chosen.path}. The fault may be in any of "
            "them; change only the one at fault.)"
        )
    return {
        "id": f"step-{index}",
        "description": description,
        "difficulty": min(difficulty, 5),
        "files": [chosen.path],
        "context": context,
        "symbols": [chosen.ref(), *(d.ref() for d in delegates)],
        "tests": tests,
        "candidates": candidates,
    }


def _by_task_words(task: str, tests: list[str]) -> list[str]:
    """`tests` (pytest node ids), those whose names hold more of the task's words first."""
    wanted = {w for w in task_words(task) if len(w) > 3}

    def shared(node: str) -> int:
        name = node.rpartition("::")[2].lower()
        return sum(1 for w in wanted if w in name)

    return sorted(tests, key=lambda node: -shared(node))


def _named_file_step(
    task: str,
    root: Path,
    tracked: list[str],
    targets: list[str],
    ranked: list[Candidate],
    repo_map: RepoMap,
    candidates: list[dict[str, Any]],
) -> dict[str, Any]:
    """The task names its files (an Exercism stub): one step over them, as the task says."""
    files = targets[:6]
    in_files = [c for c in ranked if c.path in files]
    # The stubs in the named files are what the step implements; else what the task names there.
    symbols = [c for c in in_files if c.symbol.stub and c.symbol.kind != "class"] or [
        c for c in in_files if any(r.endswith("named in task") for r in c.reasons)
    ]
    symbols.sort(key=lambda c: (files.index(c.path), c.symbol.lineno))
    tests = list(dict.fromkeys(t for c in symbols for t in covering_tests(repo_map, c.symbol.name)))
    size = sum((root / p).stat().st_size for p in targets if (root / p).is_file())
    difficulty = 1 + (len(targets) > 1) + (len(targets) > 3) + (size > 8_000) + bool(_HARD_WORDS.search(task))
    return {
        "id": "step-1",
        "description": task,
        "difficulty": min(difficulty, 5),
        "files": files,
        "context": _related_tests(root, tracked, files)[:3],
        "symbols": [c.ref() for c in symbols],
        "tests": tests[:20],
        "candidates": candidates,
    }


def _whole_repo_step(
    task: str, root: Path, tracked: list[str], read_only: list[str], candidates: list[dict[str, Any]]
) -> dict[str, Any]:
    """Nothing in the repo matches the task: every source file is a target (a tiny repo)."""
    targets = [
        p
        for p in tracked
        if p.endswith(".py")
        and not is_test_file(p)
        and p not in read_only
        and Path(p).name not in {"setup.py", "conftest.py"}
    ]
    size = sum((root / p).stat().st_size for p in targets if (root / p).is_file())
    difficulty = 1 + (len(targets) > 1) + (len(targets) > 3) + (size > 8_000) + bool(_HARD_WORDS.search(task))
    return {
        "id": "step-1",
        "description": task,
        "difficulty": min(difficulty, 5),
        "files": targets[:6],
        "context": _related_tests(root, tracked, targets)[:3],
        "symbols": [],
        "tests": [],
        "candidates": candidates,
    }


def _related_tests(root: Path, tracked: list[str], targets: list[str]) -> list[str]:
    """Tests that mention a target module are the ones worth showing the model."""
    tests = [p for p in tracked if is_test_file(p)]
    stems = {Path(p).stem for p in targets}
    return [
        t
        for t in tests
        if (root / t).is_file()
        and any(re.search(rf"\b{re.escape(s)}\b", (root / t).read_text(errors="replace")) for s in stems)
    ] or tests
