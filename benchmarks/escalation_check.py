"""What escalation costs, task by task: the cascade's frontier spend on each task it escalated against what
frontier-only spent on the same task, from one bench results.json holding both strategies.

    .venv/bin/python benchmarks/escalation_check.py OUT/results.json [--frontier frontier] [--cascade cascade]

Under routing.escalation = fresh an escalated tier is asked what it would be asked alone, so with greedy
frontier calls each escalated task should match frontier-only's tokens exactly; a row that differs says
where (a different retry, a timeout, a degraded call).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def frontier_usage(task: dict, tier: str) -> tuple[int, int, float]:
    usage = (task.get("tokens_by_tier") or {}).get(tier) or {}
    return int(usage.get("prompt", 0)), int(usage.get("completion", 0)), float(usage.get("cost_usd", 0.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--frontier", default="frontier", help="the frontier-only strategy's name in the file")
    parser.add_argument("--cascade", default="cascade")
    parser.add_argument("--tier", default="frontier", help="the paid tier's name in tokens_by_tier")
    args = parser.parse_args()
    strategies = json.loads(args.results.read_text())["strategies"]
    alone, cascade = strategies[args.frontier]["tasks"], strategies[args.cascade]["tasks"]
    rows, paid, paid_alone, same = [], 0.0, 0.0, 0
    for slug, task in sorted(cascade.items()):
        if args.tier not in (task.get("tiers_used") or []) or slug not in alone:
            continue
        mine, theirs = frontier_usage(task, args.tier), frontier_usage(alone[slug], args.tier)
        paid, paid_alone = paid + mine[2], paid_alone + theirs[2]
        same += mine[:2] == theirs[:2]
        rows.append(
            f"| {slug} | {mine[0]:,} / {mine[1]:,} | {theirs[0]:,} / {theirs[1]:,} | "
            f"{'same' if mine[:2] == theirs[:2] else 'differs'} | {task['success']} | {alone[slug]['success']} |"
        )
    print("| task | cascade frontier tokens in / out | frontier-only in / out | | cascade solved | alone solved |")
    print("|---|---:|---:|---|---|---|")
    print("\n".join(rows))
    ratio = paid / paid_alone if paid_alone else float("nan")
    print(
        f"\n{len(rows)} escalated task(s), {same} with frontier-only's tokens exactly; frontier spend "
        f"${paid:.4f} against frontier-only's ${paid_alone:.4f} on the same tasks: {ratio:.3f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
