"""`agentsmith bench SUITE ...` and `agentsmith bench compare OLD NEW`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from agentsmith.errors import Terminated

STRATEGIES = ("local", "frontier", "cascade", "auto")


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="measure success rate and cost per success on a task suite; `bench compare OLD NEW` gates a swap",
        description="Run each task of SUITE as a real agent run (fresh repo, tests read-only, success = the "
        "unchanged tests pass in the sandbox), or compare two results with `bench compare OLD NEW` "
        "(OLD and NEW: an out dir or results.json, optionally :STRATEGY).",
    )
    bench.add_argument(
        "suite",
        metavar="SUITE|compare",
        help="a suite folder, e.g. ../shared/bench/exercism-python, or a real-repo definitions file "
        "(benchmarks/realrepo/tasks.json: built from PyPI sdists on first use)",
    )
    bench.add_argument("sides", nargs="*", metavar="OLD NEW", help="with `compare`: the two results to compare")
    bench.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="local: local tier only; frontier: frontier only; cascade: local first, escalate on "
        "failed tests; auto: the policy's difficulty routing (default: cascade; with compare, "
        "restricts to one strategy)",
    )
    bench.add_argument("--limit", type=int, default=None, help="only the first N tasks (sorted by slug)")
    bench.add_argument("--tasks", default=None, help="comma-separated task slugs")
    bench.add_argument("--jobs", type=int, default=1, help="tasks run concurrently (default 1)")
    bench.add_argument("--out", default=None, help="results folder; several strategies can share one")
    bench.add_argument(
        "--seed",
        type=int,
        default=None,
        help="sampling seed (sets AGENTSMITH_SEED): the run draws the same candidates when run again",
    )
    bench.add_argument(
        "--policy",
        default=None,
        help="policy YAML (default: policies/bench.yaml, the default experiment's tiers and prices)",
    )
    bench.add_argument(
        "--serve-frontier",
        metavar="MODEL",
        default=None,
        help="start `llama_cpp.server` on 127.0.0.1 with MODEL (a model id or .gguf path) as the "
        "frontier tier for this bench, and stop it afterwards",
    )
    bench.add_argument(
        "--max-success-drop",
        type=float,
        default=0.05,
        help="compare: allowed fall in success rate, absolute (default 0.05 = 5 points)",
    )
    bench.add_argument(
        "--max-cost-increase",
        type=float,
        default=0.20,
        help="compare: allowed rise in cost per success, relative (default 0.20)",
    )
    bench.add_argument(
        "--cost",
        choices=("api", "all-in"),
        default="api",
        help="compare: the cost the gate compares: api (token spend, default) or all-in (API spend + "
        "each tier's model time at its price_per_hour)",
    )
    bench.add_argument(
        "--max-latency-increase",
        type=float,
        default=0.25,
        help="compare: allowed rise in p50 and p95 wall time, relative (default 0.25)",
    )
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from agentsmith.errors import UserError

    if args.suite == "compare":
        if len(args.sides) != 2:
            raise UserError("`bench compare` takes two results", "run `agentsmith bench compare OLD NEW`")
        return cmd_compare(args)
    if args.sides:
        raise UserError(
            f"unexpected argument(s): {' '.join(args.sides)}",
            "run `agentsmith bench SUITE --out DIR [options]` or `agentsmith bench compare OLD NEW`",
        )
    return cmd_run_bench(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from agentsmith.bench.compare import Thresholds, compare_specs, render_comparison

    thresholds = Thresholds(
        success_drop=args.max_success_drop,
        cost_increase=args.max_cost_increase,
        latency_increase=args.max_latency_increase,
    )
    comparisons = compare_specs(
        args.sides[0], args.sides[1], strategy=args.strategy, thresholds=thresholds, cost_basis=args.cost
    )
    for comparison in comparisons:
        print(render_comparison(comparison))
    return 0 if all(c.passed for c in comparisons) else 1


def cmd_run_bench(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from agentsmith.bench.frontier import serve_frontier
    from agentsmith.bench.harness import describe_setup, run_bench, strategy_for
    from agentsmith.bench.results import goal_lines, load_results
    from agentsmith.bench.suite import load_suite, select_tasks
    from agentsmith.config import POLICIES_DIR
    from agentsmith.errors import UserError
    from agentsmith.models.tiers import frontier_settings
    from agentsmith.policy import load_policy

    if not args.out:
        raise UserError("no --out folder given", "add --out DIR (results.json, results.md and plot.png go there)")
    if args.seed is not None:
        os.environ["AGENTSMITH_SEED"] = str(args.seed)  # the runs (in this process) read it per call
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs} runs nothing", "use --jobs 1 or more")
    suite_dir = Path(args.suite).expanduser().resolve()
    slugs = [s.strip() for s in args.tasks.split(",") if s.strip()] if args.tasks else None
    tasks = select_tasks(load_suite(suite_dir), slugs=slugs, limit=args.limit)
    out_dir = Path(args.out).expanduser().resolve()
    policy_path = Path(args.policy).resolve() if args.policy else POLICIES_DIR / "bench.yaml"
    loaded = load_policy(policy_path)
    strategy = strategy_for(args.strategy or "cascade", loaded.path, out_dir)

    serving = nullcontext()
    if strategy.uses_frontier:
        external = next((t for t in loaded.policy.tiers if t.external), None)
        if external is None:
            raise UserError(
                f"strategy {strategy.name} needs an external tier and policy {loaded.path} has none",
                "use --strategy local, or a policy with a frontier tier",
            )
        if args.serve_frontier:
            serving = serve_frontier(args.serve_frontier, log_path=out_dir / "frontier-server.log")
        elif None in frontier_settings(external)[:2]:
            # Measuring "frontier" while it silently degrades to local would be a false number.
            raise UserError(
                f"strategy {strategy.name} needs the frontier tier and it is not configured",
                "set AGENTSMITH_FRONTIER_BASE_URL and AGENTSMITH_FRONTIER_MODEL, or pass "
                "--serve-frontier qwen2.5-coder-1.5b to serve one on 127.0.0.1",
            )
    command = bench_command(args, suite_dir, strategy.name, loaded.path, out_dir)
    try:
        with serving:
            outcome = run_bench(
                tasks,
                strategy,
                out_dir=out_dir,
                suite=str(suite_dir),
                setup=describe_setup(strategy, command),
                jobs=args.jobs,
            )
    except KeyboardInterrupt as err:
        print(
            f"agentsmith: bench interrupted; finished tasks are kept in {out_dir / 'results.json'}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 143 if isinstance(err, Terminated) else 130
    summary = outcome.summary
    cost, all_in = summary.get("cost_per_success_usd"), summary.get("all_in_per_success_usd")
    print(
        f"{strategy.name}: {summary['successes']}/{summary['tasks']} tasks succeeded "
        f"({summary['success_rate']:.0%}), cost per success {'-' if cost is None else f'${cost:.4f}'} API, "
        f"{'-' if all_in is None else f'${all_in:.4f}'} all-in, "
        f"p50 {summary['seconds_p50']}s, p95 {summary['seconds_p95']}s; "
        f"ran {len(outcome.ran)}, skipped {len(outcome.skipped)} already recorded"
    )
    for line in goal_lines(load_results(out_dir)):
        print(line)
    print("wrote " + ", ".join(str(p) for p in outcome.outputs))
    return 0


def bench_command(args: argparse.Namespace, suite_dir: Path, strategy: str, policy: Path, out_dir: Path) -> str:
    """The command line that reproduces these results, recorded beside them."""
    parts = ["agentsmith", "bench", str(suite_dir), "--strategy", strategy]
    if args.tasks:
        parts += ["--tasks", args.tasks]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.jobs != 1:
        parts += ["--jobs", str(args.jobs)]
    parts += ["--policy", str(policy)]
    if args.serve_frontier:
        parts += ["--serve-frontier", args.serve_frontier]
    if os.environ.get("AGENTSMITH_SEED"):
        parts += ["--seed", os.environ["AGENTSMITH_SEED"]]
    parts += ["--out", str(out_dir)]
    return " ".join(shlex.quote(p) for p in parts)
