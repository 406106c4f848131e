"""The task box: what to do, in which repository, on which tier."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select


class TaskBox(Vertical):
    """Posts `TaskBox.Submitted` when the user presses Enter in a field or the Run button."""

    class Submitted(Message):
        def __init__(self, task: str, repo: str, tier: str) -> None:
            super().__init__()
            self.task, self.repo, self.tier = task, repo, tier

    def __init__(self, *, repo: str, tiers: list[str], tier: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._repo, self._tiers, self._tier = repo, tiers, tier

    def compose(self) -> ComposeResult:
        with Horizontal(classes="task-row"):
            yield Label("Task", classes="field-label")
            yield Input(
                placeholder="Describe the change, e.g. Implement add in calc.py so the tests pass",
                id="task",
                compact=True,
            )
        with Horizontal(classes="task-row"):
            yield Label("Repository", classes="field-label")
            yield Input(value=self._repo, placeholder="path to a git repository", id="repo", compact=True)
            yield Label("Tier", classes="field-label", id="tier-label")
            choices = list(dict.fromkeys(["auto", *self._tiers, self._tier]))
            yield Select(
                [(name, name) for name in choices], value=self._tier, allow_blank=False, id="tier", compact=True
            )
            yield Button("Run", id="run", variant="primary", compact=True)

    def submit(self) -> None:
        tier = self.query_one("#tier", Select).value
        self.post_message(
            self.Submitted(
                self.query_one("#task", Input).value.strip(),
                self.query_one("#repo", Input).value.strip(),
                str(tier) if tier is not Select.NULL else "auto",
            )
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def set_busy(self, busy: bool) -> None:
        button = self.query_one("#run", Button)
        button.disabled = busy
        button.label = "Running…" if busy else "Run"
