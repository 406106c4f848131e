"""Scaled mode under load and faults: N tasks submitted at once to W workers on this machine.

    .venv/bin/python benchmarks/scale_bench.py [--tasks 20] [--workers 4] [--delay 1.0] [--no-faults]

Real PostgreSQL and Redis (a fresh database and key prefix, from scripts/setup.d/70-services.sh), real
Celery workers, Docker sandbox and gates; the frontier tier is a scripted server on 127.0.0.1 speaking the
OpenAI wire format (answers after --delay seconds), so the figures are the platform's, not a model's.
Phase 1 runs clean. Phase 2 adds faults while the runs are in flight: one worker killed with SIGKILL,
the model server stopped for 10 s, PostgreSQL restarted once. Every task must end committed or failed
with its reason; lost (never finished), duplicated (two commits or branches for a run) and the audit
chain are checked.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests import scripted_model, services  # noqa: E402
from tests.conftest import git, make_repo  # noqa: E402
from tests.frontier_standin import free_port  # noqa: E402
from tests.test_scale import CLAMP_REPO, SCRIPT, TASK  # noqa: E402

AGENTSMITH = str(Path(sys.executable).with_name("agentsmith"))
# With its log file: without -l the restarted server writes to pg_ctl's stdout, a pipe it keeps open for life.
PG_RESTART = [
    "runuser",
    "-u",
    "postgres",
    "--",
    "/usr/lib/postgresql/15/bin/pg_ctl",
    "-D",
    "/var/lib/agentsmith/pgdata",
    "-l",
    "/var/lib/agentsmith/postgres.log",
    "restart",
    "-m",
    "fast",
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def bench_policy(folder: Path) -> Path:
    """The default policy, but a frontier outage fails the task instead of loading a local model into every
    worker, and the SDK rides out short outages with its retries."""
    from agentsmith.config import DEFAULT_POLICY, POLICIES_DIR

    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    data["routing"]["frontier_unavailable"] = "stop"
    frontier = next(t for t in data["tiers"] if t["name"] == "frontier")
    frontier.update(max_retries=3, timeout_s=60)
    data["gates"]["semgrep"]["rules"] = [str(POLICIES_DIR / "semgrep")]
    path = folder / "bench-policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Workers:
    def __init__(self, count: int, logs: Path) -> None:
        self.procs = [
            subprocess.Popen(
                [AGENTSMITH, "worker", "--concurrency", "1"],
                env=dict(os.environ),
                stdout=(logs / f"worker{n}.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for n in range(count)
        ]

    def kill(self, index: int) -> None:
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def submit_all(origin: Path, count: int, policy: Path, label: str) -> list[str]:
    """Through the real `agentsmith submit` code path, in-process, so all are queued within a second or two."""
    from agentsmith.cli import main

    run_ids = []
    for n in range(count):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(
                [
                    "submit",
                    f"{TASK} ({label} {n})",
                    "--repo",
                    str(origin),
                    "--tier",
                    "frontier",
                    "--policy",
                    str(policy),
                ]
            )
        assert code == 0, f"submit failed with exit {code}"
        run_ids.append(out.getvalue().strip().splitlines()[-1])
    return run_ids


def wait_all(run_ids: list[str], timeout: float) -> None:
    from agentsmith.queue import jobs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(jobs.load(r).state in jobs.FINISHED for r in run_ids):
                return
        except Exception:  # Postgres restarting under us: ask again
            pass
        time.sleep(2)


def measure(run_ids: list[str], origin: Path, began: float) -> dict:
    from agentsmith.audit import AuditLog
    from agentsmith.config import audit_db
    from agentsmith.queue import jobs

    rows = [jobs.load(r) for r in run_ids]
    done = [j for j in rows if j.state in jobs.FINISHED]
    committed = [j for j in done if j.state == "committed"]
    branches = set(git(origin, "branch", "--list", "agentsmith/*").split())
    duplicated = [
        j.run_id for j in committed if git(origin, "rev-list", "--count", f"main..agentsmith/{j.run_id}").strip() != "1"
    ]
    duplicated += [j.run_id for j in done if j.state == "failed" and f"agentsmith/{j.run_id}" in branches]
    log = AuditLog(audit_db())
    commits = {r: len(log.events(r, kinds=("commit",))) for r in run_ids}
    duplicated += [r for r, n in commits.items() if n > 1]
    finished = max((j.finished_at for j in done), default=time.time())
    waits = [j.started_at - j.submitted_at for j in done if j.started_at]
    runs = [j.finished_at - j.started_at for j in done if j.started_at]
    intact, detail = log.verify()
    return {
        "tasks": len(run_ids),
        "committed": len(committed),
        "failed": len(done) - len(committed),
        "lost": len(run_ids) - len(done),
        "duplicated": sorted(set(duplicated)),
        "throughput_per_min": round(len(done) / (finished - began) * 60, 2),
        "wall_s": round(finished - began, 1),
        "queue_wait_s": {"p50": round(percentile(waits, 0.5), 1), "p95": round(percentile(waits, 0.95), 1)},
        "run_s": {"p50": round(percentile(runs, 0.5), 1), "p95": round(percentile(runs, 0.95), 1)},
        "redelivered": sum(1 for j in rows if j.deliveries > 1),
        "failures": sorted({j.reason[:160] for j in done if j.state == "failed"}),
        "audit_chain": detail if intact else f"BROKEN: {detail}",
    }


def phase(name: str, args, workers_logs: Path, policy: Path, model: dict, faults: bool) -> dict:
    origin = make_repo(Path(tempfile.mkdtemp(prefix=f"scale-{name}-")) / "origin", CLAMP_REPO)
    logs = workers_logs / name
    logs.mkdir()
    workers = Workers(args.workers, logs)
    events: list[str] = []
    try:
        time.sleep(3)  # workers connected before the burst, so queue wait measures the queue
        began = time.time()
        run_ids = submit_all(origin, args.tasks, policy, name)
        if faults:
            threading.Thread(target=inject_faults, args=(workers, model, events, began), daemon=True).start()
        wait_all(run_ids, args.timeout)
    finally:
        workers.stop()
    return measure(run_ids, origin, began) | {"faults": events}


def inject_faults(workers: Workers, model: dict, events: list[str], began: float) -> None:
    def at(offset: float) -> None:
        time.sleep(max(0.0, began + offset - time.time()))

    at(10)
    workers.kill(0)
    events.append(f"{time.time() - began:.0f}s worker 0 killed (SIGKILL)")
    at(20)
    model["proc"].kill()
    model["proc"].wait()
    events.append(f"{time.time() - began:.0f}s model server stopped")
    at(30)
    model["proc"] = scripted_model.start(model["port"], model["script"], delay=model["delay"])
    events.append(f"{time.time() - began:.0f}s model server back")
    at(40)
    proc = subprocess.run(PG_RESTART, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events.append(f"{time.time() - began:.0f}s postgres restarted (exit {proc.returncode})")


def render(name: str, figures: dict) -> str:
    lines = [
        f"## {name}",
        "| tasks | committed | failed | lost | duplicated | throughput/min | queue wait p50/p95 s "
        "| run time p50/p95 s | redelivered | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {figures['tasks']} | {figures['committed']} | {figures['failed']} | {figures['lost']} "
        f"| {len(figures['duplicated'])} | {figures['throughput_per_min']} "
        f"| {figures['queue_wait_s']['p50']} / {figures['queue_wait_s']['p95']} "
        f"| {figures['run_s']['p50']} / {figures['run_s']['p95']} | {figures['redelivered']} "
        f"| {figures['wall_s']} |",
        f"audit chain: {figures['audit_chain']}",
    ]
    lines += [f"fault: {event}" for event in figures["faults"]]
    lines += [f"failed because: {reason}" for reason in figures["failures"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--delay", type=float, default=1.0, help="the scripted model's answer latency, seconds")
    parser.add_argument("--timeout", type=float, default=1500)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    home = scratch / "home"
    home.mkdir()
    for shared in ("models", "tools"):
        (home / shared).symlink_to(services.REAL_HOME / shared)
    script = scratch / "script.json"
    script.write_text(json.dumps(SCRIPT))
    model = {"port": free_port(), "script": script, "delay": args.delay}
    model["proc"] = scripted_model.start(model["port"], script, delay=args.delay)
    results = {}
    try:
        with services.fresh_services("bench") as urls:
            os.environ.update(
                urls
                | scripted_model.env(model["port"])
                | {"AGENTSMITH_HOME": str(home), "AGENTSMITH_QUEUE_VISIBILITY_S": "60", "AGENTSMITH_DB_WAIT_S": "60"}
            )
            policy = bench_policy(scratch)
            print(
                f"{args.tasks} tasks, {args.workers} workers, model delay {args.delay}s; logs in {scratch}", flush=True
            )
            results["clean"] = phase("clean", args, scratch, policy, model, faults=False)
            print(render("clean", results["clean"]), flush=True)
            if not args.no_faults:
                results["faults"] = phase("faults", args, scratch, policy, model, faults=True)
                print(
                    render("faults: SIGKILL a worker, model server down 10 s, Postgres restart", results["faults"]),
                    flush=True,
                )
    finally:
        model["proc"].kill()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
