"""Redaction before external calls: what is replaced, what never leaves, and `agentsmith redact`."""

from __future__ import annotations

import io
import os

import pytest

from agentsmith.cli import main
from agentsmith.policy import load_policy
from agentsmith.redact import altered_values, classify_files, redact, redact_for_external, restore
from tests.conftest import make_repo

# Secrets of every kind the issue names, as a developer would leave them in a repo.
SECRETS = {
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github": "ghp_R4nd0mT0k3nV4lu3abcdefghijklmnop1234",
    "url_password": "Sup3rS3cret!",
    "keyword": "hunter2Xy9!",
    "env_value": "correcthorsebatterystaple",
    "email": "jane.doe@example.com",
    "phone": "+1-202-555-0173",
    "us_phone": "(202) 555-0199",
}
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq7v5ExampleKeyMaterial0123456789\n-----END RSA PRIVATE KEY-----"
)

SOURCE = f'''import os

AWS_ACCESS_KEY_ID = "{SECRETS["aws_key"]}"
aws_secret_access_key = "{SECRETS["aws_secret"]}"
DB_URL = "postgres://admin:{SECRETS["url_password"]}@db.internal:5432/app"
password = "{SECRETS["keyword"]}"
CONTACT = "{SECRETS["email"]}"  # on call: {SECRETS["phone"]} or {SECRETS["us_phone"]}
SIGNING_KEY = """{PRIVATE_KEY}"""


def parse_port(value: str) -> int:
    # ports 1-65535; version 1.2.3 on 127.0.0.1, released 2024-01-15
    token = os.environ["API_TOKEN"]
    return int(value)
'''
ENV_FILE = f"GITHUB_TOKEN={SECRETS['github']}\nDB_PASSWORD={SECRETS['env_value']}\n"


@pytest.fixture
def policy():
    return load_policy().policy


def test_every_secret_and_personal_datum_becomes_a_placeholder(policy):
    result = redact(SOURCE + ENV_FILE, policy)
    for name, value in SECRETS.items():
        assert value not in result.text, name
    assert "PRIVATE KEY" not in result.text and "ExampleKeyMaterial" not in result.text
    # Code that is not a secret is left alone.
    for kept in (
        "def parse_port(value: str) -> int:",
        'os.environ["API_TOKEN"]',
        "127.0.0.1",
        "2024-01-15",
        "version 1.2.3",
        "ports 1-65535",
    ):
        assert kept in result.text
    assert "<<EMAIL_" in result.text and "<<PHONE_" in result.text and "<<AWS_KEY_" in result.text
    assert result.count >= len(SECRETS) + 1


def test_placeholders_are_stable_within_a_run_and_restore_exactly(policy):
    first, mapping = redact_for_external(SOURCE, policy)
    second, mapping_again = redact_for_external(f'print("{SECRETS["keyword"]}", "{SECRETS["email"]}")', policy, mapping)
    assert mapping_again is mapping
    placeholder = next(p for p, v in mapping.items() if v == SECRETS["keyword"])
    assert placeholder in first and placeholder in second
    assert restore(first, mapping) == SOURCE
    # A model's answer that uses the placeholders gets the real values back, locally.
    answer = f'password = "{placeholder}"  # unchanged'
    assert restore(answer, mapping) == f'password = "{SECRETS["keyword"]}"  # unchanged'


def test_a_placeholder_a_small_model_mangled_is_still_restored(policy):
    _, mapping = redact_for_external(SOURCE, policy)
    placeholder = next(p for p, v in mapping.items() if v == SECRETS["aws_secret"])
    name = placeholder.strip("<>")
    for mangled in (f"<{name}>>", f"<<{name}>", f"<{name}>", f"<< {name} >>"):
        assert (
            restore(f'aws_secret_access_key = "{mangled}"', mapping)
            == f'aws_secret_access_key = "{SECRETS["aws_secret"]}"'
        )
    # A name the run never handed out stays as written (and the integrity check below sees it).
    assert restore('x = "<<SECRET_999>>"', mapping) == 'x = "<<SECRET_999>>"'


def test_an_answer_that_changed_a_redacted_value_it_never_saw_is_caught(policy):
    _, mapping = redact_for_external(SOURCE, policy)
    placeholder = next(p for p, v in mapping.items() if v == SECRETS["aws_secret"])
    invented = SOURCE.replace(SECRETS["aws_secret"], placeholder.strip("<>"))  # "SECRET_3"
    problems = altered_values(SOURCE, invented, mapping)
    assert len(problems) == 1 and placeholder in problems[0] and "aws_secret_access_key" in problems[0]
    assert SECRETS["aws_secret"] not in problems[0]  # the message may go back to the model
    squeezed = SOURCE.replace(f'aws_secret_access_key = "{SECRETS["aws_secret"]}"', 'aws_secret_access_key="x"')
    assert len(altered_values(SOURCE, squeezed, mapping)) == 1
    # Real changes pass: the value kept, the line removed, or the value moved to the environment.
    assert altered_values(SOURCE, SOURCE + "\nX = 1\n", mapping) == []
    removed = "\n".join(line for line in SOURCE.splitlines() if "aws_secret_access_key" not in line)
    assert altered_values(SOURCE, removed, mapping) == []
    to_env = SOURCE.replace(f'"{SECRETS["aws_secret"]}"', 'os.environ["AWS_SECRET_ACCESS_KEY"]')
    assert altered_values(SOURCE, to_env, mapping) == []
    assert altered_values(SOURCE, invented, {}) == []
    # A placeholder the run never handed out is refused wherever it appears.
    assert altered_values(SOURCE, SOURCE + 'BACKUP = "<<SECRET_99>>"\n', mapping) == [
        "<<SECRET_99>> is not a placeholder you were given"
    ]


def test_a_value_seen_once_is_redacted_wherever_it_occurs(policy):
    text = f'password = "{SECRETS["keyword"]}"\nlog.info("logging in with {SECRETS["keyword"]}")\n'
    result = redact(text, policy)
    assert SECRETS["keyword"] not in result.text and result.count == 2


def test_policy_patterns_and_personal_data_switch(policy):
    policy.sensitivity.redact_patterns = [r"ACME-\d{6}"]
    assert "ACME-123456" not in redact("customer ACME-123456 renewed", policy).text
    policy.sensitivity.redact_personal_data = False
    assert SECRETS["email"] in redact(f"mail {SECRETS['email']}", policy).text


def test_classification_keeps_sensitive_files_local(tmp_path, policy):
    repo = make_repo(
        tmp_path / "repo",
        {
            "app.py": SOURCE,
            "util.py": "def add(a, b):\n    return a + b\n",
            ".env": ENV_FILE,
            "config/.env.production": ENV_FILE,
            "deploy/server.pem": PRIVATE_KEY,
            "secrets/db.yaml": "user: app\n",
            "app/secrets/nested.txt": "x\n",
            "notes.md": "Project codename: BLUEBIRD\n",
        },
    )
    (repo / "escape.txt").symlink_to("/etc/hostname")
    policy.sensitivity.patterns = [r"codename: BLUEBIRD"]
    paths = [
        "app.py",
        "util.py",
        ".env",
        "config/.env.production",
        "deploy/server.pem",
        "secrets/db.yaml",
        "app/secrets/nested.txt",
        "notes.md",
        "escape.txt",
        "new_module.py",
    ]
    cls = classify_files(repo, paths, policy)
    assert cls.local_only == {
        ".env",
        "config/.env.production",
        "deploy/server.pem",
        "secrets/db.yaml",
        "app/secrets/nested.txt",
        "notes.md",
        "escape.txt",
    }
    assert cls.with_secrets == {"app.py"}
    assert "redacted" in cls.reasons["app.py"] and "'secrets/**'" in cls.reasons["secrets/db.yaml"]
    assert "outside the repository" in cls.reasons["escape.txt"]
    policy.sensitivity.secret_makes_file_local = True
    assert "app.py" in classify_files(repo, ["app.py", "util.py"], policy).local_only
    assert "util.py" not in classify_files(repo, ["app.py", "util.py"], policy).local_only


def test_redact_command_prints_exactly_what_would_be_sent(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo", {"app.py": SOURCE, ".env": ENV_FILE})
    assert main(["redact", str(repo / "app.py")]) == 0
    out, err = capsys.readouterr()
    assert out == redact(SOURCE, load_policy().policy).text
    assert all(value not in out for value in SECRETS.values())
    assert "item(s) redacted" in err


def test_redact_command_refuses_a_local_only_file(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo", {"app.py": SOURCE, ".env": ENV_FILE})
    assert main(["redact", str(repo / ".env")]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "local-only" in err and "never leaves" in err and SECRETS["github"] not in err
    assert err.count("\n") == 1


def test_redact_command_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"email me at {SECRETS['email']}\n"))
    assert main(["redact", "-"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("email me at <<EMAIL_1>>")


def test_redact_command_missing_file_is_a_one_line_error(capsys):
    assert main(["redact", os.path.join("no", "such", "file.py")]) == 2
    assert "no such file" in capsys.readouterr().err
