"""`agentsmith redact FILE|-`: print exactly what an external model would receive for a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentsmith.errors import UserError

# Exit status when the file is local-only: nothing of it would ever be sent.
EXIT_LOCAL_ONLY = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "redact",
        help="print exactly what an external model would receive for FILE (or stdin)",
        description="Print, on stdout, exactly what an external model would receive for FILE (`-` or "
        "nothing: stdin); the count of redacted items goes to stderr. A file the policy keeps "
        f"local-only prints a one-line refusal on stderr and exits {EXIT_LOCAL_ONLY}.",
    )
    parser.add_argument("file", nargs="?", default="-", help="a file, or - for stdin")
    parser.add_argument("--policy", help="policy file (default: the bundled default policy)")
    parser.add_argument(
        "--repo",
        help="repository root the file's path is relative to (default: the "
        "git top level of the file, else the current folder)",
    )
    parser.set_defaults(func=handle)


def _repo_root(file: Path, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).resolve()
    from agentsmith import vcs

    try:
        return vcs.repo_root(file.parent)
    except UserError:
        return Path.cwd().resolve()  # not in a repository: paths are relative to where the user is


def handle(args: argparse.Namespace) -> int:
    from agentsmith.policy import load_policy
    from agentsmith.redact import classify_files, classify_text, redact

    policy = load_policy(args.policy).policy
    if args.file == "-":
        text = sys.stdin.read()
        local_only, reason, _ = classify_text(text, policy)
        label = "stdin"
    else:
        path = Path(args.file).resolve()
        if not path.is_file():
            raise UserError(f"no such file: {args.file}", "pass an existing file, or - for stdin")
        root = _repo_root(path, args.repo)
        relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        classification = classify_files(root, [relative], policy)
        local_only = relative in classification.local_only
        reason = classification.reasons.get(relative)
        label = args.file
        text = "" if local_only else path.read_text(encoding="utf-8", errors="replace")
    if local_only:
        print(
            f"agentsmith: {label} is local-only ({reason}); it never leaves this machine, not even redacted",
            file=sys.stderr,
        )
        return EXIT_LOCAL_ONLY
    result = redact(text, policy, filename=label)
    sys.stdout.write(result.text)
    sys.stdout.flush()
    print(f"agentsmith: {result.count} item(s) redacted", file=sys.stderr)
    return 0
