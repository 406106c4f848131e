"""The pieces a prompt is built from when whole files do not fit: the failing assertion out of a test
log, the test functions that matter for a symbol, and token counting for the budget."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from agentsmith.edits import pyast
from agentsmith.models.portfolio import estimate_text_tokens as estimate_tokens  # noqa: F401 (re-exported)

TokenCounter = Callable[[str], int]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")
_BANNER = re.compile(r"^={3,} (.+?) ={3,}$")
_LOCATION = re.compile(r"^[\w./\\-]+\.py:\d+: \w")
# Parametrized ids may hold spaces ("[1 second]"): the id runs up to pytest's " - message".
_SUMMARY_LINE = re.compile(r"^(FAILED|ERROR) (.+?)(?: - .*)?$")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def failed_tests(output: str) -> list[str]:
    """Node ids pytest lists in its short summary (`FAILED path::name - message`, `ERROR path`)."""
    found = []
    for line in strip_ansi(output).splitlines():
        match = _SUMMARY_LINE.match(line)
        if match:
            found.append(match.group(2))
    return list(dict.fromkeys(found))


_COUNT = re.compile(r"\b(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")


def pytest_counts(output: str) -> dict[str, int]:
    """pytest's closing counts ("3 failed, 12 passed in 0.4s"): {"failed": 3, "passed": 12}; {} if none."""
    lines = [line for line in strip_ansi(output).splitlines() if _COUNT.search(line)]
    if not lines:
        return {}
    counts: dict[str, int] = {}
    for number, kind in _COUNT.findall(lines[-1]):
        counts["errors" if kind.startswith("error") else kind] = int(number)
    return counts


_DURATION = re.compile(r" in \d+(?:\.\d+)?s(?: \(\d+:\d\d:\d\d\))?")
_ADDRESS = re.compile(r"\b0x[0-9a-f]{6,}\b")


def steady(text: str) -> str:
    """The log without what changes from run to run and tells the model nothing: pytest's durations
    ("in 1.23s") and object addresses. The same failure then makes the same prompt: llama.cpp reuses it,
    and a seeded run draws the same candidates again (a seeded test drew new ones when only the time did)."""
    return _ADDRESS.sub("0x...", _DURATION.sub("", text))


def trim_failure_log(log: str, max_chars: int = 3_000) -> str:
    """What a model needs from a failed test run: per failure its header, the `>` line, the `E` lines and
    the location line; then the short summary. Anything else (not pytest output): the tail."""
    text = steady(strip_ansi(log or "").rstrip())
    lines = text.splitlines()
    if not any(line.startswith("E ") for line in lines) and "short test summary" not in text:
        return text[-max_chars:]
    kept: list[str] = []
    in_summary = False
    previous = ""
    for line in lines:
        banner = _BANNER.match(line)
        if banner:
            in_summary = "short test summary" in banner.group(1)
            if in_summary or re.search(r"\d+ (failed|passed|errors?)", banner.group(1)):
                kept.append(line)
            continue
        if in_summary or _SECTION.match(line) or line.startswith("E ") or _LOCATION.match(line):
            kept.append(line)
        elif line.startswith(">"):
            if previous.strip() and not previous.startswith((">", "E ")):
                kept.append(previous)  # the line before `>` often holds the call's inputs
            kept.append(line)
        previous = line
    trimmed = "\n".join(kept)
    if len(trimmed) <= max_chars:
        return trimmed
    # Keep the first failures whole (they are what to fix first) and the summary's end.
    head, tail = trimmed[: max_chars * 2 // 3 - 8], trimmed[-(max_chars // 3) :]
    return head.rsplit("\n", 1)[0] + "\n...\n" + tail.split("\n", 1)[-1]


# A test's cases often live in a table at the top of its file (inflection's tests are all
# `@pytest.mark.parametrize(..., CAMEL_TO_UNDERSCORE)`): without it the model sees no expected value.
DATA_LINES = 24


def test_functions(root: Path, test_files: list[str], *, wanted: list[str], symbols: list[str]) -> list[dict]:
    """The test functions to show: those `wanted` names or node ids pick, else those whose name or body
    mentions one of `symbols`. Each: {"path", "qualname", "text"}, in file order; a test's text starts
    with the module-level tables it reads (abridged, each shown once)."""
    # A node id names its file and class: `test_basic` of WindowedTests is not every class's test_basic
    # (more-itertools has 56; the 1.5B model was shown three of the wrong ones). Bare names match anywhere.
    wanted_names = {w.split("[")[0] for w in wanted if "::" not in w}
    wanted_ids = {w.split("[")[0] for w in wanted if "::" in w}
    words = [re.compile(rf"\b{re.escape(s.rsplit('.', 1)[-1])}\b") for s in symbols if s]
    picked: list[dict] = []
    for rel in test_files:
        path = root / rel
        if not path.is_file() or not rel.endswith(".py"):
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        data = pyast.module_data(source)
        shown: set[str] = set()
        for d in pyast.definitions(source):
            if d.kind == "class" or not d.name.startswith("test"):
                continue
            node_id = f"{rel}::{d.qualname.replace('.', '::')}"
            text = pyast.extract(source, d)
            if wanted:
                hit = d.name in wanted_names or node_id in wanted_ids
            else:
                hit = any(w.search(d.name) or w.search(text) for w in words)
            if hit:
                tables = [
                    n for n in dict.fromkeys(re.findall(r"\b[A-Za-z_]\w*\b", text)) if n in data and n not in shown
                ]
                shown.update(tables)
                text = "".join(pyast.abridged(data[n], DATA_LINES) + "\n\n" for n in tables) + text
                picked.append({"path": rel, "qualname": d.qualname, "node_id": node_id, "text": text})
    return picked
