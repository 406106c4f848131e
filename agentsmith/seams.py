"""The seams of agentsmith: what a model tier, a sandbox, a gate and a forge must be.

Every backend is one file that satisfies one of these protocols. The records that cross the
seams are plain dataclasses that serialise to JSON as they are (``dataclasses.asdict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agentsmith.gates.scan import ScanResult

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
    cost_usd: float = 0.0  # API spend: tokens at the tier's per-million-token prices
    redactions: int = 0
    reason: str = ""  # why this tier was chosen for this call
    prompt_tokens_evaluated: int | None = None  # computed by the model; the rest was reused from its cache
    compute_usd: float = 0.0  # wall seconds at the tier's price_per_hour (its hardware)
    seed: int | None = None  # the sampling seed of an in-process model: with it the call can be drawn again
    cut: str | None = None  # "loop": the answer was stopped because the model was repeating itself
    queued_s: float = 0.0  # of `seconds`, the wait for this machine's cores (agentsmith.models.tiers.compute_slot)

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


@dataclass
class Answer:
    """What a tier's `chat` returns: the text and what it cost in tokens."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    prompt_tokens_evaluated: int | None = None  # prompt tokens the model computed; the rest came from a cache
    seed: int | None = None  # the sampling seed, where the tier chose it (in-process models)
    cut: str | None = None  # why the tier stopped the answer early ("loop": it was repeating itself)
    queued_s: float = 0.0  # seconds waited for this machine's cores (another run's local model was computing)


@runtime_checkable
class ModelTier(Protocol):
    """A model that answers chat messages: what the portfolio calls on every tier. Local (llama.cpp
    in-process) or any OpenAI-compatible endpoint; `spec` is the policy's entry for it (prices,
    context, output limit)."""

    name: str
    model: str
    external: bool
    spec: Any  # agentsmith.policy.schema.Tier

    def configured(self) -> str | None: ...  # why it cannot be used at all (no endpoint), else None

    def check(self) -> Any: ...  # ready to answer (a model file verified), or ModelUnavailable

    def probe(self) -> None: ...  # answers now, asked by name: no silent degrade

    def count_tokens(self, text: str) -> int: ...  # for the prompt budget: exact locally, else estimated

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer: ...


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

    def __call__(self, repo: Path, base: str, loaded_policy: Any, *, paths: list[str] | None = None) -> ScanResult: ...


@runtime_checkable
class OpenSandbox(Protocol):
    """How a run gets its one warm sandbox (`agentsmith.sandbox.open_sandbox`: Docker, or bubblewrap
    when the policy allows a weaker backend)."""

    def __call__(
        self, policy: Any, *, run_id: str, worktree: Path | None = None, image: str | None = None
    ) -> Sandbox: ...


@runtime_checkable
class CheckSandbox(Protocol):
    """Which sandbox backend a run will get, asked before it creates anything (a missing engine is one
    line naming the fix, not a failure at the first test run): `agentsmith.sandbox.check_backend`."""

    def __call__(self, policy: Any) -> str: ...


@runtime_checkable
class Planner(Protocol):
    """Localises a task in a repository and splits it into steps (`agentsmith.graph.planning.plan_steps`:
    the repository map from `ast`, cached by content, ranked for the task). A step is a dict: id,
    description, difficulty, files, context, symbols, tests, candidates."""

    def __call__(self, task: str, root: Path, *, read_only: list[str]) -> list[dict[str, Any]]: ...


@runtime_checkable
class Forge(Protocol):
    """Where branches are pushed and pull requests opened."""

    name: str

    def open_pull_request(
        self, *, branch: str, base: str, title: str, body: str, draft: bool, labels: list[str]
    ) -> PullRequest: ...
