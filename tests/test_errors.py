"""Internal failures reach the user as one line naming the problem and the fix, exit 2; the
traceback only with --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_repo

AGENTSMITH = [sys.executable, "-m", "agentsmith"]
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policies" / "default.yaml"


def _policy_with_image(tmp_path: Path, image: str) -> Path:
    text = DEFAULT_POLICY.read_text()
    lines = [f'  image: "{image}"' if line.startswith("  image: ") else line for line in text.splitlines()]
    path = tmp_path / "policy.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.docker
def test_a_docker_api_error_is_one_line_and_the_traceback_needs_debug(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    policy = _policy_with_image(tmp_path, "Not A Valid Reference!!")
    argv = [*AGENTSMITH, "sandbox", "exec", "--policy", str(policy), "--repo", str(repo), "--", "true"]
    plain = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentsmith: the Docker engine refused"), plain.stderr
    assert "docker info" in lines[0] and "Traceback" not in plain.stderr

    debug = subprocess.run([*AGENTSMITH, "--debug", *argv[3:]], capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_a_failed_git_command_is_one_line(tmp_path):
    from agentsmith import vcs
    from agentsmith.errors import GitError

    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    with pytest.raises(GitError) as caught:
        vcs.create_worktree(repo, "same-id", tmp_path / "wt1")
        vcs.create_worktree(repo, "same-id", tmp_path / "wt2")  # the branch exists already
    message = str(caught.value)
    assert "\n" not in message and "agentsmith/same-id" in message and "git status" in message
