"""The Celery application: one task, `agentsmith.run`, carrying nothing but a run id (the job is in Postgres)."""

from __future__ import annotations

import os
import socket

from celery import Celery

from agentsmith.errors import UserError
from agentsmith.store import safe_url

BROKER_ENV = "AGENTSMITH_BROKER_URL"
QUEUE = "agentsmith"
TASK = "agentsmith.run"


def broker_url() -> str:
    url = os.environ.get(BROKER_ENV, "").strip()
    if not url:
        raise UserError(f"{BROKER_ENV} is not set", f"set {BROKER_ENV}=redis://HOST:6379/0 (see README, Deployment)")
    return url


def make_app() -> Celery:
    app = Celery("agentsmith", broker=broker_url(), set_as_current=False)
    visibility = float(os.environ.get("AGENTSMITH_QUEUE_VISIBILITY_S", "300"))
    app.conf.update(
        # Acknowledge after the run is delivered, never before: a worker that dies mid-run leaves its message
        # to another worker (Redis hands an unacknowledged message out again after the visibility timeout;
        # a pool child killed alone is rejected and requeued at once).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            # A run that outlives it is handed out twice: harmless, the second copy waits on the run's lease.
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, int(min(visibility / 3, 10))),
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 30,
            # Several deployments (or test sessions) can share one Redis without seeing each other's queue.
            "global_keyprefix": os.environ.get("AGENTSMITH_BROKER_PREFIX", "agentsmith:"),
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
        },
    )

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
    def run(self, run_id: str) -> str:
        from agentsmith.graph.cli import _progress
        from agentsmith.queue import jobs

        worker = f"{self.request.hostname or socket.gethostname()} pid {os.getpid()}"
        try:
            return jobs.process(run_id, worker, listener=_progress)
        except Exception as err:
            if jobs._transient(err):  # the database went away while recording: try the message again later
                raise self.retry(countdown=10, exc=err) from None
            raise

    return app


def enqueue(run_id: str) -> None:
    try:
        make_app().send_task(
            TASK,
            args=[run_id],
            task_id=run_id,
            queue=QUEUE,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1},
        )
    except UserError:
        raise
    except Exception as err:  # kombu's connection errors come in many classes
        raise UserError(
            f"the broker {safe_url(broker_url())} did not take the run ({type(err).__name__})",
            "start Redis or fix AGENTSMITH_BROKER_URL",
        ) from None


def run_worker(concurrency: int) -> None:
    app = make_app()
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            QUEUE,
            "-n",
            f"agentsmith-{os.getpid()}@{socket.gethostname()}",
        ]
    )
