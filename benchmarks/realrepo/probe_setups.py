"""Can agentsmith run a library's own test suite, unaided? The set-up half of a real-repo run, on
libraries the dev suite does not use: download the sdist from PyPI, find how its tests run
(`project.discover`), install the library and its declared test dependencies into the per-repo sandbox
layer (`prepare_dependencies`), then run the whole suite in the sandbox, as a run's verify step does
before it judges a change. No model is involved.

    .venv/bin/python benchmarks/realrepo/probe_setups.py [NAME==VERSION ...] [--offline] [--out FILE.json]

Prints one row a library: what was found, how long the install and the suite took, and the suite's
counts. A suite that errors on collection or cannot import the library is a set-up the product gets
wrong; a few failing tests are the library's own (a run records them as pre-existing).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentsmith import vcs
from agentsmith.bench.realrepo import download_sdist, extract_sdist
from agentsmith.config import POLICIES_DIR
from agentsmith.errors import UserError
from agentsmith.policy import load_policy
from agentsmith.sandbox import open_sandbox, prepare_dependencies, project

# Pure-Python libraries with their tests in the sdist, none of them in the dev suite; different build
# backends (setuptools, hatchling + hatch-vcs, flit, poetry-core), layouts (src/, flat, tests inside the
# package) and test set-ups (tox, setup.cfg, pyproject, conftest, hypothesis, doctests).
LIBRARIES = [
    "cachetools==5.5.0",
    "jmespath==1.0.1",
    "six==1.16.0",
    "pyparsing==3.1.4",
    "isodate==0.7.2",
    "wcwidth==0.2.13",
    "tabulate==0.9.0",
    "semver==3.0.2",
    "attrs==24.2.0",
    "packaging==24.1",
    "idna==3.10",
    "python-slugify==8.0.4",
    "parse==1.20.2",
    "iso8601==2.1.0",
]
COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


def download(spec: str, cache: Path) -> Path:
    name, version = spec.split("==")
    spelled = "[-_.]".join(re.escape(part) for part in re.split(r"[-_.]", name))  # PyPI's spellings of a name
    stem = re.compile(rf"^{spelled}-{re.escape(version)}\.(tar\.gz|zip)$", re.I)
    found = [p for p in cache.glob("*") if stem.search(p.name)]
    return found[0] if found else download_sdist(name, version, None, cache)


def probe(spec: str, cache: Path, work: Path, policy) -> dict:
    row: dict = {"library": spec}
    repo = extract_sdist(download(spec, cache), work / spec.replace("==", "-"))
    vcs.init_repo(repo)
    vcs.commit_everything(repo, "base")
    setup = project.discover(repo)
    row |= {
        "config": setup.config,
        "testpaths": setup.testpaths,
        "test_files": len(project.test_files(repo, setup)),
        "test_requirements": setup.test_requirements,
        "build_requires": setup.build_requires,
        "src_layout": setup.src_layout,
        "command": setup.command(),
    }
    started = time.monotonic()
    try:
        image = prepare_dependencies(policy, repo, log=sys.stderr)
    except UserError as err:
        row |= {"install": f"failed: {err}", "install_s": round(time.monotonic() - started, 1)}
        image = None
    else:
        row |= {"install": "ok", "install_s": round(time.monotonic() - started, 1)}
    with open_sandbox(policy, run_id=f"probe-{int(time.time())}", worktree=repo, image=image) as sandbox:
        sandbox.sync_in(repo)
        result = sandbox.exec(setup.command(), timeout=600)
    tail = result.output.strip().splitlines()[-1:] or [""]
    counts = {kind.rstrip("s"): int(n) for n, kind in COUNTS.findall(tail[0])}
    row |= {"exit": result.exit_code, "suite_s": round(result.seconds, 1), "counts": counts, "last_line": tail[0]}
    if result.exit_code not in (0, 1):
        row["output_tail"] = result.output[-1500:]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs="*", default=LIBRARIES)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--policy", type=Path, default=POLICIES_DIR / "default.yaml", help="its sandbox section is used"
    )
    parser.add_argument(
        "--offline", action="store_true", help="sandbox.allow_dependency_network: false (local wheelhouses only)"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "agentsmith-probe-sdists")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    policy = load_policy(args.policy).policy.sandbox
    if args.offline:
        policy = policy.model_copy(update={"allow_dependency_network": False})
    rows = []
    with tempfile.TemporaryDirectory(prefix="agentsmith-probe-") as tmp:
        for spec in args.libraries:
            try:
                row = probe(spec, args.cache, Path(tmp), policy)
            except (UserError, subprocess.CalledProcessError, OSError) as err:
                row = {"library": spec, "error": f"{type(err).__name__}: {err}"}
            rows.append(row)
            verdict = row.get("error") or (
                f"install {row['install']} in {row['install_s']} s; suite exit {row['exit']} in {row['suite_s']} s: "
                f"{row['last_line']}"
            )
            print(f"{spec:28} {verdict}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
