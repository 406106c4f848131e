"""What counts as a secret or personal data: detect-secrets' plugins plus our own regexes.

Each detector returns spans (start, end, kind) over a text; the caller replaces them with
placeholders. A regex with a capture group redacts only the group (the value, not its key).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

# Our own patterns catch what detect-secrets misses or reports only partly (it reports a GitHub
# token as "ghp", and does not see multi-line private keys or unquoted .env values).
SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "PRIVATE_KEY",
        re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----"),
    ),
    ("AWS_KEY", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b")),
    ("AWS_SECRET", re.compile(r"(?i)aws_?secret_?(?:access_?)?key\W{0,6}([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")),
    ("GITHUB_TOKEN", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{20,255})\b")),
    ("SLACK_TOKEN", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("STRIPE_KEY", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("API_KEY", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b")),
    ("GOOGLE_KEY", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    # scheme://user:PASSWORD@host
    ("URL_PASSWORD", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']+:([^/\s@\"']+)@")),
    # KEY=value lines of .env files and shell scripts, quoted or not
    (
        "SECRET",
        re.compile(
            r"(?im)^[ \t]*(?:export[ \t]+)?[A-Z0-9_.-]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|"
            r"ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)[A-Z0-9_.-]*[ \t]*[=:][ \t]*['\"]?([^\s'\"#]{4,})"
        ),
    ),
]

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE_PATTERNS = [
    # +44 20 7946 0958, +1-202-555-0173, +49 (30) 1234567
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])"),
    # (202) 555-0173, 202-555-0173, 202.555.0173
    re.compile(r"(?<![\w.-])(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w.-])"),
]

_CODE_LIKE_VALUE = re.compile(r"[(\[{$]|^(?:os\.|self\.|None$|null$|true$|false$)", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # placeholder kind: SECRET, AWS_KEY, EMAIL, PHONE, PATTERN, ...


def regex_spans(text: str, kind: str, pattern: re.Pattern[str]) -> list[Span]:
    spans = []
    for match in pattern.finditer(text):
        group = next((i for i in range(1, (pattern.groups or 0) + 1) if match.group(i)), 0)
        value = match.group(group)
        if kind == "SECRET" and _CODE_LIKE_VALUE.search(value):
            continue  # `SECRET = os.environ[...]` names where a secret lives; it is not one
        spans.append(Span(match.start(group), match.end(group), kind))
    return spans


def pattern_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    for kind, pattern in SECRET_PATTERNS:
        spans += regex_spans(text, kind, pattern)
    return spans


def personal_data_spans(text: str) -> list[Span]:
    spans = regex_spans(text, "EMAIL", EMAIL)
    for pattern in PHONE_PATTERNS:
        for match in pattern.finditer(text):
            digits = sum(ch.isdigit() for ch in match.group(0))
            if 7 <= digits <= 15:
                spans.append(Span(match.start(), match.end(), "PHONE"))
    return spans


# detect-secrets keeps its settings in module globals: one scan at a time.
_DETECT_SECRETS_LOCK = threading.Lock()


def detect_secrets_spans(text: str, filename: str = "prompt.txt") -> list[Span]:
    """Secrets found by detect-secrets' plugins, line by line. Nothing is verified over the network:
    verification runs only as a filter we never enable (the library's `-n` behaviour)."""
    from detect_secrets.core.scan import _is_filtered_out, _scan_line
    from detect_secrets.settings import default_settings, get_filters, get_plugins, get_settings
    from detect_secrets.util.code_snippet import get_code_snippet

    spans: list[Span] = []
    with _DETECT_SECRETS_LOCK, default_settings():
        get_settings().disable_filters("detect_secrets.filters.common.is_invalid_file")
        get_filters.cache_clear()
        plugins = get_plugins()
        offset = 0
        for line in text.splitlines(keepends=True):
            if len(line) > 5000 or not line.strip():
                offset += len(line)
                continue
            context = get_code_snippet(lines=[line], line_number=1)
            for plugin in plugins:
                for secret in _scan_line(
                    plugin=plugin,
                    filename=filename,
                    line=line,
                    line_number=0,
                    enable_eager_search=False,
                    context=context,
                ):
                    value = secret.secret_value or ""
                    if len(value) < 4 or _is_filtered_out(
                        required_filter_parameters=["context"],
                        filename=filename,
                        secret=value,
                        plugin=plugin,
                        line=line,
                        context=context,
                    ):
                        continue
                    start = line.find(value)
                    while start != -1:
                        spans.append(Span(offset + start, offset + start + len(value), "SECRET"))
                        start = line.find(value, start + len(value))
            offset += len(line)
    return spans


def secret_spans(text: str, filename: str = "prompt.txt") -> list[Span]:
    return pattern_spans(text) + detect_secrets_spans(text, filename)
