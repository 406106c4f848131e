"""Build the real-repository bench suite from its definitions (tasks.json beside this file).

Downloads each library's sdist from PyPI into a cache (checked against the pinned sha256), removes
the chosen function bodies and writes one task folder per task. With --check it also runs each
task's tests on the library as released (they must pass) and with the body removed (they must
fail), on this machine's Python, outside the sandbox; with --sandbox as well, in the sandbox with each
library's dependency layer, as the bench verifies (for libraries whose tests need pytest-cov,
hypothesis, pretend, ...).

    .venv/bin/python benchmarks/realrepo/build_suite.py [--tasks FILE] [--out DIR] [--cache DIR] [--check [--sandbox]]
    agentsmith bench DIR --strategy local --out results/realrepo     # DIR: the built suite
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from agentsmith.bench.realrepo import build_suite, default_cache, extract_sdist, fetch_sdist, load_definitions

HERE = Path(__file__).resolve().parent


def _runner(in_sandbox: bool):
    """How a task's tests are run for the check: on this machine's Python, or (`--sandbox`) as the bench
    verifies them, in the sandbox with the library's dependency layer (its test requirements installed)."""
    if not in_sandbox:
        return lambda command, tree: subprocess.run(
            [sys.executable if part == "python3" else part for part in command],
            cwd=tree,
            capture_output=True,
            text=True,
        )
    from agentsmith.config import POLICIES_DIR
    from agentsmith.policy import load_policy
    from agentsmith.sandbox import open_sandbox, prepare_dependencies

    policy = load_policy(POLICIES_DIR / "default.yaml").policy.sandbox

    def run(command, tree):
        image = prepare_dependencies(policy, tree, log=sys.stderr)
        with open_sandbox(policy, run_id=f"suite-check-{tree.parent.name}", worktree=tree, image=image) as sandbox:
            sandbox.sync_in(tree)
            result = sandbox.exec(command, timeout=policy.timeout_s)
        return subprocess.CompletedProcess(command, result.exit_code, result.output, "")

    return run


def check(tasks_file: Path, out: Path, cache: Path, in_sandbox: bool = False) -> int:
    """Run each task's selection on the original and on the stubbed tree; returns the failures."""
    definitions = load_definitions(tasks_file)
    run = _runner(in_sandbox)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="realrepo-check-") as tmp:
        for task in definitions["tasks"]:
            library = definitions["libraries"][task["library"]]
            meta = json.loads((out / task["slug"] / "task.json").read_text(encoding="utf-8"))
            command = meta["test_command"]
            original = extract_sdist(
                fetch_sdist(task["library"], library["version"], library["sha256"], cache), Path(tmp) / task["slug"]
            )
            before = run(command, original)
            after = run(command, out / task["slug"] / "repo")
            ok = before.returncode == 0 and after.returncode != 0
            failures += not ok
            print(
                f"{task['slug']}: released {'pass' if before.returncode == 0 else 'FAIL'}, "
                f"stubbed {'fail' if after.returncode else 'PASS'} -> {'ok' if ok else 'BROKEN'}"
            )
            if not ok:
                print((before.stdout + after.stdout)[-1500:])
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=str(HERE / "tasks.json"))
    parser.add_argument(
        "--out",
        default=None,
        help="suite folder (default: the one `agentsmith bench tasks.json` uses, under AGENTSMITH_HOME)",
    )
    parser.add_argument("--cache", default=None, help=f"sdist cache (default {default_cache()})")
    parser.add_argument("--check", action="store_true", help="verify each task's tests pass before and fail after")
    parser.add_argument(
        "--sandbox", action="store_true", help="check in the sandbox with each library's dependency layer"
    )
    args = parser.parse_args()
    from agentsmith.bench.realrepo import built_suite_dir

    tasks_file = Path(args.tasks).resolve()
    out = Path(args.out).resolve() if args.out else built_suite_dir(tasks_file)
    cache = Path(args.cache).resolve() if args.cache else default_cache()
    build_suite(tasks_file, out, cache=cache, say=print)
    print(f"suite: {out}")
    return check(tasks_file, out, cache, args.sandbox) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
