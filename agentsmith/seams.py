"""The seams of agentsmith: what a model tier, a sandbox, a gate and a forge must be.

Every backend is one file that satisfies one of these protocols. The records that cross the
seams are plain dataclasses that serialise to JSON as they are (``dataclasses.asdict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# ---------------------------------------------------------------- records crossing the seams


@dataclass
class Completion:
    """One model call, as the audit log and `run --json` report it."""

    text: str
    tier: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cost_usd: float = 0.0
    redactions: int = 0
    reason: str = ""  # why this tier was chosen for this call
    prompt_tokens_evaluated: int | None = None  # computed by the model; the rest was reused from its cache

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExecResult:
    """One command run in a sandbox."""

    exit_code: int
    output: str  # stdout and stderr interleaved, truncated to the output limit
    seconds: float
    limit: str | None = None  # "timeout" | "memory" | "pids" | "output" | None: which limit fired
    backend: str = "docker"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None


@dataclass
class Finding:
    """One gate finding. `fingerprint` is stable across line moves (rule + file + matched text)."""

    tool: str  # "semgrep" | "bandit" | "secrets" | "checklist" | "suppression"
    rule: str
    severity: str  # "low" | "medium" | "high" | "critical"
    path: str  # relative to the repo root, forward slashes
    line: int
    message: str
    fix: str = ""
    snippet: str = ""
    fingerprint: str = ""
    blocking: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Incident:
    """Something the security or ops team must see: tool misuse, policy breach, data mishandling."""

    kind: str  # "tool-misuse" | "policy-breach" | "sensitive-data" | "factual-error" | "sandbox-limit"
    detail: str
    node: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PullRequest:
    url: str
    number: int
    draft: bool
    labels: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the seams


@runtime_checkable
class ModelTier(Protocol):
    """A model that answers chat messages. Local or external; priced per million tokens."""

    name: str
    model: str
    external: bool

    def complete(
        self, messages: list[dict[str, str]], *, temperature: float = 0.0, max_tokens: int = 1024
    ) -> Completion: ...

    def stream(
        self, messages: list[dict[str, str]], *, temperature: float = 0.0, max_tokens: int = 1024
    ) -> Iterator[str]: ...


@runtime_checkable
class Sandbox(Protocol):
    """A place where untrusted code runs: no network, no root, limits, a copy of the worktree."""

    backend: str

    def sync_in(self, worktree: Path) -> None: ...

    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResult: ...

    def close(self) -> None: ...


@runtime_checkable
class Gate(Protocol):
    """The security gate over a change. Judging only what a change introduces needs both sides, so a
    gate is called with the repo and the base revision, not a file list: each scanner runs once over
    the base and head versions of the touched files (`agentsmith.gates.scan_change` is the gate)."""

    def __call__(
        self, repo: Path, base: str, loaded_policy: Any, *, paths: list[str] | None = None
    ) -> Any: ...  # agentsmith.gates.ScanResult


@runtime_checkable
class Forge(Protocol):
    """Where branches are pushed and pull requests opened."""

    name: str

    def open_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool, labels: list[str]
    ) -> PullRequest: ...
