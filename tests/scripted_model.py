"""A model server that answers from a script, speaking the OpenAI wire format (chat completions, streamed
or not, and /v1/models): the frontier tier for tests and benchmarks of everything around the model.

    python -m tests.scripted_model --port 8123 --script answers.json [--delay 0.5]

The script is a JSON list of {"match": TEXT, "answer": TEXT}: a request is answered with the first entry
whose TEXT occurs in its last user message (an entry without "match" answers anything). An entry with
"times": N answers at most N requests, then is passed over, so a script can answer in sequence (a failing
draft, then a passing one). Every request is appended, as one JSON line, to --log when given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "scripted-frontier"


def answer_for(script: list[dict], messages: list[dict], used: dict[int, int] | None = None) -> str:
    """The first entry matching the last user message; `used` counts each entry's answers (for "times")."""
    prompt = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    used = {} if used is None else used
    for index, entry in enumerate(script):
        if entry.get("match", "") in prompt and used.get(index, 0) < entry.get("times", float("inf")):
            used[index] = used.get(index, 0) + 1
            return entry["answer"]
    return "I cannot help with that."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        server: ScriptedServer = self.server
        if server.log:
            with open(server.log, "a") as log:
                log.write(json.dumps({"at": time.time(), "request": body}) + "\n")
        if not self.path.endswith("/chat/completions"):
            return self._send(404, b'{"error": {"message": "not found"}}')
        time.sleep(server.delay)
        with server.lock:
            text = answer_for(server.script, body.get("messages", []), server.used)
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text) // 4 + 1,
            "total_tokens": prompt_tokens + len(text) // 4 + 1,
        }
        base = {"id": f"chatcmpl-{time.time_ns()}", "created": int(time.time()), "model": body.get("model", MODEL)}
        if not body.get("stream"):
            reply = base | {
                "object": "chat.completion",
                "usage": usage,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            }
            return self._send(200, json.dumps(reply).encode())
        chunk = base | {"object": "chat.completion.chunk"}
        events = [
            chunk | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
            chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            chunk | {"choices": [], "usage": usage},
        ]
        payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(200, payload.encode(), "text/event-stream")


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, script: list[dict], delay: float = 0.0, log: str | None = None) -> None:
        self.script, self.delay, self.log = script, delay, log
        self.used: dict[int, int] = {}  # answers given per script entry
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


def start(port: int, script_file: Path, *, delay: float = 0.0, log: Path | None = None) -> subprocess.Popen:
    """The server in a process of its own (so a test or benchmark can kill it), once it answers."""
    argv = [
        sys.executable,
        "-m",
        "tests.scripted_model",
        "--port",
        str(port),
        "--script",
        str(script_file),
        "--delay",
        str(delay),
        *(["--log", str(log)] if log else []),
    ]
    proc = subprocess.Popen(argv, cwd=Path(__file__).resolve().parent.parent)
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the scripted model server did not start on port {port}")


def env(port: int) -> dict[str, str]:
    return {
        "AGENTSMITH_FRONTIER_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "AGENTSMITH_FRONTIER_MODEL": MODEL,
        "AGENTSMITH_FRONTIER_API_KEY": "scripted-key",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--script", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer (a model's latency)")
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    server = ScriptedServer(args.port, json.loads(Path(args.script).read_text()), args.delay, args.log)
    server.serve_forever()


if __name__ == "__main__":
    main()
