"""Draw a real-repo task file from libraries nobody here chose functions in: the same draw as
`localise_wide.py` (public functions with a docstring and a body, named in the library's tests), the
task text from the docstring's first sentence, the tests that must pass the library's own test
functions that mention the function. Writes a tasks file in `tasks.json`'s format, for
`build_suite.py --check` (keep only tasks whose tests pass as released and fail stubbed) and
`agentsmith bench`.

    .venv/bin/python benchmarks/realrepo/draw_suite.py cachetools==5.5.0 ... --per-library 2 --out FILE.json
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from localise_wide import draw, task_text  # noqa: E402
from probe_setups import download  # noqa: E402


def test_ids(tree: Path, tests: list[str], name: str) -> list[str]:
    """The test functions (node ids) whose source names `name`."""
    word = re.compile(rf"\b{re.escape(name)}\b")
    ids = []
    for relative in tests:
        source = (tree / relative).read_text(encoding="utf-8", errors="replace")
        try:
            module = ast.parse(source)
        except SyntaxError:
            continue
        for node in module.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                if word.search(ast.get_source_segment(source, node) or ""):
                    ids.append(f"{relative}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                for item in node.body:
                    named = word.search(ast.get_source_segment(source, item) or "")
                    if (
                        isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and item.name.startswith("test")
                        and named
                    ):
                        ids.append(f"{relative}::{node.name}::{item.name}")
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs="+")
    parser.add_argument("--per-library", type=int, default=2)
    parser.add_argument("--max-tests", type=int, default=12, help="skip functions named by more test functions")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "agentsmith-probe-sdists")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    libraries, tasks = {}, []
    with tempfile.TemporaryDirectory(prefix="draw-suite-") as tmp:
        for spec in args.libraries:
            name, version = spec.split("==")
            tree, tests, pool = draw(spec, args.cache, Path(tmp))
            sdist = download(spec, args.cache)  # cached by draw()
            library = {"version": version, "sha256": hashlib.sha256(sdist.read_bytes()).hexdigest()}
            if (tree / "src").is_dir():
                library["pythonpath"] = "src"
            libraries[name] = library
            taken = 0
            for item in pool:
                ids = test_ids(tree, tests, item["function"].rsplit(".", 1)[-1])
                if not ids or len(ids) > args.max_tests or not re.match(r"[A-Za-z]\w*( \w+){3}", item["says"]):
                    continue  # no tests to verify it, too many, or a docstring that does not open with a sentence
                slug = f"{name}-{item['function'].replace('.', '-').replace('_', '-').lower()}"
                if any(t["slug"] == slug for t in tasks):
                    continue
                tasks.append(
                    {
                        "slug": slug,
                        "library": name,
                        "file": item["file"],
                        "function": item["function"],
                        "difficulty": 2,
                        "task": task_text(name, item),
                        "tests": ids,
                    }
                )
                taken += 1
                if taken == args.per_library:
                    break
    about = "Real-repository tasks drawn by benchmarks/realrepo/draw_suite.py (not chosen by hand): " + " ".join(
        args.libraries
    )
    args.out.write_text(json.dumps({"format": 1, "about": about, "libraries": libraries, "tasks": tasks}, indent=1))
    print(f"{len(tasks)} tasks from {len(libraries)} libraries -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
