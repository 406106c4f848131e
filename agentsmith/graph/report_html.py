"""`agentsmith report --html FILE`: the report model as one self-contained page for the weekly review.

Nothing is fetched when the page opens (it may be mailed or archived): the CSS is inline and the
plots are PNGs drawn with matplotlib's Agg backend and embedded as base64 data URIs."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from agentsmith.errors import UserError
from agentsmith.graph.report_model import INCIDENT_KINDS, SPLIT_PARTS, Report

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0;
       background: #f6f8fa; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.sub { color: #57606a; margin: 0 0 20px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 12px 14px; }
.card .label { color: #57606a; font-size: 13px; }
.card .value { font-size: 24px; font-weight: 600; margin-top: 2px; }
.card .note { color: #57606a; font-size: 12px; }
.bad { color: #cf222e; }
img { display: block; width: 100%; height: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; }
table { border-collapse: collapse; background: #fff; width: 100%; border: 1px solid #d0d7de; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eaeef2; }
th { background: #f0f3f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.zero td { color: #8c959f; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
td.num, td:last-child, #incidents td { white-space: nowrap; }
"""
COMMITTED, OTHER, COST, LOCAL, EXTERNAL = "#2da44e", "#d0d7de", "#8250df", "#0969da", "#bc4c00"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _days_plot(report: Report) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    from matplotlib import pyplot as plt

    days = report.days
    labels = [d.day[5:] for d in days]  # MM-DD: the year is in the page's heading
    fig, runs_axis = plt.subplots(figsize=(10, 3.4))
    positions = range(len(days))
    won = [d.succeeded for d in days]
    runs_axis.bar(positions, won, color=COMMITTED, label="committed")
    runs_axis.bar(positions, [d.runs - d.succeeded for d in days], bottom=won, color=OTHER, label="not committed")
    runs_axis.set_ylabel("runs finished")
    runs_axis.yaxis.get_major_locator().set_params(integer=True)
    step = -(-len(days) // 14)  # at most 14 day labels, so a long window stays legible
    runs_axis.set_xticks(list(positions)[::step], labels[::step])
    cost_axis = runs_axis.twinx()
    priced = [(i, d.cost_per_success_usd) for i, d in enumerate(days) if d.cost_per_success_usd is not None]
    if priced:
        cost_axis.plot(*zip(*priced), color=COST, marker="o", label="cost per successful task")
    cost_axis.set_ylabel("USD per successful task")
    cost_axis.set_ylim(bottom=0)
    handles = runs_axis.get_legend_handles_labels()[0] + cost_axis.get_legend_handles_labels()[0]
    # Below the axes: above them it would cover the tallest day's bar.
    runs_axis.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    runs_axis.set_title("Runs and cost per successful task, per day", fontsize=11)
    for side in ("top",):
        runs_axis.spines[side].set_visible(False)
        cost_axis.spines[side].set_visible(False)
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def _routing_plot(report: Report) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    tiers = report.routing
    fig, axis = plt.subplots(figsize=(10, 1.2 + 0.7 * len(tiers)))
    rows = range(len(tiers))
    height = 0.38
    colours = [EXTERNAL if t.external else LOCAL for t in tiers]
    axis.barh([r - height / 2 for r in rows], [t.call_share * 100 for t in tiers], height, color=colours)
    axis.barh(
        [r + height / 2 for r in rows],
        [(t.cost_share or 0) * 100 for t in tiers],
        height,
        color=colours,
        alpha=0.45,
        hatch="//",
    )
    for r, t in zip(rows, tiers):
        axis.text(t.call_share * 100 + 1, r - height / 2, f"{t.calls} call(s), {_pct(t.call_share)}", va="center")
        axis.text((t.cost_share or 0) * 100 + 1, r + height / 2, f"{_money(t.cost_usd)} of cost", va="center")
    axis.set_yticks(list(rows), [f"{t.name}\n({'external' if t.external else 'local'})" for t in tiers])
    axis.invert_yaxis()
    axis.set_xlim(0, 125)
    axis.set_xticks([0, 25, 50, 75, 100])
    axis.set_xlabel("% of model calls (solid) and of model cost (hatched)")
    axis.set_title("Routing split per tier", fontsize=11)
    axis.spines[["top", "right"]].set_visible(False)
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def _card(ident: str, label: str, value: str, note: str = "", bad: bool = False) -> str:
    return (
        f'<div class="card" id="{ident}"><div class="label">{escape(label)}</div>'
        f'<div class="value{" bad" if bad else ""}">{escape(value)}</div>'
        f'<div class="note">{escape(note)}</div></div>'
    )


def _table(
    ident: str, head: list[str], rows: list[list[str]], numeric: set[int], zero_rows: frozenset[int] = frozenset()
) -> str:
    def cells(tag: str, values: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=num' if i in numeric else ''}>{escape(v)}</{tag}>" for i, v in enumerate(values)
        )

    body = "".join(
        f"<tr{' class=zero' if i in zero_rows else ''}>{cells('td', row)}</tr>" for i, row in enumerate(rows)
    )
    return f'<table id="{ident}"><thead><tr>{cells("th", head)}</tr></thead><tbody>{body}</tbody></table>'


def render_html(report: Report) -> str:
    external = next((s for s in report.locality if s.name == "external"), None)
    incidents = sum(report.incidents_by_kind.values())
    cards = [
        _card("runs", "Runs finished", str(report.runs), f"{report.succeeded} committed"),
        _card("success-rate", "Success rate", _pct(report.success_rate)),
        _card("cost-per-success", "Cost per successful task", _money(report.cost_per_success_usd)),
        _card("total-cost", "Total cost", _money(report.cost_usd), "failed runs included"),
        _card("p50", "Wall time p50", _seconds(report.latency_s.p50)),
        _card("p95", "Wall time p95", _seconds(report.latency_s.p95)),
        _card(
            "external-share",
            "External calls",
            _pct(external.call_share) if external and report.routing else "-",
            f"{_pct(external.cost_share)} of cost" if external else "",
        ),
        _card("incident-count", "Incidents", str(incidents), "see the table below", bad=incidents > 0),
    ]
    parts = [
        f"<h1>agentsmith report{' for run ' + escape(report.run_id) if report.run_id else ''}</h1>",
        f'<p class="sub">{escape("Runs finished since " + report.since if report.since else "All runs")}'
        f" &middot; audit chain: {escape(report.audit_chain.detail)}"
        + ("" if report.audit_chain.intact else ' <b class="bad">(TAMPERED)</b>')
        + "</p>",
        f'<div class="cards">{"".join(cards)}</div>',
        "<h2>Success and cost per day</h2>",
        f'<img id="days-plot" alt="runs and cost per successful task, per day" src="{_days_plot(report)}">'
        if report.days
        else "<p>No run finished in this window.</p>",
        "<h2>Routing</h2>",
        f'<img id="routing-plot" alt="routing split per tier" src="{_routing_plot(report)}">'
        if report.routing
        else "<p>No model call in this window.</p>",
    ]
    if report.routing:
        parts.append(
            _table(
                "routing",
                ["Tier", "Side", "Calls", "Share of calls", "Cost", "Share of cost"],
                [
                    [s.name, "external" if s.external else "local", str(s.calls), _pct(s.call_share)]
                    + [_money(s.cost_usd), _pct(s.cost_share)]
                    for s in report.routing
                ],
                numeric={2, 3, 4, 5},
            )
        )
    kinds = list(report.incidents_by_kind.items())
    findings = report.findings[:15]
    parts += [
        '<div class="two"><div><h2>Incidents by class</h2>',
        _table(
            "incidents",
            ["Class", "Kind", "Count"],
            [[INCIDENT_KINDS.get(kind, kind), kind, str(n)] for kind, n in kinds],
            numeric={2},
            zero_rows=frozenset(i for i, (_, n) in enumerate(kinds) if n == 0),
        ),
        "</div><div><h2>Top findings</h2>",
        _table(
            "findings",
            ["Rule", "Findings", "Blocking"],
            [[f.rule, str(f.findings), "blocking" if f.blocking else "non-blocking"] for f in findings],
            numeric={1},
        )
        if findings
        else "<p>The gate found nothing.</p>",
        "</div></div>",
    ]
    split = report.time_split
    if split:
        total = sum(getattr(split, part) for part in SPLIT_PARTS)
        parts += [
            f"<h2>Time split over {split.runs} run(s)</h2>",
            _table(
                "time-split",
                ["Part", "Seconds", "Share of wall time"],
                [
                    [p, f"{getattr(split, p):.1f}", _pct(getattr(split, p) / total if total else None)]
                    for p in SPLIT_PARTS
                ],
                numeric={1, 2},
            ),
        ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>agentsmith report</title>"
        f"<style>{CSS}</style></head><body><main>{''.join(parts)}</main></body></html>\n"
    )


def write_html(report: Report, path: str | Path) -> Path:
    target = Path(path)
    try:
        target.write_text(render_html(report), encoding="utf-8")
    except OSError as err:
        raise UserError(
            f"cannot write the HTML report to {target}: {err.strerror}", "give a writable --html FILE"
        ) from None
    return target
