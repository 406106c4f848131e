"""A queued run, from submission to delivery: its row in `queue_runs`, its clone, its push or pull request."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentsmith import store, vcs
from agentsmith.config import home, worktrees_dir
from agentsmith.errors import GitError, UserError

# Long enough for a Postgres restart or a redelivered message's other driver to finish; then give up.
RECOVERY_S = float(os.environ.get("AGENTSMITH_RECOVERY_S", "900"))
# A model tier that is down when a run starts: the run waits for it (a queue for later) this long, then fails.
MODEL_WAIT_S = float(os.environ.get("AGENTSMITH_MODEL_WAIT_S", "120"))
FINISHED = ("committed", "failed")
_COLUMNS = (
    "run_id, task, repo_url, base, open_pr, policy, tier, state, reason, branch, commit_sha, pr_url, "
    "worker, deliveries, submitted_at, started_at, finished_at"
)


@dataclass
class Job:
    run_id: str
    task: str
    repo_url: str
    base: str | None
    open_pr: bool
    policy: str | None
    tier: str
    state: str = "queued"
    reason: str = ""
    branch: str | None = None
    commit_sha: str | None = None
    pr_url: str | None = None
    worker: str | None = None
    deliveries: int = 0
    submitted_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def record_submission(job: Job) -> None:
    with store.require_shared("agentsmith submit").connect() as db:
        db.execute(f"INSERT INTO queue_runs ({_COLUMNS}) VALUES ({', '.join('?' * 17)})", tuple(job.to_dict().values()))


def load(run_id: str) -> Job | None:
    shared = store.current()
    if not shared.shared:
        return None
    with shared.connect() as db:
        row = db.execute(f"SELECT {_COLUMNS} FROM queue_runs WHERE run_id = ?", (run_id,)).fetchone()
    return Job(*row) if row else None


def _update(run_id: str, **values: Any) -> None:
    sets = ", ".join(f"{key} = ?" for key in values)
    with store.current().connect() as db:
        db.execute(f"UPDATE queue_runs SET {sets} WHERE run_id = ?", (*values.values(), run_id))


def mark_running(job: Job, worker: str) -> None:
    with store.current().connect() as db:
        db.execute(
            "UPDATE queue_runs SET state = 'running', worker = ?, deliveries = deliveries + 1, "
            "started_at = COALESCE(started_at, ?) WHERE run_id = ?",
            (worker, time.time(), job.run_id),
        )


def finish(job: Job, state: str, reason: str, **values: Any) -> None:
    _update(job.run_id, state=state, reason=reason[:2000], finished_at=time.time(), **values)


# ------------------------------------------------------------------------------- the run's repository


def check_reachable(repo_url: str, base: str | None) -> None:
    """Fail at submission, not in a worker minutes later, when the repository or base branch is wrong."""
    try:
        branches = vcs.remote_branches(repo_url, *([base] if base else []))
    except GitError:
        raise UserError(
            f"cannot read the repository {repo_url}",
            "pass --repo with a URL or path that `git ls-remote` can read from every worker",
        ) from None
    if base and not branches:
        raise UserError(f"the repository {repo_url} has no branch {base}", "pass --base with an existing branch")


def run_clone(run_id: str) -> Path:
    return home() / "queue" / "runs" / run_id


def prepare_clone(job: Job) -> Path:
    """A fresh clone of the job's base for this run, from this worker's cache of the repository."""
    cache_dir = home() / "queue" / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / (hashlib.sha256(job.repo_url.encode()).hexdigest()[:16] + ".git")
    # Runs of one repository share the cache: one fetch at a time.
    with open(cache.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        vcs.update_mirror(job.repo_url, cache)
    target = run_clone(job.run_id)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(worktrees_dir() / job.run_id, ignore_errors=True)  # a killed intake's half-made worktree
    target.parent.mkdir(parents=True, exist_ok=True)
    vcs.clone(cache, target, branch=job.base)
    return target


def deliver(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """Push the run's branch to the job's repository (and open the pull request with --pr); idempotent."""
    branch, clone = result["branch"], run_clone(job.run_id)
    if not (clone / ".git").exists():
        raise UserError(
            f"the clone of finished run {job.run_id} is gone from this worker",
            f"resubmit the task; the branch {branch} was never pushed",
        )
    vcs.push_branch(clone, job.repo_url, branch)
    delivered: dict[str, Any] = {"branch": branch, "commit_sha": result["commit"]}
    if job.open_pr and not job.pr_url:
        delivered["pr_url"] = _open_pull_request(job, result, clone)
    shutil.rmtree(clone, ignore_errors=True)
    return delivered


def _open_pull_request(job: Job, result: dict[str, Any], clone: Path) -> str:
    # As `agentsmith pr` does: draft plus label when the policy wants review or the gate found anything.
    from agentsmith.forge.cli import pr_body
    from agentsmith.forge.github import GitHubForge
    from agentsmith.policy import load_policy

    forge = GitHubForge.from_env(None)
    base = job.base or vcs.remote_default_branch(clone)
    review = load_policy(job.policy).policy.review
    needs_review = review.ci == "draft" or bool(result["findings"])
    pr = forge.open_pull_request(
        branch=result["branch"],
        base=base,
        title=f"agentsmith: {job.task.splitlines()[0][:70]}",
        body=pr_body(result, job.task, None),
        draft=needs_review,
        labels=[review.label] if needs_review else [],
    )
    return pr.url


# ------------------------------------------------------------------------------- driving the run


def _transient(err: BaseException) -> bool:
    """A database or connection failure: the run is fine, the infrastructure blinked."""
    import psycopg

    return isinstance(err, (store.StoreError, psycopg.OperationalError, psycopg.InterfaceError))


def _model_down(err: BaseException) -> bool:
    from agentsmith.errors import ModelUnavailable
    from agentsmith.models.budget import BudgetExceeded

    return isinstance(err, ModelUnavailable) and not isinstance(err, BudgetExceeded)


def _drop_own_stale_lease(run_id: str) -> None:
    """After a database failure this process may still be named as the run's driver (its release failed)
    although it drives nothing now: a worker process runs one task at a time."""
    from agentsmith.graph import lease

    me = lease.process_start(os.getpid())
    driver = lease.current_driver(run_id)
    if driver and driver.pid == os.getpid() and driver.host == socket.gethostname() and driver.process_start == me:
        conn = lease._connect()
        try:
            conn.execute("DELETE FROM run_leases WHERE run_id = ? AND pid = ?", (run_id, os.getpid()))
        finally:
            conn.close()


def _drive(job: Job, listener: Callable[[str, dict], None] | None) -> dict[str, Any]:
    from agentsmith.graph import lease
    from agentsmith.graph.runner import checkpoint, resume_run, start_run, summarise

    snapshot = checkpoint(job.run_id)
    values = snapshot.values or {}
    if values and not snapshot.next:
        return summarise(values)  # it ended already; only delivery may be left
    if values and values.get("worktree") and Path(values["worktree"]).is_dir():
        return resume_run(job.run_id, listener=listener)
    driver = lease.current_driver(job.run_id)
    if driver and driver.gone_reason() is None:
        raise lease.RunInUse(f"run {job.run_id} is driven by {driver.describe()}")
    if values:
        # Its worktree is not on this machine (the worker that made it is gone): begin again, same run id.
        with store.current().checkpointer() as saver:
            saver.delete_thread(job.run_id)
    root = prepare_clone(job)
    return start_run(
        job.task, repo=str(root), policy_path=job.policy, tier=job.tier, mode="ci", listener=listener, run_id=job.run_id
    )


def process(run_id: str, worker: str, listener: Callable[[str, dict], None] | None = None) -> str:
    """What a worker does with one message. Returns the job's final state (or why it left it alone)."""
    from agentsmith.cli import internal_error_line
    from agentsmith.graph.lease import LeaseLost, RunInUse

    job = load(run_id)
    if job is None:
        return "unknown"  # submitted to another database: nothing here to do
    if job.state in FINISHED:
        return job.state  # a redelivered message for a run already delivered
    mark_running(job, worker)
    deadline = time.monotonic() + RECOVERY_S
    model_deadline = time.monotonic() + MODEL_WAIT_S
    while True:
        try:
            result = _drive(job, listener)
            break
        except LeaseLost:
            return "taken-over"  # another worker drives it now and will finish the job
        except RunInUse as err:
            if time.monotonic() > deadline:
                finish(job, "failed", str(err))
                return "failed"
            time.sleep(5)  # a redelivered message: the other driver finishes, or its lease lapses
        except Exception as err:  # every failure ends as a reason in the job's row
            if _transient(err) and time.monotonic() < deadline:
                print(
                    f"[agentsmith] run {run_id}: {str(err)[:200]}; resuming from the checkpoint",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(2)
                _safely(_drop_own_stale_lease, run_id)
                continue
            if _model_down(err) and time.monotonic() < model_deadline:
                print(f"[agentsmith] run {run_id}: {str(err)[:200]}; waiting for it", file=sys.stderr, flush=True)
                time.sleep(5)
                continue
            reason = str(err) if isinstance(err, UserError) else internal_error_line(err)
            _safely(finish, job, "failed", reason)
            return "failed"
    if result["status"] != "committed":
        finish(job, "failed", f"{result['status']}: {result['reason']}")
        return "failed"
    try:
        delivered = deliver(job, result)
    except UserError as err:
        finish(
            job,
            "failed",
            f"committed {result['commit'][:12]} but not delivered: {err}",
            branch=result["branch"],
            commit_sha=result["commit"],
        )
        return "failed"
    finish(job, "committed", result["reason"], **delivered)
    return "committed"


def _safely(action: Callable[..., Any], *args: Any) -> None:
    # The database may still be down: the message's next delivery records the outcome.
    with contextlib.suppress(Exception):
        action(*args)
