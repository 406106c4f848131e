"""Past runs from the audit log: status, cost, branch; resume an interrupted one; open a run's report.

A run another process still drives shows as running and does not resume: one run, one driver."""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from agentsmith.tui.progress import event_line, one_line


@dataclass
class HistoryRow:
    run_id: str
    status: str
    cost_usd: float | None
    seconds: float | None
    branch: str | None
    task: str
    driver: str | None = None  # the process driving a running run

    @property
    def resumable(self) -> bool:
        return self.status == "interrupted"


def load_history() -> list[HistoryRow]:
    """Newest first: unfinished runs (running ones, then interrupted ones, which resume), then finished ones."""
    from agentsmith.audit import AuditLog
    from agentsmith.config import audit_db
    from agentsmith.graph.report_model import build_report

    report = build_report()
    log = AuditLog(audit_db())

    def task_of(run_id: str) -> str:
        started = log.events(run_id, kinds=("run-started",))
        return started[0].data.get("task", "") if started else ""

    rows = [
        HistoryRow(run.run_id, "running", None, None, None, task_of(run.run_id), run.driver)
        for run in reversed(report.running)
    ]
    rows += [
        HistoryRow(run_id, "interrupted", None, None, None, task_of(run_id)) for run_id in reversed(report.interrupted)
    ]
    for run in reversed(report.history):
        rows.append(HistoryRow(run.run_id, run.status, run.cost_usd, run.seconds, run.branch, run.task))
    return rows


_STATUS_STYLE = {"committed": "green", "interrupted": "bold magenta", "running": "bold cyan", "rejected": "yellow"}


class HistoryScreen(Screen[str | None]):
    """Dismissed with a run id to resume, or None."""

    BINDINGS = [
        Binding("enter", "open_report", "Report", priority=True),
        Binding("r", "resume", "Resume"),
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[HistoryRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(
            "Past runs (newest first). Enter opens a run's report; r resumes an interrupted run.", classes="pane-title"
        )
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_columns("Run", "Status", "Cost", "Time", "Branch", "Task")
        self.action_refresh()
        table.focus()

    def action_refresh(self) -> None:
        table = self.query_one("#history", DataTable)
        table.clear()
        try:
            self.rows = load_history()
        except Exception as err:  # a broken audit log must not take the app down
            self.rows = []
            self.notify(one_line(err), title="History unavailable", severity="error", timeout=10)
        for index, row in enumerate(self.rows):
            table.add_row(
                row.run_id,
                Text(row.status, style=_STATUS_STYLE.get(row.status, "red")),
                "-" if row.cost_usd is None else f"${row.cost_usd:.4f}",
                "-" if row.seconds is None else f"{row.seconds:.1f}s",
                row.branch or "-",
                row.task[:60],
                key=str(index),
            )
        if not self.rows:
            self.notify("No runs yet.", timeout=4)

    def _selected(self) -> HistoryRow | None:
        table = self.query_one("#history", DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_open_report(self) -> None:
        row = self._selected()
        if row:
            self.app.push_screen(ReportScreen(row.run_id))

    def action_resume(self) -> None:
        row = self._selected()
        if row is None:
            return
        if row.status == "running":
            self.notify(
                f"run {row.run_id} is running, driven by {row.driver}; wait for it, or stop that process", timeout=6
            )
            return
        if not row.resumable:
            self.notify(f"run {row.run_id} is {row.status}; only interrupted runs resume", timeout=5)
            return
        self.dismiss(row.run_id)

    def action_back(self) -> None:
        self.dismiss(None)


def report_markup(run_id: str) -> str:
    from agentsmith.audit import AuditLog
    from agentsmith.config import audit_db
    from agentsmith.graph.report_model import build_report

    report = build_report(run_id)
    lines = [f"[b]Run {escape(run_id)}[/]"]
    for run in report.history:
        lines.append(f"status [b]{escape(run.status)}[/]: {escape(run.reason)}")
        lines.append(f"task: {escape(run.task)}")
        lines.append(f"branch {escape(run.branch or '-')}, commit {escape(run.commit or '-')}")
    for running in report.running:
        if running.run_id == run_id:
            lines.append(f"[b cyan]running[/], driven by {escape(running.driver)}")
    if run_id in report.interrupted:
        lines.append("[b magenta]interrupted[/]: press r in the history to resume it")
    lines += [
        f"cost ${report.cost_usd:.4f}, {report.tokens} tokens, {report.redactions} redaction(s); "
        f"model calls {report.calls_by_tier or '{}'}",
        f"routing {report.routes_by_tier or '{}'}; incidents {len(report.incidents)}",
        f"audit chain: {escape(report.audit_chain.detail)}"
        + ("" if report.audit_chain.intact else " [b red](TAMPERED)[/]"),
        "",
        "[b]Timeline[/]",
    ]
    for event in AuditLog(audit_db()).events(run_id):
        line = event_line(event.kind, event.data)
        if line:
            lines.append("  " + line)
    return "\n".join(lines)


class ReportScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False)]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="report-box"):
            yield Static(id="report")
        yield Footer()

    def on_mount(self) -> None:
        try:
            text = report_markup(self.run_id)
        except Exception as err:
            text = f"[b red]report unavailable[/]: {escape(one_line(err))}"
        self.query_one("#report", Static).update(text)
        self.query_one("#report-box").focus()

    def action_close(self) -> None:
        self.dismiss(None)
