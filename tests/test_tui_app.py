"""The TUI driven with Textual's Pilot, and snapshots of its main screens (no live model output).

The whole run with a real model, sandbox and gates is in test_tui_e2e.py.
"""

from __future__ import annotations

import time

import pytest
from textual.app import App
from textual.widgets import DataTable, Input, RichLog, Static

from agentsmith.audit import AuditLog
from agentsmith.config import DEFAULT_POLICY
from agentsmith.tui.app import AgentsmithApp
from agentsmith.tui.help import HelpScreen
from agentsmith.tui.history import HistoryScreen, ReportScreen
from agentsmith.tui.review import FeedbackScreen, ReviewScreen

SIZE = (120, 40)
FIXED_REPO = "/srv/demo-repo"

REVIEW_DIFF = """\
diff --git a/calc.py b/calc.py
index 1111111..2222222 100644
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,9 @@
+import subprocess
+
+
 def add(a, b):
-    raise NotImplementedError
+    return a + b
+
+
+def run(cmd):
+    return subprocess.call(cmd, shell=True)
diff --git a/test_calc.py b/test_calc.py
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/test_calc.py
@@ -0,0 +1,5 @@
+from calc import add
+
+
+def test_add():
+    assert add(2, 3) == 5
"""

REVIEW = {
    "diff": REVIEW_DIFF,
    "branch": "agentsmith/20260101-090000-abc123",
    "findings": [
        {
            "tool": "bandit",
            "rule": "B602",
            "severity": "low",
            "path": "calc.py",
            "line": 9,
            "message": "subprocess call with shell=True identified",
            "fix": "pass a list and drop shell=True",
            "snippet": "    return subprocess.call(cmd, shell=True)",
            "blocking": False,
        },
        {
            "tool": "bandit",
            "rule": "B404",
            "severity": "low",
            "path": "calc.py",
            "line": 1,
            "message": "Consider possible security implications of the subprocess module",
            "fix": "",
            "snippet": "import subprocess",
            "blocking": False,
        },
    ],
}


async def wait_until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)


def log_text(app: App) -> str:
    return "\n".join(line.text for line in app.query_one("#events", RichLog).lines)


def status_text(app: App) -> str:
    return str(app.query_one("#status", Static).render())


class ReviewHarness(App[None]):
    """Shows the review screen alone and keeps the decision it is dismissed with."""

    CSS_PATH = AgentsmithApp.CSS_PATH

    def __init__(self) -> None:
        super().__init__()
        self.decision: dict | None = "none yet"  # type: ignore[assignment]

    def on_mount(self) -> None:
        self.push_screen(ReviewScreen("20260101-090000-abc123", REVIEW), self.decided)

    def decided(self, decision) -> None:
        self.decision = decision


@pytest.fixture
def fixed_history(tmp_path, monkeypatch):
    """An audit log of three runs (committed, failed, unfinished) in a home of its own."""
    monkeypatch.setenv("AGENTSMITH_HOME", str(tmp_path / "home"))
    from agentsmith.config import audit_db

    log = AuditLog(audit_db())
    committed, failed, unfinished = "20260101-090000-aaa111", "20260102-100000-bbb222", "20260103-110000-ccc333"
    log.append(
        committed,
        "run-started",
        {
            "task": "Implement add in calc.py",
            "repo": FIXED_REPO,
            "tier": "local",
            "mode": "interactive",
            "policy": "default.yaml",
        },
    )
    log.append(
        committed,
        "route",
        {
            "step": "s1",
            "attempt": 1,
            "tier": "local",
            "reason": "routine step: local first",
            "sensitive": False,
            "external": False,
        },
    )
    log.append(
        committed,
        "call",
        {
            "tier": "local",
            "model": "qwen2.5-coder-0.5b",
            "prompt_tokens": 410,
            "completion_tokens": 38,
            "cost_usd": 0.0,
            "seconds": 3.2,
            "redactions": 0,
        },
    )
    log.append(committed, "verify", {"tier": "local", "passed": True, "backend": "docker", "seconds": 0.8})
    log.append(committed, "gate", {"findings": 0, "blocking": 0, "seconds": 2.1, "tools": ["bandit", "semgrep"]})
    log.append(committed, "review", {"decision": "approve", "by": "human"})
    log.append(
        committed,
        "run-finished",
        {
            "status": "committed",
            "reason": "committed 0123456789ab",
            "branch": f"agentsmith/{committed}",
            "commit": "0123456789abcdef",
            "task": "Implement add in calc.py",
            "seconds": 42.5,
            "cost_usd": 0.0,
            "tokens": 448,
            "attempts": 1,
            "incidents": 0,
        },
    )
    log.append(
        failed,
        "run-started",
        {
            "task": "Add input validation to parse_port",
            "repo": FIXED_REPO,
            "tier": "auto",
            "mode": "interactive",
            "policy": "default.yaml",
        },
    )
    log.append(
        failed,
        "run-finished",
        {
            "status": "failed",
            "reason": "no passing change",
            "branch": None,
            "commit": None,
            "task": "Add input validation to parse_port",
            "seconds": 97.0,
            "cost_usd": 0.0123,
            "tokens": 5100,
            "attempts": 4,
            "incidents": 0,
        },
    )
    log.append(
        unfinished,
        "run-started",
        {
            "task": "Rename slugify to make_slug",
            "repo": FIXED_REPO,
            "tier": "auto",
            "mode": "interactive",
            "policy": "default.yaml",
        },
    )
    return {"committed": committed, "failed": failed, "unfinished": unfinished}


# ------------------------------------------------------------------------------ snapshots


def test_snapshot_start_screen(snap_compare):
    assert snap_compare(AgentsmithApp(repo=FIXED_REPO, policy_path=str(DEFAULT_POLICY)), terminal_size=SIZE)


def test_snapshot_help_screen(snap_compare):
    assert snap_compare(AgentsmithApp(repo=FIXED_REPO), press=["escape", "question_mark"], terminal_size=SIZE)


def test_snapshot_review_screen(snap_compare):
    async def open_review(pilot):
        pilot.app.run_id, pilot.app.pending_review = "20260101-090000-abc123", REVIEW
        await pilot.press("f3")
        await pilot.pause()

    assert snap_compare(AgentsmithApp(repo=FIXED_REPO), run_before=open_review, terminal_size=SIZE)


def test_snapshot_history_screen(snap_compare, fixed_history):
    assert snap_compare(AgentsmithApp(repo=FIXED_REPO), press=["f2"], terminal_size=SIZE)


# ------------------------------------------------------------------------------ behaviour


async def test_start_screen_shows_policy_tiers_and_repo():
    app = AgentsmithApp(repo=FIXED_REPO)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        panel = str(app.query_one("#policy", Static).render())
        assert "default" in panel
        local_line = next(line for line in panel.splitlines() if line.strip().startswith("local"))
        frontier_line = next(line for line in panel.splitlines() if line.strip().startswith("frontier"))
        assert "EXTERNAL" in frontier_line and "EXTERNAL" not in local_line
        assert app.query_one("#repo", Input).value == FIXED_REPO
        assert app.focused is app.query_one("#task", Input)


async def test_keys_help_opens_and_closes_and_typing_a_question_mark_stays_in_the_task():
    app = AgentsmithApp(repo=FIXED_REPO)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w", "h", "y", "question_mark")
        assert app.query_one("#task", Input).value == "why?"
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("escape", "question_mark")  # leave the field, then ? opens the keys
        assert isinstance(app.screen, HelpScreen)
        assert "approve" in str(app.screen.query_one("#help", Static).render())


async def test_empty_task_is_refused_with_a_hint():
    app = AgentsmithApp(repo=FIXED_REPO)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert not app.running
        assert any("Type a task first" in n.message for n in app._notifications)


async def test_a_bad_repository_is_a_readable_notice_and_the_app_stays_usable(tmp_path):
    not_a_repo = tmp_path / "plain-folder"
    not_a_repo.mkdir()
    app = AgentsmithApp(repo=str(not_a_repo), tier="local")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.query_one("#task", Input).value = "Implement add in calc.py so the tests pass"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.run_id and not app.running, timeout=60)
        assert "not a git repository" in status_text(app)
        assert "Traceback" not in log_text(app)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "not a git repository" in errors[-1].message
        assert "✗" in str(app.query_one("#nodes", Static).render())
        # still alive: the run button is back and another task can be typed
        assert not app.query_one("#run").disabled
        await pilot.click("#task")
        await pilot.press("x")
        assert "x" in app.query_one("#task", Input).value


async def test_frontier_down_under_a_stop_policy_is_a_readable_notice(repo_factory, tmp_path, monkeypatch):
    for name in (
        "AGENTSMITH_FRONTIER_BASE_URL",
        "AGENTSMITH_FRONTIER_MODEL",
        "AGENTSMITH_FRONTIER_API_KEY",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    policy = tmp_path / "stop.yaml"
    policy.write_text(DEFAULT_POLICY.read_text().replace("frontier_unavailable: degrade", "frontier_unavailable: stop"))
    repo = repo_factory({"calc.py": "def add(a, b):\n    raise NotImplementedError\n"})
    app = AgentsmithApp(repo=str(repo), policy_path=str(policy), tier="frontier")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert "frontier unavailable → stop" in str(app.query_one("#policy", Static).render())
        app.query_one("#task", Input).value = "Implement add"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.run_id and not app.running, timeout=60)
        shown = status_text(app)
        assert "stopped" in shown and "frontier" in shown.lower()
        assert "Error:" not in shown and "Traceback" not in log_text(app)


async def test_review_shows_files_findings_and_the_findings_line():
    app = ReviewHarness()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        assert [f.path for f in screen.files] == ["calc.py", "test_calc.py"]
        table = screen.query_one("#findings", DataTable)
        assert table.row_count == 2
        assert [str(c) for c in table.get_row_at(0)][:3] == ["B602", "low", "calc.py:9"]
        # the first finding is highlighted: its line is marked in the diff
        await wait_until(pilot, lambda: screen.focus_line == 9)
        diff = str(screen.query_one("#diff", Static).render())
        marked = [line for line in diff.splitlines() if line.startswith("▶")]
        assert len(marked) == 1 and "shell=True" in marked[0]
        await pilot.press("down")
        await wait_until(pilot, lambda: screen.focus_line == 1)
        assert "import subprocess" in next(
            line for line in str(screen.query_one("#diff", Static).render()).splitlines() if line.startswith("▶")
        )
        await pilot.press("right_square_bracket")
        assert screen.current == 1 and "assert add(2, 3) == 5" in str(screen.query_one("#diff", Static).render())
        await pilot.click("#files", offset=(2, 1))  # the mouse works: back to calc.py
        await pilot.pause()
        assert screen.current == 0
        await pilot.press("a")
        assert app.decision == {"decision": "approve", "by": "human"}


async def test_review_feedback_and_reject_keys():
    app = ReviewHarness()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        assert isinstance(app.screen, FeedbackScreen)
        await pilot.press("escape")  # cancel: back to the review, nothing decided
        assert isinstance(app.screen, ReviewScreen) and app.decision == "none yet"
        await pilot.press("f")
        for key in "use a list":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        assert app.decision == {"decision": "feedback", "feedback": "use a list", "by": "human"}
    app = ReviewHarness()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        assert app.decision == {"decision": "reject", "by": "human"}


async def test_history_lists_runs_opens_a_report_and_resumes_an_interrupted_run(fixed_history):
    app = AgentsmithApp(repo=FIXED_REPO)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one("#history", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][:2] == [fixed_history["unfinished"], "interrupted"]
        assert rows[1][:3] == [fixed_history["failed"], "failed", "$0.0123"]
        assert rows[2][1] == "committed" and rows[2][4] == f"agentsmith/{fixed_history['committed']}"
        # a finished run does not resume
        await pilot.press("down", "r")
        assert isinstance(app.screen, HistoryScreen)
        # its report opens with the timeline
        await pilot.press("down", "enter")
        assert isinstance(app.screen, ReportScreen)
        report = str(app.screen.query_one("#report", Static).render())
        assert "committed" in report and "routine step: local first" in report and "intact" in report
        await pilot.press("escape")
        # the interrupted run resumes; it has no checkpoint here, which is a readable notice, not a crash
        await pilot.press("up", "up", "r")
        assert not isinstance(app.screen, HistoryScreen)
        await wait_until(pilot, lambda: not app.running and "stopped" in status_text(app), timeout=60)
        assert f"no run with id {fixed_history['unfinished']}" in status_text(app)


async def test_history_does_not_resume_a_run_another_process_drives(fixed_history):
    from agentsmith.graph import lease

    run_id = fixed_history["unfinished"]
    with lease.hold(run_id) as held:  # this test process is the run's live driver
        app = AgentsmithApp(repo=FIXED_REPO)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.press("f2")
            table = app.screen.query_one("#history", DataTable)
            assert [str(c) for c in table.get_row_at(0)][:2] == [run_id, "running"]
            await pilot.press("r")
            assert isinstance(app.screen, HistoryScreen) and not app.running
            notices = [n.message for n in app._notifications]
            assert any(f"driven by {held.driver.describe()}" in n for n in notices), notices
            await pilot.press("enter")
            report = str(app.screen.query_one("#report", Static).render())
            assert f"running, driven by {held.driver.describe()}" in report
