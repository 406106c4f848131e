"""Localisation on many tasks nobody wrote by hand: for each library, functions are drawn from its own
code (public, a docstring, a body of two or more statements, named in its tests); each becomes a task
built the way the dev suite's are (the body removed, signature and docstring kept; the text names the
function and says what it does, in the first sentence of its docstring, never the file). The planner
alone runs on each (no model): did it choose the right file and function?

    .venv/bin/python benchmarks/realrepo/localise_wide.py [NAME==VERSION ...] [--per-library N] [--out FILE.json]

The dev suite's tasks were written knowing the planner; these were not chosen by anyone, so they are the
closer stand-in for tasks we will not see.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from agentsmith import vcs
from agentsmith.bench.harness import localisation
from agentsmith.bench.realrepo import extract_sdist, remove_body
from agentsmith.bench.suite import BenchTask
from agentsmith.graph.planning import plan_steps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from probe_setups import LIBRARIES, download  # noqa: E402

DEV_LIBRARIES = ["humanize==4.11.0", "inflection==0.5.1", "toolz==1.0.0", "boltons==24.1.0", "more-itertools==10.5.0"]
NOT_CODE = {"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks", "bench", "scripts", "tools"}
NOT_CODE_FILES = {"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "tasks.py", "version.py", "_version.py"}


def is_test(relative: str) -> bool:
    parts = relative.split("/")
    name = parts[-1]
    return (
        any(p in ("tests", "test", "testing") for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
    )


def code_files(repo: Path) -> list[str]:
    found = []
    for path in sorted(repo.rglob("*.py")):
        relative = path.relative_to(repo).as_posix()
        parts = relative.split("/")
        if any(p in NOT_CODE or p.startswith(".") for p in parts[:-1]) or parts[-1] in NOT_CODE_FILES:
            continue
        if not is_test(relative):
            found.append(relative)
    return found


def _statements(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    return len(body)


def _signature(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return ast.unparse(node.args)


def _sentence(doc: str) -> str:
    first = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    first = re.sub(r"\s+", " ", first).strip()
    match = re.match(r"(.+?[.!?])(\s|$)", first)
    return (match.group(1) if match else first)[:300]


def candidates(repo: Path, tests_text: str) -> list[dict]:
    """Public functions and methods with a docstring and a real body, named in the tests."""
    found = []
    for relative in code_files(repo):
        source = (repo / relative).read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        scopes = [("", tree.body)] + [
            (node.name + ".", node.body)
            for node in tree.body
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
        ]
        for prefix, body in scopes:
            for node in body:
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                    continue
                doc = ast.get_docstring(node) or ""
                if len(doc) < 20 or _statements(node) < 2:
                    continue
                if not re.search(rf"\b{re.escape(node.name)}\b", tests_text):
                    continue
                found.append(
                    {
                        "file": relative,
                        "function": prefix + node.name,
                        "signature": _signature(source, node),
                        "says": _sentence(doc),
                    }
                )
    return found


def draw(spec: str, cache: Path, work: Path) -> tuple[Path, list[str], list[dict]]:
    """The library's sdist unpacked under `work`, its test files, and its candidates in the draw's order."""
    sdist = download(spec, cache)
    tree = extract_sdist(sdist, work / spec.replace("==", "-"))
    tests = sorted(
        p.relative_to(tree).as_posix() for p in tree.rglob("*.py") if is_test(p.relative_to(tree).as_posix())
    )
    pool = candidates(tree, "\n".join((tree / f).read_text(encoding="utf-8", errors="replace") for f in tests))
    random.Random(spec).shuffle(pool)
    return tree, tests, pool


def task_text(library: str, item: dict, bare: bool = False) -> str:
    """`bare`: the function by its name alone (a method without its class, no signature), as a user who
    half-remembers it would write."""
    says = item["says"].rstrip(".")
    name = item["function"].rsplit(".", 1)[-1] if bare else f"{item['function']}({item['signature']})"
    return f"Implement {library}'s `{name}`: {says[:1].lower() + says[1:]}. It currently raises NotImplementedError."


def run_library(spec: str, cache: Path, work: Path, per_library: int, bare: bool = False) -> list[dict]:
    name = spec.split("==")[0]
    tree, tests, pool = draw(spec, cache, work)
    rows = []
    for item in pool[:per_library]:
        slug = f"{name}-{item['function'].replace('.', '-').lower()}"
        repo = work / "tasks" / slug
        repo.mkdir(parents=True)
        shutil.copytree(tree, repo, dirs_exist_ok=True)
        target = repo / item["file"]
        target.write_text(remove_body(target.read_text(encoding="utf-8"), item["function"]), encoding="utf-8")
        vcs.init_repo(repo)
        vcs.commit_everything(repo, "base")
        text = task_text(name, item, bare)
        task = BenchTask(
            slug=slug,
            difficulty=2,
            folder=repo,
            solution_files=(item["file"],),
            test_files=tuple(tests),
            kind="repo",
            function=item["function"],
        )
        started = time.monotonic()
        try:
            steps = plan_steps(
                text + "\n\nThe library's existing tests must pass; do not change the tests.",
                repo,
                read_only=list(tests),
            )
            found = localisation(task, steps)
        except Exception as err:  # a planner crash is a miss to report
            found = {"file_hit": False, "function_hit": False, "error": repr(err)}
        rows.append(
            {"slug": slug, "task": text, "file": item["file"], "function": item["function"]}
            | found
            | {"seconds": round(time.monotonic() - started, 2)}
        )
        shutil.rmtree(repo, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs="*", default=DEV_LIBRARIES + LIBRARIES)
    parser.add_argument("--per-library", type=int, default=8)
    parser.add_argument("--bare", action="store_true", help="name each function alone: no class, no signature")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "agentsmith-probe-sdists")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="localise-wide-") as tmp:
        for spec in args.libraries:
            for row in run_library(spec, args.cache, Path(tmp), args.per_library, args.bare):
                rows.append(row | {"library": spec})
                mark = ("file " + ("hit" if row["file_hit"] else "MISS")) + (
                    ", function " + ("hit" if row["function_hit"] else "MISS")
                )
                print(
                    f"{row['slug']}: {mark} (chose {row.get('chosen_files')} {row.get('chosen_symbols')}; "
                    f"{row['seconds']} s)",
                    flush=True,
                )
    files = sum(bool(r["file_hit"]) for r in rows)
    functions = sum(bool(r["function_hit"]) for r in rows)
    libraries = len({r["library"] for r in rows})
    print(
        f"localisation on {len(rows)} drawn tasks from {libraries} libraries: file {files}/{len(rows)}, "
        f"function {functions}/{len(rows)}"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"tasks": rows, "file_hits": files, "function_hits": functions}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
