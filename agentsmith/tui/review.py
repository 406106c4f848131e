"""The review the run pauses for: the diff file by file, the gate findings, and the decision."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from agentsmith.tui.diff import FileDiff, render_file_diff, split_diff

_SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "dim"}


class FeedbackScreen(ModalScreen[str | None]):
    """Asks what the model should change; Enter sends it, Escape goes back to the review."""

    BINDINGS = [Binding("escape", "cancel", "Back")]

    def compose(self) -> ComposeResult:
        with Vertical(id="feedback-box"):
            yield Label("What should change? Enter sends it back to the model; Escape cancels.")
            yield Input(placeholder="e.g. also handle negative numbers", id="feedback")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReviewScreen(Screen[dict[str, Any] | None]):
    """Dismissed with the decision for `resume_run`, or None to decide later."""

    BINDINGS = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("f", "feedback", "Feedback"),
        Binding("right_square_bracket", "next_file", "Next file"),
        Binding("left_square_bracket", "previous_file", "Prev file"),
        Binding("escape", "later", "Decide later"),
    ]

    def __init__(self, run_id: str, review: dict[str, Any]) -> None:
        super().__init__()
        self.run_id = run_id
        self.branch = str(review.get("branch", ""))
        self.files: list[FileDiff] = split_diff(review.get("diff", ""))
        self.findings: list[dict[str, Any]] = list(review.get("findings", []))
        self.current = 0
        self.focus_line: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        blocking = sum(1 for f in self.findings if f.get("blocking"))
        added = sum(f.added for f in self.files)
        removed = sum(f.removed for f in self.files)
        yield Static(
            f"[b]Review[/] run [cyan]{escape(self.run_id)}[/] on branch [cyan]{escape(self.branch)}[/]: "
            f"{len(self.files)} file(s), [green]+{added}[/] [red]-{removed}[/], "
            f"{len(self.findings)} finding(s), {blocking} blocking",
            id="review-summary",
        )
        with Horizontal(id="review-body"):
            yield OptionList(*[Option(self._file_label(f), id=str(i)) for i, f in enumerate(self.files)], id="files")
            with VerticalScroll(id="diff-scroll"):
                yield Static(id="diff")
        yield Label(f"Gate findings ({len(self.findings)})", classes="pane-title")
        yield DataTable(id="findings", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @staticmethod
    def _file_label(file_diff: FileDiff) -> Text:
        label = Text(file_diff.path)
        label.append(f"  +{file_diff.added}", style="green")
        label.append(f" -{file_diff.removed}", style="red")
        return label

    def on_mount(self) -> None:
        table = self.query_one("#findings", DataTable)
        table.add_columns("Rule", "Severity", "Where", "Message", "How to fix")
        for index, finding in enumerate(self.findings):
            severity = str(finding.get("severity", ""))
            table.add_row(
                Text(str(finding.get("rule", ""))),
                Text(severity + (" ✗" if finding.get("blocking") else ""), style=_SEVERITY_STYLE.get(severity, "")),
                Text(f"{finding.get('path')}:{finding.get('line')}"),
                Text(str(finding.get("message", ""))),
                Text(str(finding.get("fix", "")) or "-"),
                key=str(index),
            )
        if not self.findings:
            table.display = False
        self.show_file(0)
        (table if self.findings else self.query_one("#files", OptionList)).focus()

    # ------------------------------------------------------------------ showing

    def show_file(self, index: int, focus_line: int | None = None) -> None:
        body = self.query_one("#diff", Static)
        if not self.files:
            body.update("[dim]The change is empty.[/]")
            return
        self.current, self.focus_line = index % len(self.files), focus_line
        file_diff = self.files[self.current]
        body.update(render_file_diff(file_diff, focus_line=focus_line))
        files = self.query_one("#files", OptionList)
        if files.highlighted != self.current:
            files.highlighted = self.current
        row = file_diff.row_of(focus_line) if focus_line is not None else None
        scroll = self.query_one("#diff-scroll", VerticalScroll)
        scroll.scroll_to(y=max(0, (row or 0) - 3), animate=False)

    def show_finding(self, index: int) -> None:
        finding = self.findings[index]
        path, line = finding.get("path"), int(finding.get("line") or 0)
        for file_index, file_diff in enumerate(self.files):
            if file_diff.path == path:
                self.show_file(file_index, focus_line=line)
                if file_diff.row_of(line) is None:
                    self.notify(f"{path}:{line} is outside the changed lines", timeout=4)
                return
        self.query_one("#diff", Static).update(
            f"[b]{escape(str(path))}:{line}[/] is not part of this diff\n{escape(str(finding.get('snippet', '')))}"
        )

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        index = int(event.option.id or 0)
        if index != self.current:
            self.show_file(index)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.show_finding(int(event.row_key.value))

    # ------------------------------------------------------------------ deciding

    def action_approve(self) -> None:
        self.dismiss({"decision": "approve", "by": "human"})

    def action_reject(self) -> None:
        self.dismiss({"decision": "reject", "by": "human"})

    def action_feedback(self) -> None:
        def send(text: str | None) -> None:
            if text:
                self.dismiss({"decision": "feedback", "feedback": text, "by": "human"})

        self.app.push_screen(FeedbackScreen(), send)

    def action_later(self) -> None:
        self.dismiss(None)

    def action_next_file(self) -> None:
        self.show_file(self.current + 1)

    def action_previous_file(self) -> None:
        self.show_file(self.current - 1)
