"""How long the repository map takes on a 100k-line repo: cold (empty cache) and warm (cached).

The repo is real code: the running Python's standard library sources, copied file by file into a
scratch folder until it holds --lines lines (or pass --repo to map an existing checkout).

    .venv/bin/python benchmarks/repomap_bench.py [--lines 100000] [--repo PATH]
"""

from __future__ import annotations

import argparse
import shutil
import sysconfig
import tempfile
import time
from pathlib import Path

from agentsmith.repomap import build_map, rank


def stdlib_repo(dest: Path, lines: int) -> int:
    """Copy stdlib modules (tests excluded) into dest until `lines` lines; returns lines copied."""
    source = Path(sysconfig.get_paths()["stdlib"])
    total = 0
    for path in sorted(source.rglob("*.py")):
        rel = path.relative_to(source)
        if any(part in {"test", "tests", "site-packages", "idlelib", "lib2to3"} for part in rel.parts):
            continue
        text = path.read_bytes()
        target = dest / "pkg" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text)
        total += text.count(b"\n")
        if total >= lines:
            break
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repo", default=None, help="map this folder instead of a copied stdlib")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repomap-bench-") as tmp:
        root = Path(args.repo) if args.repo else Path(tmp) / "repo"
        if not args.repo:
            stdlib_repo(root, args.lines)
        cache = Path(tmp) / "cache.sqlite"
        cold = build_map(root, cache=cache)
        warm = build_map(root, cache=cache)
        started = time.perf_counter()
        top = rank(warm, "parse an HTTP date header into a datetime")[:3]
        ranked = time.perf_counter() - started
        print(
            f"repo: {root} ({cold.lines()} lines, {cold.stats['files']:.0f} .py files, "
            f"{sum(len(f.symbols) for f in cold.files.values())} symbols)"
        )
        print(f"cold (parse all, fill cache): {cold.stats['seconds']:.2f} s, parsed {cold.stats['parsed']:.0f}")
        print(f"warm (hash + cache lookup):   {warm.stats['seconds']:.2f} s, cached {warm.stats['cached']:.0f}")
        print(
            f"rank one task over the map:   {ranked:.2f} s; top: "
            + ", ".join(f"{c.path}:{c.symbol.qualname}" for c in top)
        )
        print(f"cache file: {cache.stat().st_size / 1e6:.1f} MB")
        if not args.repo:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
