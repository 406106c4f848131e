"""The security gates on real git repos with real Semgrep, Bandit and detect-secrets.

Each Semgrep run costs seconds (rule loading), so each test makes one change that exercises many
things at once and scans it once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from agentsmith.gates import ScanResult, render, scan_change
from agentsmith.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
AGENTSMITH = [sys.executable, "-m", "agentsmith"]

# Built at run time so that this file itself holds no secret-shaped strings.
AWS_KEY = "AKIA" + "Q3EGRVZ7NOT2REAL"
GITHUB_TOKEN = "ghp_" + "Zx9" * 12
SLACK_TOKEN = "xoxb-" + "2398472398-" + "aB3dE5gH7jK9"
PRIVATE_KEY_HEADER = "-----BEGIN " + "RSA PRIVATE KEY-----"
STRIPE_KEY = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "dev")
    write(path, files)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    return path


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))


def scan_cli(repo: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*AGENTSMITH, "scan", "--repo", str(repo), *extra], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def rules_of(result: ScanResult) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in result.findings:
        found.setdefault(finding.rule, []).append(finding)
    return found


OLD_APP = """
import subprocess

import requests


def deploy(target):
    subprocess.call("deploy " + target, shell=True)
    return requests.get("https://internal.example.com/" + target, verify=False)


def version():
    return "1.0"
"""

OLD_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: agent
spec:
  hostNetwork: true
  containers:
    - name: agent
      image: agent:1
      securityContext:
        privileged: true
"""


def test_old_debt_in_touched_files_does_not_block(tmp_path):
    """An unrelated fix in files full of old findings passes: moved, renamed and unchanged
    findings are not new. Unstaged edits and a staged rename are both part of the change."""
    repo = make_repo(
        tmp_path / "repo",
        {
            "app.py": OLD_APP,
            "k8s/pod.yaml": OLD_POD,
            "settings.py": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nDEBUG = True\n',
        },
    )
    # The fix: version() changes, deploy() moves below it (its findings move to other lines).
    write(
        repo,
        {
            "app.py": """
        import subprocess

        import requests


        def version():
            return "1.1"


        def deploy(target):
            subprocess.call("deploy " + target, shell=True)
            return requests.get("https://internal.example.com/" + target, verify=False)
        """
        },
    )
    (repo / "k8s/pod.yaml").write_text(OLD_POD.lstrip("\n").replace("agent:1", "agent:2"))
    git(repo, "mv", "settings.py", "config_settings.py")
    with (repo / "config_settings.py").open("a") as handle:
        handle.write("TIMEOUT = 30\n")

    proc = scan_cli(repo, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["blocking"] == 0, report["findings"]
    assert sorted(report["files"]) == ["app.py", "config_settings.py", "k8s/pod.yaml"]
    assert report["tools"]["semgrep"]["error"] is None and report["tools"]["bandit"]["error"] is None
    assert report["tools"]["semgrep"]["files"] == 6  # three files, base and head, one Semgrep process


def test_added_suppression_and_second_copy_block_and_policy_decides(tmp_path):
    repo = make_repo(
        tmp_path / "repo",
        {
            "app.py": OLD_APP,
            "infra/main.tf": """
        resource "aws_instance" "bastion" {
          ami = "ami-1"
        }
        """,
        },
    )
    write(
        repo,
        {
            "app.py": OLD_APP.replace("shell=True)", "shell=True)  # nosec B602")
            + '\n\ndef rollback(target):\n    subprocess.call("deploy " + target, shell=True)\n',
            "infra/main.tf": """
        resource "aws_instance" "bastion" {
          ami = "ami-1"
          associate_public_ip_address = true
        }
        """,
        },
    )
    git(repo, "add", "app.py")  # staged and unstaged edits alike

    proc = scan_cli(repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "BLOCK app.py:7  suppression.nosec" in proc.stdout
    assert "fix:" in proc.stdout and "result: BLOCKED" in proc.stdout

    result = scan_change(repo, "HEAD", load_policy())
    found = rules_of(result)
    assert [f.line for f in found["suppression.nosec"]] == [7]
    # the same call copied into a new function is a new finding (occurrence count went up) ...
    assert [f.line for f in found["python-shell-command-from-strings"]] == [16]
    assert "B602" not in found, "Bandit's duplicate of a bundled rule's finding is dropped"
    assert found["tf-instance-public-ip"][0].blocking
    # ... and the findings that were there before (requests verify=False) are not
    assert "python-tls-verification-disabled" not in found and "B501" not in found

    team = tmp_path / "team.yaml"
    team.write_text(
        textwrap.dedent("""
        name: team
        gates:
          block_at: high
          allow_suppressions: true
          overrides: {python-shell-command-from-strings: medium, B404: "off"}
          checklist: {allowed_public_ip_resources: [aws_instance.bastion]}
        """)
    )
    relaxed = scan_change(repo, "HEAD", load_policy(team))
    found = rules_of(relaxed)
    assert not relaxed.blocking, [f.to_dict() for f in relaxed.blocking]
    assert found["suppression.nosec"][0].blocking is False
    assert found["python-shell-command-from-strings"][0].severity == "medium"
    assert "tf-instance-public-ip" not in found and "B404" not in found


def test_infrastructure_and_secrets_in_new_files(tmp_path):
    """Untracked Terraform, Kubernetes, Compose, Dockerfile, workflow and a secrets-laden file."""
    repo = make_repo(tmp_path / "repo", {"README.md": "demo\n"})
    write(
        repo,
        {
            "infra/network.tf": """
            resource "aws_security_group" "web" {
              ingress {
                from_port   = 22
                to_port     = 22
                protocol    = "tcp"
                cidr_blocks = ["0.0.0.0/0"]
              }
            }

            resource "aws_s3_bucket" "assets" {
              bucket = "assets"
              acl    = "public-read"
            }

            resource "aws_db_instance" "main" {
              engine              = "postgres"
              publicly_accessible = true
            }
            """,
            "deploy/app.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: app
            spec:
              template:
                spec:
                  hostPID: true
                  containers:
                    - name: app
                      image: app:1
                      securityContext:
                        runAsUser: 0
            """,
            "docker-compose.yml": """
            services:
              db:
                image: postgres:16
                ports:
                  - "5432:5432"
                environment:
                  POSTGRES_HOST_AUTH_METHOD: trust
            """,
            "Dockerfile": """
            FROM python:3.12-slim
            COPY . /app
            CMD ["python", "/app/main.py"]
            """,
            ".github/workflows/ci.yml": """
            on:
              pull_request_target:
            jobs:
              test:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                    with:
                      ref: ${{ github.event.pull_request.head.sha }}
                  - run: echo ${{ secrets.NPM_TOKEN }}
            """,
            "server.py": """
            import jwt
            from flask import Flask

            app = Flask(__name__)


            def user(token):
                return jwt.decode(token, options={"verify_signature": False})


            if __name__ == "__main__":
                app.run(host="0.0.0.0", debug=True)  # noqa: S201
            """,
            "config.py": f"""
            AWS_ACCESS_KEY_ID = "{AWS_KEY}"
            GITHUB_TOKEN = "{GITHUB_TOKEN}"
            SLACK = "{SLACK_TOKEN}"
            DATABASE_URL = "postgres://app:s3cr3t-Pa55@db.internal:5432/app"
            EXAMPLE_URL = "postgres://app:${{DB_PASSWORD}}@db.internal:5432/app"
            KEY = \"\"\"{PRIVATE_KEY_HEADER}
            MIIEpAIBAAKCAQEA7
            \"\"\"
            STRIPE_KEY = "{STRIPE_KEY}"  # pragma: allowlist secret
            """,
        },
    )
    result = scan_change(repo, "HEAD", load_policy())
    found = rules_of(result)
    expected = {
        "tf-ingress-open-to-world": "infra/network.tf",
        "tf-public-bucket": "infra/network.tf",
        "tf-database-publicly-accessible": "infra/network.tf",
        "k8s-host-namespace": "deploy/app.yaml",
        "k8s-run-as-root": "deploy/app.yaml",
        "compose-database-published-all-interfaces": "docker-compose.yml",
        "compose-database-trust-auth": "docker-compose.yml",
        "dockerfile-no-user": "Dockerfile",
        "gha-pull-request-target-checkout-head": ".github/workflows/ci.yml",
        "gha-secret-echoed-to-log": ".github/workflows/ci.yml",
        "python-jwt-verification-disabled": "server.py",
        "python-web-debug-enabled": "server.py",
        "python-web-bind-all-interfaces": "server.py",
    }
    for rule, path in expected.items():
        assert rule in found, f"{rule} missing; got {sorted(found)}"
        assert {f.path for f in found[rule]} == {path}
        assert all(f.blocking and f.fix for f in found[rule]), rule
    secrets = sorted((f.line, f.rule) for f in result.findings if f.path == "config.py")
    secrets = [s for s in secrets if not s[1].startswith("suppression.")]
    assert [line for line, _ in secrets] == [1, 2, 3, 4, 6, 9], secrets  # not line 5: a ${VAR} placeholder
    assert all(f.severity == "critical" for f in result.findings if f.tool == "secrets")
    # the allowlist pragma and a noqa S201 comment hide nothing, and are findings themselves
    assert [(f.path, f.line) for f in found["suppression.allowlist-secret"]] == [("config.py", 9)]
    assert [(f.path, f.line) for f in found["suppression.noqa-security"]] == [("server.py", 12)]
    assert not any(AWS_KEY in f.snippet or GITHUB_TOKEN in f.snippet for f in result.findings), "reports mask secrets"
    assert len({f.fingerprint for f in result.findings}) == len(result.findings)

    text = render(result, "text")
    assert "infra/network.tf:6  tf-ingress-open-to-world" in text and "fix: " in text
    as_json = json.loads(render(result, "json"))
    assert as_json["blocking"] == len(result.blocking) and as_json["findings"][0]["fingerprint"]

    sarif = json.loads(render(result, "sarif"))
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    categories = [run["automationDetails"]["id"] for run in sarif["runs"]]
    assert len(categories) == len(set(categories)) and "agentsmith/checklist/" in categories
    results = [r for run in sarif["runs"] for r in run["results"]]
    assert len(results) == len(result.findings)
    for item in results:
        assert item["partialFingerprints"]["agentsmithFingerprint/v1"]
        assert item["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    for run in sarif["runs"]:
        ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
        assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])

    # Only the named paths, and a quiet change passes.
    only_docs = scan_change(repo, "HEAD", load_policy(), paths=["README.md"])
    assert only_docs.findings == [] and only_docs.files == ["README.md"]


def test_usage_errors_exit_2_with_one_line(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("gates:\n  block_at: sometimes\n")
    cases = [
        (scan_cli(tmp_path), "not a git repository"),
        (scan_cli(repo, "--base", "no-such-rev"), "unknown revision"),
        (scan_cli(repo, "--policy", str(bad_policy)), "gates.block_at"),
        (scan_cli(repo, str(tmp_path / "elsewhere.py")), "outside the repository"),
    ]
    for proc, expected in cases:
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("missing", ["semgrep"])
def test_a_scanner_that_cannot_run_fails_closed(tmp_path, monkeypatch, missing):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    write(repo, {"a.py": "x = 2\n"})
    monkeypatch.setenv("AGENTSMITH_SEMGREP", str(tmp_path / "no-semgrep"))
    result = scan_change(repo, "HEAD", load_policy())
    assert [f.rule for f in result.blocking] == ["gate.tool-error"]
    assert "semgrep not found" in result.blocking[0].message


def test_an_unchanged_secret_two_detectors_see_is_never_new(tmp_path):
    """detect-secrets returns a set: which detector names a line must not depend on its order.
    Seen here: an old AWS secret, untouched by a whole-file rewrite, blocked as new in some runs."""
    secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8Rt3Kx2b"
    base = f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nAWS_SECRET_ACCESS_KEY = "{secret}"\n\n\ndef greeting(name):\n    raise NotImplementedError\n'
    repo = make_repo(tmp_path / "repo", {"mailer.py": base})
    (repo / "mailer.py").write_text(
        base.replace("\n\n\n", "\n\n").replace("raise NotImplementedError", 'return f"Hello, {name}!"')
    )
    policy = tmp_path / "secrets-only.yaml"
    policy.write_text(
        (ROOT / "policies" / "default.yaml")
        .read_text()
        .replace("semgrep: {enabled: true", "semgrep: {enabled: false")
        .replace("bandit: {enabled: true", "bandit: {enabled: false")
    )
    for seed in range(8):
        proc = subprocess.run(
            [*AGENTSMITH, "scan", "--repo", str(repo), "--policy", str(policy), "--format", "json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        )
        assert proc.returncode == 0, (seed, proc.stdout[-2000:], proc.stderr[-2000:])
        assert json.loads(proc.stdout)["findings"] == []
    # A new secret in the same change still blocks.
    with (repo / "mailer.py").open("a") as handle:
        handle.write(f'BACKUP_SECRET_ACCESS_KEY = "{secret[::-1]}"\n')
    assert scan_cli(repo, "--policy", str(policy)).returncode == 1


def test_the_projects_own_examples_pass_its_own_gate(tmp_path):
    """examples/ as a brand-new change (every file added): nothing may block, the workflow included."""
    import shutil

    repo = make_repo(tmp_path / "examples", {"BASE.md": "an empty base\n"})
    shutil.copytree(ROOT / "examples", repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    workflow = (repo / "github-actions" / "agentsmith.yml").read_text()
    assert "@v4" not in workflow.replace("# v4", "") and workflow.count("persist-credentials:") == 2
    proc = scan_cli(repo, "--format", "json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, [f"{f['path']}:{f['line']} {f['rule']}" for f in report["findings"]]
    assert {"github-actions/agentsmith.yml", "team-policy/policy.yaml"} <= set(report["files"])
    assert report["blocking"] == 0


def test_every_bundled_rule_fires_on_its_fixtures_in_one_mixed_change(tmp_path, monkeypatch):
    """One change touching Python, Terraform, YAML and Dockerfiles gets every rule set: each rule with a
    `ruleid:` fixture fires on it. The fast engine (osemgrep) finds exactly what the legacy CLI finds."""
    import shutil

    from agentsmith.config import POLICIES_DIR
    from agentsmith.gates import tools
    from agentsmith.gates.rules import fixture_annotations, is_rule_file, rule_files

    rules_dir = POLICIES_DIR / "semgrep"
    repo = make_repo(tmp_path / "repo", {"README.md": "demo\n"})
    shutil.copytree(
        rules_dir,
        repo / "fixtures",
        ignore=lambda folder, names: [n for n in names if n == "README.md" or is_rule_file(Path(folder) / n)],
    )
    expected = {
        rule
        for path in rule_files(load_policy())
        for rule, kinds in fixture_annotations(path).items()
        if "ruleid" in kinds
    }
    suffixes = {p.suffix for p in (repo / "fixtures").rglob("*") if p.is_file()}
    assert {".py", ".tf", ".yaml", ".dockerfile"} <= suffixes

    def semgrep_hits() -> set[tuple[str, str, int]]:
        result = scan_change(repo, "HEAD", load_policy())
        assert not [f for f in result.findings if f.rule == "gate.tool-error"]
        return {(f.rule, f.path, f.line) for f in result.findings if f.tool in ("semgrep", "checklist")}

    fast = semgrep_hits()
    assert expected <= {rule for rule, _, _ in fast}, sorted(expected - {rule for rule, _, _ in fast})
    assert {path.split("/")[1] for _, path, _ in fast} >= {
        "python",
        "python-web",
        "terraform",
        "kubernetes",
        "compose",
        "dockerfile",
        "github-actions",
    }
    monkeypatch.setattr(tools, "SEMGREP_ENGINE", ())  # the legacy Python CLI, as before
    assert semgrep_hits() == fast
