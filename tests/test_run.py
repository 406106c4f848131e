"""`agentsmith run` end to end: real local model, real Docker sandbox, real Semgrep and Bandit, real git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agentsmith import vcs
from tests.conftest import git

AGENTSMITH = str(Path(sys.executable).with_name("agentsmith"))

CLAMP_REPO = {
    "mathutil.py": (
        '"""Number helpers."""\n\n\ndef clamp(value, low, high):\n'
        '    """Return value limited to the range [low, high]."""\n    raise NotImplementedError\n'
    ),
    "test_mathutil.py": (
        "from mathutil import clamp\n\n\n"
        "def test_inside():\n    assert clamp(5, 0, 10) == 5\n\n\n"
        "def test_below():\n    assert clamp(-3, 0, 10) == 0\n\n\n"
        "def test_above():\n    assert clamp(42, 0, 10) == 10\n"
    ),
}
TASK = "Implement clamp in mathutil.py so the tests pass"


def run_cli(*args: str, env: dict | None = None, timeout: float = 600, stdin: str | None = None):
    full_env = os.environ | {"AGENTSMITH_LOCAL_MODEL": "qwen2.5-coder-0.5b"} | (env or {})
    return subprocess.run(
        [AGENTSMITH, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=stdin if stdin is not None else "",
    )


def test_run_makes_a_branch_with_one_green_commit_and_leaves_main_alone(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    before = vcs.status_snapshot(repo)

    proc = run_cli("run", TASK, "--repo", str(repo), "--tier", "local", "--mode", "ci", "--json")

    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "committed"
    assert result["tiers_used"] == ["local"]
    assert result["tokens"]["completion"] > 0 and result["seconds"] > 0
    assert result["calls"][0]["model"] and result["calls"][0]["reason"]
    assert result["blocking"] == 0
    # Where the time went: each part measured at its node, orchestration the rest of the wall time.
    split = result["time_split"]
    assert split["model"] > 0 and split["sandbox"] > 0 and split["gate"] > 0 and split["waiting"] < 0.5
    assert (
        abs(sum(split[k] for k in ("model", "sandbox", "gate", "orchestration", "waiting")) - result["seconds"]) < 0.1
    )
    assert 0 <= split["orchestration_share"] <= 1
    # A fresh process: the first call evaluates its whole prompt.
    assert result["calls"][0]["prompt_tokens_evaluated"] == result["calls"][0]["prompt_tokens"]

    branch, commit = result["branch"], result["commit"]
    assert branch.startswith("agentsmith/")
    assert git(repo, "rev-parse", branch).strip() == commit
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    message = git(repo, "log", "-1", "--format=%B", branch)
    assert f"Agentsmith-Run: {result['run_id']}" in message
    assert "Agentsmith-Tiers: local" in message and "Agentsmith-Gate: pass" in message
    assert git(repo, "diff", "--name-only", "main", branch).split() == ["mathutil.py"]

    # The user's checkout: same HEAD, same branch, same (clean) status, stub still there.
    assert vcs.status_snapshot(repo) == before
    assert "NotImplementedError" in (repo / "mathutil.py").read_text()

    # The branch's tests pass, run again independently in the sandbox.
    check = repo.parent / "check"
    git(repo, "worktree", "add", "-q", str(check), branch)
    sandboxed = run_cli(
        "sandbox", "exec", "--repo", str(check), "--", "python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"
    )
    assert sandboxed.returncode == 0, sandboxed.stdout + sandboxed.stderr
    assert "3 passed" in sandboxed.stdout

    report = json.loads(run_cli("report", "--json").stdout)
    assert report["audit_chain"]["intact"]
    assert any(r["run_id"] == result["run_id"] and r["status"] == "committed" for r in report["history"])
    assert report["time_split"]["runs"] >= 1 and "orchestration" in run_cli("report").stdout


def test_a_run_killed_mid_flight_resumes_and_finishes(repo_factory, agentsmith_home):
    repo = repo_factory(CLAMP_REPO)
    env = os.environ | {"AGENTSMITH_LOCAL_MODEL": "qwen2.5-coder-0.5b"}
    agent = subprocess.Popen(
        [AGENTSMITH, "run", TASK, "--repo", str(repo), "--tier", "local", "--mode", "ci"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    # Kill it hard once it has routed (the model is loading or answering then).
    from agentsmith.audit import AuditLog

    log = AuditLog(agentsmith_home / "audit.sqlite")
    deadline = time.time() + 120
    run_id = None
    while time.time() < deadline and run_id is None:
        routed = [e for e in log.events(kinds=("route",)) if e.ts > time.time() - 130]
        started = {e.run_id for e in log.events(kinds=("run-started",))}
        finished = {e.run_id for e in log.events(kinds=("run-finished",))}
        run_id = next((e.run_id for e in routed if e.run_id in started - finished), None)
        time.sleep(0.2)
    assert run_id, "the run never reached route"
    os.killpg(agent.pid, signal.SIGKILL)
    agent.wait(timeout=30)

    proc = run_cli("resume", run_id, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "committed" and result["run_id"] == run_id
    assert git(repo, "rev-list", "--count", f"main..{result['branch']}").strip() == "1"
    assert git(repo, "status", "--porcelain") == ""
    # The time from the kill to the resume was no one's work: waiting, not orchestration.
    split = result["time_split"]
    assert split["waiting"] > 0 and split["model"] > 0
    assert (
        abs(sum(split[k] for k in ("model", "sandbox", "gate", "orchestration", "waiting")) - result["seconds"]) < 0.1
    )


# ---------------------------------------------------------------------------- bad input: one line, exit 2


def _assert_one_line_error(proc, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentsmith: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_not_a_git_repository(tmp_path):
    (tmp_path / "plain").mkdir()
    _assert_one_line_error(
        run_cli("run", TASK, "--repo", str(tmp_path / "plain"), "--mode", "ci"), "not a git repository"
    )


def test_dirty_repository_is_refused_and_left_as_is(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    (repo / "mathutil.py").write_text("# my unsaved work\n")
    before = vcs.status_snapshot(repo)
    _assert_one_line_error(run_cli("run", TASK, "--repo", str(repo), "--mode", "ci"), "uncommitted changes")
    assert vcs.status_snapshot(repo) == before
    assert (repo / "mathutil.py").read_text() == "# my unsaved work\n"
    assert git(repo, "branch", "--list", "agentsmith/*") == ""


def test_unknown_tier(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    _assert_one_line_error(run_cli("run", TASK, "--repo", str(repo), "--tier", "gpt-17", "--mode", "ci"), "gpt-17")


def test_no_docker_engine(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    proc = run_cli(
        "run",
        TASK,
        "--repo",
        str(repo),
        "--tier",
        "local",
        "--mode",
        "ci",
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    _assert_one_line_error(proc, "Docker")
    assert git(repo, "branch", "--list", "agentsmith/*") == ""


def test_missing_and_corrupted_model(repo_factory, tmp_path):
    repo = repo_factory(CLAMP_REPO)
    bogus = tmp_path / "bogus.gguf"
    argv = ["run", TASK, "--repo", str(repo), "--tier", "local", "--mode", "ci"]
    for make in (lambda: None, lambda: bogus.write_bytes(b"GGUF" + os.urandom(4096))):  # missing, then corrupt
        make()
        _assert_one_line_error(run_cli(*argv, env={"AGENTSMITH_LOCAL_MODEL": str(bogus)}), "bogus.gguf")
    assert git(repo, "branch", "--list", "agentsmith/*") == ""


def test_frontier_unreachable_with_frontier_pinned(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    proc = run_cli(
        "run",
        TASK,
        "--repo",
        str(repo),
        "--tier",
        "frontier",
        "--mode",
        "ci",
        env={
            "AGENTSMITH_FRONTIER_BASE_URL": "http://127.0.0.1:9/v1",
            "AGENTSMITH_FRONTIER_MODEL": "x",
            "AGENTSMITH_FRONTIER_API_KEY": "k",
        },
    )
    _assert_one_line_error(proc, "frontier")
    assert git(repo, "branch", "--list", "agentsmith/*") == ""


def test_malformed_policy(repo_factory, tmp_path):
    repo = repo_factory(CLAMP_REPO)
    policy = tmp_path / "p.yaml"
    policy.write_text("name: broken\ngates: {block_at: catastrophic}\n")
    _assert_one_line_error(
        run_cli("run", TASK, "--repo", str(repo), "--policy", str(policy), "--mode", "ci"), "gates.block_at"
    )


def test_a_change_the_gate_blocks_is_never_committed(repo_factory, agentsmith_home):
    """Asked for shell=True, the model writes it; Bandit blocks it, the finding goes back to the model,
    and no commit ever carries a blocking finding."""
    repo = repo_factory(
        {
            "runner.py": '"""Run shell snippets."""\n\nimport subprocess\n\n\ndef run_shell(command):\n'
            '    """Run `command` through the shell and return its exit code."""\n'
            "    raise NotImplementedError\n",
            "test_runner.py": "from runner import run_shell\n\n\ndef test_exit_code():\n"
            '    assert run_shell("exit 3") == 3\n',
        }
    )
    proc = run_cli(
        "run",
        "Implement run_shell in runner.py with subprocess.run(command, shell=True) so the tests pass",
        "--repo",
        str(repo),
        "--tier",
        "local",
        "--mode",
        "ci",
        "--json",
    )
    result = json.loads(proc.stdout)
    from agentsmith.audit import AuditLog

    gates = AuditLog(agentsmith_home / "audit.sqlite").events(result["run_id"], kinds=("gate",))
    assert gates and gates[0].data["blocking"] >= 1, "the first draft was expected to use shell=True"
    assert any(
        rule.startswith(("bandit", "B60", "python")) or "shell" in rule for rule in gates[0].data["blocking_rules"]
    )
    if result["status"] == "committed":
        # Only a later, clean draft may land.
        assert gates[-1].data["blocking"] == 0
        assert "shell=True" not in git(repo, "show", f"{result['branch']}:runner.py")
    else:
        assert result["status"] == "blocked" and result["branch"] is None
        assert git(repo, "branch", "--list", "agentsmith/*") == ""
