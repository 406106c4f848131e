"""A task suite on disk (Exercism's layout) and the throwaway git repo each task runs in.

A suite is a folder of task folders, each with `task.json` (slug, difficulty, solution and test
file names), `instructions.md`, the stub and the tests. Only those files reach the task's repo:
the suite's `.approaches/` and `.articles/` folders hold reference solutions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agentsmith.errors import UserError

GIT_IDENTITY = ["-c", "user.name=agentsmith-bench", "-c", "user.email=bench@localhost"]


@dataclass(frozen=True)
class BenchTask:
    slug: str
    difficulty: int
    folder: Path
    solution_files: tuple[str, ...]   # the stubs the agent implements
    test_files: tuple[str, ...]       # read-only to the agent; success means they pass unchanged

    @property
    def instructions(self) -> str:
        return (self.folder / "instructions.md").read_text(encoding="utf-8").strip()

    def task_text(self) -> str:
        stubs = ", ".join(self.solution_files)
        tests = ", ".join(self.test_files)
        return (f"{self.instructions}\n\n"
                f"Implement the solution in {stubs}. The tests in {tests} must pass; "
                f"do not change the tests.")


def load_suite(path: str | Path) -> list[BenchTask]:
    """Every task in the suite folder, sorted by slug."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"bench suite {root} is not a folder",
                        "pass a suite folder, e.g. ../shared/bench/exercism-python")
    tasks = [_load_task(folder) for folder in sorted(root.iterdir())
             if folder.is_dir() and (folder / "task.json").is_file()]
    if not tasks:
        raise UserError(f"bench suite {root} holds no tasks",
                        "each task is a folder with task.json, instructions.md, the stub and the tests")
    return tasks


def _load_task(folder: Path) -> BenchTask:
    try:
        meta = json.loads((folder / "task.json").read_text(encoding="utf-8"))
        task = BenchTask(slug=str(meta.get("slug") or folder.name), difficulty=int(meta.get("difficulty") or 1),
                         folder=folder.resolve(), solution_files=tuple(meta["solution"]),
                         test_files=tuple(meta["test"]))
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"bench task {folder}/task.json is malformed ({err})",
                        "it needs slug, difficulty, solution [files] and test [files]") from None
    missing = [name for name in ("instructions.md", *task.solution_files, *task.test_files)
               if not (folder / name).is_file()]
    if missing:
        raise UserError(f"bench task {folder.name} lacks {', '.join(missing)}", "restore the task folder")
    return task


def select_tasks(tasks: list[BenchTask], *, slugs: list[str] | None = None, limit: int | None = None) -> list[BenchTask]:
    if slugs:
        by_slug = {t.slug: t for t in tasks}
        unknown = [s for s in slugs if s not in by_slug]
        if unknown:
            raise UserError(f"unknown task(s): {', '.join(unknown)}",
                            f"pick from: {', '.join(sorted(by_slug)[:12])}, ... (the suite's folder names)")
        tasks = [by_slug[s] for s in dict.fromkeys(slugs)]
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit {limit} selects no task", "use --limit 1 or more")
        tasks = tasks[:limit]
    return tasks


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def build_task_repo(task: BenchTask, dest: Path) -> Path:
    """A fresh git repo holding only the instructions, the stub(s) and the tests, committed on main."""
    dest.mkdir(parents=True, exist_ok=True)
    git(dest, "init", "-q", "-b", "main")
    for name in ("instructions.md", *task.solution_files, *task.test_files):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(task.folder / name, target)
        target.chmod(0o644)   # the suite is read-only; the agent's worktree must not be
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"bench task {task.slug}")
    return dest
