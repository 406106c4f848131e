"""A real frontier stand-in for tests: `python -m llama_cpp.server` on 127.0.0.1 behind a recording proxy.

The server speaks the real OpenAI wire format; the proxy in front of it keeps every request body so a
test can assert what an external model received (e.g. that no secret arrived).

    from tests.frontier_standin import FrontierStandin, frontier_standin   # the fixture, session-scoped

    with FrontierStandin(model_path) as fs:
        os.environ.update(fs.env())          # AGENTSMITH_FRONTIER_BASE_URL / _MODEL / _API_KEY
        ...
        assert "AKIA..." not in fs.received_text()
        fs.requests[-1].json["messages"]     # every request, in order
        fs.clear()                           # forget what was recorded so far
        fs.stop_upstream(); fs.start_upstream()   # a dead endpoint behind a live port (HTTP 502)
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MODEL_NAME = "standin-frontier"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, standin: FrontierStandin) -> None:
        self.standin = standin
        super().__init__(("127.0.0.1", port), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _forward(self) -> None:
        standin: FrontierStandin = self.server.standin
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        standin._record(RecordedRequest(self.command, self.path, dict(self.headers), body))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            upstream = http.client.HTTPConnection("127.0.0.1", standin.upstream_port, timeout=standin.request_timeout)
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            status, reply_headers = response.status, response.getheaders()
            upstream.close()
        except OSError as err:
            payload = json.dumps({"error": {"message": f"stand-in upstream unreachable: {err}"}}).encode()
            status, reply_headers = 502, [("Content-Type", "application/json")]
        rewrite = standin.answer_rewrite
        if rewrite is not None and status == 200 and self.path.endswith("/chat/completions"):
            payload = _rewrite_answer(payload, lambda text: rewrite(text, json.loads(body)))
        self.send_response(status)
        for key, value in reply_headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward


def _rewrite_answer(payload: bytes, rewrite) -> bytes:
    """The model's real answer, rewritten the way a faulty model would have answered (JSON or SSE stream)."""
    text = payload.decode("utf-8")
    if not text.lstrip().startswith("data:"):
        reply = json.loads(text)
        reply["choices"][0]["message"]["content"] = rewrite(reply["choices"][0]["message"]["content"] or "")
        return json.dumps(reply).encode()
    chunks = [
        json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip() != "[DONE]"
    ]
    answer = "".join((c.get("choices") or [{}])[0].get("delta", {}).get("content") or "" for c in chunks)
    first = next(c for c in chunks if c.get("choices"))
    head = {
        **first,
        "choices": [
            {**first["choices"][0], "delta": {"role": "assistant", "content": rewrite(answer)}, "finish_reason": None}
        ],
    }
    tail = [c for c in chunks if not c.get("choices") or c["choices"][0].get("finish_reason") or c.get("usage")]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in [head, *tail]).encode() + b"data: [DONE]\n\n"


class FrontierStandin:
    def __init__(
        self,
        model_path: str | Path,
        *,
        model_name: str = MODEL_NAME,
        n_ctx: int = 4096,
        startup_timeout: float = 180.0,
        request_timeout: float = 300.0,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_name = model_name
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.upstream_port = free_port()
        self.port = free_port()
        self.requests: list[RecordedRequest] = []
        # (answer, request) -> answer: what a faulty or hostile model would have said instead (tests set it)
        self.answer_rewrite = None
        self._lock = threading.Lock()
        self._server: subprocess.Popen | None = None
        self._proxy: _Proxy | None = None
        # kept open for the server's lifetime (its stdout/stderr), closed in stop()
        self._log = tempfile.NamedTemporaryFile(prefix="frontier-standin-", suffix=".log", delete=False)  # noqa: SIM115

    # ------------------------------------------------------------ what tests use

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self) -> dict[str, str]:
        return {
            "AGENTSMITH_FRONTIER_BASE_URL": self.base_url,
            "AGENTSMITH_FRONTIER_MODEL": self.model_name,
            "AGENTSMITH_FRONTIER_API_KEY": "standin-key",
        }

    def received_text(self) -> str:
        """Everything the endpoint received: raw bodies plus their decoded message contents (so a
        value that JSON escaping would hide is still found)."""
        with self._lock:
            recorded = list(self.requests)
        parts = []
        for request in recorded:
            parts.append(request.text)
            try:
                parts += [str(m.get("content", "")) for m in request.json.get("messages", [])]
            except (ValueError, AttributeError):
                pass
        return "\n".join(parts)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
        self.answer_rewrite = None

    def server_log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    # ------------------------------------------------------------ life cycle

    def start(self) -> FrontierStandin:
        self._proxy = _Proxy(self.port, self)
        threading.Thread(target=self._proxy.serve_forever, name="frontier-standin-proxy", daemon=True).start()
        self.start_upstream()
        return self

    def start_upstream(self) -> None:
        if self._server and self._server.poll() is None:
            return
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.upstream_port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(os.cpu_count() or 1),
            "--seed",
            "0",
        ]
        self._server = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {self._server.returncode}:\n{self.server_log()[-2000:]}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=2)
                conn.request("GET", "/v1/models")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop_upstream()
        raise RuntimeError(f"llama_cpp.server did not answer within {self.startup_timeout}s")

    def stop_upstream(self) -> None:
        """The model server dies; the proxy port stays open and answers 502 (a dead endpoint)."""
        if self._server and self._server.poll() is None:
            self._server.terminate()
            try:
                self._server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()

    def close(self) -> None:
        self.stop_upstream()
        if self._proxy:
            self._proxy.shutdown()
            self._proxy.server_close()
            self._proxy = None
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> FrontierStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def standin_model_path() -> Path:
    """The 0.5B model (verified), which also stands in for the frontier in tests."""
    from agentsmith.models.weights import ensure_model

    return ensure_model("qwen2.5-coder-0.5b")


@pytest.fixture(scope="session")
def frontier_standin():
    """One stand-in for the whole test session; tests call `.clear()` before asserting on `.requests`,
    and restart the upstream if they stopped it."""
    with FrontierStandin(standin_model_path()) as standin:
        yield standin


@pytest.fixture
def frontier_env(frontier_standin, monkeypatch):
    """The stand-in, configured as the frontier through the environment, with a clean request log."""
    frontier_standin.start_upstream()
    frontier_standin.clear()
    for key, value in frontier_standin.env().items():
        monkeypatch.setenv(key, value)
    return frontier_standin
