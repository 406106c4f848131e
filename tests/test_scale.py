"""Scaled mode for real: PostgreSQL, Redis and Celery workers as processes, Docker sandbox, Semgrep gates.

The frontier tier is a scripted server on 127.0.0.1 speaking the OpenAI wire format, so no model has to
load. Each session gets a fresh database and Redis key prefix (tests/services.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import scripted_model, services
from tests.conftest import git, make_repo
from tests.frontier_standin import free_port
from tests.test_run import AGENTSMITH, CLAMP_REPO, TASK

pytestmark = pytest.mark.skipif(
    services.configured() is None, reason=f"{services.SERVICES_ENV} is missing (scripts/setup.d/70-services.sh)"
)

CLAMP_DONE = (
    '"""Number helpers."""\n\n\ndef clamp(value, low, high):\n'
    '    """Return value limited to the range [low, high]."""\n    return max(low, min(value, high))\n'
)
SCRIPT = [{"match": "mathutil.py", "answer": f"mathutil.py\n```python\n{CLAMP_DONE}```\n"}]


@pytest.fixture(scope="module")
def scale_env(agentsmith_home, tmp_path_factory):
    """Fresh services, a scripted frontier, and the variables every process of the test shares."""
    work = tmp_path_factory.mktemp("scale")
    (work / "script.json").write_text(json.dumps(SCRIPT))
    port = free_port()
    server = scripted_model.start(port, work / "script.json")
    saved = dict(os.environ)
    try:
        with services.fresh_services() as urls:
            env = urls | scripted_model.env(port) | {"AGENTSMITH_QUEUE_VISIBILITY_S": "10"}
            os.environ.update(env)
            yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.kill()
        server.wait()


class Worker:
    """`agentsmith worker` in a session of its own, so SIGKILL takes it and its pool children at once."""

    def __init__(self, log: Path, **extra_env: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [AGENTSMITH, "worker", "--concurrency", "1"],
            env=os.environ | extra_env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None, self.text()[-3000:]
            assert time.monotonic() < deadline, f"no {needle!r} in the worker log:\n{self.text()[-3000:]}"
            time.sleep(0.5)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([AGENTSMITH, *args], capture_output=True, text=True, env=dict(os.environ), timeout=timeout)


def submit(repo: Path, task: str) -> str:
    proc = cli("submit", task, "--repo", str(repo), "--tier", "frontier")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def wait_finished(run_ids: list[str], workers: list[Worker], timeout: float) -> dict[str, str]:
    from agentsmith.queue import jobs

    deadline = time.monotonic() + timeout
    while True:
        states = {run_id: jobs.load(run_id).state for run_id in run_ids}
        if all(state in jobs.FINISHED for state in states.values()):
            return states
        if time.monotonic() > deadline:
            logs = "\n".join(w.text()[-2000:] for w in workers)
            pytest.fail(f"runs not finished after {timeout}s: {states}\n{logs}")
        time.sleep(1)


def test_concurrent_audit_appends_from_several_processes_keep_one_chain(scale_env):
    from agentsmith.audit import AuditLog
    from agentsmith.config import audit_db

    writer = (
        "import sys\nfrom agentsmith.audit import AuditLog\nfrom agentsmith.config import audit_db\n"
        "log = AuditLog(audit_db())\n"
        "for i in range(40):\n    log.append('writer-' + sys.argv[1], 'tick', {'i': i})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(n)], env=dict(os.environ)) for n in range(4)]
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    log = AuditLog(audit_db())
    ticks = log.events(kinds=("tick",))
    assert len(ticks) == 160
    assert {e.run_id for e in ticks} == {f"writer-{n}" for n in range(4)}
    every = log.events()
    assert [e.seq for e in every] == list(range(1, len(every) + 1))
    assert log.verify() == (True, f"{len(every)} events intact")


def test_submitted_runs_are_processed_by_two_workers_to_pushed_branches(scale_env, tmp_path):
    origin = make_repo(tmp_path / "origin", CLAMP_REPO)
    workers = [Worker(tmp_path / f"worker{n}.log") for n in range(2)]
    try:
        run_ids = [submit(origin, f"{TASK} (job {n})") for n in range(3)]
        status = json.loads(cli("status", run_ids[0], "--json").stdout)
        assert status["state"] in ("queued", "running", "committed")
        states = wait_finished(run_ids, workers, timeout=600)
    finally:
        for worker in workers:
            worker.stop()
    assert states == {run_id: "committed" for run_id in run_ids}, [w.text()[-2000:] for w in workers]
    for run_id in run_ids:
        branch = f"agentsmith/{run_id}"
        assert git(origin, "rev-list", "--count", f"main..{branch}").strip() == "1"
        assert f"Agentsmith-Run: {run_id}" in git(origin, "log", "-1", "--format=%B", branch)
        assert "max(low, min(value, high))" in git(origin, "show", f"{branch}:mathutil.py")
    status = json.loads(cli("status", run_ids[0], "--json").stdout)
    assert status["state"] == "committed" and status["branch"] == f"agentsmith/{run_ids[0]}"
    assert git(origin, "status", "--porcelain") == "" and git(origin, "branch", "--show-current").strip() == "main"
    report = json.loads(cli("report", "--json").stdout)
    assert report["audit_chain"]["intact"] and report["succeeded"] >= 3


def test_a_worker_killed_mid_run_leaves_the_run_to_another_which_finishes_it(scale_env, tmp_path):
    from agentsmith.audit import AuditLog
    from agentsmith.config import audit_db
    from agentsmith.queue import jobs

    origin = make_repo(tmp_path / "origin", CLAMP_REPO)
    first = Worker(tmp_path / "first.log", AGENTSMITH_PAUSE_AT="verify:600")
    second = None
    try:
        run_id = submit(origin, TASK)
        first.wait_for(f"run {run_id} paused before verify", timeout=300)
        second = Worker(tmp_path / "second.log")
        first.kill()
        states = wait_finished([run_id], [first, second], timeout=600)
    finally:
        first.stop()
        if second:
            second.stop()
    assert states == {run_id: "committed"}, second.text()[-3000:]
    branch = f"agentsmith/{run_id}"
    assert git(origin, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert git(origin, "branch", "--list", "agentsmith/*").split() == [branch]
    assert jobs.load(run_id).deliveries >= 2
    log = AuditLog(audit_db())
    kinds = [e.kind for e in log.events(run_id)]
    assert kinds.count("run-started") == 1 and kinds.count("commit") == 1 and kinds.count("run-finished") == 1
    assert kinds.index("apply") < kinds.index("run-resumed") < kinds.index("commit")
    resumed = next(e for e in log.events(run_id, kinds=("run-resumed",)))
    assert resumed.data["took_over_from"] and resumed.data["next"] == ["verify"]
    assert log.verify()[0]
    # The budget ledger is shared: what the dead worker spent still counts for the run.
    from agentsmith import store

    with store.current().connect() as db:
        spent = db.execute("SELECT tokens_used, attempts FROM budgets WHERE run_id = ?", (run_id,)).fetchone()
    calls = log.events(run_id, kinds=("call",))
    assert spent == (sum(c.data["prompt_tokens"] + c.data["completion_tokens"] for c in calls), len(calls)) != (0, 0)


def test_submit_names_an_unreachable_database_without_its_password(tmp_path):
    origin = make_repo(tmp_path / "origin", CLAMP_REPO)
    env = dict(os.environ) | {
        "AGENTSMITH_DATABASE_URL": f"postgresql://agentsmith:s3cret@127.0.0.1:{free_port()}/x",
        "AGENTSMITH_BROKER_URL": "redis://127.0.0.1:6390/0",
        "AGENTSMITH_DB_WAIT_S": "1",
    }
    proc = subprocess.run(
        [AGENTSMITH, "submit", TASK, "--repo", str(origin)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "unreachable" in proc.stderr and "agentsmith:***@127.0.0.1" in proc.stderr and "s3cret" not in proc.stderr
    env.pop("AGENTSMITH_DATABASE_URL")
    proc = subprocess.run(
        [AGENTSMITH, "submit", TASK, "--repo", str(origin)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 2 and "AGENTSMITH_DATABASE_URL=postgresql://" in proc.stderr, proc.stderr
