"""`agentsmith tui [--repo PATH]`: the Textual app (imported only when the command runs)."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    tui = sub.add_parser("tui", help="the terminal app: give a task, watch it run, review and decide")
    tui.add_argument("--repo", default=".", help="the git repository tasks apply to (default: here)")
    tui.add_argument("--policy", default=None, help="policy YAML (default: policies/default.yaml)")
    tui.add_argument("--tier", default="auto", help="auto | local | frontier | a tier name from the policy")
    tui.set_defaults(func=cmd_tui)


def cmd_tui(args: argparse.Namespace) -> int:
    import asyncio

    from agentsmith.tui.app import AgentsmithApp

    app = AgentsmithApp(repo=args.repo, policy_path=args.policy, tier=args.tier)
    # Our own loop: asyncio.run() would wait at exit for the run's worker thread to finish.
    loop = asyncio.new_event_loop()
    app.run(loop=loop)
    if app.running and app.run_id:
        # The run's thread cannot be interrupted, and it is checkpointed node by node: leave now.
        print(
            f"agentsmith: run {app.run_id} was still going; `agentsmith resume {app.run_id}` continues it",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(130)
    loop.close()
    if app.pending_review is not None and app.run_id:
        print(
            f"agentsmith: run {app.run_id} waits for review; `agentsmith resume {app.run_id}` or the tui's"
            " history (F2) continues it",
            file=sys.stderr,
        )
    return 0
