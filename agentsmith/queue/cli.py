"""`agentsmith submit` and `agentsmith worker` (scaled mode); `status` reads the queue through `queue_state`."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    submit = sub.add_parser("submit", help="queue a task for the workers (scaled mode); prints its run id")
    submit.add_argument("task")
    submit.add_argument("--repo", required=True, help="repository URL or path every worker can clone and push to")
    submit.add_argument("--base", default=None, help="branch to start from (default: the repository's HEAD)")
    submit.add_argument(
        "--pr", action="store_true", help="open a pull request (as `agentsmith pr`) instead of only pushing the branch"
    )
    submit.add_argument("--policy", default=None, help="policy YAML, at a path the workers can read")
    submit.add_argument("--tier", default="auto", help="auto | local | frontier | a tier name from the policy")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(func=cmd_submit)

    worker = sub.add_parser("worker", help="process queued runs (scaled mode)")
    worker.add_argument("--concurrency", type=int, default=1, help="runs at once in this worker (default 1)")
    worker.set_defaults(func=cmd_worker)


def cmd_submit(args: argparse.Namespace) -> int:
    from agentsmith import store
    from agentsmith.audit import AuditLog
    from agentsmith.config import audit_db
    from agentsmith.errors import UserError
    from agentsmith.graph.runner import new_run_id
    from agentsmith.policy import load_policy
    from agentsmith.queue import app, jobs

    store.require_shared("agentsmith submit")
    app.broker_url()
    if not args.task.strip():
        raise UserError("the task is empty", 'describe the change, e.g. "Implement slugify in text.py"')
    policy = str(Path(args.policy).resolve()) if args.policy else None
    load_policy(policy)  # a bad policy fails here, not in a worker
    repo = str(Path(args.repo).resolve()) if Path(args.repo).is_dir() else args.repo
    jobs.check_reachable(repo, args.base)
    job = jobs.Job(
        run_id=new_run_id(),
        task=args.task,
        repo_url=repo,
        base=args.base,
        open_pr=args.pr,
        policy=policy,
        tier=args.tier,
        submitted_at=time.time(),
    )
    jobs.record_submission(job)
    AuditLog(audit_db()).append(
        job.run_id,
        "run-queued",
        {"task": job.task, "repo": repo, "base": job.base, "pr": job.open_pr, "tier": job.tier, "policy": policy},
    )
    try:
        app.enqueue(job.run_id)
    except UserError as err:
        jobs.finish(job, "failed", f"not queued: {err}")
        raise
    if args.json:
        print(json.dumps(job.to_dict()))
    print(job.run_id)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from agentsmith import store
    from agentsmith.errors import UserError
    from agentsmith.queue import app

    if args.concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, not {args.concurrency}", "pass --concurrency 1 or more")
    shared = store.require_shared("agentsmith worker")
    shared.ensure_schema()  # unreachable database: one line now, not per task
    app.run_worker(args.concurrency)
    return 0


def queue_state(run_id: str, run_status: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """`agentsmith status` for a queued run: the graph's view, and the queue's (queued, delivered, failed)."""
    from agentsmith.errors import UserError
    from agentsmith.queue import jobs

    job = jobs.load(run_id)
    try:
        status = run_status(run_id)
    except UserError:
        if job is None:
            raise
        status = {
            "run_id": run_id,
            "task": job.task,
            "branch": None,
            "commit": None,
            "next": [],
            "driver": None,
            "resumable": False,
            "reason": "",
            "hint": "waiting for a worker (`agentsmith worker`)",
        }
    if job is None:
        return status
    status["queue"] = job.to_dict()
    if job.state in jobs.FINISHED or job.state == "queued":
        status |= {
            "state": job.state,
            "reason": job.reason or status["reason"],
            "resumable": False,
            "branch": job.branch or status.get("branch"),
            "commit": job.commit_sha or status.get("commit"),
        }
        if job.state != "queued":
            status["hint"] = f"pull request {job.pr_url}" if job.pr_url else ""
    elif status.get("state") not in ("running",):
        # A worker holds the message: it is between drivers, and the queue hands it on if its worker died.
        status |= {"state": "running", "hint": f"taken by worker {job.worker}"}
    return status
