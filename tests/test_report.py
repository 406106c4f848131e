"""`agentsmith report --since DATE`: the weekly review's figures, from an audit log of a week's runs.

The log is written through AuditLog.append with the events the graph records (nodes.py), each run's
events stamped on its own day: the audit module's clock is the one thing set, so the chain is real.
The HTML page is opened in a real headless Chromium, which must show every figure and decode the plots."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentsmith import audit
from agentsmith.audit import AuditLog
from agentsmith.graph.totals import time_split
from tests import services

AGENTSMITH = str(Path(sys.executable).with_name("agentsmith"))
EVAL_RULE, ASSERT_RULE = "python.lang.security.audit.eval-detected", "bandit.B101"


class Week:
    """Writes runs into the audit log as the graph does, at chosen local times."""

    def __init__(self, log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log, self.now = log, 0.0
        monkeypatch.setattr(audit, "time", SimpleNamespace(time=lambda: self.now))

    def at(self, day: int, hour: int, month: int = 3) -> Week:
        self.now = datetime(2025, month, day, hour).timestamp()
        return self

    def event(self, run_id: str, kind: str, data: dict) -> None:
        self.now += 1.0
        self.log.append(run_id, kind, data)

    def start(self, run_id: str, task: str) -> None:
        self.event(run_id, "run-started", {"task": task, "repo": "/src/app", "tier": "auto", "mode": "ci"})
        self.event(run_id, "intake", {"repo": "/src/app", "branch": f"agentsmith/{run_id}", "base": "a" * 40})

    def attempt(self, run_id: str, n: int, tier: str, cost: float, passed: bool) -> None:
        external = tier == "frontier"
        decision = {"tier": tier, "reason": f"{tier} attempt", "temperature": 0.0, "stop": False, "samples": 1}
        decision |= {"degraded": False, "step_id": "s1", "external": external}
        self.event(run_id, "route", {"step": "s1", "attempt": n, "sensitive": False, **decision, "next": "edit"})
        call = {"tier": tier, "model": "qwen2.5-coder-1.5b" if not external else "gpt-x", "prompt_tokens": 900}
        call |= {"completion_tokens": 200, "seconds": 4.0, "cost_usd": cost, "redactions": 1 if external else 0}
        call |= {"reason": decision["reason"], "prompt_tokens_evaluated": None, "candidate": 1, "answer": "..."}
        self.event(run_id, "call", call)
        self.event(run_id, "apply", {"applied": ["app.py"], "failed": [], "refused": 0, "ignored": []})
        verify = {"tier": tier, "passed": passed, "tokens": 1100, "cost_usd": cost, "overflow": False}
        verify |= {"error": None if passed else "tests failed", "prompt_tokens": 900, "seconds": 3.0}
        self.event(run_id, "verify", verify | {"backend": "docker", "next": "gate" if passed else "route"})

    def gate(self, run_id: str, rules: dict[str, int], blocking: set[str]) -> None:
        found = sum(rules.values())
        stopped = sum(n for rule, n in rules.items() if rule in blocking)
        summary = {"findings": found, "blocking": stopped, "seconds": 2.5, "tools": ["bandit", "semgrep"]}
        summary |= {"blocking_rules": sorted(blocking), "rules": rules}
        self.event(run_id, "gate", summary | {"next": "route" if stopped else "review"})

    def incident(self, run_id: str, kind: str, node: str = "apply") -> None:
        self.event(run_id, "incident", {"kind": kind, "detail": f"{kind} in {run_id}", "node": node})

    def finish(self, run_id: str, status: str, cost: float, seconds: float, task: str) -> None:
        if status == "committed":
            self.event(run_id, "review", {"decision": "approve", "by": "policy", "draft": False, "next": "commit"})
            self.event(run_id, "commit", {"sha": "b" * 40, "branch": f"agentsmith/{run_id}"})
        else:
            self.event(run_id, "route", {"step": "s1", "attempt": 3, "tier": None, "reason": "out of attempts"})
        # The split as the graph computes it, from per-node timings.
        timings = [
            {"node": "edit", "seconds": seconds * 0.5, "model": seconds * 0.5, "started": 0.0, "pid": 1},
            {"node": "verify", "seconds": seconds * 0.2, "model": 0.0, "started": seconds * 0.5, "pid": 1},
            {"node": "gate", "seconds": seconds * 0.1, "model": 0.0, "started": seconds * 0.7, "pid": 1},
        ]
        finished = {"status": status, "reason": status, "task": task, "seconds": seconds, "cost_usd": cost}
        finished |= {"branch": f"agentsmith/{run_id}" if status == "committed" else None, "tokens": 2200}
        finished |= {"commit": "b" * 40 if status == "committed" else None, "attempts": 2, "incidents": 0}
        self.event(run_id, "run-finished", finished | {"split": time_split({"timings": timings}, seconds)})


def write_week(week: Week) -> None:
    # Before the window: must not count.
    week.at(20, 10, month=2).start("old", "last month's task")
    week.attempt("old", 1, "frontier", 1.0, True)
    week.incident("old", "sandbox-limit", "verify")
    week.finish("old", "committed", 1.0, 500.0, "last month's task")
    # Monday: a local success (a non-blocking finding), and a failure after both tiers.
    week.at(3, 9).start("mon-ok", "add clamp()")
    week.attempt("mon-ok", 1, "local", 0.0, True)
    week.gate("mon-ok", {ASSERT_RULE: 1}, set())
    week.finish("mon-ok", "committed", 0.0, 40.0, "add clamp()")
    week.at(3, 14).start("mon-fail", "port the parser")
    week.attempt("mon-fail", 1, "local", 0.0, False)
    week.incident("mon-fail", "tool-misuse")
    week.attempt("mon-fail", 2, "frontier", 0.03, False)
    week.finish("mon-fail", "failed", 0.03, 120.0, "port the parser")
    # Tuesday: the gate blocks both attempts.
    week.at(4, 11).start("tue-blocked", "evaluate config expressions")
    week.attempt("tue-blocked", 1, "local", 0.0, True)
    week.gate("tue-blocked", {EVAL_RULE: 3, ASSERT_RULE: 1}, {EVAL_RULE})
    week.incident("tue-blocked", "sensitive-data")
    week.attempt("tue-blocked", 2, "frontier", 0.05, True)
    week.gate("tue-blocked", {EVAL_RULE: 1}, {EVAL_RULE})
    week.incident("tue-blocked", "policy-breach", "gate")
    week.finish("tue-blocked", "blocked", 0.05, 300.0, "evaluate config expressions")
    # Thursday: a frontier success after a local failure, and a local success; one run left unfinished.
    week.at(6, 10).start("thu-frontier", "fix the date bug")
    week.attempt("thu-frontier", 1, "local", 0.0, False)
    week.attempt("thu-frontier", 2, "frontier", 0.02, True)
    week.gate("thu-frontier", {}, set())
    week.incident("thu-frontier", "sensitive-data")
    week.finish("thu-frontier", "committed", 0.02, 90.0, "fix the date bug")
    week.at(6, 15).start("thu-local", "rename helper")
    week.attempt("thu-local", 1, "local", 0.0, True)
    week.gate("thu-local", {ASSERT_RULE: 1}, set())
    week.finish("thu-local", "committed", 0.0, 60.0, "rename helper")
    week.at(6, 17).start("thu-open", "still going")


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request, tmp_path, monkeypatch) -> Iterator[dict[str, str]]:
    """A fresh agentsmith home, and for `postgres` a fresh shared database: the report reads both alike."""
    env = {"AGENTSMITH_HOME": str(tmp_path / "home")}
    if request.param == "sqlite":
        monkeypatch.delenv("AGENTSMITH_DATABASE_URL", raising=False)
        monkeypatch.setenv("AGENTSMITH_HOME", env["AGENTSMITH_HOME"])
        yield env
        return
    if services.configured() is None:
        pytest.skip(f"no PostgreSQL configured ({services.SERVICES_ENV}; scripts/setup.d/70-services.sh)")
    with services.fresh_services("report") as urls:
        env["AGENTSMITH_DATABASE_URL"] = urls["AGENTSMITH_DATABASE_URL"]
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield env


def report_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AGENTSMITH, "report", *args], capture_output=True, text=True, env=os.environ | env, timeout=120
    )


def test_weekly_report_figures_in_json_text_and_html(store_env, tmp_path, monkeypatch):
    from agentsmith.config import audit_db

    write_week(Week(AuditLog(audit_db()), monkeypatch))

    done = report_cli(store_env, "--since", "2025-03-01", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["audit_chain"]["intact"], report["audit_chain"]
    assert report["runs"] == 5 and report["succeeded"] == 3 and report["success_rate"] == 0.6
    assert report["cost_usd"] == 0.1 and report["cost_per_success_usd"] == pytest.approx(0.033333)
    assert report["latency_s"] == {"p50": 90.0, "p95": 300.0, "mean": 122.0}
    tiers = {t["name"]: t for t in report["routing"]}
    assert tiers["local"] == {
        "name": "local",
        "external": False,
        "calls": 5,
        "call_share": 0.625,
        "cost_usd": 0.0,
        "cost_share": 0.0,
    }
    assert tiers["frontier"]["external"] and tiers["frontier"]["calls"] == 3 and tiers["frontier"]["cost_share"] == 1.0
    local, external = report["locality"]
    assert (local["name"], local["call_share"], local["cost_share"]) == ("local", 0.625, 0.0)
    assert (external["name"], external["call_share"], external["cost_usd"]) == ("external", 0.375, 0.1)
    assert report["findings"] == [
        {"rule": EVAL_RULE, "findings": 4, "blocking": True},
        {"rule": ASSERT_RULE, "findings": 3, "blocking": False},
    ]
    assert report["incidents_by_kind"] == {
        "factual-error": 0,
        "policy-breach": 1,
        "tool-misuse": 1,
        "sensitive-data": 2,
        "sandbox-limit": 0,  # last month's, outside the window
    }
    split = report["time_split"]
    assert split["runs"] == 5 and split["model"] == 305.0 and split["sandbox"] == 122.0 and split["gate"] == 61.0
    assert [(d["day"], d["runs"], d["succeeded"]) for d in report["days"]] == [
        ("2025-03-01", 0, 0),
        ("2025-03-02", 0, 0),
        ("2025-03-03", 2, 1),
        ("2025-03-04", 1, 0),
        ("2025-03-05", 0, 0),
        ("2025-03-06", 2, 2),
    ]
    assert report["days"][2]["cost_per_success_usd"] == 0.03 and report["days"][5]["cost_per_success_usd"] == 0.01
    assert report["interrupted"] == ["thu-open"] and report["since"] == "2025-03-01T00:00"

    text = report_cli(store_env, "--since", "2025-03-01").stdout
    assert "runs (since 2025-03-01T00:00): 5 finished, 3 committed (60%)" in text
    assert "cost: $0.1000 total, $0.0333 per successful task" in text
    assert "latency: p50 90.0s, p95 300.0s" in text
    assert "routing: local 5 call(s) 62%, $0.0000 0% of cost; external 3 call(s) 38%, $0.1000 100% of cost" in text
    assert (
        "incidents: 4 (factual error 0, policy breach 1, tool misuse 1, sensitive-data mishandling 2, "
        "sandbox limit 0)" in text
    )
    assert f"     4  {EVAL_RULE}  blocking" in text and f"     3  {ASSERT_RULE}  non-blocking" in text
    assert "2025-03-06    2 run(s),   2 committed, $0.0200, $0.0100 per success" in text
    assert "thu-open  interrupted, resumable (agentsmith resume thu-open)" in text

    # Without --since every run counts (the old behaviour); an ISO timestamp cuts within a day.
    everything = json.loads(report_cli(store_env, "--json").stdout)
    assert everything["runs"] == 6 and everything["incidents_by_kind"]["sandbox-limit"] == 1
    thursday = json.loads(report_cli(store_env, "--since", "2025-03-06T12:00", "--json").stdout)
    assert [r["run_id"] for r in thursday["history"]] == ["thu-local"] and thursday["routing"][0]["calls"] == 1
    one = json.loads(report_cli(store_env, "mon-fail", "--json").stdout)
    assert one["runs"] == 1 and one["incidents_by_kind"]["tool-misuse"] == 1

    bad = report_cli(store_env, "--since", "last week")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--since 'last week' is not a date; give YYYY-MM-DD or an ISO timestamp" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    page = tmp_path / "week.html"
    done = report_cli(store_env, "--since", "2025-03-01", "--html", str(page))
    assert done.returncode == 0 and f"report page written to {page}" in done.stderr and "5 finished" in done.stdout
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    dom = rendered_dom(page, tmp_path)
    cards = {
        ident: value
        for ident, value in re.findall(
            r'id="([\w-]+)"><div class="label">[^<]*</div><div class="value[^"]*">([^<]*)<', dom
        )
    }
    assert cards == {
        "runs": "5",
        "success-rate": "60%",
        "cost-per-success": "$0.0333",
        "total-cost": "$0.1000",
        "p50": "90.0s",
        "p95": "300.0s",
        "external-share": "38%",
        "incident-count": "4",
    }
    widths = dict(re.findall(r'<img id="([\w-]+)"[^>]*data-natural-width="(\d+)"', dom))
    assert set(widths) == {"days-plot", "routing-plot"} and all(int(w) > 500 for w in widths.values()), widths
    incidents = table(dom, "incidents")
    assert incidents == [
        ["factual error", "factual-error", "0"],
        ["policy breach", "policy-breach", "1"],
        ["tool misuse", "tool-misuse", "1"],
        ["sensitive-data mishandling", "sensitive-data", "2"],
        ["sandbox limit", "sandbox-limit", "0"],
    ]
    assert table(dom, "findings") == [[EVAL_RULE, "4", "blocking"], [ASSERT_RULE, "3", "non-blocking"]]
    assert table(dom, "routing")[0] == ["local", "local", "5", "62%", "$0.0000", "0%"]
    screenshot(page, tmp_path)


def table(dom: str, ident: str) -> list[list[str]]:
    body = re.search(rf'<table id="{ident}">.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert body, f"no table {ident} in the rendered page"
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run scripts/setup.d/10-system.sh")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    done = subprocess.run(
        [binary, *flags, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def rendered_dom(page: Path, tmp_path: Path) -> str:
    """The DOM after Chromium laid the page out, each image's decoded width written into it.
    The probe goes into a copy: the page itself carries no script."""
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.read_text().replace(
            "</body>",
            "<script>for (const img of document.images) img.dataset.naturalWidth = img.naturalWidth;</script></body>",
        )
    )
    return chromium(tmp_path, "--dump-dom", probe.as_uri()).stdout


def screenshot(page: Path, tmp_path: Path) -> None:
    """A picture of the page, for a person to look at (pytest keeps its tmp_path after the run)."""
    target = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={target}", "--window-size=1280,2000", page.as_uri())
    assert target.stat().st_size > 20_000
