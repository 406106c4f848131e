"""`agentsmith policy diff OLD NEW`: what a policy change does, before it ships.

Three views: the settings that changed; the outcomes that move on the test cases of both
policies (data class, allowed tiers, redactions, gate verdict); and the recent runs in the audit
log that would have been routed, redacted or blocked differently. The log keeps paths, routing
and blocking rules, not file content: what depends on content is said to be unknown, not guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentsmith.policy.cases import Outcome, case_files, evaluate, load_cases

FIELDS = ("local_only", "tiers", "redactions", "gate", "rules")
RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def setting_changes(old, new) -> list[str]:
    before, after = flatten(old.policy.model_dump(mode="json")), flatten(new.policy.model_dump(mode="json"))
    lines = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if key == "name" or a == b:
            continue
        if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, str) for x in a + b):
            lines.append(
                f"{key}: "
                + ", ".join(
                    [f"+ {json.dumps(x)}" for x in b if x not in a] + [f"- {json.dumps(x)}" for x in a if x not in b]
                )
            )
        else:
            lines.append(f"{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return lines


def show(outcome: Outcome, key: str) -> str:
    value = outcome.get(key)
    return json.dumps(value) if not isinstance(value, list) else "[" + ", ".join(value) + "]"


def case_changes(old, new) -> tuple[int, list[str]]:
    """(number of cases, one line per case whose outcome differs) over both policies' cases."""
    unique: dict[tuple, Any] = {}
    for _, case in load_cases(case_files(old) + case_files(new)):
        unique.setdefault((case.path, case.content, case.task), case)
    cases = list(unique.values())
    if not cases:
        return 0, []
    before, after = evaluate(cases, old, scan="all"), evaluate(cases, new, scan="all")
    lines = []
    for case, a, b in zip(cases, before, after, strict=True):
        moved = [f"{key} {show(a, key)} -> {show(b, key)}" for key in FIELDS if a.get(key) != b.get(key)]
        if moved:
            subject = case.path or f"task {case.task!r}"
            lines.append(f"{case.name} ({subject}): " + "; ".join(moved))
    return len(cases), lines


def recent_runs(audit_path: Path, limit: int) -> dict[str, dict[str, list]]:
    """run id -> kind -> event data, for the newest `limit` runs (read-only)."""
    from agentsmith.audit.verify import read_only

    db = read_only(audit_path)
    try:
        rows = db.execute(
            "SELECT run_id, kind, data FROM events WHERE kind IN "
            "('intake', 'plan', 'route', 'call', 'gate', 'run-finished') ORDER BY seq"
        ).fetchall()
    finally:
        db.close()
    runs: dict[str, dict[str, list]] = {}
    for run_id, kind, data in rows:
        runs.setdefault(run_id, {}).setdefault(kind, []).append(json.loads(data))
    return dict(list(runs.items())[-limit:])


def local_only_under(
    policy, files: list[str], reasons: dict[str, str], new_patterns: bool
) -> tuple[set[str], set[str]]:
    """(files local-only under `policy`, files whose answer depends on content the log does not hold)."""
    from agentsmith.redact import is_sensitive_path

    local, unknown = set(), set()
    for path in files:
        reason = reasons.get(path, "")
        if is_sensitive_path(path, policy):
            local.add(path)
        elif reason.startswith("content matches sensitive pattern"):
            pattern = reason.split("pattern ", 1)[1]
            (local if any(repr(p) == pattern for p in policy.sensitivity.patterns) else unknown).add(path)
        elif reason.startswith("secret detected"):
            if policy.sensitivity.secret_makes_file_local:
                local.add(path)
        elif reason in ("binary file", "path resolves outside the repository"):
            local.add(path)
        elif new_patterns:
            unknown.add(path)  # its content was never checked against the added patterns
    return local, unknown


def still_blocks(rule: str, old, new, new_rules: dict[str, str]) -> bool | None:
    """Would a rule that blocked under OLD block under NEW? None when its severity is not known."""
    override = new.policy.gates.overrides.get(rule)
    if override == "off":
        return False
    severity = override or new_rules.get(rule) or ("critical" if rule.startswith("secrets.") else None)
    if severity is None:
        return None if new.policy.gates.block_at != old.policy.gates.block_at else True
    return RANK[severity] >= RANK[new.policy.gates.block_at]


def redaction_settings(policy) -> tuple:
    s = policy.sensitivity
    return s.redact_personal_data, tuple(s.redact_patterns), tuple(policy.gates.secrets.patterns)


def run_changes(old, new, audit_path: Path, limit: int) -> tuple[int, list[str]]:
    from agentsmith.errors import PolicyError
    from agentsmith.gates.rules import load_rules

    try:
        new_rules = {r.id: r.severity for r in load_rules(new)}
    except PolicyError:
        new_rules = {}
    runs = recent_runs(audit_path, limit)
    external_tiers = {t.name for t in new.policy.tiers if t.external}
    lines = []
    for run_id, events in runs.items():
        finished = (events.get("run-finished") or [{}])[-1]
        label = f"{run_id} ({finished.get('status', 'unfinished')}; {str(finished.get('task', ''))[:50]!r})"
        notes = []
        plan = (events.get("plan") or [{}])[-1]
        files = sorted({p for s in plan.get("steps", []) for p in s.get("files", []) + s.get("context", [])})
        was_local = set(plan.get("local_only", []))
        added = set(new.policy.sensitivity.patterns) - set(old.policy.sensitivity.patterns)
        now_local, unknown = local_only_under(new.policy, files, plan.get("reasons", {}), bool(added))
        routes = events.get("route", [])
        sent_out = sorted({r["tier"] for r in routes if r.get("external") and r.get("tier")})
        if now_local - was_local:
            notes.append(
                f"now local-only: {', '.join(sorted(now_local - was_local))}"
                + (f"; it was sent to {', '.join(sent_out)}, NEW keeps it local" if sent_out else "")
            )
        if was_local - now_local - unknown:
            notes.append(
                f"no longer local-only: {', '.join(sorted(was_local - now_local - unknown))} "
                "(external tiers become allowed)"
            )
        if unknown:
            notes.append(f"content of {', '.join(sorted(unknown))} decides (not in the log): check with a test case")
        used = sorted({r["tier"] for r in routes if r.get("tier")})
        missing = [t for t in used if new.policy.tier(t) is None]
        if missing:
            notes.append(f"used tier(s) {', '.join(missing)}, which NEW does not define")
        if sent_out and redaction_settings(old.policy) != redaction_settings(new.policy):
            notes.append(f"its prompts to {', '.join(sent_out)} would be redacted differently")
        if sent_out and not (set(sent_out) & external_tiers) and not missing:
            notes.append(f"sent context to {', '.join(sent_out)}, which NEW does not mark external")
        for gate in events.get("gate", [])[-1:]:
            verdicts = {rule: still_blocks(rule, old, new, new_rules) for rule in gate.get("blocking_rules", [])}
            if verdicts and all(v is False for v in verdicts.values()):
                notes.append(f"would pass the gate (blocked by {', '.join(verdicts)} under OLD)")
            elif any(v is None for v in verdicts.values()):
                notes.append(
                    f"gate verdict unknown: severity of {', '.join(r for r, v in verdicts.items() if v is None)} "
                    "is not in the log and block_at changed"
                )
        if notes:
            lines.append(f"{label}: " + "; ".join(notes))
    return len(runs), lines


def diff_report(old, new, audit_path: Path | None, limit: int) -> tuple[list[str], bool]:
    """(report lines, whether anything changes)."""
    out = [f"policy diff {old.path} -> {new.path}", "", "SETTINGS"]
    settings = setting_changes(old, new)
    out += [f"  {line}" for line in settings] or ["  (no setting changes)"]
    count, cases = case_changes(old, new)
    out += ["", f"TEST CASES ({count} from both policies; {len(cases)} change)"]
    out += [f"  {line}" for line in cases] or ["  (no outcome changes)"]
    runs: list[str] = []
    if audit_path is None or not audit_path.is_file():
        out += ["", f"RECENT RUNS: no audit log at {audit_path}"]
    else:
        total, runs = run_changes(old, new, audit_path, limit)
        out += ["", f"RECENT RUNS ({total} newest in {audit_path}; {len(runs)} would differ)"]
        out += [f"  {line}" for line in runs] or ["  (no run would be routed, redacted or blocked differently)"]
        out.append("  (the log holds blocking rules only: a stricter block_at shows on the test cases, not here)")
    return out, bool(settings or cases or runs)
