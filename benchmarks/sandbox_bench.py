"""Sandbox speed: cold start (open_sandbox with a small repo) and warm exec overhead.

    .venv/bin/python benchmarks/sandbox_bench.py [--execs 100] [--starts 5]

Warm exec overhead is timed with `true`, a command that does nothing, so the figure is the
sandbox's own cost per verify step; a pytest run on a tiny repo is timed for context.
Targets (issue 4): warm exec overhead <= 50 ms p50, cold start <= 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox import build_image, open_sandbox


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def line(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<28} n={len(ms):<4} p50={percentile(ms, 0.5):7.1f} ms  "
        f"p95={percentile(ms, 0.95):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms"
    )


def small_repo(folder: Path) -> Path:
    (folder / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (folder / "calc_test.py").write_text(
        "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=100)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--pytest-runs", type=int, default=10)
    args = parser.parse_args()
    build_image()
    policy = SandboxPolicy()
    with tempfile.TemporaryDirectory() as folder:
        repo = small_repo(Path(folder))
        cold, close = [], []
        for index in range(args.starts):
            started = time.monotonic()
            box = open_sandbox(policy, run_id=f"bench-cold-{index}", worktree=repo)
            first = box.exec(["true"])
            cold.append(time.monotonic() - started)
            assert first.ok, first
            started = time.monotonic()
            box.close()
            close.append(time.monotonic() - started)
        with open_sandbox(policy, run_id="bench-warm", worktree=repo) as box:
            box.exec(["true"])
            warm = []
            for _ in range(args.execs):
                started = time.monotonic()
                result = box.exec(["true"])
                warm.append(time.monotonic() - started)
                assert result.ok, result
            sync = []
            for _ in range(10):
                started = time.monotonic()
                box.sync_in(repo)
                sync.append(time.monotonic() - started)
            tests = []
            for _ in range(args.pytest_runs):
                started = time.monotonic()
                result = box.exec(["python3", "-m", "pytest", "-q"])
                tests.append(time.monotonic() - started)
                assert result.ok, result.output
    print("agentsmith sandbox benchmark (docker backend)")
    print(line("cold start (open+1st exec)", cold))
    print(line("close (container removed)", close))
    print(line("warm exec overhead (true)", warm))
    print(line("sync_in (tiny repo)", sync))
    print(line("warm pytest, tiny repo", tests))
    print(
        f"targets: warm exec p50 <= 50 ms: {'met' if percentile(warm, 0.5) <= 0.05 else 'MISSED'}; "
        f"cold start <= 1 s (p50): {'met' if percentile(cold, 0.5) <= 1.0 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
