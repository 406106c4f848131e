"""Policy: load, validate and locate the files a policy refers to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentsmith.config import DEFAULT_POLICY
from agentsmith.errors import PolicyError
from agentsmith.policy.lint import check_policy_file
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
        raise PolicyError(
            f"policy file not found: {policy_path}",
            "pass --policy with an existing YAML file, or omit it for the default policy",
        )
    problems, policy = check_policy_file(policy_path)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        at = f"{policy_path}:{first.line}" if first.line else str(policy_path)
        raise PolicyError(
            f"policy {at}: {first.where}: {first.message}{more}",
            f"{first.fix}; `agentsmith policy lint` lists every problem",
        )
    return LoadedPolicy(policy=policy, path=policy_path.resolve())
