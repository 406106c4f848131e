"""`?`: every key, on every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = """\
[b]Anywhere[/]
  ?  or  F1      this help                 F2          past runs (history)
  F3             open the pending review   Ctrl+R      run the task in the box
  Tab / Shift+Tab  move between fields     Ctrl+Q      quit (a run keeps its checkpoint)

[b]Task box[/]
  Enter          run the task              Escape      leave the field (then ? works)

[b]Review[/]
  a  approve and commit                    r  reject (the branch is dropped)
  f  send feedback: the model tries again with your words
  [  /  ]        previous / next file      ↑ ↓ in the findings: show that finding's line in the diff
  Escape         decide later (F3 brings the review back)

[b]History[/]
  Enter          open the run's report     r  resume an unfinished run
  F5             refresh                   Escape  back

The mouse works too: click a file, a finding, a run, or the Run button.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(KEYS, id="help")

    def action_close(self) -> None:
        self.dismiss(None)
