"""Policy: load, validate and locate the files a policy refers to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from agentsmith.config import DEFAULT_POLICY
from agentsmith.errors import PolicyError
from agentsmith.policy.schema import Policy, Tier

__all__ = ["LoadedPolicy", "Policy", "Tier", "load_policy"]


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: Path

    @property
    def dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path named in the policy, relative to the policy file's folder."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else (self.dir / candidate).resolve()


def load_policy(path: str | Path | None = None) -> LoadedPolicy:
    policy_path = Path(path) if path else DEFAULT_POLICY
    if not policy_path.is_file():
        raise PolicyError(f"policy file not found: {policy_path}",
                          "pass --policy with an existing YAML file, or omit it for the default policy")
    try:
        raw = yaml.safe_load(policy_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PolicyError(f"policy {policy_path}{where} is not valid YAML",
                          "fix the syntax, then run `agentsmith policy lint`") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policy {policy_path} must be a YAML mapping at the top level",
                          "see policies/default.yaml for the shape")
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PolicyError(f"policy {policy_path}: {where}: {first['msg']}",
                          "fix that key, then run `agentsmith policy lint`") from None
    names = [t.name for t in policy.tiers]
    if len(names) != len(set(names)):
        raise PolicyError(f"policy {policy_path}: tier names must be unique, got {names}",
                          "rename the duplicate tier")
    return LoadedPolicy(policy=policy, path=policy_path.resolve())
