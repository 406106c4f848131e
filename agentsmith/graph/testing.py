"""The verifier: the repository's own tests, in the sandbox, judged against the base revision.

The tests related to the step run first (fast, and their failure is the most useful feedback); then
the whole suite. A test that already failed on the base revision (run once, only when the suite has
failures) does not count against the change; the step's own tests always do.
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from agentsmith import vcs
from agentsmith.errors import UserError
from agentsmith.graph.excerpts import failed_tests, test_functions, trim_failure_log
from agentsmith.records import VerifyOutcome
from agentsmith.sandbox import project

TAIL = 4_000


def related_tests(root: Path, step: dict[str, Any], all_tests: list[str]) -> list[str]:
    """pytest selections for the step, which must pass whatever the base revision did: its `tests` (names
    or node ids), else test functions naming its symbols, else its test context files, else the test
    files importing a module it changes. Without them a change that fixes nothing would pass as long
    as it broke nothing new."""
    wanted = [str(t) for t in step.get("tests") or []]
    if wanted:
        ids = [t for t in wanted if "::" in t and (root / t.split("::")[0]).is_file()]
        named = [t for t in wanted if "::" not in t]
        if named:
            ids += [p["node_id"] for p in test_functions(root, all_tests, wanted=named, symbols=[])]
        if ids:
            return list(dict.fromkeys(ids))
    names = [s.get("name") or s.get("qualname", "") for s in step.get("symbols") or []]
    if names:
        ids = [p["node_id"] for p in test_functions(root, all_tests, wanted=[], symbols=names)]
        if ids:
            return ids
    context = [c for c in step.get("context", []) if c in all_tests or project.is_test_file(root, c)]
    if context:
        return context
    stems = {Path(f).stem for f in step.get("files", []) if f.endswith(".py")} - {"__init__"}
    importing = re.compile(r"^\s*(?:from|import)\b[^\n]*\b(" + "|".join(map(re.escape, stems)) + r")\b", re.M)
    return [
        t for t in all_tests if stems and importing.search((root / t).read_text(encoding="utf-8", errors="replace"))
    ]


def _sandbox(state: dict[str, Any], ctx, worktree: Path, notes: list[str]):
    from agentsmith.sandbox import prepare_dependencies

    if ctx.sandbox is None:
        policy = ctx.policy.policy.sandbox
        image = None
        # Also under a given test command (a bench's real-library task): its library may need its test
        # dependencies as much as any repo. (A repo that declares none costs nothing here.)
        try:
            image = prepare_dependencies(policy, worktree)
        except UserError as err:
            # Tests still run (and fail on the missing import, visibly); the reason goes in the log.
            notes.append(f"the repo's dependencies could not be installed: {err}")
            ctx.record(state["run_id"], "deps-error", {"error": str(err)})
        if image:
            ctx.record(state["run_id"], "deps", {"image": image})
        ctx.sandbox = ctx.open_sandbox(policy, run_id=state["run_id"], worktree=worktree, image=image)
    return ctx.sandbox


def _outcome(result, passed: bool, error: str | None, log: str) -> VerifyOutcome:
    return VerifyOutcome(
        passed=passed,
        exit_code=result.exit_code,
        log=log[-TAIL:],
        error=error,
        seconds=round(result.seconds, 3),
        limit=result.limit,
        backend=result.backend,
    )


def _judge(result) -> tuple[bool, str | None]:
    passed = result.exit_code == 0 and result.limit is None
    if result.exit_code == 5 and "no tests ran" in result.output:
        passed = True  # a repo without tests: nothing failed (the gate still runs)
    if passed:
        return True, None
    return False, f"sandbox limit: {result.limit}" if result.limit else f"tests exited {result.exit_code}"


def run_tests(state: dict[str, Any], ctx) -> VerifyOutcome:
    """The verify outcome; may carry `baseline` (failures on the base revision) for the state."""
    worktree = Path(state["worktree"])
    notes: list[str] = []
    sandbox = _sandbox(state, ctx, worktree, notes)
    timeout = ctx.policy.policy.sandbox.timeout_s
    sandbox.sync_in(worktree)
    if state.get("test_command"):  # the caller said how to test (a bench suite): exactly that
        result = sandbox.exec(state["test_command"], timeout=timeout)
        passed, error = _judge(result)
        return _outcome(result, passed, error, trim_failure_log(result.output, TAIL) if not passed else result.output)

    setup = project.discover(worktree)
    all_tests = project.test_files(worktree, setup)
    # The earlier steps' tests as well: they fail on the base revision, so the suite's baseline would not
    # count a later step that undid an earlier step's work.
    done_and_current = state["steps"][: state.get("step_index", 0) + 1]
    related = list(dict.fromkeys(t for step in done_and_current for t in related_tests(worktree, step, all_tests)))
    prefix = "\n".join(notes) + "\n" if notes else ""
    seconds = 0.0
    if related:
        result = sandbox.exec(setup.command(related), timeout=timeout)
        seconds += result.seconds
        passed, error = _judge(result)
        ctx.record(
            state["run_id"],
            "tests",
            {"scope": "related", "selection": related[:20], "passed": passed, "seconds": round(result.seconds, 2)},
        )
        if result.exit_code == 4:
            # pytest could not select them (a planned test id that does not exist): the suite decides.
            prefix += f"(the step's tests could not be selected: {result.output.strip()[-300:]})\n"
        elif not passed:
            return _outcome(result, False, error, prefix + trim_failure_log(result.output, TAIL))
        elif set(related) >= set(all_tests) or state.get("step_index", 0) + 1 < len(state["steps"]):
            # (a step before the last: later steps' stubs still fail the suite; it runs after the last)
            return _outcome(result, True, None, result.output)
    result = sandbox.exec(setup.command(), timeout=timeout)
    seconds += result.seconds
    passed, error = _judge(result)
    log = result.output if passed else trim_failure_log(result.output, TAIL)
    outcome = _outcome(result, passed, error, prefix + log)
    outcome.seconds = round(seconds, 3)
    failures = failed_tests(result.output)
    if passed or result.limit or not failures:
        ctx.record(state["run_id"], "tests", {"scope": "suite", "passed": passed, "seconds": round(result.seconds, 2)})
        return outcome
    baseline = state.get("baseline")
    if baseline is None:
        baseline = base_failures(state, ctx, sandbox, setup.command(), timeout)
        sandbox.sync_in(worktree)
        outcome.baseline = baseline
    # The step's own tests must pass whatever the base did: its stub failed them there too. (Reached when
    # pytest could not select them by id above: a mixin's test runs under the class using it. cachetools'
    # typedkey was committed unimplemented, its failing tests taken for pre-existing ones.)
    new = [f for f in failures if f not in set(baseline) or _is_related(f, related)]
    ctx.record(
        state["run_id"],
        "tests",
        {
            "scope": "suite",
            "failed": len(failures),
            "new": new[:20],
            "pre_existing": len(failures) - len(new),
            "seconds": round(result.seconds, 2),
        },
    )
    if not new:
        outcome.passed, outcome.error = True, None
        outcome.log = (
            f"{len(failures)} test(s) failing here also fail on the base revision (not counted):\n"
            + "\n".join(failures[:20])
        )
    else:
        head = (
            prefix
            + f"The change breaks {len(new)} test(s) that pass on the base revision: "
            + ", ".join(new[:10])
            + "\n"
        )[: TAIL // 2]
        outcome.log = head + trim_failure_log(result.output, TAIL - len(head))
    return outcome


def _is_related(failure: str, related: list[str]) -> bool:
    """Whether a failing node id is one of the step's tests: the same file and test name (the class may
    differ), or any test of a file the step selected whole."""

    def file_and_name(node_id: str) -> tuple[str, str]:
        path, _, rest = node_id.partition("::")
        return path, rest.rsplit("::", 1)[-1].split("[", 1)[0]  # (class and parameters dropped)

    path, name = file_and_name(failure)
    return any(
        selected_path == path and selected_name in ("", name)
        for selected_path, selected_name in map(file_and_name, related)
    )


def base_failures(state: dict[str, Any], ctx, sandbox, command: list[str], timeout: float) -> list[str]:
    """Failures of the whole suite on the base revision: the files as committed, in the same sandbox."""
    with tempfile.TemporaryDirectory(prefix="agentsmith-base-") as folder:
        archive = vcs.archive(Path(state["worktree"]), state["base_rev"])
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        sandbox.sync_in(Path(folder))
        result = sandbox.exec(command, timeout=timeout)
    failures = failed_tests(result.output)
    ctx.record(
        state["run_id"],
        "baseline",
        {"failed": len(failures), "tests": failures[:50], "seconds": round(result.seconds, 2)},
    )
    return failures
