"""Policy test cases: given a path, a file's content or a task, what the policy does with it.

A case file (YAML, in the folders `tests:` names; `policies/tests/` for the default policy):

    cases:
      - name: dotenv never leaves
        path: .env
        content: "DB_PASSWORD=...\\n"        # optional
        expect: {local_only: true, tiers: [local], redactions: [], gate: pass, rules: []}
      - name: a task naming a key file stays local
        task: rotate the key in secrets/prod.key
        expect: {local_only: true}

Only the expectations a case names are checked. `gate` needs `path` and `content`: those files
are scanned together, in one scratch repository, with the policy's real gates.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from agentsmith import vcs
from agentsmith.errors import PolicyError


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    local_only: bool | None = None
    tiers: list[str] | None = None  # the tiers allowed to see it, in policy order
    redactions: list[str] | None = None  # placeholder kinds an external prompt would carry
    gate: Literal["pass", "block"] | None = None
    rules: list[str] | None = None  # the blocking rule ids, sorted


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    path: str | None = None
    content: str | None = None
    task: str | None = None
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _has_subject(self) -> Case:
        if not (self.path or self.task):
            raise ValueError("a case needs a path (with optional content) or a task")
        if (self.expect.gate or self.expect.rules is not None) and (self.path is None or self.content is None):
            raise ValueError("gate expectations need both path and content")
        return self


@dataclass
class Outcome:
    local_only: bool
    reason: str
    tiers: list[str]
    redactions: list[str]
    gate: str | None = None  # None: not scanned
    rules: list[str] = field(default_factory=list)

    def get(self, key: str) -> Any:
        return getattr(self, key)


def case_files(loaded) -> list[Path]:
    """The case files of a policy: each `tests:` entry, relative to the policy file."""
    files: list[Path] = []
    for entry in loaded.policy.tests:
        path = loaded.resolve(entry)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
    return files


def load_cases(paths: list[Path]) -> list[tuple[Path, Case]]:
    cases = []
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise PolicyError(
                f"policy test file {path}{f':{mark.line + 1}' if mark else ''} is not valid YAML", "fix the syntax"
            ) from None
        for index, raw in enumerate(data.get("cases") or [] if isinstance(data, dict) else []):
            try:
                cases.append((path, Case.model_validate(raw)))
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "case"
                raise PolicyError(
                    f"policy test file {path}: case #{index + 1} {where}: {first['msg']}",
                    "give each case a name, a path or task, and an expect mapping",
                ) from None
    return cases


def named_paths(task: str) -> list[str]:
    """Words of a task that look like file paths (`secrets/prod.key`, `.env`, `app/db.py`)."""
    words = (w.strip("`'\"()[],;:") for w in task.split())
    return [
        w.rstrip(".")
        for w in words
        if re.fullmatch(r"\.?[\w.-]*[\w-](/[\w.-]+)*", w.rstrip("."))
        and ("/" in w or "." in w.rstrip("."))
        and not w.startswith("..")
    ]


def classify(case: Case, policy) -> Outcome:
    from agentsmith.redact import classify_text, is_sensitive_path, redact

    local_only, reason = False, ""
    for path in [case.path] if case.path else named_paths(case.task or ""):
        glob = is_sensitive_path(path, policy)
        if glob:
            local_only, reason = True, f"{path} matches sensitive glob {glob!r}"
            break
    if not local_only and case.content is not None:
        local_only, why, _ = classify_text(case.content, policy, case.path or "stdin")
        reason = why or ""
    text = case.content if case.content is not None else (case.task or "")
    mapping: dict[str, str] = {}
    redact(text, policy, mapping, filename=case.path or "task.txt")
    kinds = sorted({re.sub(r"_\d+>>$", "", p).lstrip("<") for p in mapping})
    tiers = [t.name for t in policy.tiers if not (local_only and t.external)]
    return Outcome(local_only=local_only, reason=reason, tiers=tiers, redactions=kinds)


def evaluate(cases: list[Case], loaded, *, scan: Literal["expected", "all"] = "expected") -> list[Outcome]:
    """Each case's outcome under a policy. The files of the cases that expect a gate verdict (or of
    every case with content, for a diff) are scanned together, in one repo."""
    outcomes = [classify(case, loaded.policy) for case in cases]
    scanned = [
        i
        for i, c in enumerate(cases)
        if c.path and c.content is not None and (c.expect.gate or c.expect.rules is not None or scan == "all")
    ]
    if scanned:
        for i, (verdict, rules) in zip(scanned, gate_verdicts([cases[i] for i in scanned], loaded), strict=True):
            outcomes[i].gate, outcomes[i].rules = verdict, rules
    return outcomes


def gate_verdicts(cases: list[Case], loaded) -> list[tuple[str, list[str]]]:
    from agentsmith.gates import scan_change

    scratch = Path(tempfile.mkdtemp(prefix="agentsmith-policy-test-"))
    try:
        vcs.init_repo(scratch)
        vcs.commit_everything(scratch, "base")
        # One folder per case, so two cases may name the same path; rules match paths anywhere below.
        for index, case in enumerate(cases):
            target = scratch / f"case{index:03d}" / case.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(case.content, encoding="utf-8")
        result = scan_change(scratch, "HEAD", loaded)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    errors = sorted({f.rule for f in result.blocking if f.rule == "gate.tool-error"})
    verdicts = []
    for index in range(len(cases)):
        prefix = f"case{index:03d}/"
        rules = sorted({f.rule for f in result.blocking if f.path.startswith(prefix)} | set(errors))
        verdicts.append(("block" if rules else "pass", rules))
    return verdicts


def mismatches(case: Case, outcome: Outcome) -> list[str]:
    wrong = []
    for key, wanted in case.expect.model_dump(exclude_none=True).items():
        got = outcome.get(key)
        if key in ("tiers", "redactions", "rules"):
            wanted, got = sorted(wanted), sorted(got)
        if wanted != got:
            wrong.append(
                f"{key}: expected {wanted}, got {got}"
                + (f" ({outcome.reason})" if key == "local_only" and outcome.reason else "")
            )
    return wrong


def run_cases(loaded) -> tuple[list[str], bool]:
    """(report lines, all passed) for the policy's own test cases."""
    loaded_cases = load_cases(case_files(loaded))
    if not loaded_cases:
        return [f"--   no policy test cases (add YAML files under {loaded.dir / 'tests'})"], True
    outcomes = evaluate([c for _, c in loaded_cases], loaded)
    lines, ok = [], True
    for (path, case), outcome in zip(loaded_cases, outcomes, strict=True):
        wrong = mismatches(case, outcome)
        ok &= not wrong
        lines.append(f"{'ok  ' if not wrong else 'FAIL'} {path.name}: {case.name}")
        lines.extend(f"     {w}" for w in wrong)
    passed = sum(1 for line in lines if line.startswith("ok"))
    lines.append(f"{passed}/{len(loaded_cases)} policy test cases passed")
    return lines, ok
