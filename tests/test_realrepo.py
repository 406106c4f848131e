"""The real-repository bench suite: definitions, building from PyPI sdists, loading, task repos,
localisation scores and the results table. No model and no sandbox: the tests the tasks select
run here with this machine's pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentsmith.bench.harness import plan_for
from agentsmith.bench.realrepo import build_suite, load_definitions
from agentsmith.bench.results import render_markdown, summarise
from agentsmith.bench.suite import build_task_repo, load_suite
from agentsmith.errors import UserError
from tests.conftest import REAL_HOME, git

PROJECT = Path(__file__).resolve().parent.parent
TASKS = PROJECT / "benchmarks" / "realrepo" / "tasks.json"
SDISTS = REAL_HOME / "bench" / "sdists"  # shared across sessions: PyPI is asked once


def test_the_shipped_definitions_pin_enough_tasks_and_never_name_the_file():
    definitions = load_definitions(TASKS)
    tasks = definitions["tasks"]
    assert len(tasks) >= 10 and len({t["library"] for t in tasks}) >= 4
    assert len({t["slug"] for t in tasks}) == len(tasks)
    for task in tasks:
        library = definitions["libraries"][task["library"]]
        assert len(library["sha256"]) == 64 and library["version"]
        assert Path(task["file"]).name not in task["task"] and task["file"] not in task["task"], task["slug"]
        assert task["function"] in task["task"] and task["tests"]


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory) -> Path:
    """Two of the shipped tasks (two libraries), built from the real sdists."""
    definitions = json.loads(TASKS.read_text())
    chosen = {"humanize-ordinal", "inflection-underscore"}
    definitions["tasks"] = [t for t in definitions["tasks"] if t["slug"] in chosen]
    root = tmp_path_factory.mktemp("realrepo")
    (root / "tasks.json").write_text(json.dumps(definitions))
    return build_suite(root / "tasks.json", root / "suite", cache=SDISTS)


def test_a_built_suite_loads_and_each_task_repo_is_the_library_with_one_body_removed(small_suite, tmp_path):
    tasks = {t.slug: t for t in load_suite(small_suite)}
    assert sorted(tasks) == ["humanize-ordinal", "inflection-underscore"]
    task = tasks["humanize-ordinal"]
    assert task.kind == "repo" and task.function == "ordinal"
    assert task.solution_files == ("src/humanize/number.py",)
    assert "tests/test_number.py" in task.test_files and task.tests == ("tests/test_number.py::test_ordinal",)
    assert "number.py" not in task.task_text() and "ordinal" in task.task_text()

    repo = build_task_repo(task, tmp_path / "repo")
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert {"src/humanize/number.py", "src/humanize/_version.py", "tests/test_number.py", "pyproject.toml"} <= set(
        tracked
    )
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout == ""
    source = (repo / "src/humanize/number.py").read_text()
    start = source.index("def ordinal(")
    body = source[start : source.index("def intcomma(")]
    assert '"""Converts an integer to its ordinal as a string.' in body and "raise NotImplementedError" in body
    assert "special case" not in body and "def intcomma(" in source  # only that body went

    # The selected tests fail on the stub, in the task's own command (here, outside the sandbox).
    command = [sys.executable if part == "python3" else part for part in task.test_command]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    assert done.returncode == 1 and "NotImplementedError" in done.stdout

    found = plan_for(task, repo)
    assert found["file_hit"] and found["function_hit"], found
    assert found["chosen_symbols"] == ["ordinal"] and found["top_candidate"]["qualname"] == "ordinal"


def test_localisation_rates_reach_the_summary_and_the_table():
    def record(slug: str, success: bool, file_hit: bool, function_hit: bool | None) -> dict:
        return {
            "slug": slug,
            "success": success,
            "status": "committed",
            "cost_usd": 0.0,
            "seconds": 10.0,
            "attempts": 1,
            "escalations": 0,
            "incidents": [],
            "tokens_by_tier": {},
            "localisation": {"file_hit": file_hit, "function_hit": function_hit},
        }

    records = [
        record("a", True, True, True),
        record("b", False, True, False),
        record("c", False, False, False),
        record("d", True, True, None),
    ]
    summary = summarise(records)
    assert summary["localised_file_rate"] == 0.75 and summary["localised_function_rate"] == pytest.approx(
        1 / 3, abs=1e-4
    )
    data = {
        "suite": "tasks.json",
        "strategies": {"local": {"summary": summary, "setup": {}, "tasks": {r["slug"]: r for r in records}}},
    }
    table = render_markdown(data)
    assert "| right file | right function |" in table and "| 75% | 33% |" in table
    assert "located file+function" in table and "located nothing" in table


def test_a_bad_definitions_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "tasks.json"
    bad.write_text(json.dumps({"libraries": {}, "tasks": [{"slug": "x", "library": "nope"}]}))
    with pytest.raises(UserError, match="malformed"):
        load_suite(bad)


@pytest.mark.docker
def test_the_sandbox_verifier_fails_the_stub_and_passes_the_released_function(small_suite, tmp_path):
    import shutil

    from agentsmith.bench.harness import verify_solution
    from agentsmith.bench.realrepo import extract_sdist, fetch_sdist
    from agentsmith.config import POLICIES_DIR

    task = next(t for t in load_suite(small_suite) if t.slug == "humanize-ordinal")
    repo = build_task_repo(task, tmp_path / "repo")
    policy = POLICIES_DIR / "bench.yaml"
    stub = verify_solution(task, repo, git(repo, "rev-parse", "HEAD").strip(), policy, "rr-stub", None)
    assert not stub["tests_pass"] and stub["tests_unchanged"] and stub["dropped_config"] == []

    released = extract_sdist(
        fetch_sdist("humanize", "4.11.0", json.loads(TASKS.read_text())["libraries"]["humanize"]["sha256"], SDISTS),
        tmp_path / "released",
    )
    shutil.copyfile(released / "src/humanize/number.py", repo / "src/humanize/number.py")
    (repo / "conftest.py").write_text("import pytest\n")  # the agent may not add test config
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "the released function")
    solved = verify_solution(task, repo, git(repo, "rev-parse", "HEAD").strip(), policy, "rr-solved", None)
    assert solved["tests_pass"] and solved["tests_passed"] >= 15, solved["output_tail"]
    assert solved["dropped_config"] == ["conftest.py"] and solved["backend"] == "docker"


@pytest.mark.model
@pytest.mark.docker
def test_a_short_bench_on_a_real_library_localises_fits_the_context_and_keeps_unnamed_code(
    small_suite, tmp_path, agentsmith_home
):
    """The real-repository loop end to end with the real 1.5B model: the task does not name the file,
    the plan must find it, every prompt must fit the tier's context, and nothing the step did not name
    may be deleted. Solving it is measured by the bench, not asserted here (a 1.5B model may fail)."""
    import sqlite3

    out = tmp_path / "bench"
    policy = PROJECT / "policies" / "default.yaml"
    argv = [sys.executable, "-m", "agentsmith", "bench", str(small_suite), "--strategy", "local"]
    argv += ["--policy", str(policy), "--tasks", "inflection-underscore", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1500, cwd=PROJECT)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())["strategies"]["local"]["tasks"]["inflection-underscore"]
    assert record["status"] in ("committed", "failed"), record
    assert record["localisation"]["file_hit"] and record["localisation"]["function_hit"], record["localisation"]
    with sqlite3.connect(agentsmith_home / "audit.sqlite") as db:
        events = [(kind, json.loads(data)) for kind, data in db.execute("SELECT kind, data FROM events ORDER BY seq")]
    prompts = [data for kind, data in events if kind == "prompt"]
    assert prompts and all(p["tokens"] <= p["budget"] for p in prompts), prompts
    assert not [d for k, d in events if k == "model-error" and d.get("overflow")]
    if record["status"] == "committed":
        solution = out / "solutions" / "local" / "inflection-underscore"
        source = next(solution.rglob("__init__.py")).read_text()
        for kept in ("def camelize", "def dasherize", "def pluralize", "def singularize", "def titleize"):
            assert kept in source, f"{kept} was deleted by a step that did not name it"


def test_an_sdist_is_fetched_as_a_file_picked_by_its_pinned_hash_and_a_wrong_pin_is_refused(tmp_path):
    """From the real index into an empty cache: no build backend runs (pip download prepared metadata by
    building hatch-vcs from source, 10 minutes on a fresh machine), and nothing is kept unless its
    sha256 is the pinned one."""
    from agentsmith.bench.realrepo import fetch_sdist

    pinned = load_definitions(TASKS)["libraries"]["inflection"]
    cache = tmp_path / "sdists"
    got = fetch_sdist("inflection", pinned["version"], pinned["sha256"], cache)
    assert got.parent == cache and got.name == f"inflection-{pinned['version']}.tar.gz"
    assert [p.name for p in cache.iterdir()] == [got.name]  # no partial file left beside it

    elsewhere = tmp_path / "other"
    with pytest.raises(UserError, match=r"no sdist of inflection==0\.5\.1 with the pinned sha256"):
        fetch_sdist("inflection", pinned["version"], "0" * 64, elsewhere)
    assert list(elsewhere.iterdir()) == []
