"""A task suite on disk and the throwaway git repo each task runs in.

A suite is a folder of task folders, each with `task.json` (slug, difficulty, solution and test
file names) and `instructions.md`. Exercism tasks hold the stub and the tests beside them; only
those files reach the task's repo (the suite's `.approaches/` and `.articles/` folders hold
reference solutions). Real-repository tasks (`"kind": "repo"`, built by agentsmith.bench.realrepo)
hold a whole library in `repo/` with one function's body removed, the test selection that must
pass and the command that runs it. A real-repo definitions file (tasks.json) is built on first use.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from agentsmith import vcs
from agentsmith.errors import UserError

BENCH_IDENTITY = ("agentsmith-bench", "bench@localhost")  # the task's base commit, apart from the agent's


@dataclass(frozen=True)
class BenchTask:
    slug: str
    difficulty: int
    folder: Path
    solution_files: tuple[str, ...]  # the stubs the agent implements
    test_files: tuple[str, ...]  # read-only to the agent; success means they pass unchanged
    kind: str = "exercise"  # "exercise" | "repo"
    function: str = ""  # repo tasks: the function whose body was removed
    tests: tuple[str, ...] = ()  # repo tasks: the pytest node ids that must pass
    test_command: tuple[str, ...] = ()

    @property
    def source(self) -> Path:
        """The folder whose files make the task's repo."""
        return self.folder / "repo" if self.kind == "repo" else self.folder

    @property
    def instructions(self) -> str:
        return (self.folder / "instructions.md").read_text(encoding="utf-8").strip()

    def task_text(self) -> str:
        if self.kind == "repo":
            # Real tasks do not say where: finding the file is part of the job (and is measured).
            return f"{self.instructions}\n\nThe library's existing tests must pass; do not change the tests."
        stubs = ", ".join(self.solution_files)
        tests = ", ".join(self.test_files)
        return (
            f"{self.instructions}\n\n"
            f"Implement the solution in {stubs}. The tests in {tests} must pass; "
            f"do not change the tests."
        )


def load_suite(path: str | Path) -> list[BenchTask]:
    """Every task in the suite folder, sorted by slug."""
    root = Path(path).expanduser()
    if root.is_file() and root.suffix == ".json":
        from agentsmith.bench.realrepo import ensure_built

        root = ensure_built(root.resolve())
    if not root.is_dir():
        raise UserError(
            f"bench suite {root} is not a folder", "pass a suite folder, e.g. ../shared/bench/exercism-python"
        )
    tasks = [
        _load_task(folder) for folder in sorted(root.iterdir()) if folder.is_dir() and (folder / "task.json").is_file()
    ]
    if not tasks:
        raise UserError(
            f"bench suite {root} holds no tasks",
            "each task is a folder with task.json, instructions.md, the stub and the tests",
        )
    return tasks


def _load_task(folder: Path) -> BenchTask:
    try:
        meta = json.loads((folder / "task.json").read_text(encoding="utf-8"))
        task = BenchTask(
            slug=str(meta.get("slug") or folder.name),
            difficulty=int(meta.get("difficulty") or 1),
            folder=folder.resolve(),
            solution_files=tuple(meta["solution"]),
            test_files=tuple(meta["test"]),
            kind=str(meta.get("kind") or "exercise"),
            function=str(meta.get("function") or ""),
            tests=tuple(meta.get("tests") or ()),
            test_command=tuple(meta.get("test_command") or ()),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(
            f"bench task {folder}/task.json is malformed ({err})",
            "it needs slug, difficulty, solution [files] and test [files]",
        ) from None
    missing = [name for name in task.solution_files + task.test_files if not (task.source / name).is_file()]
    missing += [] if (folder / "instructions.md").is_file() else ["instructions.md"]
    if missing:
        raise UserError(f"bench task {folder.name} lacks {', '.join(missing)}", "restore the task folder")
    return task


def select_tasks(
    tasks: list[BenchTask], *, slugs: list[str] | None = None, limit: int | None = None
) -> list[BenchTask]:
    if slugs:
        by_slug = {t.slug: t for t in tasks}
        unknown = [s for s in slugs if s not in by_slug]
        if unknown:
            raise UserError(
                f"unknown task(s): {', '.join(unknown)}",
                f"pick from: {', '.join(sorted(by_slug)[:12])}, ... (the suite's folder names)",
            )
        tasks = [by_slug[s] for s in dict.fromkeys(slugs)]
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit {limit} selects no task", "use --limit 1 or more")
        tasks = tasks[:limit]
    return tasks


def build_task_repo(task: BenchTask, dest: Path) -> Path:
    """A fresh git repo committed on main: for an exercise only the instructions, the stub(s) and
    the tests; for a real-repo task the whole library as built."""
    dest.mkdir(parents=True, exist_ok=True)
    vcs.init_repo(dest)
    if task.kind == "repo":
        # copyfile, not copy2: the suite may be read-only; the agent's worktree must not be.
        shutil.copytree(task.source, dest, dirs_exist_ok=True, copy_function=shutil.copyfile)
    else:
        for name in ("instructions.md", *task.solution_files, *task.test_files):
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(task.folder / name, target)
            target.chmod(0o644)  # the suite is read-only; the agent's worktree must not be
    vcs.commit_everything(dest, f"bench task {task.slug}", identity=BENCH_IDENTITY)
    return dest
