"""Redaction before any external call: which files never leave, and what is replaced in the rest.

Two protections: files the policy classes as sensitive (globs, content patterns, and optionally
any file with a detected secret) are local-only; in every other text, secrets and personal data
become stable placeholders (`<<SECRET_1>>`, `<<EMAIL_2>>`) that `restore` puts back locally.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agentsmith.policy.schema import Policy
from agentsmith.redact.detectors import Span, personal_data_spans, regex_spans, secret_spans

__all__ = [
    "Classification",
    "Redaction",
    "altered_values",
    "classify_files",
    "classify_text",
    "is_sensitive_path",
    "redact",
    "redact_for_external",
    "restore",
]

PLACEHOLDER = re.compile(r"<<([A-Z_]+)_(\d+)>>")
# What small models make of `<<SECRET_4>>` when they copy it: `<<SECRET_4>`, `<SECRET_4>>`, `< <SECRET_4> >`.
# Only a name that the run's mapping holds is restored; anything else is left for the integrity check.
LOOSE_PLACEHOLDER = re.compile(r"<{1,2}\s*([A-Z]+(?:_[A-Z]+)*_\d+)\s*>{1,2}")
# A value this short is replaced only where a detector saw it, never everywhere it occurs.
MIN_GLOBAL_VALUE = 6
MAX_CLASSIFY_BYTES = 2_000_000


@dataclass
class Classification:
    local_only: set[str] = field(default_factory=set)
    with_secrets: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)

    def is_local_only(self, path: str) -> bool:
        return path in self.local_only


@dataclass
class Redaction:
    text: str
    mapping: dict[str, str]  # placeholder -> original value, shared across a run
    count: int  # values replaced in this text


def _path_suffixes(relative: str) -> list[str]:
    parts = PurePosixPath(relative).parts
    return ["/".join(parts[i:]) for i in range(len(parts))]


def is_sensitive_path(relative: str, policy: Policy) -> str | None:
    """The policy glob that makes this path local-only, or None. A glob is tried against the path
    and every tail of it, so `secrets/**` also covers `app/secrets/x` (stricter than gitignore)."""
    relative = relative.replace("\\", "/")
    while relative.startswith("./"):
        relative = relative[2:]
    for glob in policy.sensitivity.paths:
        for tail in _path_suffixes(relative):
            if fnmatch.fnmatchcase(tail, glob) or fnmatch.fnmatchcase(tail, glob.rstrip("/") + "/**"):
                return glob
    return None


def classify_files(root: Path, paths: list[str], policy: Policy) -> Classification:
    """Which of these repo-relative paths must never reach an external tier, and why."""
    result = Classification()
    root = Path(root).resolve()
    for relative in paths:
        glob = is_sensitive_path(relative, policy)
        if glob:
            result.local_only.add(relative)
            result.reasons[relative] = f"path matches sensitive glob {glob!r}"
            continue
        path = root / relative
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if not resolved.is_relative_to(root):
            result.local_only.add(relative)
            result.reasons[relative] = "path resolves outside the repository"
            continue
        if not resolved.is_file():
            continue  # a file the step will create: only its path can make it sensitive
        data = resolved.read_bytes()[:MAX_CLASSIFY_BYTES]
        if b"\x00" in data[:8192]:
            result.local_only.add(relative)
            result.reasons[relative] = "binary file"
            continue
        local_only, reason, has_secrets = classify_text(data.decode("utf-8", errors="replace"), policy, relative)
        if has_secrets:
            result.with_secrets.add(relative)
        if local_only:
            result.local_only.add(relative)
        if reason:
            result.reasons[relative] = reason
    return result


def classify_text(text: str, policy: Policy, filename: str = "stdin") -> tuple[bool, str | None, bool]:
    """(local_only, reason, has_secrets) for one file's content."""
    hit = next((p for p in policy.sensitivity.patterns if re.search(p, text)), None)
    if hit:
        return True, f"content matches sensitive pattern {hit!r}", False
    found = secret_spans(text, filename=filename)
    if not found:
        return False, None, False
    kinds = ", ".join(sorted({s.kind for s in found}))
    if policy.sensitivity.secret_makes_file_local:
        return True, f"secret detected ({kinds}) and secret_makes_file_local is on", True
    return False, f"secret detected ({kinds}); redacted before any external call", True


def _spans_for(text: str, policy: Policy, filename: str) -> list[Span]:
    spans = secret_spans(text, filename)
    if policy.sensitivity.redact_personal_data:
        spans += personal_data_spans(text)
    for pattern in policy.sensitivity.redact_patterns:
        spans += regex_spans(text, "REDACTED", re.compile(pattern))
    return spans


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), last.kind)
        else:
            merged.append(span)
    return merged


def redact(text: str, policy: Policy, mapping: dict[str, str] | None = None, filename: str = "prompt.txt") -> Redaction:
    mapping = {} if mapping is None else mapping
    by_value = {value: placeholder for placeholder, value in mapping.items()}
    spans = [s for s in _spans_for(text, policy, filename) if s.end > s.start]
    # A value found once is replaced everywhere it occurs (also values found earlier in the run).
    known = {text[s.start : s.end] for s in spans} | set(by_value)
    for value in known:
        if len(value) < MIN_GLOBAL_VALUE:
            continue
        start = text.find(value)
        while start != -1:
            spans.append(Span(start, start + len(value), "SECRET"))
            start = text.find(value, start + len(value))
    out: list[str] = []
    cursor = 0
    count = 0
    for span in _merge(spans):
        value = text[span.start : span.end]
        placeholder = by_value.get(value)
        if placeholder is None:
            placeholder = f"<<{span.kind}_{len(mapping) + 1}>>"
            mapping[placeholder] = value
            by_value[value] = placeholder
        out.append(text[cursor : span.start])
        out.append(placeholder)
        cursor = span.end
        count += 1
    out.append(text[cursor:])
    return Redaction("".join(out), mapping, count)


def redact_for_external(text: str, policy: Policy, mapping: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    result = redact(text, policy, mapping)
    return result.text, result.mapping


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the original values back in place of placeholders (in a model's answer, locally)."""
    if not mapping:
        return text
    return LOOSE_PLACEHOLDER.sub(lambda m: mapping.get(f"<<{m.group(1)}>>", m.group(0)), text)


def _squeeze(text: str) -> str:
    """`KEY="` and `KEY = "` are the same line."""
    return re.sub(r"\s+", "", text)


def altered_values(before: str, after: str, mapping: dict[str, str]) -> list[str]:
    """Lines where an external model replaced a redacted value it never saw with something else.

    The model was shown `KEY = "<<SECRET_4>>"`; if its file keeps `KEY = "` but the real value is
    gone, it invented or mangled one (a small model copying placeholders does). Restoring that
    line would be guessing and keeping it silently corrupts the user's file, so the caller refuses
    the answer. Each problem is described in redacted form: it may go back to the model.
    Removing the value (the whole line, or `KEY = os.environ[...]`) is a real change and passes.
    """
    if not mapping:
        return []
    # A placeholder left in the answer is one the run never handed out (known ones were restored).
    problems = [
        f"{name} is not a placeholder you were given"
        for name in dict.fromkeys(m.group(0) for m in LOOSE_PLACEHOLDER.finditer(after))
        if name not in before
    ]
    by_value = sorted(((v, p) for p, v in mapping.items() if len(v) >= MIN_GLOBAL_VALUE), key=lambda vp: -len(vp[0]))
    after_lines = [_squeeze(line) for line in after.splitlines()]
    for line in before.splitlines():
        for value, placeholder in by_value:
            at = line.find(value)
            if at == -1:
                continue
            prefix = line[:at].strip()
            if len(prefix) < 3 or not re.search(r"\w", prefix) or value in after:
                break
            if any(other.startswith(_squeeze(prefix)) for other in after_lines):
                problems.append(f"`{prefix}{placeholder}...`: keep {placeholder} exactly as given")
            break
    return problems
