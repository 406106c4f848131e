"""Scan time of a one-file change: in a small repo, and in a generated 100k-line repo.

The gate follows the change, not the repo, so the two should be close (target: within 1.2x), and a
one-file change should gate in 3 s or less on 2 cores. Each scanner's own seconds are printed too:
the scanners run side by side, so the total is about preparation plus the slowest of them.

    .venv/bin/python benchmarks/scan_bench.py [--runs 3] [--lines 100000] [--legacy-semgrep]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from agentsmith.gates import scan_change, tools
from agentsmith.policy import load_policy

MODULE = '''"""Generated module {n}."""
import os


def handler_{n}_{i}(request):
    value = request.get("value", "")
    if not value:
        return {{"status": 400, "error": "missing value"}}
    return {{"status": 200, "value": value.strip().lower(), "pid": os.getpid()}}
'''

APP = '"""The app."""\n\n\ndef run():\n    return 0\n'

CHANGE = """
import subprocess


def deploy(target):
    subprocess.call("deploy " + target, shell=True)
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def build_repo(root: Path, total_lines: int) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "bench@example.com")
    git(root, "config", "user.name", "bench")
    lines = 0
    n = 0
    while lines < total_lines:
        body = "".join(MODULE.format(n=n, i=i) for i in range(25))
        target = root / "pkg" / f"sub{n // 100}" / f"mod_{n}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
        lines += body.count("\n")
        n += 1
    (root / "app.py").write_text(APP)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    with (root / "app.py").open("a") as handle:  # the one-file change
        handle.write(CHANGE)
    return root


def count_lines(root: Path) -> int:
    return sum(p.read_text().count("\n") for p in root.rglob("*.py"))


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_scan(repo: Path) -> dict[str, float]:
    """Wall seconds, CPU seconds (this process and its scanners; steadier on a shared machine), each
    scanner's wall seconds, the preparation's, and the findings."""
    cpu, start = cpu_seconds(), time.monotonic()
    result = scan_change(repo, "HEAD", load_policy())
    figures = {
        "wall": time.monotonic() - start,
        "cpu": cpu_seconds() - cpu,
        "prepare": result.prepare_seconds,
        "findings": len(result.findings),
    }
    figures |= {name: summary["seconds"] for name, summary in result.tools.items()}
    return figures


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}/{statistics.median(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument(
        "--legacy-semgrep",
        action="store_true",
        help="run Semgrep through its legacy Python CLI, as before, for comparison",
    )
    args = parser.parse_args()
    if args.legacy_semgrep:
        tools.SEMGREP_ENGINE = ()
    with tempfile.TemporaryDirectory(prefix="agentsmith-scan-bench-") as tmp:
        small = build_repo(Path(tmp) / "small", 200)
        large = build_repo(Path(tmp) / "large", args.lines)
        time_scan(small)  # warm the file cache and Python imports
        # Interleaved so that machine load hits both sides alike.
        runs: dict[str, list[dict[str, float]]] = {"small": [], "large": []}
        for _ in range(args.runs):
            runs["small"].append(time_scan(small))
            runs["large"].append(time_scan(large))
        wall = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items()}
        for name, repo in (("small", small), ("large", large)):
            print(
                f"{name} repo: {count_lines(repo):>7} lines, one-file change: {wall[name]:.2f}s wall, "
                f"{cpu[name]:.2f}s CPU (median of {args.runs}, {runs[name][-1]['findings']:.0f} findings)"
            )
            parts = ["prepare", *(t for t in ("semgrep", "bandit", "secrets", "suppression") if t in runs[name][-1])]
            print(
                f"  split, seconds min/median: total {spread([r['wall'] for r in runs[name]])}; "
                + ", ".join(f"{part} {spread([r[part] for r in runs[name]])}" for part in parts)
            )
        print(
            f"ratio large/small: {wall['large'] / wall['small']:.2f}x wall, "
            f"{cpu['large'] / cpu['small']:.2f}x CPU (target <= 1.2x)"
        )
        print(f"one-file change: {max(wall.values()):.2f}s wall (target <= 3s on 2 cores)")


if __name__ == "__main__":
    main()
