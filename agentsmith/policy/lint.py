"""Every problem in a policy file at once, each at its file:line with the fix.

Pydantic stops at nothing but reports locations as key paths (`gates.blok_at`); YAML's composed
node tree knows where each key path starts. Together they point a person at the line to change.
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agentsmith.errors import PolicyError
from agentsmith.policy.schema import Policy

Loc = tuple[Any, ...]
REGEX_FIELDS = (("sensitivity", "patterns"), ("sensitivity", "redact_patterns"), ("gates", "secrets", "patterns"))


@dataclass
class Problem:
    loc: Loc
    message: str
    fix: str
    line: int | None = None

    @property
    def where(self) -> str:
        return dotted(self.loc)

    def render(self, path: Path) -> str:
        at = f"{path}:{self.line}" if self.line else str(path)
        return f"{at}: {self.where}: {self.message}; {self.fix}"


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def key_lines(node: yaml.Node, loc: Loc = (), out: dict[Loc, int] | None = None) -> dict[Loc, int]:
    """Key path -> 1-based line where that key (or list item) starts."""
    out = {} if out is None else out
    out.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*loc, key.value)
            out[here] = key.start_mark.line + 1
            key_lines(value, here, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key_lines(item, (*loc, index), out)
    return out


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the key path, else of its nearest parent that is in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PolicyError(
            f"policy {where} is not valid YAML ({getattr(err, 'problem', None) or 'syntax'})",
            "fix the syntax, then run `agentsmith policy lint`",
        ) from None
    return raw, (key_lines(node) if node is not None else {})


def model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of `loc` (for 'did you mean')."""
    current: Any = Policy
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = current.model_fields[part].annotation
        while typing.get_origin(current) in (list, typing.Union) or type(current).__name__ == "UnionType":
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[0] if args else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


FIX_BY_TYPE = {
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "float_type": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write text (quote it if YAML reads it as something else)",
    "list_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping of key: value",
    "model_type": "write a mapping of keys (see policies/default.yaml)",
    "model_attributes_type": "write a mapping of keys (see policies/default.yaml)",
}


def fix_for(error: dict) -> str:
    loc, kind = tuple(error["loc"]), error["type"]
    if kind == "extra_forbidden":
        model = model_at(loc[:-1])
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"
        return f"remove `{loc[-1]}` or fix its spelling ({hint})"
    if kind == "missing":
        return f"add `{loc[-1]}`"
    if kind in ("literal_error", "enum"):
        return f"use {error.get('ctx', {}).get('expected', 'one of the allowed values')}"
    if kind == "greater_than_equal":
        return f"write a number of at least {error.get('ctx', {}).get('ge', 0):g}"
    return FIX_BY_TYPE.get(kind, "see policies/policy.schema.json (`agentsmith policy schema`) for the allowed shape")


def schema_problems(raw: dict) -> tuple[list[Problem], Policy]:
    """Every schema error, and a policy that validates once the offending keys are dropped
    (defaults stand in), so that checks needing a policy can still run."""
    problems: list[Problem] = []
    data = copy.deepcopy(raw)
    for attempt in range(8):  # each pass drops what the last one rejected
        try:
            return problems, Policy.model_validate(data)
        except ValidationError as err:
            errors = err.errors()
        for error in errors:
            loc = tuple(error["loc"])
            # Pydantic reports every error in its first pass; later passes only see what dropping changed.
            if attempt == 0:
                problems.append(Problem(loc, error["msg"], fix_for(error)))
            drop(data, loc[:-1] if error["type"] == "missing" else loc)
    return problems, Policy()


def drop(data: Any, loc: Loc) -> None:
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(parent, dict):
        parent.pop(loc[-1], None)
    elif isinstance(parent, list) and isinstance(loc[-1], int) and loc[-1] < len(parent):
        parent[loc[-1]] = None
        parent[:] = [x for x in parent if x is not None]


def value_problems(policy: Policy) -> list[Problem]:
    """What the schema cannot say: regexes that do not compile, tier names used twice."""
    problems = []
    for loc in REGEX_FIELDS:
        value: Any = policy
        for part in loc:
            value = getattr(value, part)
        for index, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as err:
                problems.append(
                    Problem(
                        (*loc, index),
                        f"{pattern!r} is not a valid regex ({err})",
                        "escape special characters (\\. \\( \\[) or close the group",
                    )
                )
    seen: set[str] = set()
    for index, tier in enumerate(policy.tiers):
        if tier.name in seen:
            problems.append(
                Problem(
                    ("tiers", index, "name"), f"tier name {tier.name!r} is used twice", "give every tier a unique name"
                )
            )
        seen.add(tier.name)
    return problems


def check_policy_file(path: Path) -> tuple[list[Problem], Policy]:
    """(every problem with its line, the policy with bad keys dropped). Raises on unreadable YAML."""
    raw, lines = read_yaml(path)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        return [
            Problem((), "must be a YAML mapping at the top level", "see policies/default.yaml for the shape", 1)
        ], Policy()
    problems, policy = schema_problems(raw)
    problems += value_problems(policy)
    for problem in problems:
        problem.line = line_of(lines, problem.loc)
    problems.sort(key=lambda p: p.line or 0)
    return problems, policy
