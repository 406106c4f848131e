"""Real-repository bench tasks, built from PyPI sdists of pure-Python libraries.

A definitions file (benchmarks/realrepo/tasks.json) pins each library's version and sdist sha256
and names, per task, a function whose body is removed (signature and docstring kept, body ->
`raise NotImplementedError`), the task text (it names the function, never the file) and the
library tests that verify it. Building downloads the sdists (from the package index, picked by the pinned hash), checks
their hashes and writes one folder per task: task.json, instructions.md and repo/ (the library
with the body removed). `load_suite` reads that folder like an Exercism suite.

A task with a `bug` ({"old": ..., "new": ...}) is a bug report instead: the function keeps its body
and the one occurrence of `old` in it becomes `new` (a defect planted where a user would hit it);
the task text reports what goes wrong, as a user would, naming at most the API the user called.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentsmith.errors import UserError
from agentsmith.repomap import is_test_file

FORMAT = 1
BUILT_MARKER = ".built-from"
TASK_KEYS = ("slug", "library", "file", "function", "task", "tests")
LIBRARY_KEYS = ("version", "sha256")
DEFAULT_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691: the index's listing as JSON, with hashes
DOWNLOAD_TIMEOUT_S = 60
# --color=no: some libraries set --color=yes, and the harness reads the counts from the output.
PYTEST = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no"]


def default_cache() -> Path:
    from agentsmith.config import home

    return home() / "bench" / "sdists"


def built_suite_dir(tasks_file: Path) -> Path:
    """Where `agentsmith bench tasks.json` builds the suite: keyed by the definitions' content."""
    from agentsmith.config import home

    digest = hashlib.sha256(tasks_file.read_bytes()).hexdigest()[:12]
    return home() / "bench" / f"realrepo-{digest}"


def load_definitions(tasks_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(tasks_file.read_text(encoding="utf-8"))
        for task in data["tasks"]:
            library = data["libraries"][task["library"]]
            missing = [k for k in TASK_KEYS if k not in task] + [k for k in LIBRARY_KEYS if k not in library]
            if missing:
                raise KeyError(f"{task.get('slug', '?')} lacks {', '.join(missing)}")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(
            f"real-repo task definitions {tasks_file} are malformed ({type(err).__name__}: {err})",
            "each task needs slug, library, file, function, task, tests; each library version and sha256",
        ) from None
    return data


def ensure_built(tasks_file: Path, *, cache: Path | None = None) -> Path:
    """The built suite for `tasks_file`, building it first when it is missing or stale."""
    out = built_suite_dir(tasks_file)
    marker = out / BUILT_MARKER
    digest = hashlib.sha256(tasks_file.read_bytes()).hexdigest()
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == digest:
        return out
    return build_suite(tasks_file, out, cache=cache)


def build_suite(
    tasks_file: Path, out: Path, *, cache: Path | None = None, say: Callable[[str], None] = lambda line: None
) -> Path:
    definitions = load_definitions(tasks_file)
    cache = cache or default_cache()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="realrepo-build-") as tmp:
        trees: dict[str, Path] = {}
        for name, library in definitions["libraries"].items():
            if any(t["library"] == name for t in definitions["tasks"]):
                sdist = fetch_sdist(name, library["version"], library["sha256"], cache)
                trees[name] = extract_sdist(sdist, Path(tmp) / name)
                say(f"[realrepo] {name}=={library['version']}: {sdist.name}")
        for task in definitions["tasks"]:
            library = definitions["libraries"][task["library"]]
            write_task(task, library, trees[task["library"]], out / task["slug"])
            say(f"[realrepo] {task['slug']}: {task['file']}::{task['function']} stubbed")
    (out / BUILT_MARKER).write_text(hashlib.sha256(tasks_file.read_bytes()).hexdigest() + "\n", encoding="utf-8")
    return out


def fetch_sdist(name: str, version: str, sha256: str, cache: Path) -> Path:
    """The sdist from the cache, else from the package index; its sha256 must match the pinned one.

    Downloaded as a file, never through `pip download`: pip prepares an sdist's metadata by running its
    build backend, and with `--no-binary :all:` it builds that backend's own requirements from source
    first (a fresh machine sat 10 minutes on humanize's hatch-vcs and hatchling), running the sdist's code
    on the host on the way. The file is picked from the index's JSON listing by the pinned hash."""
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached_sdist(cache, name, version)
    if found is None:
        found = download_sdist(name, version, sha256, cache)
    actual = hashlib.sha256(found.read_bytes()).hexdigest()
    if actual != sha256:
        raise UserError(
            f"{found} has sha256 {actual}, the suite pins {sha256}",
            "delete the file so it is downloaded again; if it persists, the index served other bytes",
        )
    return found


def index_url() -> str:
    """The package index pip would use: PIP_INDEX_URL, else PyPI's."""
    return (os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def download_sdist(name: str, version: str, sha256: str | None, cache: Path) -> Path:
    """The release's sdist from the index into cache: the file with the pinned sha256, or with none pinned
    (a probe of many releases), the one named for the version, checked against the index's own hash."""
    project = _normalised(name)
    listing_url = f"{index_url()}/{project}/"
    fix = f"check that {index_url()} is reachable, or put the sdist's .tar.gz into {cache}"
    try:
        request = urllib.request.Request(listing_url, headers={"Accept": SIMPLE_JSON})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as answer:
            listing = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        raise UserError(f"could not list {name} on {listing_url} ({exc})", fix) from exc
    files = [f for f in listing.get("files", []) if isinstance(f, dict) and f.get("filename", "").endswith(".tar.gz")]
    spelled = _sdist_name(name, version)
    wanted = (
        (lambda f: (f.get("hashes") or {}).get("sha256") == sha256)
        if sha256
        else (lambda f: spelled.match(f["filename"]))
    )
    chosen = next((f for f in files if wanted(f)), None)
    if chosen is None:
        named = [f["filename"] for f in files if f"-{version}.tar.gz" in f["filename"]]
        raise UserError(
            f"{listing_url} lists no sdist of {name}=={version}"
            + (" with the pinned sha256" if sha256 else "")
            + (f" (it has {', '.join(named)} with other bytes)" if named else ""),
            fix,
        )
    target = cache / Path(chosen["filename"]).name
    url = urllib.parse.urljoin(listing_url, chosen["url"])
    if urllib.parse.urlsplit(url).scheme not in ("https", "http", "file"):
        raise UserError(f"{listing_url} gives {url} for {chosen['filename']}", fix)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as answer, partial.open("wb") as out:
            shutil.copyfileobj(answer, out)
        expected = sha256 or (chosen.get("hashes") or {}).get("sha256")
        if expected and hashlib.sha256(partial.read_bytes()).hexdigest() != expected:
            raise UserError(f"{url} served bytes whose sha256 is not {expected}", fix)
        partial.replace(target)
    except OSError as exc:
        raise UserError(f"could not download {url} ({exc})", fix) from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _sdist_name(name: str, version: str) -> re.Pattern[str]:
    """The file names a release's sdist goes by: more-itertools-10.5.0.tar.gz, more_itertools-..., Markdown-..."""
    spellings = "[-_.]".join(re.escape(part) for part in _normalised(name).split("-"))
    return re.compile(rf"^{spellings}-{re.escape(version)}\.tar\.gz$", re.I)


def _cached_sdist(cache: Path, name: str, version: str) -> Path | None:
    spelled = _sdist_name(name, version)
    return next((p for p in sorted(cache.glob("*.tar.gz")) if spelled.match(p.name)), None)


def extract_sdist(sdist: Path, dest: Path) -> Path:
    """The sdist's single top folder, extracted with tarfile's "data" filter (no links out, no devices)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(dest, filter="data")
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise UserError(f"{sdist.name} does not hold one top folder", "pick another release of the library")
    return tops[0]


def write_task(task: dict[str, Any], library: dict[str, Any], tree: Path, folder: Path) -> None:
    repo = folder / "repo"
    shutil.copytree(tree, repo, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    target = repo / task["file"]
    if not target.is_file():
        raise UserError(f"task {task['slug']}: {task['file']} is not in {tree.name}", "fix tasks.json")
    source = target.read_text(encoding="utf-8")
    bug = task.get("bug")
    changed = (
        plant_bug(source, task["function"], bug["old"], bug["new"]) if bug else remove_body(source, task["function"])
    )
    target.write_text(changed, encoding="utf-8")
    tests = sorted(
        p.relative_to(repo).as_posix() for p in repo.rglob("*.py") if is_test_file(p.relative_to(repo).as_posix())
    )
    (folder / "instructions.md").write_text(task["task"].strip() + "\n", encoding="utf-8")
    meta = {
        "kind": "repo",
        "slug": task["slug"],
        "difficulty": int(task.get("difficulty", 2)),
        "library": task["library"],
        "version": library["version"],
        "sha256": library["sha256"],
        "solution": [task["file"]],
        "test": tests,
        "function": task["function"],
        "tests": task["tests"],
        "test_command": test_command(library, task["tests"]),
    }
    (folder / "task.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def test_command(library: dict[str, Any], tests: list[str]) -> list[str]:
    """pytest on the selected tests; a src/ layout is put on the path (the sandbox is offline and
    these libraries have no runtime dependencies, so nothing is installed)."""
    prefix = ["env", f"PYTHONPATH={library['pythonpath']}"] if library.get("pythonpath") else []
    return [*prefix, *PYTEST, *library.get("pytest_args", []), *tests]


def plant_bug(source: str, qualname: str, old: str, new: str) -> str:
    """`source` with the one occurrence of `old` inside function `qualname` replaced by `new`."""
    node = _find(ast.parse(source).body, qualname.split("."))
    if node is None:
        raise UserError(f"no function {qualname} to plant a bug in", "fix the function name in the tasks file")
    lines = source.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: node.lineno - 1])
    end = sum(len(line) for line in lines[: node.end_lineno or node.lineno])
    body = source[start:end]
    if body.count(old) != 1:
        raise UserError(
            f"the bug's old text occurs {body.count(old)} times in {qualname}, not once",
            "quote exactly one occurrence in the tasks file",
        )
    return source[:start] + body.replace(old, new) + source[end:]


def remove_body(source: str, qualname: str) -> str:
    """`source` with the body of function `qualname` ("f" or "Class.method") replaced by
    `raise NotImplementedError`; its decorators, signature and docstring stay."""
    node = _find(ast.parse(source).body, qualname.split("."))
    if node is None:
        raise UserError(f"no function {qualname} to stub", "fix the function name in tasks.json")
    body = node.body
    keep = (
        1
        if body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
        else 0
    )
    lines = source.splitlines(keepends=True)
    indent = " " * body[0].col_offset
    if keep == len(body):
        start = body[-1].end_lineno or body[-1].lineno
        return "".join(lines[:start]) + f"{indent}raise NotImplementedError\n" + "".join(lines[start:])
    first, last = body[keep].lineno, node.end_lineno or body[-1].lineno
    return "".join(lines[: first - 1]) + f"{indent}raise NotImplementedError\n" + "".join(lines[last:])


def _find(body: list[ast.stmt], parts: list[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in body:
        if getattr(node, "name", None) != parts[0]:
            continue
        if len(parts) == 1 and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
        if len(parts) > 1 and isinstance(node, ast.ClassDef):
            return _find(node.body, parts[1:])
    return None
