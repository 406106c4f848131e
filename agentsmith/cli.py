"""`agentsmith` command line. Each part registers its own subcommand from a light `cli` module."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys

from agentsmith.errors import Terminated, UserError

# subcommand -> module exposing `register(subparsers)`; each parser sets `func(args) -> int`.
COMMANDS = {
    "run": "agentsmith.graph.cli",
    "resume": "agentsmith.graph.cli",
    "report": "agentsmith.graph.cli",
    "status": "agentsmith.graph.cli",
    "pr": "agentsmith.forge.cli",
    "scan": "agentsmith.gates.cli",
    "sandbox": "agentsmith.sandbox.cli",
    "redact": "agentsmith.redact.cli",
    "policy": "agentsmith.policy.cli",
    "audit": "agentsmith.audit.cli",
    "models": "agentsmith.models.cli",
    "bench": "agentsmith.bench.cli",
    "tui": "agentsmith.tui.cli",
    "submit": "agentsmith.queue.cli",
    "worker": "agentsmith.queue.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentsmith", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = args.debug or bool(os.environ.get("AGENTSMITH_DEBUG"))
    # CI cancels a job with SIGTERM: clean up exactly as for Ctrl-C (sandbox containers, the bench's
    # frontier server and scratch space, the run's checkpoint kept for `resume`).
    signal.signal(signal.SIGTERM, _terminated)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        if debug:
            raise
        print(f"agentsmith: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        print(
            "agentsmith: interrupted; `agentsmith resume RUN_ID` continues a run, `agentsmith discard RUN_ID` "
            "throws it away",
            file=sys.stderr,
        )
        return 143 if isinstance(err, Terminated) else 130
    except Exception as err:
        if debug:
            raise
        print(f"agentsmith: {internal_error_line(err)}", file=sys.stderr)
        return 2


def internal_error_line(err: Exception) -> str:
    """What went wrong inside, named for a person: the engine, git, a file, or our own bug."""
    detail = (str(err).strip().splitlines() or [""])[0][:300]
    kind = type(err)
    if kind.__module__.startswith("docker"):
        return (
            f"the Docker engine refused a request ({kind.__name__}: {detail}); "
            "check `docker info`, then retry (`--debug` shows the traceback)"
        )
    if isinstance(err, subprocess.CalledProcessError):
        return (
            f"{' '.join(map(str, err.cmd))[:120]} failed with exit {err.returncode}; "
            "run it by hand to see why (`--debug` shows the traceback)"
        )
    if isinstance(err, OSError):
        return f"{detail or kind.__name__}; check the path and its permissions (`--debug` shows the traceback)"
    return (
        f"internal error ({kind.__name__}: {detail}); please report it with the output of "
        "the same command and `--debug`"
    )


def _terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())
