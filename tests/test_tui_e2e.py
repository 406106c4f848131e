"""The TUI end to end: a whole run driven with Pilot (real local model, real Docker sandbox, real gates,
real git) to approval, and the real `agentsmith tui` in tmux, typed into and read with capture-pane."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Log, RichLog, Static

from agentsmith import vcs
from agentsmith.tui.app import AgentsmithApp
from agentsmith.tui.help import HelpScreen
from agentsmith.tui.history import HistoryScreen
from agentsmith.tui.review import ReviewScreen
from tests.conftest import git
from tests.test_run import CLAMP_REPO, TASK

AGENTSMITH = str(Path(sys.executable).with_name("agentsmith"))


async def wait_until(pilot, condition, timeout: float) -> None:
    """Poll `condition`; a widget not mounted yet (a screen still composing) counts as not yet."""
    from textual.css.query import NoMatches

    def met() -> bool:
        try:
            return bool(condition())
        except NoMatches:
            return False

    deadline = time.monotonic() + timeout
    while not met():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.1)


def events_text(app) -> str:
    return "\n".join(line.text for line in app.query_one("#events", RichLog).lines)


@pytest.mark.model
@pytest.mark.docker
@pytest.mark.timeout(900)
async def test_a_whole_run_from_task_to_approved_commit(repo_factory, monkeypatch):
    monkeypatch.setenv("AGENTSMITH_LOCAL_MODEL", "qwen2.5-coder-0.5b")
    repo = repo_factory(CLAMP_REPO)
    before = vcs.status_snapshot(repo)
    app = AgentsmithApp(repo=str(repo), tier="local")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.click("#task")
        await pilot.press(*["space" if ch == " " else ch for ch in TASK])
        assert app.query_one("#task", Input).value == TASK
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.running, timeout=10)

        # The UI answers while the run works in its thread: the keys open and close.
        await pilot.press("escape", "f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: "✓ intake" in str(app.query_one("#nodes", Static).render()), timeout=120)
        assert app.running

        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen) or not app.running, timeout=600)
        log = events_text(app)
        assert isinstance(app.screen, ReviewScreen), log + str(app.last_result)
        assert "route attempt 1 → local" in log and "because" in log
        assert "tests pass" in log and "docker sandbox" in log
        assert re.search(r"gate \d+ finding\(s\), 0 blocking", log), log
        assert app.query_one("#stream", Log).line_count > 1  # the model's answer streamed in
        meter = str(app.query_one("#meter", Static).render())
        calls = re.search(r"calls (\d+) \((\d+) external\)", meter)
        assert "tokens 0 in" not in meter and int(calls.group(1)) >= 1 and calls.group(2) == "0", meter
        assert "⏸ review" in str(app.query_one("#nodes", Static).render())

        review = app.screen
        await wait_until(pilot, lambda: "clamp" in str(review.query_one("#diff", Static).render()), timeout=10)
        assert [f.path for f in review.files] == ["mathutil.py"]
        diff = str(review.query_one("#diff", Static).render())
        assert "- " in diff and "raise NotImplementedError" in diff and "clamp" in diff
        run_id = review.run_id

        await pilot.press("a")
        await wait_until(
            pilot,
            lambda: (
                app.last_result is not None and app.last_result.get("status") != "awaiting-review" and not app.running
            ),
            timeout=240,
        )
        result = app.last_result
        assert result["status"] == "committed", events_text(app)
        assert "review approve by human" in events_text(app)
        assert "committed" in str(app.query_one("#status", Static).render())

        # The branch holds one green commit; the user's checkout is untouched.
        branch = result["branch"]
        assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
        message = git(repo, "log", "-1", "--format=%B", branch)
        assert f"Agentsmith-Run: {run_id}" in message and "Agentsmith-Review: human" in message
        assert vcs.status_snapshot(repo) == before

        # History shows it, with its branch.
        await pilot.press("f2")
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one("#history", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        mine = next(r for r in rows if r[0] == run_id)
        assert mine[1] == "committed" and mine[4] == branch


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=20).stdout


def _wait_for_screen(socket: str, session: str, *wanted: str, timeout: float) -> str:
    """Poll capture-pane until every wanted text is on the screen (words may wrap: spaces are ignored)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", session)
        if all(w in screen for w in wanted):
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{wanted!r} did not appear within {timeout}s; the screen was:\n{screen}")


def test_the_real_tui_in_tmux_takes_a_task_and_shows_a_readable_error(repo_factory, agentsmith_home):
    assert shutil.which("tmux"), "tmux is installed by scripts/setup.d/10-system.sh"
    repo = repo_factory(CLAMP_REPO)
    (repo / "mathutil.py").write_text("# an edit the user has not committed\n")  # a dirty checkout
    socket, session = f"agentsmith-test-{os.getpid()}", "tui"
    # COLUMNS/LINES (set by some test runners) would override the pane size
    command = (
        f"env -u COLUMNS -u LINES AGENTSMITH_HOME={agentsmith_home} TERM=xterm-256color {AGENTSMITH} tui --repo {repo}"
    )
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command],
        check=True,
        timeout=20,
    )
    try:
        _wait_for_screen(
            socket, session, "New task", "Policy default", "EXTERNAL", str(repo), "Model output", timeout=60
        )

        _tmux(socket, "send-keys", "-t", session, "-l", TASK)
        screen = _wait_for_screen(socket, session, TASK, timeout=20)
        _tmux(socket, "send-keys", "-t", session, "Enter")

        screen = _wait_for_screen(socket, session, "uncommitted changes", timeout=120)
        assert "Traceback" not in screen and "Error" not in screen.replace("error", "")
        assert "stopped" in screen
        assert (repo / "mathutil.py").read_text() == "# an edit the user has not committed\n"

        # Still alive: ? (out of the field) shows the keys, and Ctrl+Q quits cleanly.
        _tmux(socket, "send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        _tmux(socket, "send-keys", "-t", session, "?")
        _wait_for_screen(socket, session, "approve and commit", timeout=20)
        _tmux(socket, "send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        _tmux(socket, "send-keys", "-t", session, "C-q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and session in _tmux(socket, "list-sessions"):
            time.sleep(0.3)
        assert session not in _tmux(socket, "list-sessions")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=20)
