"""How many candidates a tier should draw on a retry, and at what temperature: measured, not guessed.

Verified sampling draws candidates from one prompt and stops at the first that passes its tests, so a
bench run with K candidates at temperature T already holds every smaller K: a task is solved with k
candidates when its greedy attempt passed or its first passing candidate came at or before k. This
reads those runs back from the audit log and prints, per model and temperature, the share solved and the
model time spent for each k, then the smallest k that reaches the best share (each extra candidate
costs model time, so one that solves nothing more is not drawn).

    # measure: one bench per temperature, the local tier drawing up to --samples candidates
    .venv/bin/python benchmarks/sampling_sweep.py run ../shared/bench/exercism-python \\
        --policy agentsmith/data/policies/bench-local-1.5b.yaml --temperatures 0.4,0.8,1.2 --samples 6 \\
        --limit 30 --out bench-out/sweep
    # read back any bench results (several files, or FILE:strategy)
    .venv/bin/python benchmarks/sampling_sweep.py analyse bench-out/sweep/*/results.json

Then put the numbers in the tier: `retry_samples: k`, `retry_temperature: T` (agentsmith/data/policies).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentsmith.audit import AuditLog  # noqa: E402
from agentsmith.config import audit_db  # noqa: E402


@dataclass
class TaskDraws:
    """One task's run as the sampling sees it: the greedy attempt, then the retry's candidates in order."""

    slug: str
    model: str
    suite: str = ""
    temperature: float | None = None  # of the retry's candidates; None when there was no retry
    greedy_passed: bool = False
    greedy_seconds: float = 0.0
    candidates: list[tuple[bool, float, int, int]] = field(default_factory=list)  # passed, s, prompt, evaluated

    def first_pass(self) -> int | None:
        """0 when the greedy attempt passed, else the 1-based candidate that passed first, else None."""
        if self.greedy_passed:
            return 0
        return next((i for i, c in enumerate(self.candidates, 1) if c[0]), None)

    def seconds_with(self, k: int) -> float:
        """Model time had the retry drawn at most k candidates."""
        return self.greedy_seconds + sum(c[1] for c in self.candidates[:k])


def draws(log: AuditLog, slug: str, run_id: str, suite: str = "") -> TaskDraws | None:
    """Attempt 1 (greedy) and attempt 2 (the sampled retry) of a local-only run; later attempts ignored."""
    events = log.events(run_id, kinds=("route", "call", "verify"))
    task: TaskDraws | None = None
    attempt, pending = 0, None
    for event in events:
        data = event.data
        if event.kind == "route" and not data.get("stop"):
            attempt = int(data.get("attempt") or 0)
            if attempt == 2:
                task.temperature = float(data.get("temperature") or 0.0) if task else None
        elif event.kind == "call":
            task = task or TaskDraws(slug, data.get("model") or data.get("tier") or "?", suite)
            pending = data
        elif event.kind == "verify" and pending is not None and task is not None:
            seconds = float(pending.get("seconds") or 0.0)
            if attempt == 1:
                task.greedy_passed, task.greedy_seconds = bool(data.get("passed")), seconds
            elif attempt == 2:
                prompt = int(pending.get("prompt_tokens") or 0)
                evaluated = pending.get("prompt_tokens_evaluated")
                task.candidates.append(
                    (bool(data.get("passed")), seconds, prompt, prompt if evaluated is None else int(evaluated))
                )
            pending = None
    return task


def load(paths: list[str], db: Path) -> list[TaskDraws]:
    log = AuditLog(db)
    found = []
    for spec in paths:
        path, _, only = spec.partition(":")
        results = json.loads(Path(path).read_text())
        for name, strategy in results["strategies"].items():
            if only and name != only:
                continue
            for slug, task in strategy["tasks"].items():
                if task.get("run_id"):
                    got = draws(log, slug, task["run_id"], Path(str(results.get("suite", ""))).name)
                    if got is not None:
                        found.append(got)
    return found


def analyse(tasks: list[TaskDraws]) -> list[dict]:
    """One row per (model, temperature): solved and model seconds per task for k = 0..K candidates."""
    groups: dict[tuple[str, str, float | None], list[TaskDraws]] = defaultdict(list)
    greedy_only = [t for t in tasks if t.temperature is None]
    for t in tasks:
        if t.temperature is not None:
            groups[(t.suite, t.model, t.temperature)].append(t)
    rows = []
    for (suite, model, temperature), retried in sorted(groups.items(), key=lambda kv: (kv[0][:2], kv[0][2] or 0)):
        # Tasks solved greedily never reach the retry: they count for every temperature of their model.
        group = retried + [t for t in greedy_only if (t.suite, t.model) == (suite, model)]
        most = max(len(t.candidates) for t in retried)
        solved = [sum(1 for t in group if (f := t.first_pass()) is not None and f <= k) for k in range(most + 1)]
        seconds = [sum(t.seconds_with(k) for t in group) / len(group) for k in range(most + 1)]
        later = [c for t in retried for c in t.candidates[1:]]
        best = max(solved)
        rows.append(
            {
                "suite": suite,
                "model": model,
                "temperature": temperature,
                "tasks": len(group),
                "solved_by_k": solved,
                "model_seconds_per_task_by_k": [round(s, 1) for s in seconds],
                "candidates_drawn": sum(len(t.candidates) for t in retried),
                "evaluated_share_after_first_candidate": (
                    round(sum(c[3] for c in later) / max(1, sum(c[2] for c in later)), 3) if later else None
                ),
                "recommended_samples": max(1, solved.index(best)),
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    for row in rows:
        print(f"\n{row['suite']}: {row['model']} at temperature {row['temperature']}: {row['tasks']} tasks")
        print("| candidates on the retry | solved | model s per task |")
        print("|---:|---:|---:|")
        for k, (n, s) in enumerate(zip(row["solved_by_k"], row["model_seconds_per_task_by_k"], strict=True)):
            label = "greedy only" if k == 0 else str(k)
            print(f"| {label} | {n}/{row['tasks']} ({100 * n / row['tasks']:.0f}%) | {s} |")
        share = row["evaluated_share_after_first_candidate"]
        if share is not None:
            print(f"prompt tokens evaluated by candidates 2+: {100 * share:.1f}% of their prompts (the rest reused)")
    if rows:
        by_model: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_model[f"{row['suite']}: {row['model']}"].append(row)
        print()
        for model, group in by_model.items():
            # The best share solved; among equals, fewer candidates, then the lower temperature.
            pick = max(
                group, key=lambda r: (max(r["solved_by_k"]), -r["recommended_samples"], -(r["temperature"] or 0))
            )
            print(
                f"{model}: retry_samples: {pick['recommended_samples']}, retry_temperature: {pick['temperature']} "
                f"({max(pick['solved_by_k'])}/{pick['tasks']} solved)"
            )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    policy_path = Path(args.policy).resolve()
    policy = yaml.safe_load(policy_path.read_text())
    outputs = []
    for temperature in [float(t) for t in args.temperatures.split(",")]:
        variant = json.loads(json.dumps(policy))
        for tier in variant["tiers"]:
            if not tier.get("external"):
                tier["retry_samples"], tier["retry_temperature"] = args.samples, temperature
        rules = variant.setdefault("gates", {}).setdefault("semgrep", {}).get("rules") or ["semgrep"]
        variant["gates"]["semgrep"]["rules"] = [str(policy_path.parent / r) for r in rules]
        folder = out / f"t{temperature:g}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "policy.yaml").write_text(yaml.safe_dump(variant, sort_keys=False))
        selection = ["--tasks", args.tasks] if args.tasks else ["--limit", str(args.limit)]
        command = [
            str(ROOT / ".venv" / "bin" / "agentsmith"),
            "bench",
            args.suite,
            "--strategy",
            "local",
            *selection,
            "--policy",
            str(folder / "policy.yaml"),
            "--out",
            str(folder),
        ]
        print("+ " + " ".join(command), file=sys.stderr)
        subprocess.run(command, check=True, env=os.environ.copy())
        outputs.append(str(folder / "results.json"))
    rows = analyse(load(outputs, Path(args.db)))
    print_table(rows)
    (out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    measure = sub.add_parser("run", help="bench the local tier at each temperature, then analyse")
    measure.add_argument("suite")
    measure.add_argument("--policy", required=True)
    measure.add_argument("--temperatures", default="0.4,0.8,1.2")
    measure.add_argument("--samples", type=int, default=6, help="candidates drawn on the retry (the largest k)")
    measure.add_argument("--limit", type=int, default=30)
    measure.add_argument("--tasks", default=None)
    measure.add_argument("--out", required=True)
    measure.add_argument("--db", default=str(audit_db()))
    read = sub.add_parser("analyse", help="read bench results back from the audit log")
    read.add_argument("results", nargs="+", help="results.json, or results.json:strategy")
    read.add_argument("--db", default=str(audit_db()))
    read.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.action == "run":
        return run(args)
    rows = analyse(load(args.results, Path(args.db)))
    print(json.dumps(rows, indent=2)) if args.json else print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
