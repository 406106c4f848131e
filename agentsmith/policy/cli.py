"""`agentsmith policy lint|test|explain|show|diff|schema`: what a security team runs on its policy."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("policy", help="lint, test, explain or show a policy")
    actions = parser.add_subparsers(dest="policy_action", metavar="ACTION")
    for name, func, text in (
        ("lint", handle_lint, "validate the policy YAML and its Semgrep rule files (exit 2 on a problem)"),
        ("test", handle_test, "lint, then run every rule against its fixtures (semgrep --test); exit 1 on a failure"),
        ("explain", handle_explain, "say in plain words what the policy allows and forbids"),
        ("show", handle_show, "print the effective policy, defaults filled in"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("file", nargs="?", default=None, help="policy file (default: policies/default.yaml)")
        action.set_defaults(func=func)
    diff = actions.add_parser(
        "diff",
        help="what changes from OLD to NEW: on the test cases and on recent runs (exit 1 when anything does)",
        description="Compare two policies: the settings that differ, the test cases (of both) whose outcome "
        "moves (data class, allowed tiers, redactions, gate verdict), and the recent runs in the "
        "audit log that would have been routed, redacted or blocked differently. "
        "Exit 0 when nothing changes, 1 when something does, 2 on a bad policy.",
    )
    diff.add_argument("old", help="the policy in force")
    diff.add_argument("new", help="the proposed policy")
    diff.add_argument("--db", default=None, help="audit database (default: $AGENTSMITH_HOME/audit.sqlite)")
    diff.add_argument("--runs", type=int, default=50, help="how many of the newest runs to replay (default 50)")
    diff.set_defaults(func=handle_diff)
    schema = actions.add_parser(
        "schema",
        help="print the policy's JSON Schema (editors complete and validate with it)",
        description="Print the JSON Schema of a policy file. The copy shipped beside the "
        "default policy is regenerated with `agentsmith policy schema > "
        "agentsmith/data/policies/policy.schema.json`.",
    )
    schema.set_defaults(func=handle_schema)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def policy_json_schema() -> str:
    import json

    from agentsmith.policy.schema import Policy

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Policy.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def handle_diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agentsmith.config import audit_db
    from agentsmith.policy import load_policy
    from agentsmith.policy.diff import diff_report

    old, new = load_policy(args.old), load_policy(args.new)
    lines, changed = diff_report(old, new, Path(args.db) if args.db else audit_db(), args.runs)
    print("\n".join(lines))
    return 1 if changed else 0


def handle_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(policy_json_schema())
    return 0


def lint_problems(loaded, lines: dict | None = None, shown=None) -> tuple[list[str], list]:
    """Every problem in the rule packs and overrides, each one line; and the rules that loaded."""
    import re

    from agentsmith.errors import PolicyError
    from agentsmith.gates.rules import fixture_annotations, load_rules, parse_rule_file, rule_files
    from agentsmith.gates.tools import SUPPRESSIONS
    from agentsmith.policy.lint import line_of

    policy = loaded.policy

    def at(*loc) -> str:
        line = line_of(lines or {}, loc)
        return f"{shown or loaded.path}:{line}: " if line else ""

    problems: list[str] = []
    rules = []
    try:
        files = rule_files(loaded)
    except PolicyError as err:
        return [*problems, at("gates", "semgrep", "rules") + str(err)], []
    if not files and (policy.gates.semgrep.enabled or policy.gates.checklist.enabled):
        problems.append(
            at("gates", "semgrep", "rules")
            + "gates.semgrep.rules: no rule files found; point it at folders of Semgrep rules"
        )
    for path in files:
        try:
            rules.extend(parse_rule_file(path))
        except PolicyError as err:
            problems.append(str(err))
    if not problems:
        try:
            rules = load_rules(loaded)
        except PolicyError as err:
            problems.append(str(err))
    known = {r.id for r in rules} | {rule for rule, *_ in SUPPRESSIONS}
    for rule_id in policy.gates.overrides:
        if (
            rule_id in known
            or re.fullmatch(r"B\d{3}|secrets\.[a-z0-9-]+|gate\.tool-error", rule_id)
            or re.fullmatch(r"[a-z_]+", rule_id)
        ):  # Bandit test names (e.g. assert_used)
            continue
        problems.append(
            at("gates", "overrides", rule_id) + f"gates.overrides: {rule_id!r} is not a rule id of any pack, "
            "Bandit test or secrets detector; use an id `agentsmith policy explain` lists, or remove it"
        )
    for rule in rules:
        if not rule.fix:
            problems.append(f"rule {rule.id} ({rule.file}): metadata.fix is missing; say how to fix the finding")
    for path in sorted({r.file for r in rules}):
        annotations = fixture_annotations(path)
        for rule in (r for r in rules if r.file == path):
            kinds = annotations.get(rule.id, set())
            for kind, meaning in (("ruleid", "positive"), ("ok", "negative")):
                if kind not in kinds:
                    problems.append(
                        f"rule {rule.id} ({path.name}): no {meaning} fixture; add a `# {kind}: {rule.id}` "
                        f"line to a file named {path.stem}.<ext> beside it"
                    )
    return problems, rules


def handle_lint(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agentsmith.config import DEFAULT_POLICY
    from agentsmith.policy import LoadedPolicy, load_policy
    from agentsmith.policy.lint import check_policy_file, read_yaml

    path = Path(args.file) if args.file else DEFAULT_POLICY
    if not path.is_file():
        load_policy(path)  # the one-line "not found" error
    found, policy = check_policy_file(path)
    # Rule packs are checked even when the schema has problems: bad keys fall back to defaults.
    loaded = LoadedPolicy(policy=policy, path=path.resolve())
    problems = [p.render(path) for p in found]
    more, rules = lint_problems(loaded, read_yaml(path)[1], shown=path)
    problems += more
    for problem in problems:
        print(f"agentsmith: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"policy {loaded.path}: ok ({len(rules)} Semgrep rules in {len({r.file for r in rules})} files)")
    return 0


def handle_test(args: argparse.Namespace) -> int:
    import subprocess
    import time

    from agentsmith.config import SEMGREP_FIX, semgrep_bin
    from agentsmith.errors import UserError
    from agentsmith.gates.change import tool_env
    from agentsmith.gates.rules import rule_dirs
    from agentsmith.policy import load_policy

    if handle_lint(args) != 0:
        return 2
    loaded = load_policy(args.file)
    from agentsmith.policy.cases import run_cases

    started = time.monotonic()
    lines, cases_ok = run_cases(loaded)
    print(f"{'ok  ' if cases_ok else 'FAIL'} policy test cases ({time.monotonic() - started:.1f}s)")
    print("\n".join(f"     {line}" for line in lines))
    failed = not cases_ok
    for folder in rule_dirs(loaded):
        start = time.monotonic()
        try:
            proc = subprocess.run(
                [str(semgrep_bin()), "--test", "--strict", "--metrics=off", "--disable-version-check", str(folder)],
                capture_output=True,
                text=True,
                timeout=600,
                env=tool_env(),
            )
        except FileNotFoundError:
            raise UserError(f"semgrep not found at {semgrep_bin()}", SEMGREP_FIX) from None
        summary = [
            line.strip()
            for line in proc.stdout.splitlines()
            if line.strip() and not line.startswith((" ", "┌", "│", "└")) and "Scan" not in line
        ]
        ok = proc.returncode == 0
        failed |= not ok
        print(
            f"{'ok  ' if ok else 'FAIL'} {folder} ({time.monotonic() - start:.1f}s): "
            + (
                summary[0]
                if summary
                else (proc.stderr.strip().splitlines()[-1:] and proc.stderr.strip().splitlines()[-1]) or ""
            )
        )
        if not ok:
            for line in summary[1:] + proc.stderr.strip().splitlines()[-5:]:
                print(f"     {line}")
    return 1 if failed else 0


def handle_show(args: argparse.Namespace) -> int:
    import yaml

    from agentsmith.policy import load_policy

    loaded = load_policy(args.file)
    print(f"# effective policy from {loaded.path} (defaults filled in)")
    sys.stdout.write(yaml.safe_dump(loaded.policy.model_dump(mode="json"), sort_keys=False, width=100))
    return 0


def handle_explain(args: argparse.Namespace) -> int:
    from agentsmith.policy import load_policy

    loaded = load_policy(args.file)
    print("\n".join(explain(loaded)))
    return 0


def explain(loaded) -> list[str]:
    """The allowed / forbidden matrix, in sentences a reviewer can check."""
    from agentsmith.errors import PolicyError
    from agentsmith.gates.rules import load_rules

    p = loaded.policy
    s, g, r = p.sensitivity, p.gates, p.routing
    local = [t.name for t in p.tiers if not t.external]
    external = [t.name for t in p.tiers if t.external]
    out = [f"Policy {p.name!r} (version {p.version}) from {loaded.path}", "", "WHAT STAYS ON THIS MACHINE"]
    out.append(f"  - Files matching {', '.join(s.paths) or '(none)'} never leave, not even redacted.")
    if s.patterns:
        out.append(f"  - Files whose content matches {len(s.patterns)} team pattern(s) stay local.")
    out.append(
        "  - Secrets found in ordinary files are replaced by placeholders before any external call"
        + (
            ", and such files stay local altogether."
            if s.secret_makes_file_local
            else "; the redacted file may go out."
        )
    )
    out.append(
        f"  - Personal data (emails, phone numbers, cards, IBANs) is {'redacted' if s.redact_personal_data else 'NOT redacted'} before external calls."
    )
    if s.redact_patterns:
        out.append(f"  - {len(s.redact_patterns)} extra pattern(s) are redacted before external calls.")
    out += ["", "MODELS"]
    out.append(f"  - Local tiers (code and context stay here): {', '.join(local) or 'none'}.")
    if external:
        for tier in (t for t in p.tiers if t.external):
            out.append(
                f"  - External tier {tier.name!r}: receives redacted, non-sensitive context only; "
                f"${tier.price_in_per_mtok:.2f} in / ${tier.price_out_per_mtok:.2f} out per million tokens."
            )
    else:
        out.append("  - No external tier: nothing is ever sent to an outside model.")
    out.append("  - Sensitive work is never sent to an external tier, not even as a fallback.")
    if external:
        out.append(
            "  - A step escalated after local failures is sent "
            + (
                "as it would be to the external tier alone: the local attempts' test output is not sent."
                if r.escalation == "fresh"
                else "with the local tier's last test failure (summarised, redacted)."
            )
        )
    out.append(
        f"  - When the external tier is unavailable or over budget: "
        f"{'degrade to a local tier with a visible warning' if r.frontier_unavailable == 'degrade' else 'stop the task'}."
    )
    out.append(
        f"  - Budget per task: ${p.budget.max_usd_per_task:.2f}, {p.budget.max_tokens_per_task} tokens, "
        f"{p.budget.max_attempts_per_task} attempts."
    )
    out += ["", "GENERATED CODE RUNS"]
    sb = p.sandbox
    out.append(
        f"  - Only in a sandbox ({sb.image}): no network, non-root, read-only root, {sb.memory} memory, "
        f"{sb.cpus} CPU, {sb.pids} processes, {sb.timeout_s}s per command."
    )
    out.append(
        "  - "
        + (
            "A weaker sandbox backend may be used when Docker is missing."
            if sb.allow_weaker_backend
            else "Without a Docker engine nothing runs (no weaker backend)."
        )
    )
    out.append(
        "  - The repo's declared dependencies: "
        + (
            "downloaded on the host as wheels from the package index (no sdist builds, so no dependency "
            "code runs on the host), installed into an offline per-repo layer."
            if sb.allow_dependency_network
            else "from local wheelhouses only; the package index is never contacted."
        )
    )
    out += ["", "WHAT BLOCKS A CHANGE"]
    out.append(
        f"  - Any finding the change introduces at severity {g.block_at} or above "
        f"({', '.join(x for x in ('low', 'medium', 'high', 'critical') if RANK[x] >= RANK[g.block_at])})."
    )
    out.append("  - Findings already present at the base revision never block (old debt, moved code).")
    out.append(
        "  - "
        + (
            "Suppression comments (# nosec, nosemgrep, # noqa: S..., pragma: allowlist secret) are allowed."
            if g.allow_suppressions
            else "A suppression comment the change adds (# nosec, nosemgrep, # noqa: S..., pragma: allowlist secret) blocks."
        )
    )
    gates_on = [
        name
        for name, on in (
            ("Semgrep code rules", g.semgrep.enabled),
            ("the auth/VPC checklist", g.checklist.enabled),
            (f"Bandit (from {g.bandit.severity} severity, {g.bandit.confidence} confidence)", g.bandit.enabled),
            ("the secrets scan (secrets are critical)", g.secrets.enabled),
        )
        if on
    ]
    gates_off = [
        name
        for name, on in (
            ("Semgrep code rules", g.semgrep.enabled),
            ("the checklist", g.checklist.enabled),
            ("Bandit", g.bandit.enabled),
            ("the secrets scan", g.secrets.enabled),
        )
        if not on
    ]
    out.append(
        f"  - Gates on: {', '.join(gates_on) or 'none'}." + (f" OFF: {', '.join(gates_off)}." if gates_off else "")
    )
    try:
        rules = load_rules(loaded)
    except PolicyError as err:
        rules = []
        out.append(f"  - (rule packs could not be read: {err})")
    by_category: dict[str, int] = {}
    for rule in rules:
        by_category[rule.category] = by_category.get(rule.category, 0) + 1
    if rules:
        out.append(
            f"  - {len(rules)} bundled rules: " + ", ".join(f"{c} {n}" for c, n in sorted(by_category.items())) + "."
        )
    if g.bandit.skips:
        out.append(f"  - Bandit tests skipped: {', '.join(g.bandit.skips)}.")
    for rule_id, level in sorted(g.overrides.items()):
        out.append(f"  - Rule {rule_id}: " + ("turned off." if level == "off" else f"severity set to {level}."))
    if g.checklist.allowed_public_ip_resources:
        out.append(f"  - Allowed to have a public IP: {', '.join(g.checklist.allowed_public_ip_resources)}.")
    else:
        out.append("  - No instance may get a public IP address.")
    out += ["", "REVIEW"]
    out.append("  - Interactive runs pause for a person to approve, reject or edit.")
    out.append(
        "  - In CI: "
        + (
            "changes that pass the gates are approved automatically."
            if p.review.ci == "auto"
            else f"pull requests open as drafts labelled {p.review.label!r} for a person to review."
        )
    )
    return out


RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
