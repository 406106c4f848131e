"""`agentsmith pr`: a real run, a real push to a real (local) remote, and the GitHub REST calls as sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import git
from tests.test_run import CLAMP_REPO, run_cli


class GitHubStandIn(BaseHTTPRequestHandler):
    """Answers the few GitHub REST endpoints agentsmith uses, with GitHub's JSON shapes."""

    requests: list[tuple[str, str, dict, dict]] = []

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.requests.append(("GET", self.path, dict(self.headers), {}))
        if self.path == "/repos/acme/shop/issues/7":
            return self._reply(
                200,
                {
                    "number": 7,
                    "title": "Implement clamp in mathutil.py so the tests pass",
                    "body": "The tests in test_mathutil.py say what it must do.",
                },
            )
        self._reply(404, {"message": "Not Found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, dict(self.headers), body))
        if self.path == "/repos/acme/shop/pulls":
            return self._reply(
                201,
                {
                    "number": 12,
                    "html_url": "http://127.0.0.1/acme/shop/pull/12",
                    "draft": body.get("draft", False),
                    "head": {"ref": body["head"]},
                },
            )
        if self.path == "/repos/acme/shop/issues/12/labels":
            return self._reply(200, [{"name": n} for n in body["labels"]])
        self._reply(404, {"message": "Not Found"})

    def log_message(self, *args):
        pass


def test_pr_from_an_issue_pushes_the_branch_and_opens_a_pull_request(repo_factory, tmp_path):
    repo = repo_factory(CLAMP_REPO)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")

    server = ThreadingHTTPServer(("127.0.0.1", 0), GitHubStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = run_cli(
            "pr",
            "--issue",
            "7",
            "--repo",
            str(repo),
            "--github-repo",
            "acme/shop",
            "--tier",
            "local",
            "--json",
            env={
                "GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}",
                "GITHUB_TOKEN": "ghs_test_token_for_the_stand_in",
            },
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    branch = result["branch"]
    assert result["pull_request"]["number"] == 12
    # The branch really is on the remote, with the agent's commit.
    assert git(remote, "rev-parse", branch).strip() == result["commit"]
    posts = [r for r in GitHubStandIn.requests if r[0] == "POST" and r[1].endswith("/pulls")]
    assert len(posts) == 1
    _, _, headers, body = posts[0]
    assert headers["Authorization"] == "Bearer ghs_test_token_for_the_stand_in"
    assert body["head"] == branch and body["base"] == "main"
    assert body["body"].startswith("Closes #7") and "security gate: 0 blocking" in body["body"]


def test_pr_without_a_token_fails_before_any_work(repo_factory):
    repo = repo_factory(CLAMP_REPO)
    env = {k: "" for k in ("GITHUB_TOKEN", "GH_TOKEN")}
    proc = run_cli("pr", "--task", "x", "--repo", str(repo), "--github-repo", "acme/shop", env=env)
    assert proc.returncode == 2 and "GITHUB_TOKEN" in proc.stderr
    assert git(repo, "branch", "--list", "agentsmith/*") == ""
