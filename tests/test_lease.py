"""One run, one driver: the lease, `resume` of a live run, races for a dead run, SIGKILL at every node.

Runs are stopped at a chosen node with AGENTSMITH_PAUSE_AT (the driver waits at the checkpoint before
that node and says so on stderr), then killed with SIGKILL: real processes, real git, Docker and model.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from agentsmith.audit import AuditLog
from agentsmith.config import audit_db, checkpoints_db, worktrees_dir
from agentsmith.graph import lease
from tests.conftest import git
from tests.test_run import AGENTSMITH, CLAMP_REPO, TASK, run_cli

NODES = ("intake", "plan", "route", "edit", "apply", "verify", "gate", "review", "commit", "report")
PAUSED = re.compile(r"\[agentsmith\] run (\S+) paused before (\w+)")


class Agent:
    """An `agentsmith` process in its own session; its stderr is read as it comes."""

    def __init__(self, *args: str, pause_at: str | None = None) -> None:
        env = os.environ | {"AGENTSMITH_LOCAL_MODEL": "qwen2.5-coder-0.5b"}
        if pause_at:
            env["AGENTSMITH_PAUSE_AT"] = pause_at
        self.proc = subprocess.Popen(
            [AGENTSMITH, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern, timeout: float = 300) -> re.Match:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.stderr.append(line)
            if match := pattern.search(line):
                return match
        raise AssertionError(f"no {pattern.pattern!r} on stderr; it said:\n{''.join(self.stderr)[-3000:]}")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        while (line := self.lines.get(timeout=30)) is not None:
            self.stderr.append(line)
        return self.proc.returncode, out


def status(run_id: str) -> dict:
    proc = run_cli("status", run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_refused(proc: subprocess.CompletedProcess, holder_pid: int) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"is being driven by pid {holder_pid} on {socket.gethostname()}" in lines[0]
    assert "wait for it to finish" in lines[0] and f"kill {holder_pid}" in lines[0]


# ------------------------------------------------------------------------------ the lease itself


def test_a_live_holder_keeps_the_lease_and_a_gone_one_loses_it():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time; from agentsmith.graph import lease\n"
                "held = lease.acquire('run-a'); print('held', flush=True); time.sleep(600)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(lease.RunInUse, match=f"pid {holder.pid} on "):
            lease.acquire("run-a")
        assert lease.current_driver("run-a").gone_reason() is None
    finally:
        holder.kill()
        holder.wait()
    # its pid is dead on this host: taken over at once, and the takeover names it
    with lease.hold("run-a") as held:
        assert held.took_over.pid == holder.pid and held.takeover_reason == f"process {holder.pid} has exited"
        assert lease.current_driver("run-a").pid == os.getpid()
    assert lease.current_driver("run-a") is None  # given back on exit

    conn = sqlite3.connect(checkpoints_db())
    now = time.time()
    with conn:
        conn.executemany(
            "INSERT INTO run_leases VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                # this very pid, but started at another time: the pid was reused, the holder is gone
                ("run-b", os.getpid(), socket.gethostname(), "other-boot:1", "t", now, now + 60),
                # another machine that still renews: it may be driving
                ("run-c", 4242, "elsewhere", "x:1", "t", now, now + 60),
                # another machine that stopped renewing
                ("run-d", 4242, "elsewhere", "x:1", "t", now - 200, now - 10),
            ],
        )
    conn.close()
    with lease.hold("run-b") as held:
        assert held.takeover_reason == f"pid {os.getpid()} now belongs to another process"
    with pytest.raises(lease.RunInUse, match="pid 4242 on elsewhere"):
        lease.acquire("run-c")
    with lease.hold("run-d") as held:
        assert held.took_over.host == "elsewhere" and "lease expired" in held.takeover_reason


# ------------------------------------------------------------------------------ live runs and races


@pytest.mark.docker
def test_resume_of_a_live_run_is_refused_and_status_names_its_driver(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    agent = Agent("run", TASK, "--repo", str(repo), "--tier", "local", "--mode", "ci", pause_at="plan")
    try:
        run_id = agent.wait_for(PAUSED, timeout=120).group(1)
        assert_refused(run_cli("resume", run_id), agent.proc.pid)

        live = status(run_id)
        assert live["state"] == "running" and not live["resumable"]
        assert live["driver"]["pid"] == agent.proc.pid and live["driver"]["alive"]
        assert live["branch"] == f"agentsmith/{run_id}" and live["next"] == ["plan"]
        text = run_cli("status", run_id).stdout
        assert "running before plan" in text and f"driven by pid {agent.proc.pid}" in text
        report = json.loads(run_cli("report", "--json").stdout)
        assert {"run_id": run_id, "driver": f"pid {agent.proc.pid} on {socket.gethostname()}"} in report["running"]
        assert run_id not in report["interrupted"]
    finally:
        agent.kill()

    dead = status(run_id)
    assert dead["state"] == "interrupted" and dead["resumable"]
    assert not dead["driver"]["alive"] and dead["driver"]["gone_reason"] == f"process {agent.proc.pid} has exited"
    assert f"agentsmith resume {run_id}" in dead["hint"]
    report = run_cli("report")
    assert f"{run_id}  interrupted, resumable (agentsmith resume {run_id})" in report.stdout


@pytest.mark.docker
def test_two_resumes_race_for_a_dead_runs_lease_and_one_drives(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    first = Agent("run", TASK, "--repo", str(repo), "--tier", "local", "--mode", "ci", pause_at="plan")
    run_id = first.wait_for(PAUSED, timeout=120).group(1)
    first.kill()

    # Both start together; the winner drives plan, then waits before route holding the lease.
    racers = [Agent("resume", run_id, pause_at="route") for _ in range(2)]
    try:
        refused = None
        deadline = time.time() + 120
        while refused is None and time.time() < deadline:
            refused = next((r for r in racers if r.proc.poll() is not None), None)
            time.sleep(0.2)
        assert refused is not None, "neither resume was refused"
        winner = racers[1 - racers.index(refused)]
        code, _ = refused.finish()
        assert code == 2, "".join(refused.stderr)
        message = "".join(refused.stderr).strip()
        assert message.count("\n") == 0 and f"is being driven by pid {winner.proc.pid}" in message, message

        took_over = winner.wait_for(
            re.compile(
                r"resume at plan, driven by pid (\d+) on \S+; took the run over from "
                rf"pid {first.proc.pid} on \S+ \(process {first.proc.pid} has exited\)"
            ),
            timeout=120,
        )
        assert int(took_over.group(1)) == winner.proc.pid
        assert winner.wait_for(PAUSED, timeout=120).group(2) == "route"  # it drove plan
        assert status(run_id)["driver"]["pid"] == winner.proc.pid
    finally:
        for racer in racers:
            if racer.proc.poll() is None:
                racer.kill()
    resumed = AuditLog(audit_db()).events(run_id, kinds=("run-resumed",))
    assert len(resumed) == 1, "only the winner resumed the run"


# ------------------------------------------------------------------------------ SIGKILL at every node


@pytest.mark.model
@pytest.mark.docker
@pytest.mark.parametrize("node", NODES)
def test_a_run_killed_at_any_node_resumes_to_one_commit_and_leaves_nothing(repo_factory, node):
    repo = repo_factory(CLAMP_REPO)
    agent = Agent("run", TASK, "--repo", str(repo), "--tier", "local", "--mode", "ci", pause_at=node)
    run_id = agent.wait_for(PAUSED, timeout=400).group(1)
    agent.kill()
    assert status(run_id)["state"] == "interrupted"

    proc = run_cli("resume", run_id, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "committed" and result["run_id"] == run_id
    assert f"took the run over from pid {agent.proc.pid}" in proc.stderr
    branch = result["branch"]
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert "NotImplementedError" not in git(repo, "show", f"{branch}:mathutil.py")
    # nothing left behind: the user's checkout, worktrees, the lease, sandbox containers
    assert git(repo, "status", "--porcelain") == ""
    worktrees = [
        line for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")
    ]
    assert worktrees == [f"worktree {repo}"]
    assert not (worktrees_dir() / run_id).exists()
    final = status(run_id)
    assert final["state"] == "committed" and final["driver"] is None and final["branch"] == branch
    assert _containers_of(run_id) == []


def _containers_of(run_id: str, wait_s: float = 30) -> list[str]:
    """A killed driver's container removes itself once its keeper sees stdin close: give it a moment."""
    deadline = time.time() + wait_s
    while True:
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=agentsmith.run={run_id}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not left or time.time() > deadline:
            return left
        time.sleep(1)


def test_the_nodes_killed_are_the_graphs_nodes():
    from agentsmith.graph.build import build_graph

    assert tuple(n for n in build_graph().nodes if not n.startswith("__")) == NODES
