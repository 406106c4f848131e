"""`agentsmith run`, `resume`, `status` and `report`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run a coding task on a repository, on a new branch")
    run.add_argument("task")
    run.add_argument("--repo", default=".")
    run.add_argument("--policy", default=None, help="policy YAML (default: policies/default.yaml)")
    run.add_argument("--tier", default="auto", help="auto | local | frontier | a tier name from the policy")
    run.add_argument(
        "--mode",
        choices=["interactive", "ci"],
        default=None,
        help="interactive pauses for your review; ci lets the policy decide "
        "(default: interactive at a terminal, ci otherwise)",
    )
    run.add_argument("--json", action="store_true", help="print a machine-readable result")
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue a run that was interrupted or paused")
    resume.add_argument("run_id")
    resume.add_argument(
        "--decision", choices=["approve", "reject"], default=None, help="answer a pending review without a prompt"
    )
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(func=cmd_resume)

    discard = sub.add_parser("discard", help="throw away an interrupted or paused run: its worktree and branch")
    discard.add_argument("run_id")
    discard.add_argument("--json", action="store_true")
    discard.set_defaults(func=cmd_discard)

    status = sub.add_parser("status", help="a run's state (running, interrupted, committed, ...), branch and driver")
    status.add_argument("run_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    report = sub.add_parser("report", help="cost, latency, routing and incidents over past runs")
    report.add_argument("run_id", nargs="?")
    report.add_argument(
        "--since", metavar="DATE", help="only runs finished since DATE: YYYY-MM-DD or an ISO timestamp (local time)"
    )
    report.add_argument("--json", action="store_true")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page (plots inline)")
    report.set_defaults(func=cmd_report)


def _progress(kind: str, data: dict[str, Any]) -> None:
    """The run's events as plain lines on stderr: the TUI's lines (one formatter), without markup."""
    from rich.text import Text

    from agentsmith.tui.progress import event_line

    if kind == "run-started":
        return  # the user just typed the task; and bad input must stay one line (the error)
    line = event_line(kind, data)
    if line:
        print(f"[agentsmith] {Text.from_markup(line).plain}", file=sys.stderr, flush=True)


def _ask_review(pending: dict[str, Any]) -> dict[str, Any]:
    print(pending.get("diff", ""), file=sys.stderr)
    for f in pending.get("findings", []):
        print(f"  {f['path']}:{f['line']} {f['rule']} [{f['severity']}] {f['message']}", file=sys.stderr)
    while True:
        print("[a]pprove, [r]eject, or type feedback for another attempt: ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline()
        if not answer:
            return {"decision": "reject", "by": "human", "note": "no answer on stdin"}
        answer = answer.strip()
        if answer.lower() in ("a", "approve"):
            return {"decision": "approve", "by": "human"}
        if answer.lower() in ("r", "reject"):
            return {"decision": "reject", "by": "human"}
        if answer:
            return {"decision": "feedback", "feedback": answer, "by": "human"}


def _print_result(result: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(f"{result['status']}: {result['reason']}")
        if result.get("branch"):
            print(f"branch {result['branch']} commit {result['commit']}")
        print(
            f"run {result['run_id']}: {result['attempts']} attempt(s), tiers {', '.join(result['tiers_used']) or '-'}, "
            f"{result['tokens']['prompt'] + result['tokens']['completion']} tokens, ${result['cost_usd']:.4f}, "
            f"{result['seconds']:.1f}s"
        )
        if result.get("time_split"):
            from agentsmith.graph.reporting import render_split

            print(render_split(result["time_split"]))
    return {"committed": 0, "awaiting-review": 0}.get(result["status"], 1)


def cmd_run(args: argparse.Namespace) -> int:
    from agentsmith.graph.runner import start_run

    mode = args.mode or ("interactive" if sys.stdin.isatty() else "ci")
    result = start_run(
        args.task,
        repo=args.repo,
        policy_path=args.policy,
        tier=args.tier,
        mode=mode,
        listener=_progress,
        reviewer=_ask_review if mode == "interactive" else None,
    )
    return _print_result(result, args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    from agentsmith.graph.runner import resume_run

    decision = {"decision": args.decision, "by": "human"} if args.decision else None
    reviewer = _ask_review if sys.stdin.isatty() else None
    result = resume_run(args.run_id, listener=_progress, reviewer=reviewer, decision=decision)
    return _print_result(result, args.json)


def cmd_discard(args: argparse.Namespace) -> int:
    from agentsmith.graph.runner import discard_run

    result = discard_run(args.run_id)
    print(json.dumps(result, indent=2) if args.json else f"run {result['run_id']}: {result['reason']}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from agentsmith.graph.reporting import render_status, run_status
    from agentsmith.queue.cli import queue_state

    status = queue_state(args.run_id, run_status)  # scaled mode adds queued and delivered runs
    print(json.dumps(status, indent=2, default=str) if args.json else render_status(status))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from agentsmith.graph.report_model import build_report
    from agentsmith.graph.reporting import render_report

    report = build_report(args.run_id, since=args.since)
    if args.html:
        from agentsmith.graph.report_html import write_html

        print(f"[agentsmith] report page written to {write_html(report, args.html)}", file=sys.stderr)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else render_report(report))
    return 0
