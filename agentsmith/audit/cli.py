"""`agentsmith audit verify`: is the event log what was written, and does git history agree?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="check the audit log (verify)")
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="recompute the hash chain; exit 1 and the first bad event when it was tampered with",
        description="Recompute the audit log's hash chain without trusting the database's own triggers: "
        "an edited, deleted, inserted or reordered event is named. With --repo, every agent "
        "commit's Agentsmith-Audit-Head trailer must name an event the log still holds. "
        "Exit 0 intact, 1 tampered, 2 usage error.",
    )
    verify.add_argument("--db", default=None, help="audit database (default: $AGENTSMITH_HOME/audit.sqlite)")
    verify.add_argument("--repo", default=None, help="also check the agent commits of this git repository")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    verify.set_defaults(func=handle_verify)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def handle_verify(args: argparse.Namespace) -> int:
    from agentsmith.audit.verify import check_chain, check_commits
    from agentsmith.config import audit_db

    path = Path(args.db) if args.db else audit_db()
    shared = _shared_store() if not args.db else None
    if shared:  # scaled mode: the chain lives in the shared database
        from agentsmith.errors import UserError
        from agentsmith.store.postgres import check_chain as check_shared_chain

        if args.repo:
            raise UserError(
                "--repo is not supported yet for the shared database",
                "run it without --repo, or with --db on an exported SQLite copy",
            )
        path, verdict = shared.describe(), check_shared_chain(shared)
    else:
        verdict = check_chain(path)
    if args.repo:
        check_commits(path, Path(args.repo), verdict)
    if args.json:
        print(json.dumps({"db": str(path), **verdict.to_dict()}, indent=2))
        return 0 if verdict.intact else 1
    anchors = f"; {verdict.anchored_commits} agent commit(s) in {args.repo} anchor to it" if args.repo else ""
    if verdict.intact:
        print(f"audit log {path}: intact ({verdict.events} events, head {verdict.head[:16]}…){anchors}")
        return 0
    where = f" at event {verdict.first_bad}" if verdict.first_bad else ""
    print(f"audit log {path}: TAMPERED{where}", file=sys.stderr)
    for problem in verdict.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


def _shared_store():
    from agentsmith import store

    current = store.current()
    return current if current.shared else None
