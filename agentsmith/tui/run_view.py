"""The live run: the graph's nodes, the cost meter, every decision and notice, the model's output."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Log, RichLog, Static

from agentsmith.tui.progress import GraphProgress, Meter, event_line


class RunView(Vertical):
    def __init__(self, *, external_tiers: frozenset[str] = frozenset(), **kwargs) -> None:
        super().__init__(**kwargs)
        self.external_tiers = external_tiers
        self.progress = GraphProgress()
        self.meter = Meter()
        self._started: float | None = None
        self._stopped: float | None = None
        self._ticker = None

    def compose(self) -> ComposeResult:
        yield Static(self.progress.markup(), id="nodes")
        yield Static(self.meter.markup(None), id="meter")
        yield Static("[dim]No run yet. Type a task and press Enter.[/]", id="status")
        with Horizontal(id="run-panes"):
            with Vertical(id="events-pane"):
                yield Label("Decisions and progress", classes="pane-title")
                yield RichLog(id="events", markup=True, wrap=True, highlight=False)
            with Vertical(id="stream-pane"):
                yield Label("Model output", classes="pane-title")
                yield Log(id="stream", max_lines=5000)

    # ------------------------------------------------------------------ what the app calls

    def begin(self, title: str) -> None:
        self.progress.start()
        self.meter = Meter()
        self._started, self._stopped = time.monotonic(), None
        self.query_one("#events", RichLog).write(f"[b reverse] {escape(title)} [/]")
        self.set_status(f"[b yellow]running[/] {escape(title)}")
        if self._ticker is None:
            self._ticker = self.set_interval(0.5, self._refresh_meter)
        self._refresh()

    def resume(self, title: str) -> None:
        self.progress.active, self.progress.waiting_for_review = "review", False
        if self._started is None or self._stopped is not None:
            self._started, self._stopped = time.monotonic(), None
        self.query_one("#events", RichLog).write(f"[b reverse] {escape(title)} [/]")
        self.set_status(f"[b yellow]running[/] {escape(title)}")
        self._refresh()

    def handle(self, kind: str, data: dict[str, Any]) -> None:
        self.progress.update(kind, data)
        if kind == "token":
            self.meter.streamed_chunks += 1
            self.query_one("#stream", Log).write(str(data.get("text", "")))
        elif kind == "route" and data.get("tier"):
            self.query_one("#stream", Log).write(f"\n── attempt {data.get('attempt')} on {data.get('tier')} ──\n")
        if kind == "call":
            self.meter.streamed_chunks = 0
            self.meter.add_call(data, external=data.get("tier") in self.external_tiers)
        line = event_line(kind, data, external_tiers=self.external_tiers)
        if line:
            self.query_one("#events", RichLog).write(line)
        self._refresh()

    def paused_for_review(self, summary: str) -> None:
        self.progress.pause_for_review()
        self.set_status(f"[b magenta]waiting for your review[/] {escape(summary)} [dim](F3 opens it)[/]")
        self._refresh()

    def finished(self, result: dict[str, Any]) -> None:
        self._stopped = time.monotonic()
        status = result.get("status", "?")
        colour = "green" if status == "committed" else "red"
        self.progress.active, self.progress.waiting_for_review = None, False
        self.set_status(
            f"[b {colour}]{escape(status)}[/] {escape(str(result.get('reason', '')))}"
            + (f" [dim]branch {escape(str(result['branch']))}[/]" if result.get("branch") else "")
        )
        self._refresh()

    def failed(self, text: str) -> None:
        self._stopped = time.monotonic()
        self.progress.stop()
        self.query_one("#events", RichLog).write(f"[b red]stopped[/] {escape(text)}")
        self.set_status(f"[b red]stopped[/] {escape(text)}")
        self._refresh()

    def note(self, markup: str) -> None:
        self.query_one("#events", RichLog).write(markup)

    def set_status(self, markup: str) -> None:
        self.query_one("#status", Static).update(markup)

    # ------------------------------------------------------------------ drawing

    def _seconds(self) -> float | None:
        if self._started is None:
            return None
        return (self._stopped or time.monotonic()) - self._started

    def _refresh_meter(self) -> None:
        if self._started is not None and self._stopped is None:
            self.query_one("#meter", Static).update(self.meter.markup(self._seconds()))

    def _refresh(self) -> None:
        self.query_one("#nodes", Static).update(self.progress.markup())
        self.query_one("#meter", Static).update(self.meter.markup(self._seconds()))
