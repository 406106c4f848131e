"""`agentsmith policy lint|test|explain|show`, run as a security team would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from agentsmith.gates.rules import fixtures_of, load_rules, rule_files
from agentsmith.policy import load_policy
from agentsmith.policy.schema import Policy

ROOT = Path(__file__).resolve().parent.parent


def policy_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agentsmith", "policy", *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def team_policy(tmp_path: Path, body: str, rules: dict[str, str] | None = None) -> Path:
    for name, text in (rules or {}).items():
        target = tmp_path / "rules" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path


def test_bundled_packs_pass_their_fixtures_and_every_rule_has_both_kinds():
    """`semgrep --test` over every pack in one process, plus the positive/negative fixture check."""
    loaded = load_policy()
    rules = load_rules(loaded)
    assert len(rules) >= 20
    categories = {r.category for r in rules}
    assert {"terraform", "kubernetes", "compose", "dockerfile", "github-actions", "python-web"} <= categories
    for path in rule_files(loaded):
        assert fixtures_of(path), f"{path} has no fixture"
    proc = policy_cli("test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(rules)}/{len(rules)}: ✓ All tests passed" in proc.stdout


def test_policy_test_fails_on_a_rule_its_fixture_contradicts(tmp_path):
    policy = team_policy(
        tmp_path,
        """
        name: team
        gates:
          semgrep: {rules: [rules]}
        """,
        {
            "no-eval.yaml": """
            rules:
            - id: team-no-eval
              languages: [python]
              severity: ERROR
              message: eval runs arbitrary code
              metadata: {fix: parse the input instead}
              pattern: eval(...)
            """,
            "no-eval.py": """
            # ruleid: team-no-eval
            exec(user_input)
            # ok: team-no-eval
            print(user_input)
            """,
        },
    )
    proc = policy_cli("test", str(policy))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout and "team-no-eval" in proc.stdout


def test_lint_accepts_the_default_and_names_each_problem_in_one_line(tmp_path):
    ok = policy_cli("lint")
    assert ok.returncode == 0 and "ok (" in ok.stdout, ok.stderr

    cases = {
        "unknown key": ("gates:\n  blok_at: high\n", "gates.blok_at"),
        "bad yaml": ("gates: [unclosed\n", "not valid YAML"),
        "bad regex": ("gates:\n  secrets: {patterns: ['(unclosed']}\n", "gates.secrets.patterns"),
        "unknown override": ("gates:\n  overrides: {no-such-rule-id: 'off'}\n", "no-such-rule-id"),
        "missing rules dir": ("gates:\n  semgrep: {rules: [nowhere]}\n", "gates.semgrep.rules: nowhere not found"),
    }
    for name, (body, expected) in cases.items():
        path = tmp_path / f"{name.replace(' ', '-')}.yaml"
        path.write_text(body)
        proc = policy_cli("lint", str(path))
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert expected in proc.stderr and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert all(line.startswith("agentsmith: ") for line in proc.stderr.strip().splitlines()), proc.stderr

    broken = team_policy(
        tmp_path / "broken",
        "gates:\n  semgrep: {rules: [rules]}\n",
        {
            "bad.yaml": "rules:\n- id: x\n  message: a: b\n",
            "lonely.yaml": """
            rules:
            - id: lonely
              languages: [python]
              severity: WARNING
              message: m
              pattern: f(...)
            """,
            "lonely.py": "# ruleid: lonely\nf(1)\n",
        },
    )
    proc = policy_cli("lint", str(broken))
    assert proc.returncode == 2
    assert "bad.yaml:3 is not valid YAML" in proc.stderr
    assert "lonely (lonely.yaml): no negative fixture" in proc.stderr
    assert "lonely" in proc.stderr and "metadata.fix is missing" in proc.stderr


def test_explain_states_the_matrix_and_show_round_trips(tmp_path):
    policy = team_policy(
        tmp_path,
        """
        name: strict-team
        tiers:
          - {name: local, kind: gguf, model: qwen2.5-coder-1.5b}
        sensitivity:
          secret_makes_file_local: true
        gates:
          block_at: high
          allow_suppressions: true
          overrides: {dockerfile-no-user: "off"}
          checklist: {allowed_public_ip_resources: [aws_instance.bastion]}
        review: {ci: draft}
        """,
    )
    proc = policy_cli("explain", str(policy))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for expected in (
        "never leave",
        "No external tier: nothing is ever sent to an outside model",
        "such files stay local altogether",
        "severity high or above (high, critical)",
        "Suppression comments",
        "are allowed",
        "Rule dockerfile-no-user: turned off",
        "aws_instance.bastion",
        "drafts labelled",
        "terraform",
    ):
        assert expected in text, expected
    default = policy_cli("explain").stdout
    assert "External tier 'frontier'" in default and "A suppression comment the change adds" in default
    assert "the local attempts' test output is not sent" in default

    shown = policy_cli("show", str(policy))
    assert shown.returncode == 0
    effective = yaml.safe_load(shown.stdout)
    assert Policy.model_validate(effective) == load_policy(policy).policy
    assert effective["gates"]["bandit"]["confidence"] == "medium"  # a default, filled in


def test_lint_reports_every_problem_at_once_with_file_line_and_fix(tmp_path):
    path = team_policy(
        tmp_path,
        """
        name: team
        routing:
          frontier_unavailable: maybe
          local_atempts: 2
        tiers:
          - {name: local, kind: gguf}
          - name: cloud
            kind: openia
            context: lots
        gates:
          blok_at: high
          overrides: {no-such-rule: "off"}
          secrets: {patterns: ["(unclosed"]}
        """,
    )
    proc = policy_cli("lint", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    expected = [
        f"{path}:3: routing.frontier_unavailable: Input should be 'degrade' or 'stop'; use 'degrade' or 'stop'",
        f"{path}:4: routing.local_atempts: Extra inputs are not permitted; remove `local_atempts` or fix "
        "its spelling (did you mean `local_attempts`?)",
        f"{path}:8: tiers[1].kind: Input should be 'gguf' or 'openai'",
        f"{path}:9: tiers[1].context: Input should be a valid integer",
        f"{path}:11: gates.blok_at: Extra inputs are not permitted; remove `blok_at`",
        f"{path}:13: gates.secrets.patterns[0]: '(unclosed' is not a valid regex",
        f"{path}:12: gates.overrides: 'no-such-rule' is not a rule id",
    ]
    assert len(lines) == len(expected), proc.stderr
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(f"agentsmith: {start}"), (line, start)

    # Anything else that loads the policy stops at the first problem, with its line, and says how many more.
    run = subprocess.run(
        [sys.executable, "-m", "agentsmith", "policy", "show", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert (
        f"{path}:3: routing.frontier_unavailable" in run.stderr and "(and 5 more problem(s))" in run.stderr
    )  # overrides: lint only


def test_a_tier_may_carry_a_compute_price_and_lint_refuses_a_negative_one(tmp_path):
    shipped = load_policy(ROOT / "agentsmith/data/policies/bench.yaml").policy
    assert shipped.tier("local").price_per_hour > 0 and shipped.tier("frontier").price_per_hour == 0.0
    assert Policy.model_validate({"tiers": [{"name": "gpu", "kind": "gguf", "price_per_hour": 1.2}]}).tiers[
        0
    ].price_per_hour == pytest.approx(1.2)

    path = team_policy(
        tmp_path,
        """
        name: team
        tiers:
          - name: local
            kind: gguf
            price_per_hour: -0.08
          - {name: cloud, kind: openai, external: true, price_out_per_mtok: -15}
        """,
    )
    proc = policy_cli("lint", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"agentsmith: {path}:5: tiers[0].price_per_hour: Input should be greater than or equal to 0; "
        "write a number of at least 0",
        f"agentsmith: {path}:6: tiers[1].price_out_per_mtok: Input should be greater than or equal to 0; "
        "write a number of at least 0",
    ]


def test_committed_json_schema_is_the_models_export_and_the_shipped_policies_follow_it():
    import json

    import jsonschema

    from agentsmith.policy.cli import policy_json_schema

    committed = ROOT / "agentsmith" / "data" / "policies" / "policy.schema.json"
    assert committed.read_text() == policy_json_schema(), (
        "policy.schema.json is stale: run `agentsmith policy schema > agentsmith/data/policies/policy.schema.json`"
    )
    schema = json.loads(committed.read_text())
    for policy in (
        ROOT / "agentsmith/data/policies/default.yaml",
        ROOT / "agentsmith/data/policies/bench.yaml",
        ROOT / "examples/team-policy/policy.yaml",
    ):
        first = policy.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=") and first.endswith("policy.schema.json"), policy
        assert (policy.parent / first.split("$schema=")[1]).resolve() == committed.resolve(), policy
        jsonschema.validate(yaml.safe_load(policy.read_text()), schema)
    with __import__("pytest").raises(jsonschema.ValidationError, match="blok_at"):
        jsonschema.validate({"gates": {"blok_at": "high"}}, schema)


def test_policy_test_runs_the_shipped_cases_and_reports_a_wrong_expectation(tmp_path):
    team = policy_cli("test", "examples/team-policy/policy.yaml")
    assert team.returncode == 0, team.stdout + team.stderr
    assert "6/6 policy test cases passed" in team.stdout and "All tests passed" in team.stdout

    cases = tmp_path / "tests"
    cases.mkdir()
    (cases / "mine.yaml").write_text(
        textwrap.dedent("""
        cases:
          - name: the team thinks configs under ops/ never leave
            path: ops/settings.py
            content: "TIMEOUT = 3\\n"
            expect: {local_only: true, tiers: [local]}
          - name: env files stay
            path: .env
            expect: {local_only: true}
        """)
    )
    policy = team_policy(tmp_path, "name: team\ngates:\n  semgrep: {rules: [semgrep/python]}\n")
    proc = policy_cli("test", str(policy))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL mine.yaml: the team thinks configs under ops/ never leave" in proc.stdout
    assert "local_only: expected True, got False" in proc.stdout and "ok   mine.yaml: env files stay" in proc.stdout
    assert "1/2 policy test cases passed" in proc.stdout


def test_policy_diff_on_the_test_cases_and_on_recent_runs_in_the_audit_log(tmp_path):
    from agentsmith.audit import AuditLog

    log = AuditLog(tmp_path / "audit.sqlite")
    # Three runs, recorded in the shapes the run graph writes.
    for run_id, files, tier, external, blocking in (
        ("run-pay", ["payments/api.py"], "frontier", True, []),
        ("run-debug", ["web/app.py"], "local", False, ["python-web-debug-enabled"]),
        ("run-plain", ["web/strings.py"], "frontier", True, []),
    ):
        log.append(
            run_id,
            "plan",
            {"steps": [{"id": "step-1", "files": files, "context": []}], "local_only": [], "reasons": {}},
        )
        log.append(run_id, "route", {"step": "step-1", "attempt": 1, "tier": tier, "external": external})
        log.append(run_id, "gate", {"findings": len(blocking), "blocking": len(blocking), "blocking_rules": blocking})
        log.append(run_id, "run-finished", {"status": "blocked" if blocking else "committed", "task": f"task {run_id}"})
    new = tmp_path / "new.yaml"
    new.write_text(
        (ROOT / "examples/team-policy/policy.yaml")
        .read_text()
        .replace("overrides: {}", "overrides: {python-web-debug-enabled: low}")
        .replace("../../policies/semgrep", str(ROOT / "policies/semgrep"))
        + f"tests: [{ROOT / 'examples/team-policy/tests'}]\n"
    )
    proc = policy_cli("diff", "policies/default.yaml", str(new), "--db", str(tmp_path / "audit.sqlite"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert 'sensitivity.paths: + "payments/**"' in out and 'routing.frontier_unavailable: "degrade" -> "stop"' in out
    assert (
        "payments code never leaves, whatever it contains (payments/ledger.py): local_only false -> true; "
        "tiers [local, frontier] -> [local]"
    ) in out
    assert "RECENT RUNS (3 newest" in out and "3 would differ" in out
    runs = {line.split()[0]: line for line in out.splitlines() if line.startswith("  run-")}
    assert (
        "run-pay (committed; 'task run-pay'): now local-only: payments/api.py; it was sent to frontier"
        in runs["run-pay"]
    )
    assert "would pass the gate (blocked by python-web-debug-enabled under OLD)" in runs["run-debug"]
    # NEW adds content patterns and the log holds no file content: said, not guessed.
    assert "content of web/strings.py decides (not in the log)" in runs["run-plain"]

    same = policy_cli("diff", "policies/default.yaml", "policies/default.yaml", "--db", str(tmp_path / "audit.sqlite"))
    assert same.returncode == 0 and "(no outcome changes)" in same.stdout, same.stdout + same.stderr
