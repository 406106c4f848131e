"""Shared fixtures: an isolated AGENTSMITH_HOME (models and tools shared), real git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.frontier_standin import frontier_env, frontier_standin  # noqa: F401 (shared, session-scoped)

REAL_HOME = Path(
    os.environ.get("AGENTSMITH_HOME")
    or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "agentsmith"
)
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def agentsmith_home(tmp_path_factory) -> Path:
    """Checkpoints, audit log and worktrees go to a throwaway home; the big models and Semgrep's venv
    are shared with the real one (setup put them there)."""
    home = tmp_path_factory.mktemp("agentsmith-home")
    for shared in ("models", "tools"):
        (REAL_HOME / shared).mkdir(parents=True, exist_ok=True)
        (home / shared).symlink_to(REAL_HOME / shared)
    os.environ["AGENTSMITH_HOME"] = str(home)
    return home


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str], message: str = "init") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", message)
    return path


@pytest.fixture
def repo_factory(tmp_path):
    counter = iter(range(1000))

    def factory(files: dict[str, str]) -> Path:
        return make_repo(tmp_path / f"repo{next(counter)}", files)

    return factory
