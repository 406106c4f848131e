"""The policy a security team owns: one YAML file, validated strictly (unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sensitivity(Strict):
    # Whole files that never leave the machine, not even redacted.
    paths: list[str] = Field(
        default_factory=lambda: [
            ".env",
            ".env.*",
            "*.pem",
            "*.key",
            "secrets/**",
            "id_rsa",
            "id_ed25519",
            "*.p12",
            "*.pfx",
        ]
    )
    # Regexes over file content: a match makes the file local-only.
    patterns: list[str] = Field(default_factory=list)
    # Extra regexes whose matches are redacted (replaced by placeholders) before an external call.
    redact_patterns: list[str] = Field(default_factory=list)
    redact_personal_data: bool = True
    # When true, any file in which the secrets detector finds something is local-only.
    secret_makes_file_local: bool = False


class Tier(Strict):
    name: str
    kind: Literal["gguf", "openai"]
    model: str = ""  # gguf: a known model id or a path; openai: model name
    base_url: str | None = None  # openai: endpoint; None means AGENTSMITH_FRONTIER_BASE_URL
    api_key_env: str | None = None  # env var holding the key (never the key itself)
    external: bool = False
    price_in_per_mtok: float = Field(0.0, ge=0)  # USD per million input tokens
    price_out_per_mtok: float = Field(0.0, ge=0)
    # USD per hour of wall time on the tier's hardware (a local model's VM or GPU): counted as compute,
    # apart from the API spend, so cost per success compares a "free" local tier like with like.
    price_per_hour: float = Field(0.0, ge=0)
    context: int = 8192
    max_output_tokens: int = 1536
    timeout_s: float = 120.0  # openai: per request
    max_retries: int = 1  # openai: the SDK's own retries, the only retry loop
    # Verified sampling on a retry: candidates drawn from the same prompt (llama.cpp reuses its
    # evaluated prefix), each run against the tests, the first that passes wins. Per tier because the
    # best numbers differ by model: chosen from `benchmarks/sampling_sweep.py`. Unset: a local tier
    # takes routing.local_samples + 1 at routing.sample_temperature; an external tier draws one (each
    # extra candidate there is paid for).
    retry_samples: int | None = Field(None, ge=1, le=16)
    retry_temperature: float | None = Field(None, ge=0, le=2)
    # Of a retry's candidates, how many (the first ones) start from this tier's own last failed draft,
    # shown as the code to fix with its failure, instead of from the original code. Only a draft of the
    # same tier is shown: a stronger tier did worse handed a weaker tier's broken draft (measured here).
    retry_repair: int = Field(0, ge=0, le=16)
    # Of a retry's candidates, how many (the last ones) are drawn from the step's first prompt, no failure
    # shown: plain verified sampling. The 1.5B model's retry solved 9 of 27 Exercism tasks when its first
    # answer had mostly failed to apply (so the retry was close to a fresh draw) and 2-3 of 24 once the first
    # answer was a real wrong program whose failure the retry read (benchmarks/results/).
    retry_resample: int = Field(0, ge=0, le=16)
    # How those resampled candidates answer, for a tier whose answer can be begun: begun (as its first
    # attempt: path and opened block written for it) or free (the model writes the whole reply, as every
    # local answer did before answers were begun).
    retry_resample_answer: Literal["begun", "free"] = "begun"
    # How a retry's reasoning starts, for a tier whose answer can be begun (a local model). asked: the
    # prompt asks for reasoning first and the model may skip it (the 1.5B went straight to code on most
    # Exercism retries, repeating its mistake); begun: the reasoning is begun for it ("Going through the
    # tests one by one ...") and runs up to 384 tokens before the code block, which keeps its whole
    # max_output_tokens. External tiers are asked in words either way.
    retry_reasoning: Literal["asked", "begun"] = "asked"


class Routing(Strict):
    # What to do when a step wants an external tier that is unconfigured, down, or over budget.
    frontier_unavailable: Literal["degrade", "stop"] = "degrade"
    # Steps with difficulty >= this go to the frontier first under --tier auto.
    frontier_difficulty: int = 4
    local_attempts: int = 2  # greedy attempt + retry with the failing output
    # Defaults for local tiers that do not set tiers[].retry_samples / retry_temperature:
    local_samples: int = 3  # extra sampled candidates on a local retry, each verified
    sample_temperature: float = 0.8  # temperature of those sampled candidates
    external_attempts: int = 2
    # What an escalated tier's first prompt shows. fresh: the step as that tier alone would get it (later
    # prompts show its own failures only), so on a task that escalates the cascade pays what frontier-only
    # pays and the local attempts cost only their time. with-failure: the weaker tier's last failure (a
    # compact summary for a paid tier): measured here, it made the frontier answer longer (1.10x
    # frontier-only's spend on the same 25 tasks) and solved one more of 30.
    escalation: Literal["fresh", "with-failure"] = "fresh"
    breaker_failures: int = 3  # consecutive failures that open a tier's circuit
    breaker_cooldown_s: float = 60.0


class Budget(Strict):
    max_usd_per_task: float = 1.00
    max_tokens_per_task: int = 200_000
    max_attempts_per_task: int = 6


class SemgrepGate(Strict):
    enabled: bool = True
    rules: list[str] = Field(default_factory=lambda: ["semgrep"])  # relative to the policy dir
    timeout_s: int = 120


class BanditGate(Strict):
    enabled: bool = True
    severity: Severity = "low"  # report from this level up
    confidence: Literal["low", "medium", "high"] = "medium"
    skips: list[str] = Field(default_factory=list)


class SecretsGate(Strict):
    enabled: bool = True
    # Extra regexes for the team's own credentials (a match is a critical finding).
    patterns: list[str] = Field(default_factory=list)
    # detect-secrets' high-entropy string detectors: noisy on hashes and test data.
    entropy: bool = True


class ChecklistGate(Strict):
    enabled: bool = True
    allowed_public_ip_resources: list[str] = Field(default_factory=list)


class Gates(Strict):
    block_at: Severity = "medium"  # findings at or above this severity block
    allow_suppressions: bool = False  # a `# nosec` / `nosemgrep` added by the change blocks unless true
    overrides: dict[str, Literal["off", "low", "medium", "high", "critical"]] = Field(default_factory=dict)
    semgrep: SemgrepGate = Field(default_factory=SemgrepGate)
    bandit: BanditGate = Field(default_factory=BanditGate)
    secrets: SecretsGate = Field(default_factory=SecretsGate)
    checklist: ChecklistGate = Field(default_factory=ChecklistGate)


class SandboxPolicy(Strict):
    image: str = "agentsmith-sandbox:latest"
    memory: str = "1g"
    pids: int = 256
    cpus: float = 1.0
    timeout_s: int = 120
    output_limit_bytes: int = 1_000_000
    allow_weaker_backend: bool = False  # bubblewrap when no Docker engine answers
    allow_dependency_network: bool = False  # only the dependency build step, never test runs


class Review(Strict):
    # In --mode ci: "auto" approves when gates pass; "draft" opens a draft PR with a label.
    ci: Literal["auto", "draft"] = "auto"
    label: str = "agentsmith-review"


class Policy(Strict):
    name: str = "default"
    version: int = 1
    sensitivity: Sensitivity = Field(default_factory=Sensitivity)
    tiers: list[Tier] = Field(default_factory=list)
    routing: Routing = Field(default_factory=Routing)
    budget: Budget = Field(default_factory=Budget)
    gates: Gates = Field(default_factory=Gates)
    sandbox: SandboxPolicy = Field(default_factory=SandboxPolicy)
    review: Review = Field(default_factory=Review)
    # Folders or files of policy test cases (`agentsmith policy test`), relative to the policy file.
    tests: list[str] = Field(default_factory=lambda: ["tests"])

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)
