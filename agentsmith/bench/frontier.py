"""A frontier tier for experiments: `python -m llama_cpp.server` on 127.0.0.1, reached like any
OpenAI-compatible endpoint. The bench starts it, points AGENTSMITH_FRONTIER_* at it, and stops it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentsmith.errors import ModelUnavailable

FRONTIER_ENV = ("AGENTSMITH_FRONTIER_BASE_URL", "AGENTSMITH_FRONTIER_MODEL", "AGENTSMITH_FRONTIER_API_KEY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return "data" in json.loads(response.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _die_with_parent() -> None:
    """A bench killed hard (kill -9) must not leave a model server eating both cores: Linux kills the
    server when its parent dies. SIGKILL, not SIGTERM: uvicorn's graceful shutdown on SIGTERM waits for
    the request being decoded, which on 2 cores is a minute of full CPU."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@contextmanager
def serve_frontier(
    model: str, *, log_path: Path, n_ctx: int = 8192, threads: int | None = None, startup_timeout_s: float = 180.0
) -> Iterator[dict[str, str]]:
    """Serve `model` (a known model id or a .gguf path) on a free loopback port.

    Yields the AGENTSMITH_FRONTIER_* settings for it, and sets them in this process while it runs
    (the tiers read them when a run starts). The previous values come back afterwards."""
    from agentsmith.models.weights import ensure_model

    path = ensure_model(model)
    name = Path(model).stem if "/" in model else model
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads or os.cpu_count() or 1),
        "--verbose",
        "False",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            # its own session: a SIGTERM to the bench's process group (how CI
            # cancels) must not start uvicorn's drain-then-exit; we kill it below
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _answers(base_url):
            if server.poll() is not None:
                raise ModelUnavailable(
                    f"the frontier server for {name} exited with code {server.returncode}", f"read {log_path}"
                )
            if time.monotonic() > deadline:
                raise ModelUnavailable(
                    f"the frontier server for {name} did not answer in {startup_timeout_s:.0f}s", f"read {log_path}"
                )
            time.sleep(0.5)
        settings = {
            "AGENTSMITH_FRONTIER_BASE_URL": base_url,
            "AGENTSMITH_FRONTIER_MODEL": name,
            "AGENTSMITH_FRONTIER_API_KEY": "local-experiment",
        }
        previous = {key: os.environ.get(key) for key in settings}
        os.environ.update(settings)
        try:
            yield settings
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    finally:
        # an experiment's server holds nothing worth a graceful drain; SIGKILL stops decoding at once
        server.kill()
        server.wait(timeout=10)
