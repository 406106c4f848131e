"""Localisation alone, no model: plan each real-repo task and say whether the plan chose the
right file and function. The same check every bench record carries, in seconds for the suite.

    .venv/bin/python benchmarks/realrepo/localise.py [SUITE]    # SUITE: a built folder or tasks.json
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from agentsmith.bench.harness import plan_for
from agentsmith.bench.suite import build_task_repo, load_suite

HERE = Path(__file__).resolve().parent


def main() -> int:
    suite = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "tasks.json")
    tasks = load_suite(suite)
    files = functions = 0
    with tempfile.TemporaryDirectory(prefix="localise-") as tmp:
        for task in tasks:
            found = plan_for(task, build_task_repo(task, Path(tmp) / task.slug))
            files += bool(found["file_hit"])
            functions += bool(found["function_hit"])
            top = found.get("top_candidate") or {}
            print(
                f"{task.slug}: file {'hit' if found['file_hit'] else 'MISS'}, function "
                f"{'hit' if found['function_hit'] else 'MISS'} (chose {found.get('chosen_symbols')}, "
                f"top {top.get('path')}:{top.get('qualname')} {top.get('score')}, {found.get('seconds')} s)"
            )
    print(f"localisation: file {files}/{len(tasks)}, function {functions}/{len(tasks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
