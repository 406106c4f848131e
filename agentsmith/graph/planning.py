"""The planner: which files a task touches and how hard it looks. Heuristic, logged, and cheap:
asking a 1.5B model to plan costs more than it is right."""

from __future__ import annotations

import re
from pathlib import Path

from agentsmith import vcs

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py)$|(^|/)tests?/")
_HARD_WORDS = re.compile(r"\b(refactor|concurren\w*|thread\w*|async\w*|architect\w*|migrat\w*|"
                         r"security|crypt\w*|parser|optimi[sz]\w*|performance|protocol)\b", re.I)
_NEW_PATH = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.[a-z]{1,5})(?![\w-])")
SOURCE_SUFFIXES = {".py", ".pyi", ".toml", ".cfg", ".txt", ".md", ".yaml", ".yml", ".json", ".sh"}


def is_test_file(path: str) -> bool:
    return bool(_TEST_FILE.search(path))


def plan_steps(task: str, root: Path, *, read_only: list[str]) -> list[dict]:
    tracked = vcs.tracked_files(root)
    named = [p for p in tracked if re.search(rf"(?<![\w./-]){re.escape(p)}(?![\w-])", task)
             or re.search(rf"(?<![\w./-]){re.escape(Path(p).name)}(?![\w-])", task)]
    tests = [p for p in tracked if is_test_file(p)]
    targets = [p for p in named if not is_test_file(p) and p not in read_only]
    # Files the task names that do not exist yet are targets too ("add a module cache.py").
    tracked_set = set(tracked)
    targets += [t for t in dict.fromkeys(_NEW_PATH.findall(task))
                if t not in tracked_set and not is_test_file(t) and Path(t).suffix in SOURCE_SUFFIXES
                and ".." not in t and not t.startswith("/")]
    if not targets:
        targets = [p for p in tracked if p.endswith(".py") and not is_test_file(p)
                   and p not in read_only and Path(p).name not in {"setup.py", "conftest.py"}]
    # Tests that import a target module are the ones worth showing the model.
    stems = {Path(p).stem for p in targets}
    related = [t for t in tests if any(re.search(rf"\b{re.escape(s)}\b", (root / t).read_text(errors="replace"))
                                       for s in stems)] or tests
    size = sum((root / p).stat().st_size for p in targets if (root / p).is_file())
    difficulty = 1 + (len(targets) > 1) + (len(targets) > 3) + (size > 8_000) + bool(_HARD_WORDS.search(task))
    return [{
        "id": "step-1",
        "description": task,
        "difficulty": min(difficulty, 5),
        "files": targets[:6],
        "context": related[:3],
    }]
