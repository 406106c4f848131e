"""The nodes of the run graph. Each is a function of the state that returns only what it changes.

The step loop lives here (intake, plan, route, edit, apply, verify); the nodes after it (gate, review,
commit, report) in finish.py, re-exported below so the graph is wired from one namespace."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime

from agentsmith import vcs
from agentsmith.config import worktrees_dir
from agentsmith.edits import ApplyResult, apply_edits, parse_edits, retarget
from agentsmith.errors import ModelUnavailable, UserError
from agentsmith.graph.excerpts import failed_tests, pytest_counts
from agentsmith.graph.finish import TAIL
from agentsmith.graph.finish import after_gate as after_gate
from agentsmith.graph.finish import after_review as after_review
from agentsmith.graph.finish import commit as commit
from agentsmith.graph.finish import gate as gate
from agentsmith.graph.finish import report as report
from agentsmith.graph.finish import review as review
from agentsmith.graph.prompts import COMPACT_LOG_CHARS, MAX_LOG_CHARS, build_edit_prompt, retry_budget
from agentsmith.graph.state import RunContext, RunState
from agentsmith.graph.testing import run_tests
from agentsmith.models.tiers import ContextOverflow
from agentsmith.records import Attempt, VerifyOutcome
from agentsmith.redact import altered_values
from agentsmith.seams import Incident

Ctx = Runtime[RunContext]


def _step(state: RunState) -> dict[str, Any]:
    return state["steps"][state.get("step_index", 0)]


# ------------------------------------------------------------------------------------- intake


def intake(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    root = vcs.repo_root(state["repo"])
    vcs.head_revision(root)
    vcs.ensure_clean(root)
    ctx.portfolio.check(state.get("tier_flag", "auto"))
    ctx.check_sandbox(ctx.policy.policy.sandbox)  # no engine: one line naming the fix, before anything is created
    ctx.check_gate(ctx.policy)  # likewise a missing scanner, before any model time is spent
    worktree = worktrees_dir() / state["run_id"]
    branch, base = vcs.create_worktree(root, state["run_id"], worktree)
    ctx.record(
        state["run_id"], "intake", {"repo": str(root), "branch": branch, "base": base, "policy": ctx.policy.policy.name}
    )
    return {
        "repo": str(root),
        "worktree": str(worktree),
        "branch": branch,
        "base_rev": base,
        "started_at": time.time(),
        "status": "running",
    }


# --------------------------------------------------------------------------------------- plan


def plan(state: RunState, runtime: Ctx) -> dict[str, Any]:
    from agentsmith.redact import classify_files

    ctx = runtime.context
    worktree = Path(state["worktree"])
    steps = ctx.planner(state["task"], worktree, read_only=state.get("read_only", []))
    # Only what a prompt may carry needs classifying: the steps' files and their tests.
    seen = sorted({p for s in steps for p in s["files"] + s.get("context", [])})
    classification = classify_files(worktree, seen, ctx.policy.policy)
    local_only = sorted(classification.local_only)
    ctx.record(state["run_id"], "plan", {"steps": steps, "local_only": local_only, "reasons": classification.reasons})
    return {"steps": steps, "step_index": 0, "history": [], "local_only": local_only}


# -------------------------------------------------------------------------------------- route


def route(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    step = _step(state)
    seen = set(step["files"]) | set(step.get("context", []))
    sensitive = bool(seen & set(state.get("local_only", [])))
    history = state.get("history", [])
    decision = ctx.portfolio.route(step, history, sensitive=sensitive)
    record = {
        "step": step["id"],
        "attempt": len(history) + 1,
        "sensitive": sensitive,
        **decision.model_dump(mode="json", exclude={"drawn"}),
    }
    ctx.record(state["run_id"], "route", record | {"next": after_route({"decision": decision})})
    return {"decision": decision, "routes": [record]}


def after_route(state: RunState) -> Literal["edit", "report"]:
    decision = state["decision"]
    return "report" if decision.stop or not decision.tier else "edit"


# --------------------------------------------------------------------------------------- edit


def edit(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    step, decision = _step(state), state["decision"]
    history = state.get("history", [])
    tier = decision.tier
    previous = shown_failure(history, tier, fresh=decision.fresh)
    repair = _repairs(previous, tier, decision.drawn + 1, ctx)
    resample = not repair and _resamples(previous, tier, decision, ctx)
    if resample:
        previous = None  # tiers[].retry_resample: this candidate is drawn from the step's first prompt
    if history:
        # Every retry, sampled candidate and escalation starts from the original files (with the failure
        # log shown, see shown_failure): a failed draft anchors small models (they repeat it) and a
        # stronger tier did worse given a weaker tier's broken draft than starting clean (both seen here).
        # (a later step's start is its own base: the earlier steps' passing work stays)
        vcs.restore_files(Path(state["worktree"]), state.get("step_base") or state["base_rev"], step["files"])
    if repair:
        # ... except the tier's repair candidates (tiers[].retry_repair): they fix the tier's own draft.
        for rel, text in previous.code.items():
            (Path(state["worktree"]) / rel).write_text(text, encoding="utf-8")
    # A request the tier refused as too big is never resent unchanged (see retry_budget).
    budget = retry_budget(ctx.portfolio.prompt_budget(tier), history, tier)
    overflows = sum(1 for h in history if h.overflow and h.tier == tier)
    # The step's own description: with several steps it names the one symbol this step changes.
    prompt = build_edit_prompt(
        task=step.get("description") or state["task"],
        root=Path(state["worktree"]),
        files=step["files"],
        context_files=step.get("context", []),
        previous=previous,
        symbols=step.get("symbols"),
        tests=step.get("tests"),
        budget=budget,
        count=ctx.portfolio.token_counter(tier),
        begins=ctx.portfolio.continues_answers(tier)
        and not (resample and ctx.portfolio.tiers[tier].spec.retry_resample_answer == "free"),
        log_chars=COMPACT_LOG_CHARS if ctx.portfolio.tiers[tier].spec.price_in_per_mtok > 0 else MAX_LOG_CHARS,
        repair=repair,
        focus=sum(1 for h in history if h.tier == tier) + decision.drawn,  # greedy 0, the retry's 1, 2, ...
    )
    messages = prompt.messages
    ctx.record(state["run_id"], "prompt", prompt.summary() | {"tier": tier, "overflows": overflows})
    if prompt.tokens > budget:
        error = f"the prompt ({prompt.tokens} tokens) does not fit tier {tier}'s budget ({budget} tokens)"
        ctx.record(state["run_id"], "model-error", {"tier": tier, "error": error, "overflow": True})
        return {
            "answer": "",
            "prompt": prompt.summary(),
            "decision": decision.model_copy(update={"drawn": decision.samples}),
            "verify": VerifyOutcome(passed=False, error=error, log=error, overflow=True, prompt_tokens=prompt.tokens),
        }

    def on_token(chunk: str) -> None:
        ctx.record(state["run_id"], "token", {"text": chunk}, audit=False)

    drawn = decision.drawn + 1
    try:
        completion = ctx.portfolio.complete(
            tier,
            messages,
            temperature=decision.temperature,
            on_token=on_token if ctx.listener else None,
            reason=decision.reason,
            prefill=prompt.prefill,
            reason_first=prompt.reason_first,
        )
    except (ModelUnavailable, UserError) as err:
        overflow = isinstance(err, ContextOverflow)
        ctx.record(
            state["run_id"],
            "model-error",
            {"tier": tier, "error": str(err), "overflow": overflow, "prompt_tokens": prompt.tokens, "budget": budget},
        )
        return {
            "answer": "",
            "prompt": prompt.summary(),
            "decision": decision.model_copy(update={"drawn": decision.samples}),
            "verify": VerifyOutcome(
                passed=False,
                error=f"model call failed: {err}",
                log=str(err),
                overflow=overflow,
                prompt_tokens=prompt.tokens,
            ),
        }
    call = completion.to_dict()
    # The answer is kept (locally) so a failed run can be reviewed: what did the model actually say?
    ctx.record(
        state["run_id"],
        "call",
        {k: v for k, v in call.items() if k != "text"}
        | {"candidate": drawn, "repair": repair, "resample": resample, "answer": completion.text[-4000:]},
    )
    return {
        "answer": completion.text,
        "calls": [call],
        "verify": None,  # verify runs the tests
        "decision": decision.model_copy(update={"drawn": drawn}),
        "prompt": prompt.summary() | {"answer_format": prompt.answer_format},
    }


def shown_failure(history: list[Attempt], tier: str, *, fresh: bool) -> Attempt | None:
    """The failed attempt the next prompt shows: the last one, or (escalated fresh) the tier's own last one,
    so an escalated tier's first prompt is byte for byte the one it would get as the step's only tier."""
    if not fresh:
        return history[-1] if history else None
    return next((a for a in reversed(history) if a.tier == tier), None)


def _repairs(previous: Attempt | None, tier: str, candidate: int, ctx: RunContext) -> bool:
    """Whether this candidate fixes the tier's own last failed draft instead of starting over."""
    if previous is None or previous.tier != tier or not previous.code:
        return False
    return candidate <= ctx.portfolio.tiers[tier].spec.retry_repair


def _resamples(previous: Attempt | None, tier: str, decision, ctx: RunContext) -> bool:
    """Whether this candidate of a retry is one of the last `retry_resample`, drawn without the failure shown."""
    if previous is None or previous.tier != tier:
        return False
    count = ctx.portfolio.tiers[tier].spec.retry_resample
    return bool(count) and decision.drawn + 1 > decision.samples - count


# -------------------------------------------------------------------------------------- apply


def _cut_short(state: RunState, ctx) -> str | None:
    """Why the last answer ended before its code did: a loop the tier stopped, or the output cap."""
    calls = state.get("calls") or []
    if not calls:
        return None
    call = calls[-1]
    if call.get("cut") == "loop":
        return "the answer repeated the same lines over and over and was stopped"
    tier = ctx.portfolio.tiers.get(call.get("tier") or "")
    cap = tier.spec.max_output_tokens if tier is not None else 0
    if cap and int(call.get("completion_tokens") or 0) >= cap:
        return (
            f"the answer reached the {cap}-token output limit before its code was complete: write less "
            "(the code only: no tests, no usage examples, no long comments)"
        )
    return None


def apply(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    step = _step(state)
    if not state.get("answer"):
        return {"applied": []}
    edits = parse_edits(state["answer"], default_path=step["files"][0] if len(step["files"]) == 1 else None)
    read_only = set(state.get("read_only", [])) | set(step.get("context", []))
    edits = retarget(edits, Path(state["worktree"]), step["files"])
    # Only the planned files change: a stray file (a model echoing an example name) is dropped, logged.
    worktree = Path(state["worktree"])
    wanted = set(step["files"]) | read_only
    stray = [e.path for e in edits if e.path not in wanted and not _leaves_repo(worktree, e.path)]
    edits = [e for e in edits if e.path not in stray]
    external = bool(state["decision"].external and ctx.portfolio.mapping)
    before = _current_texts(worktree, [e.path for e in edits])
    prompt = state.get("prompt") or {}
    result = apply_edits(
        worktree,
        edits,
        read_only=read_only,
        allowed_removals=removable(step.get("description") or state["task"], step.get("symbols") or []),
        function_level=set(prompt.get("function_level", [])),
        targets=prompt.get("targets") or {},
    )
    if external:
        _refuse_altered_secrets(worktree, before, result, ctx.portfolio.mapping)
    incidents = [asdict(i) for i in result.refused]
    for incident in incidents:
        ctx.record(state["run_id"], "incident", incident)
    # An answer that gives the code back as it was is no fix, whatever the tests say: the 1.5B model
    # retyped markdown's `unique` unchanged, its tests passed (they never failed) and the commit had
    # nothing to commit.
    after = _current_texts(worktree, result.applied)
    unchanged = [path for path in result.applied if after.get(path) == before.get(path)]
    ctx.record(
        state["run_id"],
        "apply",
        {"applied": result.applied, "failed": result.failed, "refused": len(incidents), "ignored": stray}
        | ({"unchanged": unchanged} if unchanged else {}),
    )
    update: dict[str, Any] = {"applied": result.applied, "incidents": incidents}
    if result.applied and len(unchanged) == len(result.applied):
        update["applied"] = []
        update["verify"] = VerifyOutcome(
            passed=False,
            error="the answer changed nothing",
            log=f"Your answer gave {', '.join(unchanged)} back exactly as it was: nothing changed, so nothing was "
            "fixed. Find what in the code causes the problem the task describes, and change it.",
        )
        return update
    if not result.applied:
        problems = result.failed + [i["detail"] for i in incidents] or ["the answer held no edit I could apply"]
        cut = _cut_short(state, ctx)
        if cut:
            # What the model can act on comes first: "held no edit" says nothing of why (the 1.5B's answers
            # that ran to the output cap got that, and its retry had nothing to go on).
            problems = [cut, *problems]
        update["verify"] = VerifyOutcome(
            passed=False,
            error="no edit applied",
            log="No edit was applied: "
            + "; ".join(problems)
            + ". "
            + prompt.get(
                "answer_format",
                "Answer with the file path on its own line, then a fenced code block holding the whole file.",
            ),
        )
    return update


_REMOVAL = re.compile(r"\b(remov\w*|delet\w*|drop\w*|rename\w*|get rid of|inlin\w*|merg\w*|deprecat\w*)\b", re.I)


def removable(task: str, symbols: list[dict[str, Any]]) -> set[str]:
    """The definitions an edit may delete: those the step names, and only when the task asks for a
    removal. A task that names a function to write does not let the answer drop it (the 1.5B model
    answered a template's placeholder comment for a whole humanize module, and the module's names were
    all in the task's words)."""
    if not _REMOVAL.search(task):
        return set()
    allowed = {s.get("qualname") or s.get("name", "") for s in symbols}
    return allowed | set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", task))


def _current_texts(root: Path, paths: list[str]) -> dict[str, str]:
    texts = {}
    for path in paths:
        target = root / path
        if not _leaves_repo(root, path) and target.is_file():
            texts[path] = target.read_text(encoding="utf-8", errors="replace")
    return texts


def _refuse_altered_secrets(root: Path, before: dict[str, str], result: ApplyResult, mapping: dict[str, str]) -> None:
    """An external answer that changed a redacted value it never saw is undone, file by file, as an incident."""
    for path in list(result.applied):
        if path not in before:
            continue
        problems = altered_values(before[path], (root / path).read_text(encoding="utf-8", errors="replace"), mapping)
        if problems:
            (root / path).write_text(before[path], encoding="utf-8")
            result.applied.remove(path)
            result.refused.append(
                Incident(
                    kind="sensitive-data",
                    node="apply",
                    detail=f"edit of {path} refused: it altered a redacted value: " + "; ".join(problems),
                )
            )


def _leaves_repo(root: Path, path: str) -> bool:
    """Such edits are kept so apply refuses them and logs a tool-misuse incident, not dropped quietly."""
    from agentsmith.edits import PathRefused, safe_path

    try:
        safe_path(root, path)
    except PathRefused:
        return True
    return False


# ------------------------------------------------------------------------------------- verify


def verify(state: RunState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    outcome = state.get("verify")
    if outcome is None or not outcome.error:  # (with an error set, there was nothing to test)
        outcome = run_tests(state, ctx)
    last_call = (state.get("calls") or [{}])[-1] if state.get("answer") else {}
    tier = state["decision"].tier
    attempt = Attempt(
        tier=tier,
        passed=outcome.passed,
        tokens=last_call.get("prompt_tokens", 0) + last_call.get("completion_tokens", 0),
        cost_usd=last_call.get("cost_usd", 0.0),
        error=None if outcome.passed else outcome.error or "tests failed",
        overflow=outcome.overflow,
        prompt_tokens=outcome.prompt_tokens,
        log=outcome.log[-TAIL:],
        # kept only where a repair may show it: whole files would otherwise ride in every checkpoint
        code={} if outcome.passed or not ctx.portfolio.tiers[tier].spec.retry_repair else _drafted(state),
    )
    update: dict[str, Any] = {}
    if outcome.baseline is not None:  # measured once per run: the state keeps it, not each outcome
        update["baseline"] = outcome.baseline
        outcome = outcome.model_copy(update={"baseline": None})
    update["verify"] = outcome
    index = state.get("step_index", 0)
    if not outcome.passed and _more_candidates(state):
        pass  # a sampled candidate failed: the next one comes from the same tier; the attempt goes on
    elif outcome.passed and index + 1 < len(state["steps"]):
        # This step is done; the next one starts its own cascade from here (routing is per step).
        ctx.record(
            state["run_id"],
            "step-done",
            {
                "step": _step(state)["id"],
                "next_step": state["steps"][index + 1]["id"],
                "attempts": len(state.get("history", [])) + 1,
            },
        )
        update |= {
            "verify": outcome.model_copy(update={"next_step": True}),
            "step_index": index + 1,
            "history": [],
            "step_base": vcs.snapshot_tree(Path(state["worktree"])),
        }
    else:
        update["history"] = state.get("history", []) + [attempt]
    ctx.record(
        state["run_id"],
        "verify",
        attempt.model_dump(mode="json", exclude={"log", "code"})
        | {"seconds": outcome.seconds, "backend": outcome.backend, "next": after_verify(state | update)}
        # how close a failed candidate came, readable from the audit log alone
        | ({"tests": pytest_counts(outcome.log), "failing": failed_tests(outcome.log)[:10]} if outcome.log else {}),
    )
    return update


def _drafted(state: RunState) -> dict[str, str]:
    """The step's files as the applied answer left them (a repair shows them)."""
    root = Path(state["worktree"])
    drafted = {}
    for rel in state.get("applied") or []:
        if rel in _step(state)["files"] and (root / rel).is_file():
            drafted[rel] = (root / rel).read_text(encoding="utf-8", errors="replace")
    return drafted


def _more_candidates(state: RunState) -> bool:
    decision = state["decision"]
    return decision.drawn < decision.samples


def after_verify(state: RunState) -> Literal["gate", "edit", "route"]:
    if state["verify"].passed:
        return "route" if state["verify"].next_step else "gate"
    return "edit" if _more_candidates(state) else "route"
