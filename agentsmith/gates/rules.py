"""The Semgrep rule packs a policy names: where they are, what rules they hold, and their fixtures."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentsmith.config import POLICIES_DIR
from agentsmith.errors import PolicyError
from agentsmith.policy import LoadedPolicy

SEVERITY_OF_SEMGREP_LEVEL = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}
FIXTURE_ANNOTATION = re.compile(r"\b(ruleid|ok|todoruleid|todook):[ \t]*([\w.,\- \t]+)")


@dataclass
class Rule:
    id: str
    file: Path
    category: str
    gate: str  # "checklist" | "semgrep"
    severity: str  # low | medium | high | critical, before policy overrides
    message: str
    fix: str
    languages: list[str] = field(default_factory=list)


def rule_dirs(loaded: LoadedPolicy) -> list[Path]:
    """Each `gates.semgrep.rules` entry: relative to the policy's folder, else to the bundled policies/."""
    dirs = []
    for entry in loaded.policy.gates.semgrep.rules:
        candidates = [loaded.resolve(entry)]
        if not Path(entry).is_absolute():
            candidates.append((POLICIES_DIR / entry).resolve())
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise PolicyError(
                f"gates.semgrep.rules: {entry} not found next to {loaded.path} or in {POLICIES_DIR}",
                "point it at a folder or file of Semgrep rules",
            )
        dirs.append(found)
    return dirs


def is_rule_file(path: Path) -> bool:
    name = path.name
    return path.suffix in (".yaml", ".yml") and not name.endswith((".test.yaml", ".test.yml"))


def rule_files(loaded: LoadedPolicy) -> list[Path]:
    files: list[Path] = []
    for entry in rule_dirs(loaded):
        files.extend(
            sorted(p for p in entry.rglob("*") if p.is_file() and is_rule_file(p)) if entry.is_dir() else [entry]
        )
    return files


def parse_rule_file(path: Path) -> list[Rule]:
    """Rules in one file; PolicyError (one line) when the file is not a valid rule file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise PolicyError(
            f"rule file {path}{where} is not valid YAML ({getattr(err, 'problem', err)})",
            "quote values that contain ': ' and fix the syntax",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise PolicyError(f"rule file {path} has no `rules:` list", "see policies/semgrep/README.md for the shape")
    rules = []
    for index, raw in enumerate(data["rules"]):
        if not isinstance(raw, dict):
            raise PolicyError(
                f"rule file {path}: rule #{index + 1} is not a mapping", "each rule is a mapping with an id"
            )
        missing = [k for k in ("id", "message", "severity", "languages") if k not in raw]
        if missing:
            raise PolicyError(
                f"rule file {path}: rule {raw.get('id', '#' + str(index + 1))} lacks {', '.join(missing)}",
                "add the missing keys",
            )
        if not any(k in raw for k in ("pattern", "patterns", "pattern-either", "pattern-regex", "match", "taint")):
            raise PolicyError(
                f"rule file {path}: rule {raw['id']} has no pattern",
                "add pattern, patterns, pattern-either or pattern-regex",
            )
        if raw["severity"] not in SEVERITY_OF_SEMGREP_LEVEL and raw["severity"] not in (
            "CRITICAL",
            "HIGH",
            "MEDIUM",
            "LOW",
        ):
            raise PolicyError(
                f"rule file {path}: rule {raw['id']} has severity {raw['severity']!r}", "use ERROR, WARNING or INFO"
            )
        meta = raw.get("metadata") or {}
        severity = meta.get("severity") or SEVERITY_OF_SEMGREP_LEVEL.get(raw["severity"], str(raw["severity"]).lower())
        if severity not in ("low", "medium", "high", "critical"):
            raise PolicyError(
                f"rule file {path}: rule {raw['id']} has metadata.severity {severity!r}",
                "use low, medium, high or critical",
            )
        rules.append(
            Rule(
                id=str(raw["id"]),
                file=path,
                category=str(meta.get("category") or path.parent.name),
                gate=str(meta.get("gate") or "semgrep"),
                severity=severity,
                message=str(raw["message"]).strip(),
                fix=str(meta.get("fix") or "").strip(),
                languages=list(raw.get("languages") or []),
            )
        )
    return rules


def load_rules(loaded: LoadedPolicy) -> list[Rule]:
    rules = [rule for path in rule_files(loaded) for rule in parse_rule_file(path)]
    seen: dict[str, Path] = {}
    for rule in rules:
        if rule.id in seen:
            raise PolicyError(
                f"rule id {rule.id} is defined twice ({seen[rule.id]} and {rule.file})", "give every rule a unique id"
            )
        seen[rule.id] = rule.file
    return rules


def fixtures_of(rule_file: Path) -> list[Path]:
    """The files `semgrep --test` pairs with a rule file: same stem, another extension."""
    stem = rule_file.name[: -len(rule_file.suffix)]
    return sorted(
        p
        for p in rule_file.parent.iterdir()
        if p != rule_file and p.is_file() and (p.name.startswith(stem + ".")) and not is_rule_file(p)
    )


def fixture_annotations(rule_file: Path) -> dict[str, set[str]]:
    """rule id -> the annotation kinds ("ruleid", "ok") its fixtures carry."""
    kinds: dict[str, set[str]] = {}
    for fixture in fixtures_of(rule_file):
        for match in FIXTURE_ANNOTATION.finditer(fixture.read_text(encoding="utf-8", errors="replace")):
            for rule_id in match.group(2).split(","):
                kinds.setdefault(rule_id.strip(), set()).add(match.group(1).replace("todo", ""))
    return kinds
