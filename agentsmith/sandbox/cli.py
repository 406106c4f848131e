"""`agentsmith sandbox build` and `agentsmith sandbox exec [--repo PATH] [--timeout S] -- CMD...`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("sandbox", help="build the sandbox image, or run a command in it")
    sub = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    build = sub.add_parser("build", help="build the sandbox image (skipped when up to date)")
    build.add_argument(
        "--dockerfile",
        action="store_true",
        help="build from sandbox/Dockerfile (needs a registry) instead of Debian packages",
    )
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.add_argument("--policy", help="policy file naming the image (default: the default policy)")
    build.set_defaults(func=build_command)

    run = sub.add_parser("exec", help="run one command in a fresh sandbox on a copy of the repo")
    run.add_argument("--repo", default=".", help="repository whose working tree is copied in")
    run.add_argument("--timeout", type=float, default=None, help="seconds (default: the policy's)")
    run.add_argument("--policy", help="policy file (default: the default policy)")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD...")
    run.set_defaults(func=exec_command)


def build_command(args) -> int:
    from agentsmith.policy import load_policy
    from agentsmith.sandbox.image import build_sandbox

    policy = load_policy(args.policy).policy
    build_sandbox(policy.sandbox.image, dockerfile=args.dockerfile, force=args.force)
    return 0


def exec_command(args) -> int:
    import uuid

    from agentsmith.errors import UserError
    from agentsmith.policy import load_policy
    from agentsmith.sandbox import open_sandbox
    from agentsmith.sandbox.engine import repo_path

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UserError("no command given", "put it after --, e.g. `agentsmith sandbox exec -- python3 -V`")
    repo = repo_path(args.repo)
    policy = load_policy(args.policy).policy
    with open_sandbox(policy.sandbox, run_id=f"exec-{uuid.uuid4().hex[:8]}", worktree=repo) as sandbox:
        result = sandbox.exec(argv, timeout=args.timeout)
    sys.stdout.write(result.output)
    sys.stdout.flush()
    if result.limit:
        print(
            f"agentsmith: stopped by the {result.limit} limit ({describe_limit(result.limit, policy.sandbox, args.timeout)}); "
            f"exit {result.exit_code}, backend {result.backend}",
            file=sys.stderr,
        )
    elif result.exit_code == 137:
        print(f"agentsmith: the command was killed (exit 137, backend {result.backend})", file=sys.stderr)
    return result.exit_code


def describe_limit(limit: str, policy, timeout: float | None) -> str:
    return {
        "timeout": f"ran longer than {timeout if timeout is not None else policy.timeout_s:g} s",
        "memory": f"used more than {policy.memory} of memory",
        "pids": f"tried to run more than {policy.pids} processes",
        "output": f"printed more than {policy.output_limit_bytes} bytes",
    }.get(limit, limit)
