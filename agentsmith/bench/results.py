"""The bench's results: one JSON file per out dir (every strategy's per-task records and summary),
a markdown table and a plot rendered from it. Cost per success counts failed tasks' cost too:
it is what the successes really cost. Two costs are kept: the API spend (tokens at per-million
prices) and all-in (API spend + each tier's wall time at its price_per_hour), so a "free" local
tier that holds a VM for minutes is compared like with like."""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from agentsmith.errors import UserError

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
PLOT_FILE = "plot.png"
FORMAT_VERSION = 1
STRATEGY_ORDER = ["local", "frontier", "cascade", "auto"]
GOAL_RATIO = 0.35  # the product goal: cascade cost per success <= 0.35x frontier-only
COST_BASES = ("api", "all-in")


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p95 of 30 values is the 29th smallest), so no value is invented."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


def all_in_usd(record: dict[str, Any]) -> float:
    """A task's API spend plus its compute (records written before compute was counted have none)."""
    if "all_in_usd" in record:
        return record["all_in_usd"]
    return record.get("cost_usd", 0.0) + record.get("compute_usd", 0.0)


def task_cost(record: dict[str, Any], basis: str = "api") -> float:
    return all_in_usd(record) if basis == "all-in" else record.get("cost_usd", 0.0)


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate, cost per success, latency and incidents over one strategy's task records."""
    finished = [r for r in records if r.get("status") != "error"]
    successes = [r for r in records if r.get("success")]
    cost = sum(r.get("cost_usd", 0.0) for r in records)
    all_in = sum(all_in_usd(r) for r in records)
    seconds = [r.get("seconds", 0.0) for r in records]
    tokens: dict[str, dict[str, int]] = {}
    for record in records:
        for tier, used in (record.get("tokens_by_tier") or {}).items():
            into = tokens.setdefault(tier, {"prompt": 0, "completion": 0})
            into["prompt"] += used.get("prompt", 0)
            into["completion"] += used.get("completion", 0)
    located = [r["localisation"] for r in records if r.get("localisation")]
    return {
        "tasks": len(records),
        "successes": len(successes),
        "success_rate": round(len(successes) / len(records), 4) if records else None,
        "harness_errors": len(records) - len(finished),
        "cost_usd": round(cost, 6),
        "cost_per_success_usd": round(cost / len(successes), 6) if successes else None,
        "compute_usd": round(all_in - cost, 6),
        "all_in_usd": round(all_in, 6),
        "all_in_per_success_usd": round(all_in / len(successes), 6) if successes else None,
        "seconds_p50": percentile(seconds, 50),
        "seconds_p95": percentile(seconds, 95),
        "seconds_total": round(sum(seconds), 1),
        "attempts": sum(r.get("attempts", 0) for r in records),
        "escalations": sum(r.get("escalations", 0) for r in records),
        "tasks_escalated": sum(1 for r in records if r.get("escalations", 0)),
        "tasks_degraded": sum(1 for r in records if r.get("degraded", 0)),
        "incidents": sum(len(r.get("incidents") or []) for r in records),
        "tokens_by_tier": tokens,
        "localised_file_rate": _rate([loc.get("file_hit") for loc in located]),
        "localised_function_rate": _rate([loc.get("function_hit") for loc in located]),
    }


def _rate(hits: list[bool | None]) -> float | None:
    """Share of True among the tasks where the question applies (None: no known answer)."""
    known = [hit for hit in hits if hit is not None]
    return round(sum(known) / len(known), 4) if known else None


# ------------------------------------------------------------------------------ the product goal


def required_local_solve_rate(
    local_cost_per_task: float,
    frontier_cost_per_task: float,
    escalation_overhead: float = 1.0,
    ratio: float = GOAL_RATIO,
) -> float | None:
    """The share s of tasks the local tier must solve on its own for the cascade to meet the goal
    (cascade cost per success <= `ratio` x frontier-only cost per success).

    Every cascade task pays its local attempt(s), L per task; the share not solved locally, 1 - s,
    escalates and pays the frontier, h * F, where F is the frontier-only cost per task and h the
    escalation overhead (1 under routing.escalation = fresh, where an escalated tier is asked what it is
    asked alone; > 1 with-failure, where its prompt carries the local failure).
    Taking cascade success ~ frontier success, cost per success compares as cost per task:

        L + (1 - s) * h * F <= ratio * F   =>   s >= 1 - (ratio * F - L) / (h * F)

    Above 1: out of reach (the local attempts alone cost more than ratio * F); at most 0: met at
    any solve rate. None when the frontier costs nothing (there is nothing to undercut).
    """
    if frontier_cost_per_task <= 0 or escalation_overhead <= 0:
        return None
    return 1 - (ratio * frontier_cost_per_task - local_cost_per_task) / (escalation_overhead * frontier_cost_per_task)


def _tier_cost(record: dict[str, Any], external: bool, models: dict[str, Any], basis: str) -> float:
    """A task's cost on its external (or its local) tiers, from the per-tier totals."""
    total = 0.0
    for tier, used in (record.get("tokens_by_tier") or {}).items():
        if _is_external(tier, models) == external:
            total += used.get("cost_usd", 0.0) + (used.get("compute_usd", 0.0) if basis == "all-in" else 0.0)
    return total


def _is_external(tier: str, models: dict[str, Any]) -> bool:
    # Results written before setups recorded `external` name their local tier "local".
    return bool((models.get(tier) or {}).get("external", tier != "local"))


def goal_estimate(data: dict[str, Any], basis: str = "api") -> dict[str, Any] | None:
    """The local solve rate the product goal requires, from the measured prices and overheads of a
    results file that holds a cascade section: L from the cascade's local-tier cost per task, F from
    the frontier-only section (over the tasks it shares with the cascade) and h from the escalated
    cascade tasks against the same tasks frontier-only. Without a frontier-only section, F is the
    cascade's frontier cost per escalated task and h is taken as 1 (an assumption it says).
    None when there is no cascade, or nothing that prices the frontier."""
    section = data["strategies"].get("cascade") or {}
    cascade = {slug: r for slug, r in (section.get("tasks") or {}).items() if r.get("status") != "error"}
    if not cascade:
        return None
    models = (section.get("setup") or {}).get("models") or {}
    local_cost = sum(_tier_cost(r, False, models, basis) for r in cascade.values()) / len(cascade)
    escalated = {
        slug: r for slug, r in cascade.items() if any(_is_external(t, models) for t in r.get("tiers_used") or [])
    }
    frontier = {
        slug: r
        for slug, r in ((data["strategies"].get("frontier") or {}).get("tasks") or {}).items()
        if r.get("status") != "error"
    }
    overhead, overhead_measured = 1.0, False
    if frontier:
        shared = [slug for slug in frontier if slug in cascade] or list(frontier)
        frontier_cost = sum(task_cost(frontier[slug], basis) for slug in shared) / len(shared)
        paired = [slug for slug in escalated if slug in frontier]
        before = sum(task_cost(frontier[slug], basis) for slug in paired)
        if before > 0:
            overhead = sum(_tier_cost(escalated[slug], True, models, basis) for slug in paired) / before
            overhead_measured = True
        frontier_from = "frontier-only section"
    elif escalated:
        frontier_cost = sum(_tier_cost(r, True, models, basis) for r in escalated.values()) / len(escalated)
        frontier_from = "cascade's escalated tasks (no frontier-only section; overhead assumed 1x)"
    else:
        return None
    required = required_local_solve_rate(local_cost, frontier_cost, overhead)
    if required is None:
        return None
    local_only = [r for r in ((data["strategies"].get("local") or {}).get("tasks") or {}).values()]
    local_only = [r for r in local_only if r.get("status") != "error"]
    return {
        "basis": basis,
        "ratio": GOAL_RATIO,
        "required_local_solve_rate": round(required, 4),
        "local_cost_per_task_usd": round(local_cost, 6),
        "frontier_cost_per_task_usd": round(frontier_cost, 6),
        "escalation_overhead": round(overhead, 3),
        "overhead_measured": overhead_measured,
        "frontier_from": frontier_from,
        "cascade_solved_locally": round(
            sum(1 for slug, r in cascade.items() if r.get("success") and slug not in escalated) / len(cascade), 4
        ),
        "local_only_success_rate": (
            round(sum(1 for r in local_only if r.get("success")) / len(local_only), 4) if local_only else None
        ),
    }


def render_goal(estimate: dict[str, Any]) -> str:
    """One line: the local solve rate the goal requires, the inputs it came from, what was measured."""
    required = estimate["required_local_solve_rate"]
    if required > 1:
        verdict = "out of reach: the local attempts alone cost more than the goal allows"
    elif required <= 0:
        verdict = "met at any local solve rate"
    else:
        verdict = f"the local tier must solve >= {required:.0%} of tasks on its own"
    measured = f"cascade solved {estimate['cascade_solved_locally']:.0%} locally"
    if estimate["local_only_success_rate"] is not None:
        measured += f", local-only {estimate['local_only_success_rate']:.0%}"
    overhead = "measured" if estimate["overhead_measured"] else "assumed"
    return (
        f"goal (cascade cost per success <= {estimate['ratio']:g}x frontier-only), "
        f"{'API' if estimate['basis'] == 'api' else 'all-in'} cost: "
        f"{verdict} (local ${estimate['local_cost_per_task_usd']:.4f}/task, frontier "
        f"${estimate['frontier_cost_per_task_usd']:.4f}/task from the {estimate['frontier_from']}, escalation "
        f"overhead {estimate['escalation_overhead']:.2f}x {overhead}); measured: {measured}"
    )


def goal_lines(data: dict[str, Any]) -> list[str]:
    """The goal line for each cost basis, when the results hold what it needs (all-in only when some
    compute was priced: otherwise it repeats the API line)."""
    estimates = [e for basis in COST_BASES if (e := goal_estimate(data, basis)) is not None]
    if len(estimates) == 2 and {**estimates[0], "basis": "all-in"} == estimates[1]:
        estimates = estimates[:1]
    return [render_goal(e) for e in estimates]


# ------------------------------------------------------------------------------ the file


class ResultsFile:
    """results.json in an out dir, rewritten atomically after every task (so a kill loses nothing
    finished). Thread-safe: --jobs runs tasks in threads."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir / RESULTS_FILE
        self._lock = threading.Lock()
        self.data = (
            load_results(self.path)
            if self.path.exists()
            else {"format": FORMAT_VERSION, "suite": None, "strategies": {}}
        )

    def begin(self, suite: str, strategy: str, setup: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Open (or reopen) a strategy's section; returns the task records already there."""
        if self.data.get("suite") not in (None, suite):
            raise UserError(
                f"{self.path} holds results of suite {self.data['suite']!r}, not {suite!r}",
                "use another --out folder for another suite",
            )
        with self._lock:
            self.data["suite"] = suite
            section = self.data["strategies"].setdefault(strategy, {"setup": {}, "tasks": {}, "summary": {}})
            section["setup"] = setup
            return dict(section["tasks"])

    def record(self, strategy: str, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            section = self.data["strategies"][strategy]
            section["tasks"][record["slug"]] = record
            section["summary"] = summarise(list(section["tasks"].values()))
            self._write()
            return section["summary"]

    def _write(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=self.out_dir)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(self.data, out, indent=2, sort_keys=False)
            out.write("\n")
        os.replace(tmp, self.path)

    def render(self) -> list[Path]:
        """Write results.md and plot.png from what is recorded so far."""
        with self._lock:
            data = json.loads(json.dumps(self.data))
        self.out_dir.mkdir(parents=True, exist_ok=True)  # a bench stopped before its first task
        table = self.out_dir / TABLE_FILE
        table.write_text(render_markdown(data), encoding="utf-8")
        plot = self.out_dir / PLOT_FILE
        render_plot(data, plot)
        return [self.path, table, plot]


def load_results(path: str | Path) -> dict[str, Any]:
    """A results.json (or the out dir holding one), checked enough to compare or extend."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"no bench results at {path}", "pass an out dir of `agentsmith bench` or its results.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(f"{path} is not valid JSON", "re-run the bench into a fresh --out folder") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT_VERSION
        or not isinstance(data.get("strategies"), dict)
    ):
        raise UserError(
            f"{path} is not an agentsmith bench results file (format {FORMAT_VERSION})",
            "pass the results.json that `agentsmith bench --out DIR` wrote",
        )
    return data


def ordered_strategies(data: dict[str, Any]) -> list[str]:
    names = list(data["strategies"])
    return sorted(names, key=lambda n: (STRATEGY_ORDER.index(n) if n in STRATEGY_ORDER else 99, n))


# ------------------------------------------------------------------------------ renderers


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _located(record: dict[str, Any]) -> str:
    found = record.get("localisation") or {}
    if found.get("function_hit") is not None:
        return f", located {'file+function' if found['function_hit'] else 'file' if found['file_hit'] else 'nothing'}"
    return "" if found.get("file_hit") in (None, True) else ", wrong file"


def render_markdown(data: dict[str, Any]) -> str:
    strategies = ordered_strategies(data)
    lines = [
        f"# Bench results: {Path(str(data.get('suite') or '?')).name}",
        "",
        "| strategy | tasks | success | API cost per success | API total | all-in per success | all-in total | "
        "p50 s | p95 s | escalated tasks | incidents | harness errors | right file | right function |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in strategies:
        s = data["strategies"][name]["summary"]
        if not s:
            continue
        rate = "-" if s["success_rate"] is None else f"{s['success_rate']:.0%}"
        lines.append(
            f"| {name} | {s['tasks']} | {s['successes']}/{s['tasks']} ({rate}) | "
            f"{_money(s['cost_per_success_usd'])} | {_money(s['cost_usd'])} | "
            f"{_money(s.get('all_in_per_success_usd', s['cost_per_success_usd']))} | "
            f"{_money(s.get('all_in_usd', s['cost_usd']))} | {_secs(s['seconds_p50'])} | "
            f"{_secs(s['seconds_p95'])} | {s['tasks_escalated']} | {s['incidents']} | {s['harness_errors']} | "
            f"{_pct(s.get('localised_file_rate'))} | {_pct(s.get('localised_function_rate'))} |"
        )
    lines += [
        "",
        "Cost per success = total cost of all tasks, failures included, / successful tasks. API cost is "
        "the tokens at the tiers' per-million prices; all-in adds each tier's model time at its "
        "price_per_hour (the hardware a local model holds). Wall time is per task (the whole agent "
        "run). Right file / function: the plan chose the task's file / the function whose body was "
        "removed (real-repo tasks).",
        "",
    ]
    for name in strategies:
        degraded = (data["strategies"][name]["summary"] or {}).get("tasks_degraded")
        if degraded:
            lines.append(
                f"- **{name}: {degraded} task(s) ran degraded**: the external tier was unavailable and the "
                f"policy let a local tier stand in, so these figures are not {name}'s. Re-running the bench "
                "with the same --out runs those tasks again."
            )
    goals = goal_lines(data)
    if goals:
        lines += [f"- {line}" for line in goals] + [""]
    for name in strategies:
        setup = data["strategies"][name].get("setup") or {}
        if setup.get("command"):
            models = ", ".join(
                f"{tier} = {m.get('model') or '?'} (${m.get('price_in_per_mtok', 0):g}/"
                f"${m.get('price_out_per_mtok', 0):g} per M tokens in/out"
                + (f", ${m['price_per_hour']:g}/hour compute" if m.get("price_per_hour") else "")
                + ")"
                for tier, m in (setup.get("models") or {}).items()
            )
            lines.append(f"- {name}: `{setup['command']}`; tier flag {setup.get('tier')}; {models}")
    slugs = sorted({slug for name in strategies for slug in data["strategies"][name]["tasks"]})
    if slugs:
        lines += [
            "",
            "## Per task",
            "",
            "| task | " + " | ".join(strategies) + " |",
            "|---|" + "---|" * len(strategies),
        ]
        for slug in slugs:
            cells = []
            for name in strategies:
                record = data["strategies"][name]["tasks"].get(slug)
                if record is None:
                    cells.append("")
                    continue
                mark = "pass" if record["success"] else record.get("status", "fail")
                escalated = f", {record['escalations']} esc" if record.get("escalations") else ""
                escalated += ", DEGRADED" if record.get("degraded") else ""
                compute = record.get("compute_usd") or 0.0
                all_in = f" API, {_money(all_in_usd(record))} all-in" if compute else ""
                cells.append(
                    f"{mark} ({record.get('attempts', 0)} att{escalated}, "
                    f"{_money(record.get('cost_usd'))}{all_in}, {_secs(record.get('seconds'))}s{_located(record)})"
                )
            lines.append(f"| {slug} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_plot(data: dict[str, Any], path: Path) -> None:
    """Success rate against cost per success, one point per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.0, 4.6), dpi=110)
    for name in ordered_strategies(data):
        summary = data["strategies"][name].get("summary") or {}
        if not summary.get("tasks"):
            continue
        cost = summary["cost_per_success_usd"]
        rate = summary["success_rate"] * 100
        if cost is None:  # no success: plot what was spent, hollow
            cost = summary["cost_usd"]
            label = f"{name}: no success, ${cost:.4f} spent (n={summary['tasks']})"
            axes.scatter([cost], [rate], s=90, facecolors="none", edgecolors="grey", label=label)
        else:
            label = (
                f"{name}: {rate:.0f}%, ${cost:.4f}/success, p50 {summary['seconds_p50']:.0f}s (n={summary['tasks']})"
            )
            axes.scatter([cost], [rate], s=90, label=label)
        axes.annotate(name, (cost, rate), textcoords="offset points", xytext=(7, 5), fontsize=9)
    axes.set_xlabel("cost per successful task (USD, failures included)")
    axes.set_ylabel("success rate (%)")
    axes.set_ylim(-5, 105)
    axes.margins(x=0.15)
    axes.set_xlim(left=min(-0.001, axes.get_xlim()[0]))
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title(f"agentsmith bench: {Path(str(data.get('suite') or '?')).name} (upper left is better)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
