"""What a run's events mean for the screen: a line per event, the graph's progress, the cost meter.

Plain functions and dataclasses over the listener's `(kind, data)` events, so the widgets stay thin
and the same lines serve the live run view and a past run's report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

from agentsmith.graph.shape import EVENT_NODE, NODES, next_node
from agentsmith.graph.totals import run_totals


@dataclass
class GraphProgress:
    """Which of the graph's nodes are done, which one runs now, and which wait."""

    done: set[str] = field(default_factory=set)
    active: str | None = None
    waiting_for_review: bool = False
    failed: str | None = None

    def start(self) -> None:
        self.done, self.active, self.waiting_for_review, self.failed = set(), "intake", False, None

    def update(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "token":
            self.active = "edit"
            return
        node = EVENT_NODE.get(kind)
        if node is None:
            return
        if node == "route":
            # a new attempt: everything after route runs again
            self.done -= set(NODES[NODES.index("route") :])
        self.done.add(node)
        # the router's own choice, recorded in the event: the screen cannot disagree with the graph
        self.active = next_node(kind, data)
        if kind == "run-finished":
            self.active = None

    def pause_for_review(self) -> None:
        self.active, self.waiting_for_review = "review", True

    def stop(self, node: str | None = None) -> None:
        self.failed, self.active, self.waiting_for_review = node or self.active, None, False

    def markup(self) -> str:
        parts = []
        for node in NODES:
            if node == self.failed:
                parts.append(f"[b red]✗ {node}[/]")
            elif node == self.active and self.waiting_for_review:
                parts.append(f"[b magenta]⏸ {node}[/]")
            elif node == self.active:
                parts.append(f"[b yellow]▶ {node}[/]")
            elif node in self.done:
                parts.append(f"[green]✓ {node}[/]")
            else:
                parts.append(f"[dim]· {node}[/]")
        return " [dim]→[/] ".join(parts)


@dataclass
class Meter:
    """The totals of the model calls of the run on screen (added up as the run itself adds them)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    external_calls: int = 0
    streamed_chunks: int = 0

    def add_call(self, data: dict[str, Any], *, external: bool) -> None:
        self.calls.append(data)
        self.external_calls += int(external)

    def markup(self, seconds: float | None) -> str:
        totals = run_totals({"calls": self.calls})
        elapsed = "-" if seconds is None else f"{seconds:.1f}s"
        return (
            f"[b]tokens[/] {totals.prompt_tokens} in / {totals.completion_tokens} out"
            + (f" [dim](+{self.streamed_chunks} streaming)[/]" if self.streamed_chunks else "")
            + f"   [b]cost[/] ${totals.cost_usd:.4f}"
            + f"   [b]calls[/] {totals.calls} ({self.external_calls} external)"
            + f"   [b]redactions[/] {totals.redactions}"
            + f"   [b]elapsed[/] {elapsed}"
        )


def _files(data: dict[str, Any], key: str) -> str:
    return ", ".join(escape(str(p)) for p in data.get(key) or []) or "nothing"


def event_line(kind: str, data: dict[str, Any], *, external_tiers: frozenset[str] = frozenset()) -> str | None:
    """One line of Rich markup for an event, or None for events the log does not show (tokens)."""
    d = data
    if kind == "run-started":
        return f"[b]start[/] {escape(str(d.get('task', '')))} [dim](tier {escape(str(d.get('tier', '')))})[/]"
    if kind == "run-resumed":
        driver = f", driven by {escape(str(d['driver']))}" if d.get("driver") else ""
        took = (
            f"; took the run over from {escape(str(d['took_over_from']))} ({escape(str(d.get('why', '')))})"
            if d.get("took_over_from")
            else ""
        )
        return f"[b]resume[/] at {escape(', '.join(d.get('next', [])))}{driver}{took}"
    if kind == "intake":
        local_only = d.get("local_only") or []
        return (
            f"[b]intake[/] branch [cyan]{escape(str(d.get('branch', '')))}[/], policy {escape(str(d.get('policy', '')))},"
            f" {len(local_only)} file(s) local-only" + (f": {_files(d, 'local_only')}" if local_only else "")
        )
    if kind == "plan":
        steps = "; ".join(
            f"{escape(str(s.get('id')))} (difficulty {s.get('difficulty')}, "
            f"{', '.join(escape(str(f)) for f in s.get('files', []))})"
            for s in d.get("steps", [])
        )
        return f"[b]plan[/] {steps or 'no steps'}"
    if kind == "route":
        tier = d.get("tier")
        target = f"[b cyan]{escape(str(tier))}[/]" if tier else "[b red]stop[/]"
        marks = "".join(
            [
                " [b red]EXTERNAL[/]" if tier in external_tiers or d.get("external") else "",
                " [yellow]degraded[/]" if d.get("degraded") else "",
                " [magenta]sensitive: local only[/]" if d.get("sensitive") else "",
            ]
        )
        samples = f", {d['samples']} samples" if (d.get("samples") or 1) > 1 else ""
        return (
            f"[b]route[/] attempt {d.get('attempt', '?')} → {target}{marks}{samples}"
            f" [dim]because[/] {escape(str(d.get('reason', '')))}"
        )
    if kind == "call":
        external = d.get("tier") in external_tiers
        head = "[b red]⇡ external call[/]" if external else "[b]model[/]"
        return (
            f"{head} {escape(str(d.get('tier')))}/{escape(str(d.get('model')))}: "
            f"{d.get('prompt_tokens', 0)}+{d.get('completion_tokens', 0)} tokens"
            + (
                f" ({d['prompt_tokens_evaluated']} prompt tokens evaluated, the rest cached)"
                if (d.get("prompt_tokens_evaluated") or d.get("prompt_tokens", 0)) < d.get("prompt_tokens", 0)
                else ""
            )
            + f" in {float(d.get('seconds') or 0):.1f}s"
            + (f" ({float(d['queued_s']):.1f}s of it waiting for the cores)" if (d.get("queued_s") or 0) >= 0.5 else "")
            + ","
            f" ${float(d.get('cost_usd') or 0):.4f}"
            + (f", [b]{d.get('redactions', 0)} redaction(s)[/]" if external else "")
        )
    if kind == "apply":
        refused = f", [red]{d['refused']} refused[/]" if d.get("refused") else ""
        failed = f", [yellow]{len(d['failed'])} failed[/]" if d.get("failed") else ""
        return f"[b]apply[/] {_files(d, 'applied')}{failed}{refused}"
    if kind == "verify":
        backend = f" [dim]({escape(str(d['backend']))} sandbox, {d.get('seconds')}s)[/]" if d.get("backend") else ""
        verdict = (
            "[green]tests pass[/]" if d.get("passed") else f"[red]{escape(str(d.get('error') or 'tests failed'))}[/]"
        )
        return f"[b]verify[/] {verdict}{backend}"
    if kind == "gate":
        blocking = d.get("blocking", 0)
        rules = f": {escape(', '.join(d.get('blocking_rules', [])))}" if d.get("blocking_rules") else ""
        colour = "red" if blocking else "green"
        tools = f" [dim]({escape(', '.join(d.get('tools', [])))}, {d.get('seconds')}s)[/]" if d.get("tools") else ""
        return f"[b]gate[/] {d.get('findings', 0)} finding(s), [{colour}]{blocking} blocking[/]{rules}{tools}"
    if kind == "incident":
        return f"[b red]incident[/] ({escape(str(d.get('kind')))}): {escape(str(d.get('detail')))}"
    if kind == "review":
        feedback = f": {escape(str(d.get('feedback')))}" if d.get("feedback") else ""
        return f"[b]review[/] {escape(str(d.get('decision')))} by {escape(str(d.get('by', 'human')))}{feedback}"
    if kind == "commit":
        return f"[b green]commit[/] {escape(str(d.get('sha', ''))[:12])} on [cyan]{escape(str(d.get('branch')))}[/]"
    if kind == "notice":
        return f"[b yellow]notice[/] {escape(str(d.get('text', '')))}"
    if kind == "model-error":
        return f"[b red]model error[/] {escape(str(d.get('tier')))}: {escape(str(d.get('error')))}"
    if kind == "run-finished":
        colour = "green" if d.get("status") == "committed" else "red"
        status, reason = str(d.get("status")), str(d.get("reason", ""))
        reason = reason.removeprefix(status).lstrip(":; ")  # "committed" + "committed abc on ..." reads twice
        return (
            f"[b {colour}]{escape(status)}[/] {escape(reason)}"
            f" [dim](${float(d.get('cost_usd') or 0):.4f}, {d.get('seconds', 0)}s, "
            f"{d.get('attempts', 0)} attempt(s))[/]"
        )
    return None


def one_line(err: BaseException) -> str:
    """An exception as one readable line (UserError's text already is one)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
