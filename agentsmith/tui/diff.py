"""A unified diff split file by file, rendered with the file's own syntax colours and line numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.syntax import Syntax
from rich.text import Text

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass
class DiffLine:
    kind: str  # "add" | "del" | "ctx" | "hunk" | "note"
    text: str  # without the leading +/-/space
    old: int | None = None
    new: int | None = None


@dataclass
class FileDiff:
    path: str
    lines: list[DiffLine] = field(default_factory=list)
    status: str = "modified"  # "modified" | "added" | "deleted" | "binary"

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == "add")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == "del")

    def row_of(self, new_line: int) -> int | None:
        """The index in `lines` that shows the new file's line `new_line`, if the diff shows it."""
        for index, line in enumerate(self.lines):
            if line.new == new_line and line.kind in ("add", "ctx"):
                return index
        return None


def split_diff(diff: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    current: FileDiff | None = None
    old_no = new_no = 0
    for raw in diff.splitlines():
        if raw.startswith("diff --git "):
            parts = raw.split(" b/", 1)
            current = FileDiff(path=parts[1] if len(parts) == 2 else raw[len("diff --git ") :])
            files.append(current)
            continue
        if current is None:
            continue
        if raw.startswith("new file mode"):
            current.status = "added"
        elif raw.startswith("deleted file mode"):
            current.status = "deleted"
        elif raw.startswith("Binary files"):
            current.status = "binary"
            current.lines.append(DiffLine("note", raw))
        elif raw.startswith(("index ", "--- ", "+++ ", "similarity ", "rename ", "old mode", "new mode")):
            continue
        elif match := _HUNK.match(raw):
            old_no, new_no = int(match.group(1)), int(match.group(2))
            current.lines.append(DiffLine("hunk", raw))
        elif raw.startswith("+"):
            current.lines.append(DiffLine("add", raw[1:], new=new_no))
            new_no += 1
        elif raw.startswith("-"):
            current.lines.append(DiffLine("del", raw[1:], old=old_no))
            old_no += 1
        elif raw.startswith("\\"):
            current.lines.append(DiffLine("note", raw))
        else:
            current.lines.append(DiffLine("ctx", raw[1:], old=old_no, new=new_no))
            old_no += 1
            new_no += 1
    return files


_BACKGROUND = {"add": "on #12361f", "del": "on #3d1518", "ctx": "", "hunk": "", "note": ""}
_SIGN = {"add": "+", "del": "-", "ctx": " ", "hunk": "", "note": ""}


def render_file_diff(file_diff: FileDiff, *, focus_line: int | None = None, theme: str = "monokai") -> Text:
    """The file's diff as Rich text: old/new line numbers, +/- signs, code coloured by its language,
    and the line a finding points at marked so the eye finds it."""
    lexer = Syntax.guess_lexer(file_diff.path)
    code_rows = [i for i, line in enumerate(file_diff.lines) if line.kind in ("add", "del", "ctx")]
    highlighted: dict[int, Text] = {}
    if code_rows:
        # One highlighting pass over all code lines keeps multi-line strings coloured sensibly.
        joined = "\n".join(file_diff.lines[i].text for i in code_rows)
        pieces = Syntax(joined, lexer, theme=theme).highlight(joined).split("\n", allow_blank=True)
        for row, piece in zip(code_rows, pieces):
            highlighted[row] = piece
    focus_row = file_diff.row_of(focus_line) if focus_line is not None else None
    out = Text(no_wrap=True, end="")
    for index, line in enumerate(file_diff.lines):
        if index:
            out.append("\n")
        if line.kind in ("hunk", "note"):
            out.append(line.text, style="bold cyan" if line.kind == "hunk" else "dim italic")
            continue
        marker = "▶" if index == focus_row else " "
        old = "" if line.old is None else str(line.old)
        new = "" if line.new is None else str(line.new)
        start = len(out)
        out.append(f"{marker}{old:>5} {new:>5} ", style="bold yellow" if index == focus_row else "dim")
        out.append(
            _SIGN[line.kind] + " ",
            style="bold green" if line.kind == "add" else "bold red" if line.kind == "del" else "",
        )
        out.append_text(highlighted.get(index, Text(line.text)))
        if _BACKGROUND[line.kind]:
            out.stylize(_BACKGROUND[line.kind], start, len(out))
        if index == focus_row:
            out.stylize("on #5a4a00", start, len(out))
    if not file_diff.lines:
        out.append(f"({file_diff.status}, no text changes)", style="dim italic")
    return out
