"""`agentsmith tui`: give a task, watch it run, review the change, decide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Input

from agentsmith.tui.help import HelpScreen
from agentsmith.tui.history import HistoryScreen
from agentsmith.tui.policy_panel import PolicyPanel
from agentsmith.tui.progress import one_line
from agentsmith.tui.review import ReviewScreen
from agentsmith.tui.run_view import RunView
from agentsmith.tui.task_box import TaskBox


class RunEvent(Message):
    """One listener event, carried from the run's thread to the UI."""

    def __init__(self, kind: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.kind, self.data = kind, data


class RunEnded(Message):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result = result


class RunFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


Action = Callable[[Callable[[str, dict[str, Any]], None]], dict[str, Any]]


class AgentsmithApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere keep the styles
    TITLE = "agentsmith"
    BINDINGS = [
        Binding("question_mark", "help", "Keys"),
        Binding("f1", "help", "Keys"),
        Binding("ctrl+r", "run_task", "Run"),
        Binding("f2", "history", "History"),
        Binding("f3", "open_review", "Review"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self, *, repo: str = ".", policy_path: str | None = None, tier: str = "auto") -> None:
        super().__init__()
        self.repo, self.policy_path, self.tier = repo, policy_path, tier
        self.loaded_policy = None
        self.policy_problem: str | None = None
        self.run_id: str | None = None
        self.pending_review: dict[str, Any] | None = None
        self.running = False
        self.last_result: dict[str, Any] | None = None
        self.notices_shown: set[str] = set()  # one toast per distinct notice; the log keeps them all
        try:
            from agentsmith.policy import load_policy

            self.loaded_policy = load_policy(policy_path)
        except Exception as err:
            self.policy_problem = one_line(err)

    # ------------------------------------------------------------------ layout

    @property
    def external_tiers(self) -> frozenset[str]:
        if self.loaded_policy is None:
            return frozenset()
        return frozenset(t.name for t in self.loaded_policy.policy.tiers if t.external)

    def compose(self) -> ComposeResult:
        tiers = [t.name for t in self.loaded_policy.policy.tiers] if self.loaded_policy else []
        yield Header()
        yield TaskBox(repo=self.repo, tiers=tiers, tier=self.tier, id="task-box")
        yield PolicyPanel(id="policy")
        yield RunView(external_tiers=self.external_tiers, id="run-view")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TaskBox).border_title = "New task"
        self.query_one(PolicyPanel).border_title = "Active policy"
        self.query_one(RunView).border_title = "Run"
        self.show_repo(self.repo)
        panel = self.query_one(PolicyPanel)
        if self.loaded_policy is not None:
            panel.show_policy(self.loaded_policy)
        else:
            panel.show_error(self.policy_problem or "")
            self.show_problem(self.policy_problem or "the policy could not be loaded", title="Policy")
        self.query_one("#task", Input).focus()

    def show_repo(self, repo: str) -> None:
        policy = self.loaded_policy.policy.name if self.loaded_policy else "unavailable"
        self.sub_title = f"{repo or '.'} · policy {policy}"

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "repo":
            self.show_repo(event.value.strip())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that only mean something on the main screen are hidden elsewhere (and off the footer)."""
        on_main = len(self.screen_stack) <= 1
        if action in ("run_task", "leave_field", "open_review", "history"):
            return on_main
        return True

    def show_problem(self, text: str, *, title: str = "Run stopped") -> None:
        """A readable notice for anything that went wrong: a toast plus the status line."""
        self.notify(text, title=title, severity="error", timeout=20, markup=False)

    # ------------------------------------------------------------------ starting and resuming

    def on_task_box_submitted(self, message: TaskBox.Submitted) -> None:
        self.start_task(message.task, message.repo, message.tier)

    def action_run_task(self) -> None:
        self.query_one(TaskBox).submit()

    def start_task(self, task: str, repo: str, tier: str) -> None:
        if self.running:
            self.notify("A run is already going; wait for it or its review.", severity="warning")
            return
        if not task:
            self.notify('Type a task first, e.g. "Implement add in calc.py so the tests pass".', severity="warning")
            self.query_one("#task", Input).focus()
            return
        if self.pending_review is not None:
            self.notify(
                f"Run {self.run_id} still waits for review (F3); it stays resumable from history (F2).",
                severity="warning",
                timeout=8,
            )
            self.pending_review = None
        from agentsmith.graph.runner import new_run_id

        run_id = new_run_id()
        self.run_id, self.repo, self.tier = run_id, repo or ".", tier
        self.query_one(RunView).begin(f"run {run_id}: {task}")
        policy_path = self.policy_path

        def action(listener):
            from agentsmith.graph.runner import start_run

            return start_run(
                task,
                repo=repo or ".",
                policy_path=policy_path,
                tier=tier,
                mode="interactive",
                listener=listener,
                reviewer=None,
                run_id=run_id,
            )

        self._drive(action)

    def resume(self, run_id: str, decision: dict[str, Any] | None = None) -> None:
        if self.running:
            self.notify("A run is already going.", severity="warning")
            return
        self.run_id, self.pending_review = run_id, None
        what = f"resume {run_id}" + (f": {decision['decision']}" if decision else "")
        self.query_one(RunView).resume(what)

        def action(listener):
            from agentsmith.graph.runner import resume_run

            return resume_run(run_id, listener=listener, decision=decision)

        self._drive(action)

    def _drive(self, action: Action) -> None:
        self.running = True
        self.notices_shown = set()
        self.query_one(TaskBox).set_busy(True)
        self._run_in_thread(action)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run_in_thread(self, action: Action) -> None:
        def listener(kind: str, data: dict[str, Any]) -> None:
            self.post_message(RunEvent(kind, dict(data)))

        try:
            result = action(listener)
        except Exception as err:  # UserError's text is already one line for people; others get theirs
            from agentsmith.errors import UserError

            text = one_line(err) if isinstance(err, UserError) else f"{type(err).__name__}: {one_line(err)}"
            self.post_message(RunFailed(text))
        else:
            self.post_message(RunEnded(result))

    # ------------------------------------------------------------------ the run's messages

    def on_run_event(self, message: RunEvent) -> None:
        self.query_one(RunView).handle(message.kind, message.data)
        if message.kind == "notice" and message.data.get("text") not in self.notices_shown:
            self.notices_shown.add(message.data.get("text"))
            self.notify(str(message.data.get("text", "")), title="Notice", severity="warning", timeout=8, markup=False)

    def on_run_failed(self, message: RunFailed) -> None:
        self.running = False
        self.query_one(TaskBox).set_busy(False)
        self.query_one(RunView).failed(message.text)
        self.show_problem(message.text)

    def on_run_ended(self, message: RunEnded) -> None:
        self.running = False
        self.query_one(TaskBox).set_busy(False)
        result = self.last_result = message.result
        view = self.query_one(RunView)
        if result.get("status") == "awaiting-review":
            self.run_id = result.get("run_id") or self.run_id
            self.pending_review = result.get("review") or {}
            findings = len(self.pending_review.get("findings", []))
            view.paused_for_review(f"branch {self.pending_review.get('branch', '')}, {findings} finding(s)")
            self.action_open_review()
            return
        view.finished(result)
        status = result.get("status")
        self.notify(
            f"{status}: {result.get('reason', '')}",
            title=f"Run {result.get('run_id')}",
            severity="information" if status == "committed" else "warning",
            timeout=10,
            markup=False,
        )

    # ------------------------------------------------------------------ screens

    def action_open_review(self) -> None:
        if self.pending_review is None or self.run_id is None:
            self.notify("No run is waiting for review.", timeout=4)
            return
        if isinstance(self.screen, ReviewScreen):
            return
        run_id = self.run_id

        def decided(decision: dict[str, Any] | None) -> None:
            if decision is None:
                self.query_one(RunView).note(f"[magenta]review of {escape(run_id)} postponed; F3 reopens it[/]")
                return
            self.resume(run_id, decision)

        self.push_screen(ReviewScreen(run_id, self.pending_review), decided)

    def action_history(self) -> None:
        if isinstance(self.screen, HistoryScreen):
            return

        def chosen(run_id: str | None) -> None:
            if run_id:
                self.resume(run_id)

        self.push_screen(HistoryScreen(), chosen)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_leave_field(self) -> None:
        if isinstance(self.focused, Input):
            self.set_focus(None)
