"""What the model is told. Whole-file answers: small models follow them better than diffs."""

from __future__ import annotations

from pathlib import Path

SYSTEM = (
    "You are a careful software engineer working in a git repository. "
    "Change only the files you are asked to change. Never change test files. "
    "Answer with the complete new content of every file you change, each as: the file path on a "
    "line of its own, then a fenced code block holding the whole file. "
    "For a small change to a large file you may instead give SEARCH/REPLACE blocks:\n"
    "<path of the file>\n<<<<<<< SEARCH\nexact existing lines\n=======\nnew lines\n>>>>>>> REPLACE\n"
    "Keep any explanation short."
)

SYSTEM_RETRY = (
    "You are a careful software engineer working in a git repository. Never change test files. "
    "Think about every test case first: for each test, write its input, its expected output and how the "
    "code gets there. Then write the code: the file path on its own line, then one fenced code block "
    "holding the whole file."
)

MAX_FILE_CHARS = 12_000
MAX_LOG_CHARS = 3_000


def _file_block(root: Path, relative: str, label: str) -> str:
    path = root / relative
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    if len(text) > MAX_FILE_CHARS:
        text = text[:MAX_FILE_CHARS] + "\n# ... (truncated)\n"
    lang = "python" if relative.endswith(".py") else ""
    return f"{relative} ({label})\n```{lang}\n{text}```\n"


def edit_messages(*, task: str, root: Path, files: list[str], context_files: list[str],
                  previous: dict | None) -> list[dict[str, str]]:
    parts = [f"Task: {task}\n"]
    if context_files:
        parts.append("Tests that must pass (read-only: do not change or repeat them):\n")
        parts.extend(_file_block(root, rel, "read-only") for rel in context_files)
    parts.append("File(s) to change:\n")
    parts.extend(_file_block(root, rel, "current content") for rel in files)
    if previous:
        log = (previous.get("log") or previous.get("error") or "")[-MAX_LOG_CHARS:]
        parts.append("A previous attempt at this task failed. What went wrong:\n" f"```\n{log}\n```\n")
    # Small models copy the last code block they saw: end with what to write, plainly.
    wanted = ", ".join(files) if files else "the files you change"
    if previous:
        parts.append(f"Think about every test case first, then give the whole file {wanted}.")
    else:
        parts.append(f"Reply with the complete new content of {wanted}: the path on its own line, "
                     "then one fenced code block with the whole file.")
    # On a retry the model must reason before it writes: answering with code at once, small models repeat
    # their mistake; reasoning first, about 1 sample in 6 passes (Qwen2.5-Coder 1.5B on slugify, here).
    system = SYSTEM_RETRY if previous else SYSTEM
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]
