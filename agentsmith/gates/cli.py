"""`agentsmith scan`: the security gates over a working tree's change since a base revision."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="run the security gates on a change (exit 0 pass, 1 blocking findings, 2 usage error)",
        description="Scan the files changed between --base and the working tree (unstaged and untracked "
        "files included) with Semgrep, Bandit, the secrets scan and the auth/VPC checklist. "
        "Only findings the change introduced are reported.",
    )
    parser.add_argument("--repo", default=".", help="git work tree to scan (default: the current folder)")
    parser.add_argument("--base", default="HEAD", help="revision to compare with (default: HEAD)")
    parser.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    parser.add_argument("--policy", default=None, help="policy file (default: the bundled policies/default.yaml)")
    parser.add_argument("--output", "-o", default=None, help="write the report to this file instead of stdout")
    parser.add_argument("paths", nargs="*", help="only these files or folders (default: every changed file)")
    parser.set_defaults(func=handle_scan)


def handle_scan(args: argparse.Namespace) -> int:
    from agentsmith.errors import UserError
    from agentsmith.gates import render, scan_change
    from agentsmith.policy import load_policy

    loaded = load_policy(args.policy)
    result = scan_change(Path(args.repo), args.base, loaded, paths=args.paths or None)
    report = render(result, args.format)
    if args.output:
        try:
            Path(args.output).write_text(report, encoding="utf-8")
        except OSError as err:
            raise UserError(f"cannot write {args.output}: {err.strerror}", "pass --output a writable path") from None
        print(
            f"agentsmith scan: {len(result.blocking)} blocking of {len(result.findings)} finding(s); "
            f"report in {args.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(report)
    return 1 if result.blocking else 0
