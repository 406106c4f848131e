"""Two agentsmith processes calling the in-process local model at the same time on one machine: taking
turns for the cores (the default, agentsmith.models.tiers.compute_slot) against computing together (each
process in its own AGENTSMITH_HOME, so they do not share the lock: how it was before).

    .venv/bin/python benchmarks/compute_slot_bench.py [--model qwen2.5-coder-1.5b] [--calls 2] [--prompt-lines 100]

Each process makes --calls calls, every one a fresh prompt (a different slice of a real module, so no
prompt cache helps) with a 64-token answer. Printed: per process and call, the wall seconds, the part
spent waiting for the cores, and the run's wall time; then the same calls made by one process alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

# One worker process: its calls, as JSON lines on stdout.
WORKER = """
import json, sys, time
from agentsmith.models import Portfolio
from agentsmith.policy import load_policy
model, offset, calls, lines, start_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
source = open(sys.argv[6], encoding="utf-8").read().splitlines()
policy = load_policy().policy
policy.tiers = [t.model_copy(update={"max_output_tokens": 64}) for t in policy.tiers]
portfolio = Portfolio(policy, tier_flag="local", notify=lambda line: None)
portfolio.check("local")
portfolio.complete("local", [{"role": "user", "content": "Reply with: ok"}], max_tokens=2)  # loaded
while time.time() < start_at:
    time.sleep(0.01)
for n in range(calls):
    first = (offset + n) * lines
    code = "\\n".join(source[first : first + lines])
    ask = [{"role": "user", "content": f"What does this code do? One sentence.\\n```python\\n{code}\\n```"}]
    call = portfolio.complete("local", ask, max_tokens=64)
    print(json.dumps({"call": n + 1, "prompt": call.prompt_tokens, "seconds": call.seconds,
                      "queued": call.queued_s, "done": time.time()}), flush=True)
"""


def run(model: str, calls: int, lines: int, processes: int, shared_home: bool, source: Path) -> list[list[dict]]:
    from agentsmith.config import home as real_home

    start_at = time.time() + 20  # both loaded before either starts
    procs = []
    with tempfile.TemporaryDirectory() as scratch:
        for p in range(processes):
            env = dict(os.environ, AGENTSMITH_LOCAL_MODEL=model)
            if not shared_home:  # its own home, sharing only the model files: the lock is not shared
                home = Path(scratch) / f"home{p}"
                home.mkdir()
                (home / "models").symlink_to(real_home() / "models")
                env["AGENTSMITH_HOME"] = str(home)
            args = [model, str(p * calls), str(calls), str(lines), str(start_at), str(source)]
            procs.append(subprocess.Popen([sys.executable, "-c", WORKER, *args], env=env, stdout=subprocess.PIPE))
        results = []
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"a worker failed (exit {proc.returncode})")
            results.append(
                [json.loads(line) | {"wall": json.loads(line)["done"] - start_at} for line in out.splitlines()]
            )
    return results


def show(title: str, results: list[list[dict]]) -> None:
    print(f"\n{title}")
    print("| process | call | prompt tokens | call s | of it waiting s | done at s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for p, calls in enumerate(results, 1):
        for c in calls:
            print(f"| {p} | {c['call']} | {c['prompt']} | {c['seconds']:.1f} | {c['queued']:.1f} | {c['wall']:.1f} |")
    done = max(c["wall"] for calls in results for c in calls)
    compute = sum(c["seconds"] - c["queued"] for calls in results for c in calls)
    print(f"all calls done after {done:.1f} s; compute (call s less waiting) {compute:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--prompt-lines", type=int, default=100)
    parser.add_argument("--source", type=Path, default=PROJECT / "agentsmith" / "graph" / "nodes.py")
    args = parser.parse_args()
    print(f"{args.model}, {os.cpu_count()} cores, {args.calls} calls per process, {args.prompt_lines}-line prompts")
    show(
        "two processes, taking turns (one shared AGENTSMITH_HOME: the default)",
        run(args.model, args.calls, args.prompt_lines, 2, True, args.source),
    )
    show(
        "two processes, computing together (separate homes: no shared lock, as before)",
        run(args.model, args.calls, args.prompt_lines, 2, False, args.source),
    )
    show("one process alone, the same calls", run(args.model, args.calls * 2, args.prompt_lines, 1, True, args.source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
