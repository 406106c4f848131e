"""`agentsmith bench` and `bench compare`: a short real bench (0.5B model, real sandbox, real gates),
its resume, the release gate, and the harness's honesty checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from agentsmith.bench.compare import Thresholds, compare_records
from agentsmith.bench.results import (
    ResultsFile,
    goal_estimate,
    load_results,
    percentile,
    required_local_solve_rate,
    summarise,
)
from agentsmith.bench.suite import build_task_repo, load_suite, select_tasks

PROJECT = Path(__file__).resolve().parent.parent
SUITE = (PROJECT / ".." / "shared" / "bench" / "exercism-python").resolve()
AGENTSMITH = [sys.executable, "-m", "agentsmith"]
# Two easy tasks the 0.5B model solves greedily on its first or second attempt.
SHORT_BENCH_TASKS = "resistor-color,reverse-string"


def agentsmith(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*AGENTSMITH, *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


# ------------------------------------------------------------------------------ the suite


def test_task_repo_holds_only_the_stub_tests_and_instructions(tmp_path):
    task = select_tasks(load_suite(SUITE), slugs=["acronym"])[0]
    repo = build_task_repo(task, tmp_path / "repo")
    assert sorted(git(repo, "ls-files").split()) == ["acronym.py", "acronym_test.py", "instructions.md"]
    assert not list(repo.glob(".approaches")) and not list(repo.glob(".articles"))
    assert git(repo, "status", "--porcelain") == ""
    text = task.task_text()
    assert text.startswith("# Instructions") and "Implement the solution in acronym.py" in text
    assert "acronym_test.py must pass" in text


def test_tasks_select_by_slug_and_limit_in_slug_order():
    tasks = load_suite(SUITE)
    assert len(tasks) >= 30
    assert [t.slug for t in tasks] == sorted(t.slug for t in tasks)
    assert [t.slug for t in select_tasks(tasks, limit=3)] == [t.slug for t in tasks[:3]]
    assert [t.slug for t in select_tasks(tasks, slugs=["leap", "bob"])] == ["leap", "bob"]
    paasio = select_tasks(tasks, slugs=["paasio"])[0]
    assert paasio.test_files == ("paasio_test.py", "test_utils.py")


# ------------------------------------------------------------------------------ the numbers


def record(slug: str, success: bool, cost: float, seconds: float, **extra) -> dict:
    return {
        "slug": slug,
        "strategy": "x",
        "success": success,
        "status": "committed" if success else "failed",
        "cost_usd": cost,
        "seconds": seconds,
        "attempts": 1,
        "escalations": 0,
        "incidents": [],
        "tokens_by_tier": {},
        **extra,
    }


def test_cost_per_success_counts_failed_tasks_and_percentiles_are_real_values():
    records = [
        record("a", True, 0.02, 10),
        record("b", False, 0.06, 30),
        record("c", True, 0.01, 20),
        record("d", True, 0.01, 40, escalations=1),
    ]
    summary = summarise(records)
    assert summary["successes"] == 3 and summary["success_rate"] == 0.75
    assert summary["cost_per_success_usd"] == pytest.approx(0.10 / 3, abs=1e-6)
    assert summary["seconds_p50"] == 20 and summary["seconds_p95"] == 40
    assert summary["tasks_escalated"] == 1
    assert percentile([5.0], 95) == 5.0 and percentile([], 50) is None
    assert summarise([record("a", False, 0.5, 1)])["cost_per_success_usd"] is None


def write_results(out: Path, strategy: str, records: list[dict], setup: dict | None = None) -> Path:
    results = ResultsFile(out)
    results.begin(str(SUITE), strategy, setup or {"command": "constructed by the test"})
    for item in records:
        results.record(strategy, item)
    results.render()
    return out / "results.json"


def test_compare_passes_when_equal_and_fails_when_new_is_worse(tmp_path):
    base = [
        record("acronym", True, 0.010, 30),
        record("bob", True, 0.020, 40),
        record("leap", True, 0.005, 20),
        record("clock", False, 0.030, 90),
    ]
    old = write_results(tmp_path / "old", "cascade", base)
    same = write_results(tmp_path / "same", "cascade", [dict(r) for r in base])
    worse = write_results(
        tmp_path / "worse",
        "cascade",
        [
            record("acronym", True, 0.010, 30),
            record("bob", False, 0.080, 150),
            record("leap", True, 0.005, 22),
            record("clock", False, 0.030, 90),
        ],
    )

    equal = agentsmith("bench", "compare", str(old), str(same))
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "gate: PASS" in equal.stdout and "3/4 (75%) -> 3/4 (75%)" in equal.stdout

    regressed = agentsmith("bench", "compare", str(old.parent), str(worse))
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    out = regressed.stdout
    assert "gate: FAIL" in out and "REGRESSED" in out
    assert "success rate fell 25.0 points" in out and "cost per success rose" in out and "p95 wall time rose" in out
    bob_line = next(line for line in out.splitlines() if line.strip().startswith("bob"))
    assert "pass" in bob_line and "fail" in bob_line and "REGRESSED" in bob_line

    # A looser gate lets the same change through; the thresholds are the team's choice.
    loose = agentsmith(
        "bench",
        "compare",
        str(old),
        str(worse),
        "--max-success-drop",
        "0.3",
        "--max-cost-increase",
        "10",
        "--max-latency-increase",
        "10",
    )
    assert loose.returncode == 0, loose.stdout


def test_compare_one_strategy_against_another_in_one_results_file(tmp_path):
    out = tmp_path / "both"
    write_results(out, "frontier", [record("a", True, 0.05, 30), record("b", True, 0.05, 30)])
    write_results(out, "cascade", [record("a", True, 0.01, 35), record("b", True, 0.0, 20)])
    done = agentsmith("bench", "compare", f"{out}:frontier", f"{out}/results.json:cascade")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ":frontier (OLD)" in done.stdout and ":cascade (NEW)" in done.stdout
    gate = compare_records({"a": record("a", True, 0.05, 30)}, {"a": record("a", False, 0.05, 30)}, Thresholds())
    assert not gate.passed and gate.tasks[0]["change"] == "REGRESSED"
    table = (out / "results.md").read_text()
    assert "| frontier | 2 | 2/2 (100%) | $0.0500 |" in table and "| cascade | 2 |" in table
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def local_call(compute: float) -> dict:
    return {"local": {"prompt": 900, "completion": 200, "calls": 1, "cost_usd": 0.0, "compute_usd": compute}}


def cascade_record(slug: str, success: bool, frontier_cost: float = 0.0, compute: float = 0.002) -> dict:
    """A cascade task: its local attempt (free by the token, `compute` by the hour), then the frontier
    when `frontier_cost` is given."""
    tiers = local_call(compute)
    if frontier_cost:
        tiers["frontier"] = {"prompt": 5000, "completion": 600, "calls": 1, "cost_usd": frontier_cost}
    return record(
        slug,
        success,
        frontier_cost,
        60,
        compute_usd=compute,
        all_in_usd=frontier_cost + compute,
        tokens_by_tier=tiers,
        tiers_used=sorted(tiers),
        escalations=1 if frontier_cost else 0,
    )


CASCADE_SETUP = {
    "command": "constructed by the test",
    "models": {
        "local": {"model": "qwen2.5-coder-0.5b", "external": False, "price_per_hour": 0.08},
        "frontier": {"model": "scripted", "external": True, "price_in_per_mtok": 3, "price_out_per_mtok": 15},
    },
}


def test_summary_and_table_report_api_spend_and_all_in_cost_per_success(tmp_path):
    records = [cascade_record("a", True), cascade_record("b", True, frontier_cost=0.06), cascade_record("c", False)]
    summary = summarise(records)
    assert summary["cost_usd"] == pytest.approx(0.06) and summary["cost_per_success_usd"] == pytest.approx(0.03)
    assert summary["compute_usd"] == pytest.approx(0.006) and summary["all_in_usd"] == pytest.approx(0.066)
    assert summary["all_in_per_success_usd"] == pytest.approx(0.033)
    # A record written before compute was counted is all API spend.
    assert summarise([record("x", True, 0.05, 10)])["all_in_per_success_usd"] == pytest.approx(0.05)

    write_results(tmp_path, "cascade", records, CASCADE_SETUP)
    table = (tmp_path / "results.md").read_text()
    assert (
        "| strategy | tasks | success | API cost per success | API total | all-in per success | all-in total |" in table
    )
    assert "| cascade | 3 | 2/3 (67%) | $0.0300 | $0.0600 | $0.0330 | $0.0660 |" in table
    assert "local = qwen2.5-coder-0.5b ($0/$0 per M tokens in/out, $0.08/hour compute)" in table
    assert "| b | pass (1 att, 1 esc, $0.0600 API, $0.0620 all-in, 60.0s) |" in table
    saved = load_results(tmp_path)["strategies"]["cascade"]["summary"]
    assert saved["all_in_per_success_usd"] == pytest.approx(0.033)


def test_compare_gates_api_cost_by_default_and_all_in_cost_on_request(tmp_path):
    old = write_results(tmp_path / "old", "cascade", [record("a", True, 0.01, 60), record("b", True, 0.01, 60)])
    # NEW spends less on the API but holds a priced local machine for much longer.
    new = write_results(
        tmp_path / "new",
        "cascade",
        [cascade_record("a", True, 0.002, compute=0.02), cascade_record("b", True, 0.002, compute=0.02)],
        CASCADE_SETUP,
    )
    api = agentsmith("bench", "compare", str(old), str(new))
    assert api.returncode == 0, api.stdout + api.stderr
    assert "cost: API" in api.stdout and "cost per success: $0.0100 -> $0.0020 (-80%) (API)" in api.stdout

    all_in = agentsmith("bench", "compare", str(old), str(new), "--cost", "all-in")
    assert all_in.returncode == 1, all_in.stdout + all_in.stderr
    assert "cost: all-in" in all_in.stdout and "gate: FAIL" in all_in.stdout
    assert "all-in cost per success rose +120% ($0.0100 -> $0.0220; allowed 20%)" in all_in.stdout
    a_line = next(line for line in all_in.stdout.splitlines() if line.strip().startswith("a "))
    assert "$0.0100 -> $0.0220" in a_line


def test_the_local_solve_rate_the_goal_requires(tmp_path):
    # Worked numbers: frontier-only $0.05/task; an escalated task's frontier part $0.06 (1.2x: it
    # carries the failed attempt); the local attempt is free by the token, $0.002 by the hour.
    # API:    s >= 1 - (0.35 * 0.05 - 0)     / (1.2 * 0.05) = 1 - 0.0175 / 0.06 = 0.7083
    # all-in: s >= 1 - (0.35 * 0.05 - 0.002) / (1.2 * 0.05) = 1 - 0.0155 / 0.06 = 0.7417
    assert required_local_solve_rate(0.0, 0.05, 1.2) == pytest.approx(0.708333, abs=1e-6)
    assert required_local_solve_rate(0.002, 0.05, 1.2) == pytest.approx(0.741667, abs=1e-6)
    assert required_local_solve_rate(0.0, 0.05) == pytest.approx(0.65)  # no overhead: 1 - 0.35
    assert required_local_solve_rate(0.02, 0.05, 1.2) > 1  # local attempts alone cost more than 0.35x
    assert required_local_solve_rate(0.0, 0.05, 0.3) < 0  # met at any solve rate
    assert required_local_solve_rate(0.0, 0.0) is None  # a free frontier cannot be undercut

    out = tmp_path / "all"
    write_results(out, "frontier", [record(slug, True, 0.05, 40) for slug in "abcd"])
    write_results(out, "local", [record(s, s in "ab", 0.0, 50, compute_usd=0.004) for s in "abcd"])
    cascade = [
        cascade_record("a", True),
        cascade_record("b", True),
        cascade_record("c", True, frontier_cost=0.06),
        cascade_record("d", True, frontier_cost=0.06),
    ]
    write_results(out, "cascade", cascade, CASCADE_SETUP)
    data = load_results(out)
    api = goal_estimate(data, "api")
    assert api["required_local_solve_rate"] == pytest.approx(0.7083, abs=1e-4)
    assert api["escalation_overhead"] == pytest.approx(1.2) and api["overhead_measured"]
    assert api["local_cost_per_task_usd"] == 0.0 and api["frontier_cost_per_task_usd"] == pytest.approx(0.05)
    assert api["cascade_solved_locally"] == 0.5 and api["local_only_success_rate"] == 0.5
    all_in = goal_estimate(data, "all-in")
    assert all_in["required_local_solve_rate"] == pytest.approx(0.7417, abs=1e-4)
    assert all_in["local_cost_per_task_usd"] == pytest.approx(0.002)
    table = (out / "results.md").read_text()
    assert (
        "goal (cascade cost per success <= 0.35x frontier-only), API cost: the local tier must solve >= 71% "
        "of tasks on its own (local $0.0000/task, frontier $0.0500/task from the frontier-only section, "
        "escalation overhead 1.20x measured); measured: cascade solved 50% locally, local-only 50%"
    ) in table
    assert "all-in cost: the local tier must solve >= 74% of tasks on its own" in table

    # From the cascade records alone: the frontier's price is its cost on the escalated tasks, overhead 1x.
    alone = tmp_path / "alone"
    write_results(alone, "cascade", cascade, CASCADE_SETUP)
    estimate = goal_estimate(load_results(alone), "api")
    assert estimate["frontier_cost_per_task_usd"] == pytest.approx(0.06) and not estimate["overhead_measured"]
    assert estimate["required_local_solve_rate"] == pytest.approx(0.65)
    assert estimate["local_only_success_rate"] is None
    # Nothing priced the frontier: no estimate, and no goal line.
    write_results(tmp_path / "none", "cascade", [cascade_record("a", True)], CASCADE_SETUP)
    assert goal_estimate(load_results(tmp_path / "none")) is None
    assert "goal (" not in (tmp_path / "none" / "results.md").read_text()


def test_bad_input_is_one_line_exit_2(tmp_path):
    cases = [
        (["bench", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], "is not a folder"),
        (
            ["bench", str(SUITE), "--tasks", "leap,no-such-task", "--out", str(tmp_path / "o")],
            "unknown task(s): no-such-task",
        ),
        (["bench", str(SUITE), "--tasks", "leap"], "no --out folder"),
        (["bench", "compare", str(tmp_path / "nothing"), str(tmp_path / "nothing")], "no bench results"),
        (["bench", "compare", str(tmp_path)], "takes two results"),
    ]
    for argv, message in cases:
        done = agentsmith(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # Measuring "frontier" while it silently degraded to local would be a false number: refuse.
    env = {k: "" for k in ("AGENTSMITH_FRONTIER_BASE_URL", "AGENTSMITH_FRONTIER_MODEL")}
    done = agentsmith(
        "bench", str(SUITE), "--strategy", "frontier", "--tasks", "leap", "--out", str(tmp_path / "o"), env=env
    )
    assert done.returncode == 2 and "needs the frontier tier and it is not configured" in done.stderr
    assert not (tmp_path / "o" / "results.json").exists()


def test_cascade_runs_under_a_policy_that_starts_every_step_local(tmp_path):
    from agentsmith.bench.harness import strategy_for
    from agentsmith.config import POLICIES_DIR
    from agentsmith.policy import load_policy

    cascade = strategy_for("cascade", POLICIES_DIR / "bench.yaml", tmp_path)
    assert cascade.tier == "auto" and cascade.policy_path.parent == tmp_path / "policies"
    loaded = load_policy(cascade.policy_path)
    assert loaded.policy.routing.frontier_difficulty == 99
    assert all(loaded.resolve(rule).exists() for rule in loaded.policy.gates.semgrep.rules)
    auto = strategy_for("auto", POLICIES_DIR / "bench.yaml", tmp_path)
    assert auto.policy_path == POLICIES_DIR / "bench.yaml"
    assert load_policy(auto.policy_path).policy.routing.frontier_difficulty < 99


# ------------------------------------------------------------------------------ real runs


@pytest.mark.model
def test_serve_frontier_answers_the_openai_api_on_loopback_and_stops(tmp_path):
    import openai

    from agentsmith.bench.frontier import serve_frontier

    before = os.environ.get("AGENTSMITH_FRONTIER_BASE_URL")
    with serve_frontier("qwen2.5-coder-0.5b", log_path=tmp_path / "server.log", n_ctx=1024) as settings:
        base_url = settings["AGENTSMITH_FRONTIER_BASE_URL"]
        assert base_url.startswith("http://127.0.0.1:") and os.environ["AGENTSMITH_FRONTIER_BASE_URL"] == base_url
        client = openai.OpenAI(base_url=base_url, api_key=settings["AGENTSMITH_FRONTIER_API_KEY"])
        answer = client.chat.completions.create(
            model=settings["AGENTSMITH_FRONTIER_MODEL"], max_tokens=8, messages=[{"role": "user", "content": "Say OK."}]
        )
        assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    assert os.environ.get("AGENTSMITH_FRONTIER_BASE_URL") == before
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base_url}/models", timeout=2)


@pytest.mark.model
def test_a_bench_killed_hard_takes_its_frontier_server_with_it(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from agentsmith.bench.frontier import serve_frontier\n"
        f"with serve_frontier('qwen2.5-coder-0.5b', log_path=Path({str(tmp_path / 'server.log')!r}), n_ctx=512):\n"
        "    print(os.environ['AGENTSMITH_FRONTIER_BASE_URL'], flush=True)\n"
        "    time.sleep(600)\n"
    )
    bench = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    base_url = bench.stdout.readline().strip()
    assert base_url.startswith("http://127.0.0.1:")
    urllib.request.urlopen(f"{base_url}/models", timeout=5)  # the server is up
    bench.send_signal(signal.SIGKILL)  # no cleanup code runs
    bench.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=2)
        except OSError:
            return  # gone with its parent
        time.sleep(0.5)
    pytest.fail("the frontier server outlived the killed bench")


def _llama_servers_of(parent: int) -> list[int]:
    """Pids of the llama_cpp.server processes `parent` started."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"llama_cpp.server" in cmdline:
            pids.append(int(proc.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _sandbox_containers() -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=agentsmith.sandbox"], capture_output=True, text=True, timeout=30
    )
    return listed.stdout.split()


@pytest.mark.model
@pytest.mark.docker
def test_a_bench_cancelled_like_ci_leaves_nothing_behind_within_5s(tmp_path):
    """CI cancels a job with SIGTERM to its whole process group, mid-decode. Within 5 s: no model
    server (uvicorn's graceful drain would keep decoding for a minute), no scratch, no container."""
    import signal
    import time

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "bench"
    bench = subprocess.Popen(
        [
            *AGENTSMITH,
            "bench",
            str(SUITE),
            "--strategy",
            "frontier",
            "--tasks",
            "acronym",
            "--serve-frontier",
            "qwen2.5-coder-1.5b",
            "--out",
            str(out),
        ],
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    seen = []
    for line in bench.stderr:  # wait until the task is under way
        seen.append(line)
        if "running acronym" in line:
            break
    time.sleep(12)  # the server is decoding by now
    servers = _llama_servers_of(bench.pid)
    assert servers, "".join(seen)[-2000:]
    os.killpg(bench.pid, signal.SIGTERM)  # what a CI runner does on cancel
    cancelled = time.monotonic()
    rest = bench.stderr.read()
    assert bench.wait(timeout=30) == 143, rest[-2000:]
    while time.monotonic() - cancelled < 5 and (any(map(_alive, servers)) or _sandbox_containers()):
        time.sleep(0.2)
    assert not any(map(_alive, servers)), "the frontier server outlived the cancelled bench by 5 s"
    assert not _sandbox_containers(), "a sandbox container outlived the cancelled bench by 5 s"
    assert time.monotonic() - cancelled < 10, "cleanup took longer than a CI runner waits"
    assert "run the same command again to resume" in rest
    assert not list(scratch.iterdir()), f"scratch outlived the bench: {list(scratch.iterdir())}"
    data = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    assert "acronym" not in data.get("strategies", {}).get("frontier", {}).get("tasks", {})  # redone on resume


@pytest.mark.model
@pytest.mark.docker
def test_short_bench_runs_end_to_end_then_resumes_without_redoing_tasks(tmp_path):
    out = tmp_path / "bench"
    argv = ["bench", str(SUITE), "--strategy", "local", "--tasks", SHORT_BENCH_TASKS, "--out", str(out)]
    first = agentsmith(*argv, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    progress = [line for line in first.stderr.splitlines() if line.startswith("[bench local ")]
    assert [line.split("] ")[1].split(":")[0] for line in progress] == SHORT_BENCH_TASKS.split(",")
    assert all("success " in line and "$" in line for line in progress)

    data = json.loads((out / "results.json").read_text())
    section = data["strategies"]["local"]
    records = section["tasks"]
    assert sorted(records) == sorted(SHORT_BENCH_TASKS.split(","))
    for slug, rec in records.items():
        assert rec["status"] != "error", rec.get("traceback")
        assert rec["tiers_used"] == ["local"] and rec["escalations"] == 0 and rec["cost_usd"] == 0.0
        assert rec["attempts"] >= 1 and rec["seconds"] > 0
        assert rec["tokens_by_tier"]["local"]["completion"] > 0
        if rec["success"]:
            check = rec["verification"]
            assert rec["status"] == "committed" and check["tests_unchanged"] and check["tests_pass"]
            assert check["tests_passed"] >= 3 and check["backend"] == "docker"
            solution = out / "solutions" / "local" / slug
            assert any(p.suffix == ".py" for p in solution.iterdir())
    summary = section["summary"]
    assert summary["tasks"] == 2 and summary["successes"] == sum(r["success"] for r in records.values())
    assert summary["successes"] >= 1, {s: (r["status"], r["reason"]) for s, r in records.items()}
    assert summary["cost_usd"] == 0.0 and summary["seconds_p50"] <= summary["seconds_p95"]
    assert "qwen2.5-coder-0.5b" in json.dumps(section["setup"]["models"])
    table = (out / "results.md").read_text()
    assert f"| local | 2 | {summary['successes']}/2" in table and "| reverse-string |" in table
    assert (out / "plot.png").stat().st_size > 5000
    assert "local: " in first.stdout and "tasks succeeded" in first.stdout

    again = agentsmith(*argv, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming: 2 task(s) already recorded" in again.stderr
    assert "ran 0, skipped 2" in again.stdout
    assert json.loads((out / "results.json").read_text())["strategies"]["local"]["tasks"] == records


def test_a_frontier_only_task_that_degraded_to_local_is_flagged_refused_by_compare_and_run_again(tmp_path):
    """The frontier times out mid-bench and the policy lets a local tier stand in: that task's figures are
    a local model's, not frontier-only's (seen here when another job loaded the machine). The bench
    marks it, the table says so, `bench compare` refuses to gate on it, and a resumed bench runs it
    again instead of keeping it."""
    import yaml

    from agentsmith.config import POLICIES_DIR
    from tests import scripted_model
    from tests.frontier_standin import free_port

    solution = "reverse_string.py\n```python\ndef reverse(text):\n    return text[::-1]\n```\n"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"answer": solution}]))
    local_port, frontier_port = free_port(), free_port()
    servers = [
        scripted_model.start(local_port, script),
        scripted_model.start(frontier_port, script, delay=5.0),  # past the frontier's 1 s timeout
    ]
    try:
        policy = yaml.safe_load((POLICIES_DIR / "bench.yaml").read_text())
        rules = [str((POLICIES_DIR / rule).resolve()) for rule in policy["gates"]["semgrep"]["rules"]]
        policy["gates"]["semgrep"]["rules"] = rules
        policy["tiers"] = [
            {"name": "local", "kind": "openai", "model": "scripted-local", "external": False, "context": 8192}
            | {"base_url": f"http://127.0.0.1:{local_port}/v1"},
            {"name": "frontier", "kind": "openai", "model": "scripted-frontier", "external": True, "context": 8192}
            | {"base_url": f"http://127.0.0.1:{frontier_port}/v1", "timeout_s": 1, "price_in_per_mtok": 3.0},
        ]
        policy["routing"] |= {"frontier_unavailable": "degrade"}
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        out = tmp_path / "bench"
        argv = ["bench", str(SUITE), "--strategy", "frontier", "--tasks", "reverse-string", "--policy", str(path)]
        first = agentsmith(*argv, "--out", str(out), timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        record = json.loads((out / "results.json").read_text())["strategies"]["frontier"]["tasks"]["reverse-string"]
        assert record["degraded"] >= 1 and "local" in record["tiers_used"], record
        assert "DEGRADED: the external tier was unavailable" in first.stderr
        table = (out / "results.md").read_text()
        assert "**frontier: 1 task(s) ran degraded**" in table and "DEGRADED" in table

        gate = agentsmith("bench", "compare", f"{out}:frontier", f"{out}:frontier")
        assert gate.returncode == 1 and "has 1 degraded task(s)" in gate.stdout, gate.stdout + gate.stderr

        again = agentsmith(*argv, "--out", str(out), timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "[bench frontier] 1 task(s) to run" in again.stderr and "resuming" not in again.stderr
    finally:
        for server in servers:
            server.kill()
            server.wait()
