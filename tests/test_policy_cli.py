"""`agentsmith policy lint|test|explain|show`, run as a security team would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from agentsmith.gates.rules import fixtures_of, load_rules, rule_files
from agentsmith.policy import load_policy
from agentsmith.policy.schema import Policy

ROOT = Path(__file__).resolve().parent.parent


def policy_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentsmith", "policy", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


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
    policy = team_policy(tmp_path, """
        name: team
        gates:
          semgrep: {rules: [rules]}
        """, {
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
    })
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

    broken = team_policy(tmp_path / "broken", "gates:\n  semgrep: {rules: [rules]}\n", {
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
    })
    proc = policy_cli("lint", str(broken))
    assert proc.returncode == 2
    assert "bad.yaml:3 is not valid YAML" in proc.stderr
    assert "lonely (lonely.yaml): no negative fixture" in proc.stderr
    assert "lonely" in proc.stderr and "metadata.fix is missing" in proc.stderr


def test_explain_states_the_matrix_and_show_round_trips(tmp_path):
    policy = team_policy(tmp_path, """
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
        """)
    proc = policy_cli("explain", str(policy))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for expected in ("never leave", "No external tier: nothing is ever sent to an outside model",
                     "such files stay local altogether", "severity high or above (high, critical)",
                     "Suppression comments", "are allowed", "Rule dockerfile-no-user: turned off",
                     "aws_instance.bastion", "drafts labelled", "terraform"):
        assert expected in text, expected
    default = policy_cli("explain").stdout
    assert "External tier 'frontier'" in default and "A suppression comment the change adds" in default

    shown = policy_cli("show", str(policy))
    assert shown.returncode == 0
    effective = yaml.safe_load(shown.stdout)
    assert Policy.model_validate(effective) == load_policy(policy).policy
    assert effective["gates"]["bandit"]["confidence"] == "medium"   # a default, filled in
