"""The scanners. Each runs once over both sides of a change (the scratch `base/` and `head/` trees)
and returns every hit on either side; `scan.py` keeps only what the change introduced."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from agentsmith.config import SEMGREP_FIX, semgrep_bin
from agentsmith.gates.change import Change, tool_env
from agentsmith.gates.rules import Rule
from agentsmith.policy.schema import Policy

SIDES = ("base", "head")


@dataclass
class Hit:
    tool: str
    rule: str
    severity: str
    side: str  # "base" | "head"
    path: str
    line: int
    message: str
    fix: str = ""
    matched: str = ""  # what the finding is about; keys the base/head comparison
    snippet: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class ToolRun:
    hits: list[Hit] = field(default_factory=list)
    version: str = ""
    files: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "version": self.version,
            "files": self.files,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "warnings": self.warnings[:20],
        }


def split_side(relative: str) -> tuple[str, str]:
    relative = relative.replace("\\", "/")
    while relative.startswith("./"):
        relative = relative[2:]
    side, _, path = relative.partition("/")
    return side, path


def line_text(root: Path, path: str, start: int, end: int | None = None) -> str:
    try:
        lines = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[start - 1 : (end or start)])


SUPPRESSION_MARKERS = re.compile(
    r"(#|//)\s*(nosec|noqa|nosemgrep)\b.*$|\bnosemgrep\b.*$|pragma:\s*allowlist[\s-]+secret.*$", re.I | re.M
)


def squash(text: str) -> str:
    """Whitespace-insensitive, and blind to suppression comments: adding `# nosec` to a line
    must not make its old finding look new (the comment is reported on its own)."""
    return " ".join(SUPPRESSION_MARKERS.sub("", text).split())


def run_json_tool(
    run: ToolRun,
    name: str,
    argv: list[str],
    *,
    cwd: Path,
    timeout_s: int,
    env=None,
    timeout_hint: str = "",
    missing: str = "",
) -> dict | None:
    """Run a scanner that prints a JSON report; on failure set `run.error` (the gate then fails closed)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except FileNotFoundError:
        run.error = missing or f"{name} not found"
        return None
    except subprocess.TimeoutExpired:
        run.error = f"{name} ran past {timeout_s}s{timeout_hint}"
        return None
    finally:
        run.seconds = time.monotonic() - start
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        run.error = f"{name} exited {proc.returncode}: {last}"
        return None


# ---------------------------------------------------------------- semgrep

# `semgrep scan` hands the scan to the legacy Python CLI (pysemgrep), which spent 2-3 s CPU importing
# itself and resolving each --config, for 0.03 s of matching. `--experimental` keeps the scan in the
# native CLI (osemgrep, same rule engine): 0.1 s CPU, same results, errors and ignore handling on
# every bundled fixture (tests/test_gates.py checks it). `policy test` still uses pysemgrep (`--test`).
SEMGREP_ENGINE = ("--experimental",)


def run_semgrep(change: Change, rules: list[Rule], rule_files: list[Path], timeout_s: int) -> ToolRun:
    run = ToolRun()
    targets = [f"{side}/{p}" for side in SIDES for p in getattr(change, f"{side}_files")()]
    run.files = len(targets)
    if not targets or not rule_files:
        return run
    by_id = {r.id: r for r in rules}
    argv = [
        str(semgrep_bin()),
        "scan",
        *SEMGREP_ENGINE,
        "--json",
        "--quiet",
        "--metrics=off",
        "--disable-version-check",
        # suppressions must not hide findings: an added `nosemgrep` is a finding of its own
        "--disable-nosem",
        "--no-rewrite-rule-ids",
        "--timeout",
        "30",
        "--max-target-bytes",
        "2000000",
    ]
    for path in rule_files:
        argv += ["--config", str(path)]
    report = run_json_tool(
        run,
        "semgrep",
        argv + ["--", *targets],
        cwd=change.scratch,
        timeout_s=timeout_s,
        env=tool_env(),
        timeout_hint=" (gates.semgrep.timeout_s)",
        missing=f"semgrep not found at {semgrep_bin()}; {SEMGREP_FIX}",
    )
    if report is None:
        return run
    run.version = report.get("version", "")
    for err in report.get("errors", []):
        message = squash(f"{err.get('path', '')}: {err.get('type', '')} {err.get('message', '')}")[:300]
        # A target that does not parse is a warning; a broken rule or engine failure is an error.
        if err.get("path"):
            run.warnings.append(message)
        else:
            run.error = message
    for result in report.get("results", []):
        side, path = split_side(result["path"])
        rule = by_id.get(result["check_id"])
        if rule is None:  # a rule of a gate the policy turned off
            continue
        root = change.scratch / side
        try:
            content = (root / path).read_bytes()
            matched = content[result["start"]["offset"] : result["end"]["offset"]].decode("utf-8", "replace")
        except OSError:
            matched = ""
        metavars = {k: v.get("abstract_content", "") for k, v in (result["extra"].get("metavars") or {}).items()}
        run.hits.append(
            Hit(
                tool=rule.gate,
                rule=rule.id,
                severity=rule.severity,
                side=side,
                path=path,
                line=result["start"]["line"],
                message=squash(result["extra"].get("message", "")),
                fix=rule.fix,
                matched=squash(matched),
                snippet=line_text(root, path, result["start"]["line"]).strip()[:200],
                extra={"metavars": metavars, "category": rule.category},
            )
        )
    return run


# ---------------------------------------------------------------- bandit

BANDIT_SEVERITY = {"HIGH": "high", "MEDIUM": "medium", "LOW": "low"}


def run_bandit(change: Change, policy: Policy) -> ToolRun:
    run = ToolRun(version=metadata.version("bandit"))
    settings = policy.gates.bandit
    targets = [f"{side}/{p}" for side in SIDES for p in getattr(change, f"{side}_files")() if p.endswith(".py")]
    run.files = len(targets)
    if not targets:
        return run
    # --ignore-nosec: a `# nosec` must not hide a finding; the suppression check reports it instead.
    argv = [
        sys.executable,
        "-m",
        "bandit",
        "-f",
        "json",
        "-q",
        "--ignore-nosec",
        "--severity-level",
        settings.severity,
        "--confidence-level",
        settings.confidence,
    ]
    if settings.skips:
        argv += ["-s", ",".join(settings.skips)]
    report = run_json_tool(run, "bandit", argv + ["--", *targets], cwd=change.scratch, timeout_s=300)
    if report is None:
        return run
    for err in report.get("errors", []):
        run.warnings.append(f"{err.get('filename', '')}: {err.get('reason', '')}")
    for result in report.get("results", []):
        side, path = split_side(result["filename"])
        root = change.scratch / side
        first, last = (
            (result.get("line_range") or [result["line_number"]])[0],
            (result.get("line_range") or [result["line_number"]])[-1],
        )
        run.hits.append(
            Hit(
                tool="bandit",
                rule=result["test_id"],
                severity=BANDIT_SEVERITY.get(result["issue_severity"], "medium"),
                side=side,
                path=path,
                line=result["line_number"],
                message=f"{result['issue_text']} ({result['test_name']}, confidence {result['issue_confidence'].lower()})",
                fix=f"See {result.get('more_info', 'the Bandit documentation')}",
                matched=squash(line_text(root, path, first, last)),
                snippet=line_text(root, path, result["line_number"]).strip()[:200],
                extra={"test_name": result["test_name"], "cwe": (result.get("issue_cwe") or {}).get("id")},
            )
        )
    return run


# ---------------------------------------------------------------- secrets

# Detectors detect-secrets lacks, or that it gets wrong for this use.
EXTRA_SECRET_PATTERNS: dict[str, tuple[str, str]] = {
    "password-in-url": (
        r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@'\"]+:(?P<secret>[^\s:/@'\"]{3,})@[^\s/'\"]+",
        "A URL carries a password",
    ),
    "private-key": (r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", "A private key"),
    "aws-access-key": (r"\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})\b", "An AWS access key id"),
    "google-api-key": (r"\b(?P<secret>AIza[0-9A-Za-z_-]{35})\b", "A Google API key"),
    "github-token": (r"\b(?P<secret>(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,}))\b", "A GitHub token"),
    "gitlab-token": (r"\b(?P<secret>glpat-[A-Za-z0-9_-]{20,})\b", "A GitLab token"),
    "slack-token": (r"\b(?P<secret>xox[abposr]-[A-Za-z0-9-]{10,})\b", "A Slack token"),
    "anthropic-key": (r"\b(?P<secret>sk-ant-[A-Za-z0-9_-]{20,})\b", "An Anthropic API key"),
    "openai-key": (r"\b(?P<secret>sk-(?:proj-)?[A-Za-z0-9_-]{32,})\b", "An OpenAI API key"),
    "stripe-key": (r"\b(?P<secret>(?:sk|rk)_live_[A-Za-z0-9]{20,})\b", "A Stripe live key"),
}
# Placeholders people write in docs and examples; not secrets.
PLACEHOLDER = re.compile(
    r"(?i)^(\$\{?[A-Z_]+\}?|<[^>]*>|\{\{.*\}\}|x+|\*+|\.+|changeme|password|passwd|pass|secret|"
    r"example|dummy|placeholder|your[_-]?\w*|redacted|%s|\$\w+)$"
)

SLUG = re.compile(r"[^a-z0-9]+")


def secret_rule(name: str) -> str:
    return "secrets." + SLUG.sub("-", name.lower()).strip("-")


# A key named like `api_key_env:` / `TOKEN_ENV_VAR=` holds the NAME of a variable, not a secret.
_ENV_NAME_KEY = re.compile(r"(?i)(?:^|[\s{,\"'])[\w.-]*env(?:_?var(?:iable)?)?[\"']?\s*[:=]")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def is_env_var_name(secret: str, line: str) -> bool:
    """detect-secrets filter: `api_key_env: AGENTSMITH_FRONTIER_API_KEY` is a reference, not a leak."""
    return bool(_ENV_NAME.fullmatch(secret)) and bool(_ENV_NAME_KEY.search(line))


def run_secrets(change: Change, policy: Policy) -> ToolRun:
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import transient_settings

    run = ToolRun(version=f"detect-secrets {metadata.version('detect-secrets')}")
    start = time.monotonic()
    plugins = [
        {"name": name}
        for name in (
            "ArtifactoryDetector",
            "AWSKeyDetector",
            "AzureStorageKeyDetector",
            "BasicAuthDetector",
            "CloudantDetector",
            "DiscordBotTokenDetector",
            "GitHubTokenDetector",
            "GitLabTokenDetector",
            "IbmCloudIamDetector",
            "IbmCosHmacDetector",
            "JwtTokenDetector",
            "KeywordDetector",
            "MailchimpDetector",
            "NpmDetector",
            "OpenAIDetector",
            "PrivateKeyDetector",
            "PypiTokenDetector",
            "SendGridDetector",
            "SlackDetector",
            "SoftlayerDetector",
            "SquareOAuthDetector",
            "StripeDetector",
            "TelegramBotTokenDetector",
            "TwilioKeyDetector",
        )
    ]
    if policy.gates.secrets.entropy:
        plugins.append({"name": "Base64HighEntropyString", "limit": 4.5})
    # Hex entropy flags every checksum; public IPs are not secrets. The allowlist pragma is left
    # out so that `pragma: allowlist secret` cannot hide a secret (the suppression check reports it).
    filters = [
        {"path": f"detect_secrets.filters.heuristic.{name}"}
        for name in (
            "is_indirect_reference",
            "is_likely_id_string",
            "is_lock_file",
            "is_not_alphanumeric_string",
            "is_potential_uuid",
            "is_prefixed_with_dollar_sign",
            "is_sequential_string",
            "is_swagger_file",
            "is_templated_secret",
        )
    ] + [{"path": "agentsmith.gates.tools.is_env_var_name"}]
    team_patterns = [
        (f"secrets.policy-pattern-{i + 1}", re.compile(p)) for i, p in enumerate(policy.gates.secrets.patterns)
    ]
    extra = [(f"secrets.{name}", re.compile(rx), label) for name, (rx, label) in EXTRA_SECRET_PATTERNS.items()]
    files = [(side, p) for side in SIDES for p in getattr(change, f"{side}_files")()]
    run.files = len(files)
    with transient_settings({"plugins_used": plugins, "filters_used": filters}):
        for side, path in files:
            root = change.scratch / side
            collection = SecretsCollection(root=str(root))
            collection.scan_file(path)
            for secret in collection.data.get(path, set()) or []:
                run.hits.append(
                    secret_hit(
                        side,
                        root,
                        path,
                        secret.line_number,
                        secret_rule(secret.type),
                        f"{secret.type} committed in the file",
                        secret.secret_hash,
                        secret.secret_value or "",
                    )
                )
            text = (root / path).read_text(encoding="utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), start=1):
                for rule, regex, label in extra + [
                    (r, rx, "A value matching the policy's secret pattern") for r, rx in team_patterns
                ]:
                    for match in regex.finditer(line):
                        value = match.groupdict().get("secret") or match.group(0)
                        if PLACEHOLDER.match(value):
                            continue
                        fingerprint = hash_text(value)
                        if any(
                            h.path == path and h.side == side and h.line == number and h.matched == fingerprint
                            for h in run.hits
                        ):
                            continue
                        run.hits.append(secret_hit(side, root, path, number, rule, label, fingerprint, value))
    run.hits = drop_duplicate_secrets(run.hits)
    run.seconds = time.monotonic() - start
    return run


def secret_hit(side: str, root: Path, path: str, line: int, rule: str, label: str, fingerprint: str, value: str) -> Hit:
    text = line_text(root, path, line).strip()
    # Reports get uploaded (SARIF, PR comments): never repeat the secret itself.
    snippet = text.replace(value, value[:4] + "…") if len(value) > 4 else mask(text)
    return Hit(
        tool="secrets",
        rule=rule,
        severity="critical",
        side=side,
        path=path,
        line=line,
        message=f"{label}. A secret in the repository is a leaked secret.",
        fix="Remove it, rotate the credential, and read it from the environment or a secret manager.",
        matched=fingerprint,
        snippet=snippet[:200],
    )


GENERIC_SECRET_RULES = ("secrets.secret-keyword", "secrets.base64-high-entropy-string")


def drop_duplicate_secrets(hits: list[Hit]) -> list[Hit]:
    """Two detectors on one line (detect-secrets' and ours) are one finding: keep the most specific.

    detect-secrets hands back a set, so "the first" would differ between the base and the head scan
    of one unchanged line (seen here: `secret-keyword` on one side, `aws-access-key` on the other,
    and an old secret blocked as new). The choice must not depend on iteration order.
    """
    kept: list[Hit] = []
    seen: set[tuple[str, str, int]] = set()
    for hit in sorted(hits, key=lambda h: (h.side, h.path, h.line, h.rule in GENERIC_SECRET_RULES, h.rule)):
        key = (hit.side, hit.path, hit.line)
        if key in seen:
            continue
        seen.add(key)
        kept.append(hit)
    return kept


def hash_text(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


SECRETISH = re.compile(r"([A-Za-z0-9+/_\-]{6})[A-Za-z0-9+/=_\-.]{8,}")


def mask(text: str) -> str:
    """Keep the first characters of anything token-shaped (lines that may hold a secret)."""
    return SECRETISH.sub(lambda m: m.group(1) + "…", text)


# ---------------------------------------------------------------- suppression comments

SUPPRESSIONS = [
    ("suppression.nosec", re.compile(r"#\s*nosec\b", re.I), "`# nosec` hides Bandit findings"),
    (
        "suppression.nosemgrep",
        re.compile(r"(#|//|/\*|--|<!--|;)\s*nosemgrep\b", re.I),
        "`nosemgrep` hides Semgrep findings",
    ),
    (
        "suppression.noqa-security",
        re.compile(r"#\s*noqa\s*:\s*[^#\n]*\bS\d{3}", re.I),
        "`# noqa: S...` hides flake8-bandit / Ruff security findings",
    ),
    (
        "suppression.allowlist-secret",
        re.compile(r"[#;/*]\s*pragma:\s*allowlist[\s-]+secret", re.I),
        "`pragma: allowlist secret` hides a secret from detect-secrets",
    ),
]


def find_suppressions(change: Change) -> ToolRun:
    run = ToolRun(version="agentsmith")
    start = time.monotonic()
    files = [(side, p) for side in SIDES for p in getattr(change, f"{side}_files")()]
    run.files = len(files)
    for side, path in files:
        root = change.scratch / side
        text = (root / path).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            for rule, regex, label in SUPPRESSIONS:
                if regex.search(line):
                    run.hits.append(
                        Hit(
                            tool="suppression",
                            rule=rule,
                            severity="high",
                            side=side,
                            path=path,
                            line=number,
                            message=f"The change adds a suppression comment: {label}.",
                            fix="Fix the finding instead of silencing it; if it is a false positive, ask the security "
                            "team to tune the rule in the policy (gates.overrides).",
                            matched=" ".join(line.split()),
                            snippet=(mask(line.strip()) if "secret" in rule else line.strip())[:200],
                        )
                    )
    run.seconds = time.monotonic() - start
    return run
