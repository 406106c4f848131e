"""Text, JSON and SARIF 2.1.0 views of one ScanResult."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agentsmith.seams import Finding

if TYPE_CHECKING:
    from agentsmith.gates.scan import ScanResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/agentsmith/agentsmith"
TOOL_NAMES = {
    "semgrep": "agentsmith-semgrep",
    "checklist": "agentsmith-checklist",
    "bandit": "bandit",
    "secrets": "agentsmith-secrets",
    "suppression": "agentsmith-suppressions",
}
# GitHub code scanning ranks security results by this number (0.1-10).
SECURITY_SEVERITY = {"low": "3.0", "medium": "5.5", "high": "8.0", "critical": "9.5"}


def render(result: ScanResult, fmt: str) -> str:
    if fmt == "text":
        return render_text(result)
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    if fmt == "sarif":
        return json.dumps(to_sarif(result), indent=2)
    raise ValueError(f"unknown format {fmt!r}: use text, json or sarif")


def render_text(result: ScanResult) -> str:
    blocking = result.blocking
    lines = [
        f"agentsmith scan: {len(result.files)} changed file(s) since {result.base[:12]}, "
        f"{len(result.findings)} new finding(s), {len(blocking)} blocking "
        f"(blocks at {result.block_at} and above), {result.seconds:.1f}s"
    ]
    for finding in result.findings:
        where = f"{finding.path}:{finding.line}" if finding.path else "(scanner)"
        mark = "BLOCK" if finding.blocking else "note "
        lines.append("")
        lines.append(f"{mark} {where}  {finding.rule}  [{finding.severity}, {finding.tool}]")
        lines.append(f"      {finding.message}")
        if finding.snippet:
            lines.append(f"      > {finding.snippet}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}")
    lines.append("")
    tools = ", ".join(
        f"{name} {info['seconds']:.1f}s" + (f" (error: {info['error']})" if info.get("error") else "")
        for name, info in result.tools.items()
    )
    lines.append(f"tools: {tools}")
    lines.append("result: " + ("BLOCKED: fix the findings marked BLOCK" if blocking else "pass"))
    return "\n".join(lines) + "\n"


def sarif_level(finding: Finding) -> str:
    if finding.blocking:
        return "error"
    return "warning" if finding.severity in ("medium", "high", "critical") else "note"


def sarif_tool_of(finding: Finding) -> str:
    return finding.tool if finding.tool in TOOL_NAMES else "semgrep"


def to_sarif(result: ScanResult) -> dict:
    """One run per tool, each with its own automationDetails id (GitHub's upload category)."""
    runs = []
    tools_in_results = {sarif_tool_of(f) for f in result.findings}
    names = list(dict.fromkeys([*result.tools, *sorted(tools_in_results)]))
    if "semgrep" in result.tools and "checklist" not in names:
        names.append("checklist")  # the checklist runs inside the Semgrep process
    for tool in names:
        findings = [f for f in result.findings if sarif_tool_of(f) == tool and f.path]
        info = result.tools.get(tool) or result.tools.get("semgrep" if tool == "checklist" else tool) or {}
        rules: dict[str, dict] = {}
        for finding in findings:
            rules.setdefault(
                finding.rule,
                {
                    "id": finding.rule,
                    "name": finding.rule.replace(".", "-"),
                    "shortDescription": {"text": finding.message[:120]},
                    "fullDescription": {"text": finding.message},
                    "help": {"text": finding.fix or finding.message},
                    "defaultConfiguration": {"level": sarif_level(finding)},
                    "properties": {
                        "security-severity": SECURITY_SEVERITY[finding.severity],
                        "tags": ["security", tool],
                    },
                },
            )
        rule_index = {rule_id: i for i, rule_id in enumerate(rules)}
        run: dict = {
            "tool": {
                "driver": {
                    "name": TOOL_NAMES.get(tool, tool),
                    "informationUri": INFORMATION_URI,
                    "rules": list(rules.values()),
                }
            },
            "automationDetails": {"id": f"agentsmith/{tool}/"},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
            "results": [sarif_result(f, rule_index[f.rule]) for f in findings],
            "invocations": [invocation(tool, info, result)],
        }
        if info.get("version"):
            run["tool"]["driver"]["semanticVersion" if info["version"][0].isdigit() else "version"] = info["version"]
        runs.append(run)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def sarif_result(finding: Finding, rule_index: int) -> dict:
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": sarif_level(finding),
        "message": {"text": f"{finding.message} Fix: {finding.fix}" if finding.fix else finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": finding.path, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": max(finding.line, 1)},
                }
            }
        ],
        "partialFingerprints": {"agentsmithFingerprint/v1": finding.fingerprint},
        "properties": {"severity": finding.severity, "blocking": finding.blocking},
    }


def invocation(tool: str, info: dict, result: ScanResult) -> dict:
    failures = [f for f in result.findings if f.rule == "gate.tool-error" and f.tool == tool]
    notes = [{"level": "error", "message": {"text": f.message}} for f in failures]
    notes += [{"level": "warning", "message": {"text": w}} for w in info.get("warnings", [])]
    entry: dict = {"executionSuccessful": not failures}
    if notes:
        entry["toolExecutionNotifications"] = notes
    return entry
