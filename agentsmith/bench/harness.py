"""Run a suite's tasks as real agent runs and judge each one independently.

A task succeeds only when the agent committed a change, the committed tests are byte-identical
to the suite's, and the suite's own tests pass in a fresh sandbox against the committed solution
(with any test configuration the agent added stripped: a conftest could skip every test).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentsmith import vcs
from agentsmith.bench.results import ResultsFile
from agentsmith.bench.suite import BenchTask, build_task_repo
from agentsmith.errors import UserError

TEST_COMMAND = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
STRATEGIES = ("local", "frontier", "cascade", "auto")
# Files that change how pytest collects or runs; the verifier drops any the agent added.
TEST_CONFIG = re.compile(
    r"(^|/)(conftest\.py|pytest\.ini|tox\.ini|setup\.cfg|pyproject\.toml|"
    r"sitecustomize\.py|usercustomize\.py|[^/]*\.pth)$"
)
PYTEST_PASSED = re.compile(r"\b(\d+) passed\b")
PYTEST_BAD = re.compile(r"\b\d+ (failed|errors?|skipped|xfailed|xpassed|deselected)\b")
OUTPUT_TAIL = 2_000


@dataclass
class Strategy:
    """How a strategy maps onto a run: the --tier flag and the policy file it runs under."""

    name: str
    tier: str
    policy_path: Path
    uses_frontier: bool


def strategy_for(name: str, policy_path: Path, work_dir: Path) -> Strategy:
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}", f"use --strategy {'|'.join(STRATEGIES)}")
    if name == "local":
        return Strategy(name, "local", policy_path, uses_frontier=False)
    if name == "frontier":
        return Strategy(name, "frontier", policy_path, uses_frontier=True)
    if name == "auto":
        return Strategy(name, "auto", policy_path, uses_frontier=True)
    # cascade: every step starts local and escalates only on failed tests.
    return Strategy(name, "auto", cascade_policy(policy_path, work_dir), uses_frontier=True)


def cascade_policy(policy_path: Path, work_dir: Path) -> Path:
    """The policy with routing.frontier_difficulty raised past any difficulty, so no step goes to
    the frontier first. Written beside the results; paths in it are made absolute so the copy
    finds the same rule files."""
    from agentsmith.policy import load_policy

    loaded = load_policy(policy_path)
    raw = yaml.safe_load(loaded.path.read_text(encoding="utf-8")) or {}
    raw.setdefault("routing", {})["frontier_difficulty"] = 99
    semgrep = raw.setdefault("gates", {}).setdefault("semgrep", {})
    semgrep["rules"] = [str(loaded.resolve(rule)) for rule in loaded.policy.gates.semgrep.rules]
    raw["name"] = f"{loaded.policy.name}-cascade"
    target = work_dir / "policies" / f"{loaded.path.stem}-cascade.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# Written by `agentsmith bench --strategy cascade` from {loaded.path}\n"
        + yaml.safe_dump(raw, sort_keys=False),
        encoding="utf-8",
    )
    load_policy(target)  # still a valid policy
    return target


# ------------------------------------------------------------------------------ one task


def verify_solution(
    task: BenchTask, repo: Path, commit: str, policy_path: Path, run_id: str, artifacts: Path | None
) -> dict[str, Any]:
    """Re-run the suite's unchanged tests against the committed solution in a fresh sandbox."""
    from agentsmith.policy import load_policy
    from agentsmith.sandbox import open_sandbox

    changed_tests = [
        name for name in task.test_files if vcs.file_at(repo, commit, name) != (task.source / name).read_bytes()
    ]
    with tempfile.TemporaryDirectory(prefix=f"bench-verify-{task.slug}-") as tmp:
        checkout = Path(tmp) / "workspace"
        checkout.mkdir()
        archive = vcs.archive(repo, commit)
        subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True, capture_output=True)
        dropped = _reset_test_config(checkout, task.source)
        for name in task.test_files:
            shutil.copyfile(task.source / name, checkout / name)
        if artifacts is not None:
            artifacts.mkdir(parents=True, exist_ok=True)
            for name in task.solution_files:
                if (checkout / name).is_file():
                    shutil.copyfile(checkout / name, artifacts / Path(name).name)
        sandbox_policy = load_policy(policy_path).policy.sandbox
        sandbox = open_sandbox(
            sandbox_policy, run_id=f"{run_id}-verify", worktree=checkout, image=_task_image(task, sandbox_policy)
        )
        try:
            result = sandbox.exec(task_test_command(task), timeout=sandbox_policy.timeout_s)
        finally:
            sandbox.close()
    output = result.output
    passed_count = int(m.group(1)) if (m := PYTEST_PASSED.search(output)) else 0
    tests_pass = result.exit_code == 0 and result.limit is None and passed_count > 0 and not PYTEST_BAD.search(output)
    return {
        "tests_unchanged": not changed_tests,
        "changed_tests": changed_tests,
        "dropped_config": dropped,
        "tests_pass": tests_pass,
        "tests_passed": passed_count,
        "exit_code": result.exit_code,
        "limit": result.limit,
        "backend": result.backend,
        "seconds": round(result.seconds, 2),
        "output_tail": output[-OUTPUT_TAIL:],
    }


def _task_image(task: BenchTask, policy) -> str | None:
    """The image the run's own tests used: a real library's dependency layer, built from the task's
    released files (the agent's edits do not choose what is installed)."""
    from agentsmith.sandbox import prepare_dependencies

    try:
        return prepare_dependencies(policy, task.source, log=io.StringIO())
    except UserError:
        return None  # the run met the same error; its tests failed the same way


def task_test_command(task: BenchTask) -> list[str]:
    return list(task.test_command) or TEST_COMMAND


def _reset_test_config(checkout: Path, source: Path) -> list[str]:
    """Test configuration as the task shipped it: files the agent added are dropped, files it
    changed are restored (a real library's setup.cfg or conftest.py stays as released)."""
    dropped = []
    for path in sorted(checkout.rglob("*")):
        name = path.relative_to(checkout).as_posix()
        if not path.is_file() or not TEST_CONFIG.search(name):
            continue
        original = source / name
        if not original.is_file():
            path.unlink()
            dropped.append(name)
        elif original.read_bytes() != path.read_bytes():
            shutil.copyfile(original, path)
            dropped.append(name)
    return dropped


def localisation(task: BenchTask, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Did the plan choose the task's file (and, for a real-repo task, its function)?"""
    files = [f for step in steps for f in step.get("files", [])]
    symbols = [s.get("qualname") for step in steps for s in step.get("symbols", [])]
    top = (steps[0].get("candidates") or [{}])[0] if steps else {}
    return {
        "file_hit": set(task.solution_files) <= set(files),
        # a class chosen holds its methods: the step's edit reaches the function
        "function_hit": any(q == task.function or task.function.startswith(f"{q}.") for q in symbols if q)
        if task.function
        else None,
        "chosen_files": files,
        "chosen_symbols": symbols,
        "top_candidate": {k: top.get(k) for k in ("path", "qualname", "score")} if top else None,
    }


def plan_for(task: BenchTask, repo: Path) -> dict[str, Any]:
    """The plan the run will make (deterministic), scored against the task's known answer."""
    from agentsmith.graph.planning import plan_steps

    started = time.monotonic()
    try:
        steps = plan_steps(task.task_text(), repo, read_only=list(task.test_files))
    except Exception as err:  # a planner crash is a localisation miss to report, not a bench stop
        return {"file_hit": False, "function_hit": False if task.function else None, "error": repr(err)}
    return localisation(task, steps) | {"seconds": round(time.monotonic() - started, 2)}


def run_task(task: BenchTask, strategy: Strategy, *, work_root: Path, artifacts_root: Path | None) -> dict[str, Any]:
    """One task as a real agent run in a fresh repo; the record the results file keeps."""
    from agentsmith.graph.runner import start_run
    from agentsmith.graph.totals import run_totals

    repo = build_task_repo(task, Path(tempfile.mkdtemp(prefix=f"{task.slug}-", dir=work_root)) / "repo")
    record: dict[str, Any] = {
        "slug": task.slug,
        "difficulty": task.difficulty,
        "strategy": strategy.name,
        "localisation": plan_for(task, repo),
    }
    started = time.monotonic()
    try:
        result = start_run(
            task.task_text(),
            repo=str(repo),
            policy_path=str(strategy.policy_path),
            tier=strategy.tier,
            mode="ci",
            listener=None,
            read_only=list(task.test_files),
            test_command=task_test_command(task),
        )
    except UserError:
        shutil.rmtree(repo.parent, ignore_errors=True)
        raise  # a set-up problem (Docker, model, policy) stops the bench instead of failing every task
    except Exception as err:  # the agent crashed on this task: record it, keep benching
        shutil.rmtree(repo.parent, ignore_errors=True)
        return record | {
            "success": False,
            "status": "error",
            "reason": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(limit=-6),
            "seconds": round(time.monotonic() - started, 2),
            "attempts": 0,
            "escalations": 0,
            "cost_usd": 0.0,
            "compute_usd": 0.0,
            "all_in_usd": 0.0,
            "tokens_by_tier": {},
            "incidents": [],
            "finished_at": time.time(),
        }
    seconds = time.monotonic() - started
    totals = run_totals(result)  # its calls and routes (the run's wall time is `seconds`, set-up included)
    record |= {
        "status": result.get("status"),
        "reason": result.get("reason", ""),
        "run_id": result.get("run_id"),
        "seconds": round(seconds, 2),
        "attempts": result.get("attempts", 0),
        "escalations": totals.escalations,
        # Steps the policy sent to a local tier because the wanted external one was unavailable: such a
        # task's figures are not its strategy's (a frontier-only task answered by the local model).
        "degraded": sum(1 for r in result.get("routes") or [] if r.get("degraded")),
        "tiers_used": result.get("tiers_used", []),
        "first_tier": next((r.get("tier") for r in result.get("routes") or [] if r.get("tier")), None),
        "tokens_by_tier": {tier: asdict(t) for tier, t in totals.by_tier.items()},
        "cost_usd": totals.cost_usd,  # API spend
        "compute_usd": totals.compute_usd,  # the tiers' wall time at their price_per_hour
        "all_in_usd": totals.all_in_usd,
        "blocking_findings": result.get("blocking", 0),
        "incidents": result.get("incidents") or [],
        "route_reasons": [r.get("reason", "") for r in result.get("routes") or []],
    }
    verification: dict[str, Any] | None = None
    try:
        if result.get("status") == "committed" and result.get("commit"):
            artifacts = artifacts_root / strategy.name / task.slug if artifacts_root else None
            verification = verify_solution(
                task, repo, result["commit"], strategy.policy_path, str(result.get("run_id")), artifacts
            )
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    record["verification"] = verification
    record["success"] = bool(verification and verification["tests_unchanged"] and verification["tests_pass"])
    if verification and not verification["tests_unchanged"]:
        record["incidents"] = record["incidents"] + [
            {
                "kind": "tool-misuse",
                "node": "bench",
                "detail": f"the committed change altered read-only test file(s) {verification['changed_tests']}",
            }
        ]
    record["finished_at"] = time.time()
    return record


# ------------------------------------------------------------------------------ the bench


@dataclass
class BenchOutcome:
    ran: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)


def progress_line(strategy: str, done: int, total: int, record: dict[str, Any], summary: dict[str, Any]) -> str:
    verdict = "pass" if record["success"] else (record.get("status") or "fail")
    escalated = f", {record['escalations']} escalation(s)" if record.get("escalations") else ""
    if record.get("degraded"):
        escalated += ", DEGRADED: the external tier was unavailable and a local tier stood in"
    return (
        f"[bench {strategy} {done}/{total}] {record['slug']}: {verdict} ({record.get('attempts', 0)} attempt(s)"
        f"{escalated}, ${record.get('cost_usd', 0.0):.4f}{_all_in_note(record)}, {record.get('seconds', 0.0):.1f}s); "
        f"success {summary['successes']}/{summary['tasks']} ({summary['success_rate']:.0%})"
    )


def _all_in_note(record: dict[str, Any]) -> str:
    compute = record.get("compute_usd") or 0.0
    return f" API, ${record.get('cost_usd', 0.0) + compute:.4f} all-in" if compute else ""


def run_bench(
    tasks: list[BenchTask],
    strategy: Strategy,
    *,
    out_dir: Path,
    suite: str,
    setup: dict[str, Any],
    jobs: int = 1,
    keep_artifacts: bool = True,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> BenchOutcome:
    """Run every task not already recorded for this strategy; record and render after each."""
    results = ResultsFile(out_dir)
    done_before = results.begin(suite, strategy.name, setup)
    outcome = BenchOutcome()
    pending = []
    for task in tasks:
        earlier = done_before.get(task.slug)
        if earlier is not None and earlier.get("status") != "error" and not earlier.get("degraded"):
            outcome.skipped.append(task.slug)  # (an error or a degraded task is run again)
        else:
            pending.append(task)
    if outcome.skipped:
        say(
            f"[bench {strategy.name}] resuming: {len(outcome.skipped)} task(s) already recorded in "
            f"{results.path} are skipped ({', '.join(outcome.skipped[:8])}{', ...' if len(outcome.skipped) > 8 else ''})"
        )
    say(f"[bench {strategy.name}] {len(pending)} task(s) to run, {jobs} at a time")
    work_root = Path(tempfile.mkdtemp(prefix="agentsmith-bench-"))
    artifacts_root = out_dir / "solutions" if keep_artifacts else None
    total, counter, lock = len(tasks), [len(outcome.skipped)], threading.Lock()

    def finish(record: dict[str, Any]) -> None:
        summary = results.record(strategy.name, record)
        with lock:
            counter[0] += 1
            outcome.ran.append(record)
            say(progress_line(strategy.name, counter[0], total, record, summary))
        (out_dir / "results.md").write_text(_markdown(results), encoding="utf-8")

    def run_one(task: BenchTask) -> dict[str, Any]:
        say(f"[bench {strategy.name}] running {task.slug} (difficulty {task.difficulty})")
        return run_task(task, strategy, work_root=work_root, artifacts_root=artifacts_root)

    try:
        if jobs <= 1:
            for task in pending:
                finish(run_one(task))
        else:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bench") as pool:
                futures = [pool.submit(run_one, task) for task in pending]
                try:
                    for future in as_completed(futures):
                        finish(future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
        outcome.outputs = results.render()
        outcome.summary = results.data["strategies"][strategy.name]["summary"]
    return outcome


def _markdown(results: ResultsFile) -> str:
    from agentsmith.bench.results import render_markdown

    return render_markdown(results.data)


def describe_setup(strategy: Strategy, command: str) -> dict[str, Any]:
    """What produced these numbers: the command, the policy, the models and their prices."""
    from agentsmith.policy import load_policy

    policy = load_policy(strategy.policy_path).policy
    models = {}
    for tier in policy.tiers:
        model = tier.model
        if tier.kind == "openai" and not model:
            model = os.environ.get("AGENTSMITH_FRONTIER_MODEL", "")
        if tier.kind == "gguf" and tier is next(t for t in policy.tiers if t.kind == "gguf" and not t.external):
            model = os.environ.get("AGENTSMITH_LOCAL_MODEL") or model
        models[tier.name] = {
            "model": model,
            "price_in_per_mtok": tier.price_in_per_mtok,
            "price_out_per_mtok": tier.price_out_per_mtok,
            "price_per_hour": tier.price_per_hour,
            "external": tier.external,
        }
    return {
        "command": command,
        "policy": str(strategy.policy_path),
        "tier": strategy.tier,
        "models": models,
        "routing": policy.routing.model_dump(),
        "seed": os.environ.get("AGENTSMITH_SEED") or None,  # sampling seed: None means random draws
        "agentsmith_revision": _revision(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _revision() -> str | None:
    """The checkout's commit when agentsmith runs from one, else the installed version."""
    from importlib.metadata import PackageNotFoundError, version

    from agentsmith.config import DATA_DIR

    try:
        return vcs.short_revision(DATA_DIR.parent.parent) or None
    except Exception:  # not a checkout (an installed wheel), or no git
        try:
            return version("agentsmith")
        except PackageNotFoundError:
            return None
