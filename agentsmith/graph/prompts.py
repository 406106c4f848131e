"""What the model is told, assembled to the tier's context budget.

Small files go whole (small models follow whole-file answers better than diffs: measured). A big file
is shown as its target function(s) in full plus a skeleton of the rest, and the model answers with the
replaced function; tests are the relevant test functions, the log is the failing assertion. When the
prompt is still over budget, sections shrink in a fixed order, then the largest is cut: a prompt never
exceeds the budget it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from agentsmith.edits import pyast
from agentsmith.graph.excerpts import TokenCounter, estimate_tokens, test_functions, trim_failure_log
from agentsmith.records import Attempt

SYSTEM = (
    "You are a careful software engineer working in a git repository. "
    "Change only the files you are asked to change. Never change test files. "
    "Answer with the complete new content of every file you change, each as: the file path on a "
    "line of its own, then a fenced code block holding the whole file. "
    "For a small change to a large file you may instead give SEARCH/REPLACE blocks:\n"
    "<path of the file>\n<<<<<<< SEARCH\nexact existing lines\n=======\nnew lines\n>>>>>>> REPLACE\n"
    "Keep any explanation short."
)

# Whole-file mode (every file to change is small): no word of SEARCH/REPLACE, which the 1.5B model
# otherwise mixes into a whole-file answer (half a block with `=======`, seen on retries here).
SYSTEM_WHOLE = (
    "You are a careful software engineer working in a git repository. "
    "Change only the files you are asked to change. Never change test files. "
    "Answer with the complete new content of every file you change, each as: the file path on a "
    "line of its own, then a fenced code block holding the whole file."
)

SYSTEM_FOCUSED = (
    "You are a careful software engineer working in a large git repository. Never change test files. "
    "You see the function to change in full and the rest of its file as an outline (bodies shown as ...). "
    "Answer with the file path on its own line, then one fenced code block holding the complete new "
    "definition of the function: the whole `def`, with its decorators and docstring. Do not repeat the "
    "rest of the file: it is kept as it is."
)

# On a retry the model must reason before it writes: answering with code at once, small models repeat
# their mistake; reasoning first, about 1 sample in 6 passes (Qwen2.5-Coder 1.5B on slugify, here).
# The instruction goes at the end, the system message stays the first attempt's: a retry's prompt then
# starts with the first attempt's tokens and llama.cpp reuses them (a 5,000-token prompt took about a
# minute to evaluate again on 2 cores).
THINK_FIRST = (
    "Think about every test case first: for each test, write its input, its expected output and how the "
    "code gets there. Then "
)

# A local model's answer is begun for it: the path and the opened code block (whole-file), plus the
# signature and docstring (one function to write), so it writes code and nothing else. Not begun, the
# 1.5B model answered the path alone in an empty block (a quarter of the candidates in one Exercism
# run), echoed a function template's placeholder as the body (4 of 65 real-library answers), and spent
# half of each candidate's time retyping the docstring. A retry's reasoning comes first, in prose: the
# block is begun only when the model opens one (see `LocalTier.chat`), so no reasoning is committed.
SMALL_FILE_LINES = 150  # below this a file goes whole: easier for small models (measured)
WHOLE_FILE_ALWAYS_LINES = 80  # ... and below this always; above it, only if the step's definitions
TARGET_SHARE_FOR_WHOLE = 0.4  # make up this share of it (else the definitions alone are asked for)
MAX_LOG_CHARS = 3_000
# A tier that charges for input tokens gets the failure as a summary: the first failing assertion with its
# values and the tail of pytest's short summary. The full 3,000 characters made an escalated call cost
# 1.07-1.37x what frontier-only paid for the same task (the default experiment, measured here).
COMPACT_LOG_CHARS = 800
MESSAGE_OVERHEAD = 8  # chat-template tokens around each message (Qwen: <|im_start|>role ... <|im_end|>)
CUT_MARK = "\n# ... (cut to fit the model's context)\n"


@dataclass
class EditPrompt:
    messages: list[dict[str, str]]
    mode: str  # "whole-file" | "function" | "search-replace"
    tokens: int
    budget: int | None
    answer_format: str
    function_level: list[str] = field(default_factory=list)  # big files answered by replaced functions
    targets: dict[str, list[str]] = field(default_factory=dict)
    shrunk: list[str] = field(default_factory=list)  # what was reduced to fit, in order
    prefill: str = ""  # the answer's code block begun, for a tier that continues a begun answer
    reason_first: bool = False  # the model reasons before the block begins (a retry)
    repair: bool = False  # the code shown is the previous attempt's, to fix

    def summary(self) -> dict:
        return {
            "mode": self.mode,
            "tokens": self.tokens,
            "budget": self.budget,
            "shrunk": self.shrunk,
            "targets": self.targets,
            "function_level": self.function_level,
            "begun": bool(self.prefill),
            "repair": self.repair,
        }


def retry_budget(budget: int, history: list[Attempt], tier: str) -> int:
    """A request a tier refused as too big is never resent unchanged: the next prompt for that tier is
    assembled to at most 60% of the refused one (a server's real context can be smaller than declared)."""
    for attempt in history:
        if attempt.overflow and attempt.tier == tier and attempt.prompt_tokens:
            budget = min(budget, int(attempt.prompt_tokens * 0.6))
    return budget


def line_count(root: Path, relative: str) -> int:
    path = root / relative
    return len(path.read_text(encoding="utf-8", errors="replace").splitlines()) if path.is_file() else 0


def is_small(root: Path, relative: str) -> bool:
    return line_count(root, relative) < SMALL_FILE_LINES or not relative.endswith(".py")


def _read(root: Path, relative: str) -> str:
    path = root / relative
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def _block(relative: str, label: str, text: str) -> str:
    lang = "python" if relative.endswith(".py") else ""
    if text and not text.endswith("\n"):
        text += "\n"
    # Docstrings hold fenced examples (humanize's do): the outer fence must be longer than any inside.
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"^\s*(`{3,})", text, re.M)), default=0))
    return f"{relative} ({label})\n{fence}{lang}\n{text}{fence}\n"


def target_symbols(root: Path, relative: str, task: str, symbols: list[dict] | None) -> list[str]:
    """The definitions a step changes in a file: the planner's symbols, else those the task names."""
    source = _read(root, relative)
    defined = {d.qualname: d for d in pyast.definitions(source)}
    chosen = [s.get("qualname") or s.get("name") for s in symbols or [] if s.get("path") in (relative, None)]
    found = [q for q in chosen if q in defined] + [
        d.qualname for q in chosen if q not in defined for d in [pyast.find(source, q)] if d
    ]
    if not found:
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", task))
        found = [q for q, d in defined.items() if (q in words or d.name in words) and len(d.name) > 2]
        # A class named in the task is too coarse when the task also names one of its methods.
        found = [q for q in found if not any(o.startswith(q + ".") for o in found)]
    return list(dict.fromkeys(found))


class _Section:
    """One part of the prompt and its smaller renderings, largest first."""

    def __init__(self, name: str, variants: list[str], labels: list[str] | None = None) -> None:
        self.name, self.variants, self.index = name, variants or [""], 0
        self.labels = labels or [f"{name}:{i}" for i in range(len(self.variants))]

    @property
    def text(self) -> str:
        return self.variants[self.index]

    def shrink(self) -> str | None:
        if self.index + 1 >= len(self.variants):
            return None
        self.index += 1
        return self.labels[self.index]


def build_edit_prompt(
    *,
    task: str,
    root: Path,
    files: list[str],
    context_files: list[str],
    previous: Attempt | None,
    symbols: list[dict] | None = None,
    tests: list[str] | None = None,
    budget: int | None = None,
    count: TokenCounter = estimate_tokens,
    begins: bool = True,
    log_chars: int = MAX_LOG_CHARS,
    repair: bool = False,
    focus: int = 0,
) -> EditPrompt:
    """`begins`: the tier continues an answer begun for it (a local model): the prompt then carries the
    answer's start (`prefill`) instead of a template to copy. `repair`: the files under `root` hold the
    previous attempt's code (not the original), and the model is asked to fix it. `focus`: of a step's
    several definitions, which one a begun answer starts with, counted from the last shown (a call's
    number in the step: successive candidates begin successive definitions)."""
    log = (previous.log or previous.error or "") if previous else ""
    repair = bool(repair and previous)
    whole = _whole_file_prompt(
        task, root, files, context_files, previous, log, budget, count, begins, log_chars, repair, symbols
    )
    if whole is not None:
        return whole
    return _focused_prompt(
        task,
        root,
        files,
        context_files,
        previous,
        log,
        symbols or [],
        tests or [],
        budget,
        count,
        begins,
        log_chars,
        repair,
        focus,
    )


DRAFT_LABEL = "a previous attempt's content, to fix"  # a repair's file, where the original's is "current content"


def _failure_heading(repair: bool) -> str:
    if repair:
        return "The code shown above is a previous attempt at this task. It failed. What went wrong:"
    return "A previous attempt at this task failed. What went wrong:"


def _fix_it(answer: str, repair: bool) -> str:
    """A retry reasons first; a repair is told to keep what works: rewritten from nothing, a paid tier's
    retry came back identical to its failed first answer (4 of 13 frontier-only tasks, here)."""
    if repair:
        return THINK_FIRST + "fix the code shown (keep what already works, change what the failure shows): " + answer
    return THINK_FIRST + answer


def _measure(messages: list[dict[str, str]], count: TokenCounter) -> int:
    return sum(count(m["content"]) + MESSAGE_OVERHEAD for m in messages) + MESSAGE_OVERHEAD


def mostly_other_code(root: Path, relative: str, task: str, symbols: list[dict] | None) -> bool:
    """A small file the step changes only a little of: answered by definition, like a big one. Whole,
    iso8601's 125-line module took the 1.5B model 245 s to retype (its 40-line regex included) for a
    20-line function; the Exercism stubs (at most 77 lines, mostly stubs) stay whole."""
    if not relative.endswith(".py") or not (root / relative).is_file():
        return False
    source = _read(root, relative)
    lines = len(source.splitlines())
    if lines < WHOLE_FILE_ALWAYS_LINES:
        return False
    spans = [
        d.end - d.start + 1 for q in target_symbols(root, relative, task, symbols) for d in [pyast.find(source, q)] if d
    ]
    return bool(spans) and sum(spans) < lines * TARGET_SHARE_FOR_WHOLE


def _whole_file_prompt(
    task, root, files, context_files, previous, log, budget, count, begins, log_chars, repair=False, symbols=None
) -> EditPrompt | None:
    if not all(is_small(root, f) for f in files) or any(mostly_other_code(root, f, task, symbols) for f in files):
        return None
    parts = [f"Task: {task}\n"]
    if context_files:
        parts.append("Tests that must pass (read-only: do not change or repeat them):\n")
        parts.extend(_block(rel, "read-only", _read(root, rel)) for rel in context_files)
    parts.append("File(s) to change:\n")
    label = DRAFT_LABEL if repair else "current content"
    parts.extend(_block(rel, label, _read(root, rel)) for rel in files)
    if previous:
        parts.append(f"{_failure_heading(repair)}\n```\n{trim_failure_log(log, log_chars)}\n```\n")
    # Small models copy the last code block they saw: end with what to write, plainly.
    wanted = ", ".join(files) if files else "the files you change"
    answer = (
        f"reply with the complete new content of {wanted}: the path on its own line, "
        "then one fenced code block with the whole file."
    )
    answer = _fix_it(answer, repair) if previous else answer[0].upper() + answer[1:]
    parts.append(answer)
    messages = [{"role": "system", "content": SYSTEM_WHOLE}, {"role": "user", "content": "\n".join(parts)}]
    tokens = _measure(messages, count)
    if budget is not None and tokens > budget:
        return None  # too big whole: the focused prompt shrinks to fit
    prefill = f"{files[0]}\n```{'python' if files[0].endswith('.py') else ''}\n" if begins and len(files) == 1 else ""
    tokens += count(prefill) if prefill else 0
    if budget is not None and tokens > budget:
        return None
    return EditPrompt(
        messages, "whole-file", tokens, budget, answer, prefill=prefill, reason_first=bool(previous), repair=repair
    )


def _focused_prompt(
    task,
    root,
    files,
    context_files,
    previous,
    log,
    symbols,
    tests,
    budget,
    count,
    begins,
    log_chars,
    repair=False,
    focus=0,
) -> EditPrompt:
    # Small files come here only when their whole-file prompt did not fit (iso8601's module with its failure
    # log), or when the step changes little of them: they are then answered by definition too, not by
    # SEARCH/REPLACE over the whole file shown.
    crowded = all(is_small(root, rel) for rel in files)
    targets = {
        rel: (
            target_symbols(root, rel, task, symbols)
            if rel.endswith(".py") and (root / rel).is_file() and (crowded or not is_small(root, rel))
            else []
        )
        for rel in files
    }
    whole = {rel for rel in files if is_small(root, rel) and not targets[rel]}
    function_level = [rel for rel in files if targets[rel]]
    mode = "function" if function_level else "search-replace"
    sections: dict[str, _Section] = {}

    code_parts, skeleton_parts = [], []
    for rel in files:
        source = _read(root, rel)
        if not (root / rel).is_file():
            code_parts.append(_block(rel, "new file: it does not exist yet", ""))
        elif rel in whole:
            label = DRAFT_LABEL if repair else "current content"
            code_parts.append(_block(rel, f"{label}, small: give it whole if you change it", source))
        elif targets[rel]:
            shown = "".join(pyast.extract(source, d) + "\n" for q in targets[rel] for d in [pyast.find(source, q)] if d)
            label = "a previous attempt at the definition(s), to fix" if repair else "the definition(s) to change"
            code_parts.append(_block(rel, f"{label}: {', '.join(targets[rel])}", shown))
            keep = set(targets[rel])
            skeleton_parts.append(
                (
                    rel,
                    [pyast.skeleton(source, keep, docstrings=False), pyast.signatures(source, keep)],
                )
            )
        else:
            code_parts.append(_block(rel, "current content", source))
    sections["code"] = _Section("code", ["File(s) to change:\n" + "".join(code_parts)])
    if skeleton_parts:
        variants = []
        for level in range(2):
            variants.append(
                "The rest of the file, as an outline (read-only context; bodies elided):\n"
                + "".join(_block(rel, "outline", levels[level]) for rel, levels in skeleton_parts)
            )
        sections["outline"] = _Section("outline", [*variants, ""], ["outline", "outline:signatures", "outline:dropped"])

    names = [q for qs in targets.values() for q in qs]
    test_files = list(dict.fromkeys(list(context_files) + [t.split("::")[0] for t in tests if "::" in t]))
    picked = test_functions(root, test_files, wanted=tests, symbols=names) if (tests or names) else []
    header = "Tests that must pass (read-only: do not change or repeat them):\n"
    if picked:

        def render(items: list[dict]) -> str:
            if not items:
                return ""
            return header + "".join(_block(p["path"], f"test {p['qualname']}", p["text"]) for p in items)

        counts = [len(picked), 3, 1, 0]
        counts = [c for i, c in enumerate(counts) if c <= len(picked) and (i == 0 or c < counts[0])]
        sections["tests"] = _Section(
            "tests", [render(picked[:c]) for c in counts], [f"tests:{c} of {len(picked)}" for c in counts]
        )
    elif context_files:
        whole = header + "".join(_block(rel, "read-only", _read(root, rel)) for rel in context_files)
        sections["tests"] = _Section("tests", [whole, ""], ["tests:whole", "tests:dropped"])
    if previous:
        sizes = [n for n in (log_chars, 1_500, 600) if n <= log_chars]
        sizes = list(dict.fromkeys(sizes))
        sections["log"] = _Section(
            "log",
            [f"{_failure_heading(repair)}\n```\n{trim_failure_log(log, n)}\n```\n" for n in sizes],
            [f"log:{n}" for n in sizes],
        )

    prefill = ""
    if mode == "function":
        wanted = "; ".join(f"{rel}: {', '.join(targets[rel])}" for rel in function_level)
        several = sum(len(v) for v in targets.values()) > 1
        # A template with the real signature: asked only in words, the 1.5B model answered with the path in
        # a code block and stopped (seen here on humanize). Of several definitions, the last one shown: a
        # wrapper comes first and what it hands its work to after it (planning's delegates), and a thin
        # wrapper is seldom where the fault is.
        rel = function_level[-1]
        source = _read(root, rel)
        first = pyast.find(source, targets[rel][-1])
        template = (
            (f"{rel}\n```python\n{pyast.header(source, first)}{' ' * 4}# the complete new body\n```") if first else ""
        )
        if begins and several:
            # Begun, a local model writes one definition: of several (a wrapper and what it hands its work
            # to), each call begins another, the last shown first. Not begun, the 1.5B model gave all of
            # them back as shown (inflection's ordinalize and ordinal, twice).
            order = [(r, q) for r in reversed(function_level) for q in reversed(targets[r])]
            rel, name = order[focus % len(order)]
            source = _read(root, rel)
            first = pyast.find(source, name)
        if begins and first:
            begun = pyast.opening(source, first)
            prefill = f"{rel}\n```python\n{begun}" if begun else ""
        # Begun, the answer needs no template: shown one, the 1.5B model copied its placeholder as the body.
        form = "" if prefill else f" Reply in exactly this form:\n{template}"
        which = f"the one(s) you change of {wanted}" if several else wanted
        answer = (
            f"write the complete new definition of {which}: the whole def, with its docstring. Do not "
            f"repeat the rest of the file.{form}"
        )
        answer = _fix_it(answer, repair) if previous else answer[0].upper() + answer[1:]
        system = SYSTEM_FOCUSED
    else:
        answer = (
            "Reply with SEARCH/REPLACE blocks for the lines you change: the path on its own line, then "
            "<<<<<<< SEARCH, the exact existing lines, =======, the new lines, >>>>>>> REPLACE. "
            "A small file may be given whole instead."
        )
        system = SYSTEM

    # What gives way first: the log's length (it comes after the code, so the first attempt's prompt stays
    # a prefix of the retry's and its evaluation is reused), then the outline's docstrings, then its
    # bodies of signatures; the tests that must pass go last (a boltons task lost its only test first and
    # the 1.5B model answered blind).
    order = ["log", "outline", "log", "outline", "tests", "tests", "outline", "tests"]
    layout = ["tests", "outline", "code", "log"]  # the code to change comes last: small models copy the last block

    def assemble() -> list[dict[str, str]]:
        body = [f"Task: {task}\n"] + [sections[n].text for n in layout if n in sections and sections[n].text]
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join([*body, answer])}]

    begun_tokens = count(prefill) if prefill else 0  # the begun answer is part of the prompt evaluated
    messages = assemble()
    tokens = _measure(messages, count) + begun_tokens
    shrunk: list[str] = []
    steps = iter(order)
    while budget is not None and tokens > budget:
        name = next(steps, None)
        if name is None:
            break
        label = sections[name].shrink() if name in sections else None
        if label:
            shrunk.append(label)
            messages = assemble()
            tokens = _measure(messages, count) + begun_tokens
    if budget is not None and tokens > budget and prefill:
        prefill, begun_tokens = "", 0  # the answer is asked for in words; the code shown is worth more
        shrunk.append("begun:dropped")
        tokens = _measure(messages, count)
    while budget is not None and tokens > budget:
        # Nothing left to drop: cut the code shown from its end (a SEARCH block can still match the start).
        code = sections["code"]
        text = code.text
        over = tokens - budget
        keep = max(0, len(text) - int(over * 4.0) - len(CUT_MARK) - 64)
        code.variants[code.index] = text[:keep] + CUT_MARK
        shrunk.append(f"code:cut to {keep} chars")
        messages = assemble()
        tokens = _measure(messages, count) + begun_tokens
        if keep == 0:
            break
    return EditPrompt(
        messages,
        mode,
        tokens,
        budget,
        answer,
        function_level,
        {k: v for k, v in targets.items() if v},
        shrunk,
        prefill,
        bool(previous and prefill),
        repair,
    )
