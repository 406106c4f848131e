"""The bench's results: one JSON file per out dir (every strategy's per-task records and summary),
a markdown table and a plot rendered from it. Cost per success counts failed tasks' cost too:
it is what the successes really cost."""

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


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p95 of 30 values is the 29th smallest), so no value is invented."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate, cost per success, latency and incidents over one strategy's task records."""
    finished = [r for r in records if r.get("status") != "error"]
    successes = [r for r in records if r.get("success")]
    cost = sum(r.get("cost_usd", 0.0) for r in records)
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
        "seconds_p50": percentile(seconds, 50),
        "seconds_p95": percentile(seconds, 95),
        "seconds_total": round(sum(seconds), 1),
        "attempts": sum(r.get("attempts", 0) for r in records),
        "escalations": sum(r.get("escalations", 0) for r in records),
        "tasks_escalated": sum(1 for r in records if r.get("escalations", 0)),
        "incidents": sum(len(r.get("incidents") or []) for r in records),
        "tokens_by_tier": tokens,
        "localised_file_rate": _rate([loc.get("file_hit") for loc in located]),
        "localised_function_rate": _rate([loc.get("function_hit") for loc in located]),
    }


def _rate(hits: list[bool | None]) -> float | None:
    """Share of True among the tasks where the question applies (None: no known answer)."""
    known = [hit for hit in hits if hit is not None]
    return round(sum(known) / len(known), 4) if known else None


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
        "| strategy | tasks | success | cost per success | total cost | p50 s | p95 s | "
        "escalated tasks | incidents | harness errors | right file | right function |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in strategies:
        s = data["strategies"][name]["summary"]
        if not s:
            continue
        rate = "-" if s["success_rate"] is None else f"{s['success_rate']:.0%}"
        lines.append(
            f"| {name} | {s['tasks']} | {s['successes']}/{s['tasks']} ({rate}) | "
            f"{_money(s['cost_per_success_usd'])} | {_money(s['cost_usd'])} | {_secs(s['seconds_p50'])} | "
            f"{_secs(s['seconds_p95'])} | {s['tasks_escalated']} | {s['incidents']} | {s['harness_errors']} | "
            f"{_pct(s.get('localised_file_rate'))} | {_pct(s.get('localised_function_rate'))} |"
        )
    lines += [
        "",
        "Cost per success = total cost of all tasks, failures included, / successful tasks. "
        "Wall time is per task (the whole agent run). Right file / function: the plan chose the "
        "task's file / the function whose body was removed (real-repo tasks).",
        "",
    ]
    for name in strategies:
        setup = data["strategies"][name].get("setup") or {}
        if setup.get("command"):
            models = ", ".join(
                f"{tier} = {m.get('model') or '?'} (${m.get('price_in_per_mtok', 0):g}/"
                f"${m.get('price_out_per_mtok', 0):g} per M tokens in/out)"
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
                cells.append(
                    f"{mark} ({record.get('attempts', 0)} att{escalated}, "
                    f"{_money(record.get('cost_usd'))}, {_secs(record.get('seconds'))}s{_located(record)})"
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
