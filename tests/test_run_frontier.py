"""`agentsmith run --tier frontier` on a repository full of secrets: what the external model received."""

from __future__ import annotations

import json
import re

from tests.conftest import git
from tests.test_run import run_cli

AWS_KEY = "AKIAZ7QW3RTY5UIO2PLM"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Rt3Kx2b"
SMTP_PASSWORD = "S3cr3t-Passw0rd-9x"
ADMIN_EMAIL = "alice.admin@example.com"
DB_PASSWORD = "hunter2-production-db"
PEM_BODY = "MIIEowIBAAKCAQEA7vQ5xk3b0f8s1p3fakebutlongenoughkeymaterial"

SECRET_REPO = {
    "mailer.py": (
        '"""Outgoing mail."""\n\n'
        f'ADMIN_EMAIL = "{ADMIN_EMAIL}"\n'
        f'SMTP_URL = "smtp://mailer:{SMTP_PASSWORD}@mail.internal:587"\n'
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n'
        f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n\n\n'
        "def greeting(name):\n"
        '    """Return the greeting line of a mail to `name`, e.g. "Hello, Bob!"."""\n'
        "    raise NotImplementedError\n"
    ),
    "test_mailer.py": (
        "from mailer import greeting\n\n\n"
        'def test_greeting():\n    assert greeting("Bob") == "Hello, Bob!"\n\n\n'
        'def test_other_name():\n    assert greeting("Ana") == "Hello, Ana!"\n'
    ),
    ".env": f"DB_PASSWORD={DB_PASSWORD}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n",
    "secrets/deploy.pem": f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
}
ALL_SECRETS = [AWS_KEY, AWS_SECRET, SMTP_PASSWORD, ADMIN_EMAIL, DB_PASSWORD, PEM_BODY]


def test_frontier_run_sends_no_secret_and_restores_them_locally(repo_factory, frontier_env):
    repo = repo_factory(SECRET_REPO)
    proc = run_cli(
        "run",
        "Implement greeting in mailer.py so the tests pass",
        "--repo",
        str(repo),
        "--tier",
        "frontier",
        "--mode",
        "ci",
        "--json",
    )
    received = frontier_env.received_text()
    assert frontier_env.chat_requests(), "the frontier stand-in received no chat request"
    for secret in ALL_SECRETS:
        assert secret not in received, f"{secret!r} reached the external model"
    assert "def greeting" in received  # the (redacted) file did go out

    assert "external call" in proc.stderr  # the visible one-line notice
    result = json.loads(proc.stdout)
    frontier_calls = [c for c in result["calls"] if c["tier"] == "frontier"]
    assert frontier_calls and all(c["redactions"] >= 4 for c in frontier_calls)
    assert all(c["cost_usd"] > 0 and c["reason"] for c in frontier_calls)

    if result["status"] == "committed":
        # Placeholders in the answer were restored locally: the branch keeps the real values.
        committed = git(repo, "show", f"{result['branch']}:mailer.py")
        assert "<<" not in committed
        # The model may drop a line or move a value to the environment (`KEY = None`, `os.environ[...]`);
        # a literal it kept is the real value again, never a value it made up.
        for name, value in (
            ("ADMIN_EMAIL", ADMIN_EMAIL),
            ("AWS_ACCESS_KEY_ID", AWS_KEY),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ):
            for literal in re.findall(rf'^{name}\s*=\s*["\']([^"\']*)["\']', committed, re.M):
                assert literal == value, f"{name} lost its value: {committed}"
    assert git(repo, "status", "--porcelain") == ""


def test_a_sensitive_file_never_goes_out_even_when_frontier_is_pinned(repo_factory, frontier_env):
    repo = repo_factory(SECRET_REPO | {"secrets/rotate.py": "def rotate():\n    raise NotImplementedError\n"})
    proc = run_cli(
        "run",
        "Implement rotate in secrets/rotate.py",
        "--repo",
        str(repo),
        "--tier",
        "frontier",
        "--mode",
        "ci",
        "--json",
    )
    result = json.loads(proc.stdout)
    assert result["status"] != "committed"
    assert "sensitive" in result["reason"]
    assert frontier_env.chat_requests() == []


def _mangling_model(answer: str, request: dict) -> str:
    """A model that does the task but copies one placeholder wrong: `<<SECRET_4>>` becomes `SECRET_4`."""
    prompt = request["messages"][-1]["content"]
    shown = re.search(r"mailer\.py \(current content\)\n```python\n(.*?)```", prompt, re.S).group(1)
    placeholder = re.search(r'AWS_SECRET_ACCESS_KEY = "(<<[A-Z_]+_\d+>>)"', shown).group(1)
    done = shown.replace("raise NotImplementedError", 'return f"Hello, {name}!"')
    return "mailer.py\n```python\n" + done.replace(placeholder, placeholder.strip("<>")) + "```\n"


def test_an_answer_that_altered_a_redacted_value_is_refused_and_the_repo_kept(repo_factory, frontier_env):
    repo = repo_factory(SECRET_REPO)
    head = git(repo, "rev-parse", "HEAD")
    frontier_env.answer_rewrite = _mangling_model
    proc = run_cli(
        "run",
        "Implement greeting in mailer.py so the tests pass",
        "--repo",
        str(repo),
        "--tier",
        "frontier",
        "--mode",
        "ci",
        "--json",
    )
    result = json.loads(proc.stdout)
    assert result["status"] != "committed"
    assert any(
        "altered a redacted value" in i["detail"] and i["kind"] == "sensitive-data" for i in result["incidents"]
    ), result["incidents"]
    # The retry told the model what it did wrong, in redacted form.
    requests = frontier_env.chat_requests()
    assert len(requests) >= 2 and "exactly as given" in requests[-1].json["messages"][-1]["content"]
    assert AWS_SECRET not in frontier_env.received_text()
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert AWS_SECRET in (repo / "mailer.py").read_text()
