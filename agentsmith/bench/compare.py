"""`agentsmith bench compare OLD NEW`: the release gate before swapping a model or a policy.

Both sides are summarised over the tasks they share, so a partial run is compared like for like.
NEW fails the gate when it is worse than OLD beyond a threshold on success rate, cost per
success, or p50/p95 wall time. Cost is the API spend unless `--cost all-in` adds the tiers'
compute (their price_per_hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentsmith.bench.results import load_results, ordered_strategies, summarise, task_cost
from agentsmith.errors import UserError


@dataclass
class Thresholds:
    success_drop: float = 0.05  # absolute: 0.05 = five points of success rate
    cost_increase: float = 0.20  # relative: 0.20 = cost per success up 20 %
    latency_increase: float = 0.25  # relative, for p50 and p95 wall time


@dataclass
class Comparison:
    old_label: str
    new_label: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cost_basis: str = "api"  # "api" | "all-in": which cost the gate and the table compare

    @property
    def passed(self) -> bool:
        return not self.failures


def split_spec(spec: str) -> tuple[str, str | None]:
    """`PATH` or `PATH:STRATEGY` (a strategy name never holds a slash)."""
    path, sep, strategy = spec.rpartition(":")
    if sep and path and strategy and "/" not in strategy:
        return path, strategy
    return spec, None


def _side(spec: str, wanted: str | None) -> tuple[dict[str, Any], list[str]]:
    path, strategy = split_spec(spec)
    data = load_results(path)
    names = ordered_strategies(data)
    chosen = strategy or wanted
    if chosen:
        if chosen not in data["strategies"]:
            raise UserError(f"{path} has no results for strategy {chosen!r}", f"it has: {', '.join(names) or 'none'}")
        return data, [chosen]
    return data, names


def compare_specs(
    old_spec: str,
    new_spec: str,
    *,
    strategy: str | None = None,
    thresholds: Thresholds | None = None,
    cost_basis: str = "api",
) -> list[Comparison]:
    old_data, old_names = _side(old_spec, strategy)
    new_data, new_names = _side(new_spec, strategy)
    if len(old_names) == 1 and len(new_names) == 1:
        pairs = [(old_names[0], new_names[0])]
    else:
        pairs = [(name, name) for name in old_names if name in new_names]
    if not pairs:
        raise UserError(
            f"{old_spec} and {new_spec} share no strategy",
            "name one on each side, e.g. old/results.json:frontier new/results.json:cascade",
        )
    comparisons = []
    for old_name, new_name in pairs:
        comparisons.append(
            compare_records(
                old_data["strategies"][old_name]["tasks"],
                new_data["strategies"][new_name]["tasks"],
                thresholds or Thresholds(),
                old_label=f"{split_spec(old_spec)[0]}:{old_name}",
                new_label=f"{split_spec(new_spec)[0]}:{new_name}",
                cost_basis=cost_basis,
            )
        )
    return comparisons


def compare_records(
    old_tasks: dict[str, dict[str, Any]],
    new_tasks: dict[str, dict[str, Any]],
    thresholds: Thresholds,
    *,
    old_label: str = "OLD",
    new_label: str = "NEW",
    cost_basis: str = "api",
) -> Comparison:
    common = sorted(set(old_tasks) & set(new_tasks))
    result = Comparison(
        old_label,
        new_label,
        only_old=sorted(set(old_tasks) - set(new_tasks)),
        only_new=sorted(set(new_tasks) - set(old_tasks)),
        cost_basis=cost_basis,
    )
    if not common:
        raise UserError(f"{old_label} and {new_label} share no task", "run both on the same --tasks or --limit")
    for slug in common:
        before, after = old_tasks[slug], new_tasks[slug]
        change = "same"
        if before["success"] and not after["success"]:
            change = "REGRESSED"
        elif after["success"] and not before["success"]:
            change = "fixed"
        result.tasks.append(
            {
                "slug": slug,
                "change": change,
                "old_success": before["success"],
                "new_success": after["success"],
                "old_cost": task_cost(before, cost_basis),
                "new_cost": task_cost(after, cost_basis),
                "old_seconds": before.get("seconds", 0.0),
                "new_seconds": after.get("seconds", 0.0),
            }
        )
    result.old = summarise([old_tasks[s] for s in common])
    result.new = summarise([new_tasks[s] for s in common])
    result.failures = gate_failures(result.old, result.new, thresholds, cost_basis)
    return result


def _relative(old: float | None, new: float | None) -> float | None:
    if old is None or new is None:
        return None
    if old == 0:
        return 0.0 if new == 0 else float("inf")
    return (new - old) / old


def cost_keys(basis: str) -> tuple[str, str]:
    """The summary's (cost per success, total cost) keys for a cost basis."""
    return ("all_in_per_success_usd", "all_in_usd") if basis == "all-in" else ("cost_per_success_usd", "cost_usd")


def gate_failures(old: dict[str, Any], new: dict[str, Any], limits: Thresholds, cost_basis: str = "api") -> list[str]:
    failures = [
        f"{side} has {summary['tasks_degraded']} degraded task(s): a local tier stood in for the unavailable "
        "external one, so it does not measure its strategy (re-run the bench with the same --out)"
        for side, summary in (("OLD", old), ("NEW", new))
        if summary.get("tasks_degraded")
    ]
    per_success, _ = cost_keys(cost_basis)
    label = "all-in cost per success" if cost_basis == "all-in" else "cost per success"
    drop = (old["success_rate"] or 0) - (new["success_rate"] or 0)
    if drop > limits.success_drop + 1e-9:
        failures.append(
            f"success rate fell {drop * 100:.1f} points ({old['success_rate']:.0%} -> "
            f"{new['success_rate']:.0%}; allowed {limits.success_drop * 100:.1f})"
        )
    old_cost, new_cost = old[per_success], new[per_success]
    if new_cost is None and old_cost is not None:
        failures.append(f"NEW has no successful task, so no {label}")
    else:
        rise = _relative(old_cost, new_cost)
        # A free strategy (cost 0) that starts costing anything is a rise; so is any rise past the limit.
        if rise is not None and rise > limits.cost_increase + 1e-9:
            failures.append(
                f"{label} rose {_pct(rise)} (${old_cost:.4f} -> ${new_cost:.4f}; allowed {limits.cost_increase:.0%})"
            )
    for key, label in (("seconds_p50", "p50"), ("seconds_p95", "p95")):
        rise = _relative(old[key], new[key])
        if rise is not None and rise > limits.latency_increase + 1e-9:
            failures.append(
                f"{label} wall time rose {_pct(rise)} ({old[key]:.1f}s -> {new[key]:.1f}s; "
                f"allowed {limits.latency_increase:.0%})"
            )
    return failures


def _pct(value: float) -> str:
    return "from zero" if value == float("inf") else f"{value:+.0%}"


def _delta_money(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return f"{_m(old)} -> {_m(new)}"
    return f"{_m(old)} -> {_m(new)} ({_pct(_relative(old, new))})" if old else f"{_m(old)} -> {_m(new)}"


def _m(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def render_comparison(comparison: Comparison) -> str:
    old, new = comparison.old, comparison.new
    per_success, total = cost_keys(comparison.cost_basis)
    basis = "all-in" if comparison.cost_basis == "all-in" else "API"
    lines = [
        f"compare {comparison.old_label} (OLD) -> {comparison.new_label} (NEW) over {old['tasks']} shared task(s); "
        f"cost: {basis}"
    ]
    if comparison.only_old or comparison.only_new:
        lines.append(f"  not compared: {len(comparison.only_old)} only in OLD, {len(comparison.only_new)} only in NEW")
    lines.append(f"  {'task':<28} {'OLD':>5} {'NEW':>5}  {'cost OLD -> NEW':>24}  {'seconds OLD -> NEW':>20}  change")
    for task in comparison.tasks:
        lines.append(
            f"  {task['slug']:<28} {'pass' if task['old_success'] else 'fail':>5} "
            f"{'pass' if task['new_success'] else 'fail':>5}  "
            f"{_m(task['old_cost']) + ' -> ' + _m(task['new_cost']):>24}  "
            f"{task['old_seconds']:>8.1f} -> {task['new_seconds']:<8.1f}  {task['change']}"
        )
    regressed = sum(1 for t in comparison.tasks if t["change"] == "REGRESSED")
    fixed = sum(1 for t in comparison.tasks if t["change"] == "fixed")
    lines += [
        f"  success:          {old['successes']}/{old['tasks']} ({old['success_rate']:.0%}) -> "
        f"{new['successes']}/{new['tasks']} ({new['success_rate']:.0%}); {regressed} regressed, {fixed} fixed",
        f"  cost per success: {_delta_money(old[per_success], new[per_success])} ({basis})",
        f"  total cost:       {_delta_money(old[total], new[total])} ({basis})",
        f"  p50 wall time:    {old['seconds_p50']}s -> {new['seconds_p50']}s",
        f"  p95 wall time:    {old['seconds_p95']}s -> {new['seconds_p95']}s",
    ]
    if comparison.passed:
        lines.append("  gate: PASS (NEW is not worse beyond the thresholds)")
    else:
        lines.append("  gate: FAIL")
        lines += [f"    - {failure}" for failure in comparison.failures]
    return "\n".join(lines)
