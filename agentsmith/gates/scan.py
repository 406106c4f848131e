"""`scan_change`: every gate over the files a change touches, keeping only what the change introduced."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentsmith.config import SEMGREP_FIX, semgrep_bin
from agentsmith.errors import UserError
from agentsmith.gates.change import Change, cleanup, prepare_change
from agentsmith.gates.rules import load_rules
from agentsmith.gates.tools import Hit, ToolRun, find_suppressions, run_bandit, run_secrets, run_semgrep
from agentsmith.policy import LoadedPolicy
from agentsmith.policy.schema import Policy
from agentsmith.seams import Finding

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass
class ScanResult:
    findings: list[Finding]
    seconds: float
    tools: dict[str, dict]
    base: str = ""
    files: list[str] = field(default_factory=list)
    block_at: str = "medium"
    prepare_seconds: float = 0.0  # reading the rules and laying out base/ and head/, before any scanner

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "files": self.files,
            "seconds": round(self.seconds, 3),
            "prepare_seconds": round(self.prepare_seconds, 3),
            "block_at": self.block_at,
            "blocking": len(self.blocking),
            "findings": [f.to_dict() for f in self.findings],
            "tools": self.tools,
        }


def check_scanners(loaded_policy: LoadedPolicy) -> None:
    """Before a run spends model time: the scanners its gate needs are installed (a run whose gate cannot
    scan would fail closed at the end, its passing change discarded)."""
    gates = loaded_policy.policy.gates
    if gates.semgrep.enabled or gates.checklist.enabled:
        binary = semgrep_bin()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise UserError(f"semgrep not found at {binary}", SEMGREP_FIX)


def scan_change(repo: Path, base: str, loaded_policy: LoadedPolicy, *, paths: list[str] | None = None) -> ScanResult:
    """Scan the working tree of `repo` against `base`; findings the change introduced, blocking per policy."""
    started = time.monotonic()
    policy = loaded_policy.policy
    gates = policy.gates
    rules = load_rules(loaded_policy) if (gates.semgrep.enabled or gates.checklist.enabled) else []
    wanted_gates = {g for g, on in (("semgrep", gates.semgrep.enabled), ("checklist", gates.checklist.enabled)) if on}
    active_rules = [r for r in rules if r.gate in wanted_gates]
    active_files = sorted({r.file for r in active_rules})
    scratch = Path(tempfile.mkdtemp(prefix="agentsmith-scan-"))
    try:
        change = prepare_change(Path(repo), base, scratch, paths)
        prepared = time.monotonic()
        runs: dict[str, ToolRun] = {}
        with ThreadPoolExecutor(max_workers=2) as pool:
            # Semgrep and Bandit are separate processes: run them side by side.
            semgrep_job = (
                pool.submit(run_semgrep, change, active_rules, active_files, gates.semgrep.timeout_s)
                if active_files
                else None
            )
            bandit_job = pool.submit(run_bandit, change, policy) if gates.bandit.enabled else None
            if gates.secrets.enabled:
                runs["secrets"] = run_secrets(change, policy)
            runs["suppression"] = find_suppressions(change)
            if semgrep_job:
                runs["semgrep"] = semgrep_job.result()
            if bandit_job:
                runs["bandit"] = bandit_job.result()
        hits = [h for run in runs.values() for h in run.hits]
        hits = [h for h in hits if not allowed_public_ip(h, policy, change)]
        findings = [to_finding(h, policy) for h in introduced(hits, change)]
        findings = drop_bandit_duplicates([f for f in findings if f is not None])
        findings += tool_failures(runs)
        findings.sort(key=lambda f: (not f.blocking, -SEVERITY_RANK[f.severity], f.path, f.line, f.rule))
        number_repeated_fingerprints(findings)
        return ScanResult(
            findings=findings,
            seconds=time.monotonic() - started,
            tools={name: run.summary() for name, run in runs.items()},
            base=change.base,
            files=[f.path for f in change.files],
            block_at=gates.block_at,
            prepare_seconds=prepared - started,
        )
    finally:
        cleanup(scratch)


def introduced(hits: list[Hit], change: Change) -> list[Hit]:
    """Head hits beyond the base's count for the same rule and matched code. Keyed without line
    numbers (and across renames), so a finding that moved is not new; a second copy is."""
    base_count: dict[tuple[str, str], int] = {}
    head_by_key: dict[tuple[str, str], list[Hit]] = {}
    for hit in hits:
        # A secret is the same finding whichever detector named it: keyed by the value's hash alone.
        key = ("secrets" if hit.tool == "secrets" else hit.rule, hit.matched)
        if hit.side == "base":
            base_count[key] = base_count.get(key, 0) + 1
        else:
            head_by_key.setdefault(key, []).append(hit)
    added = {f.path: f.added_lines for f in change.files}
    new: list[Hit] = []
    for key, head_hits in head_by_key.items():
        extra = len(head_hits) - base_count.get(key, 0)
        if extra <= 0:
            continue
        # The copies on lines the change added are the new ones.
        head_hits.sort(key=lambda h: (h.line not in added.get(h.path, set()), -h.line))
        new.extend(head_hits[:extra])
    return new


TERRAFORM_RESOURCE = re.compile(r'^resource\s+"([^"]+)"\s+"([^"]+)"')


def allowed_public_ip(hit: Hit, policy: Policy, change: Change) -> bool:
    """gates.checklist.allowed_public_ip_resources names Terraform resources ("aws_instance.bastion")."""
    allowed = policy.gates.checklist.allowed_public_ip_resources
    if hit.rule != "tf-instance-public-ip" or not allowed:
        return False
    lines = (change.scratch / hit.side / hit.path).read_text(encoding="utf-8", errors="replace").splitlines()
    for line in reversed(lines[: hit.line]):
        match = TERRAFORM_RESOURCE.match(line)
        if match:
            return f"{match.group(1)}.{match.group(2)}" in allowed
    return False


def effective_severity(hit: Hit, policy: Policy) -> str | None:
    """The policy's override for this rule (by id, or Bandit's test name), else the tool's severity."""
    overrides = policy.gates.overrides
    for name in (hit.rule, hit.extra.get("test_name")):
        if name and name in overrides:
            return None if overrides[name] == "off" else overrides[name]
    return hit.severity


def to_finding(hit: Hit, policy: Policy) -> Finding | None:
    severity = effective_severity(hit, policy)
    if severity is None:
        return None
    gates = policy.gates
    if hit.tool == "suppression":
        blocking = not gates.allow_suppressions
    else:
        blocking = SEVERITY_RANK[severity] >= SEVERITY_RANK[gates.block_at]
    return Finding(
        tool=hit.tool,
        rule=hit.rule,
        severity=severity,
        path=hit.path,
        line=hit.line,
        message=hit.message,
        fix=hit.fix,
        snippet=hit.snippet,
        fingerprint=fingerprint(hit),
        blocking=blocking,
    )


def fingerprint(hit: Hit) -> str:
    return hashlib.sha256(f"{hit.rule}\0{hit.path}\0{hit.matched}".encode("utf-8", "replace")).hexdigest()[:32]


def tool_failures(runs: dict[str, ToolRun]) -> list[Finding]:
    """A scanner that could not run has not passed the change: fail closed."""
    return [
        Finding(
            tool=name,
            rule="gate.tool-error",
            severity="critical",
            path="",
            line=0,
            message=f"{name} did not complete: {run.error}",
            fix="Fix the scanner installation or the rule named in the message, then scan again.",
            fingerprint=hashlib.sha256(f"{name}\0{run.error}".encode()).hexdigest()[:32],
            blocking=True,
        )
        for name, run in runs.items()
        if run.error
    ]


def number_repeated_fingerprints(findings: list[Finding]) -> None:
    """Two copies of the same code in one file: the second gets `:2`, so code scanning keeps both."""
    seen: dict[str, int] = {}
    for finding in sorted(findings, key=lambda f: (f.path, f.line)):
        count = seen[finding.fingerprint] = seen.get(finding.fingerprint, 0) + 1
        if count > 1:
            finding.fingerprint = f"{finding.fingerprint}:{count}"


# Bandit tests that a bundled rule (or the secrets scan) reports with a better message and fix.
BANDIT_COVERED_BY = {
    "B104": "python-web-bind-all-interfaces",
    "B201": "python-web-debug-enabled",
    "B501": "python-tls-verification-disabled",
    "B602": "python-shell-command-from-strings",
    "B605": "python-shell-command-from-strings",
    "B608": "python-sql-built-from-strings",
    "B105": "secrets.",
    "B106": "secrets.",
    "B107": "secrets.",
}


def drop_bandit_duplicates(findings: list[Finding]) -> list[Finding]:
    """One problem on one line is one finding: drop Bandit's when a bundled rule reports it too."""
    others = {(f.path, f.line, f.rule) for f in findings if f.tool != "bandit"}

    def covered(finding: Finding) -> bool:
        prefix = BANDIT_COVERED_BY.get(finding.rule)
        return bool(prefix) and any(
            p == finding.path and line == finding.line and rule.startswith(prefix) for p, line, rule in others
        )

    return [f for f in findings if not (f.tool == "bandit" and covered(f))]
