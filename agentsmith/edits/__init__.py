"""Model answers to file edits: SEARCH/REPLACE blocks, replaced functions, whole files as fallback,
applied safely: a Python file must still parse, and definitions the step did not name must survive."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agentsmith.edits import pyast
from agentsmith.seams import Incident


@dataclass
class Edit:
    path: str
    search: str | None  # None: `replace` is the whole new file
    replace: str


@dataclass
class ApplyResult:
    applied: list[str] = field(default_factory=list)
    refused: list[Incident] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # SEARCH text not found, and similar


class PathRefused(Exception):
    pass


_FENCE = re.compile(r"^(`{3,}|~{3,})([^\n`]*)\n(.*?)^\1[ \t]*$", re.S | re.M)
_SEARCH_BLOCK = re.compile(r"^<{5,9} ?SEARCH[^\n]*\n(.*?)^={5,9}[ \t]*\n(.*?)^>{5,9} ?REPLACE[^\n]*$", re.S | re.M)
_BARE_PATH = re.compile(r"[\w-]+(/[\w.-]+)*\.(py|pyi|js|ts|go|rs|rb|java|toml|cfg|ini|ya?ml|json|md|txt)")
# Half a SEARCH/REPLACE block inside a whole-file answer (a `=======` and `>>>>>>> REPLACE` with no
# SEARCH): markers no file holds on their own, dropped so the code between them is not lost.
_STRAY_MARKER = re.compile(r"^(={7}|>{7} ?REPLACE|<{7} ?SEARCH)[ \t]*\n", re.M)
_PATH_TOKEN = re.compile(r"([\w./-]+\.[A-Za-z0-9]{1,8})")


def _path_in(line: str) -> str | None:
    """A file name written on the line before a block: `text.py`, `**text.py**`, `# File: text.py`."""
    cleaned = line.strip().strip("*`#:").strip()
    cleaned = re.sub(r"^(file(name)?|path)\s*[:=]\s*", "", cleaned, flags=re.I)
    match = _PATH_TOKEN.fullmatch(cleaned.strip("*` ")) or _PATH_TOKEN.search(cleaned)
    return match.group(1) if match else None


def parse_edits(answer: str, *, default_path: str | None = None) -> list[Edit]:
    """Every edit in a model answer. `default_path`: the file a lone unnamed code block replaces."""
    edits: list[Edit] = []
    consumed: list[tuple[int, int]] = []
    for match in _SEARCH_BLOCK.finditer(answer):
        before = answer[: match.start()].rstrip("\n").splitlines()
        path = next((p for p in (_path_in(line) for line in reversed(before[-3:])) if p), default_path)
        if path:
            edits.append(Edit(path=path, search=match.group(1), replace=match.group(2)))
        consumed.append(match.span())
    unnamed: list[str] = []
    label: str | None = None  # a block holding only a path names the block after it
    for match in _FENCE.finditer(answer):
        if any(s <= match.start() < e or match.start() <= s < match.end() for s, e in consumed):
            continue
        body = match.group(3)
        if _SEARCH_BLOCK.search(body):
            continue
        info = match.group(2).strip()
        before = answer[: match.start()].rstrip("\n").splitlines()
        first_line = body.splitlines()[0] if body.strip() else ""
        path = None
        if info and " " in info:
            path = _path_in(info.split(None, 1)[1])
        elif info and "." in info:
            path = _path_in(info)
        if not path and before:
            path = _path_in(before[-1]) if len(before[-1]) < 120 else None
        if not path and re.match(r"#\s*(file(name)?|path)\s*:", first_line, re.I):
            path = _path_in(first_line)
        if _BARE_PATH.fullmatch(first_line.split(" (")[0].strip()):
            # The path written inside the block, on its first line: it names the file and is not part of
            # it. The 1.5B model does this in three shapes (a third of its answers on one bench run here):
            # the path then the code; the path then a ```python line then the code; the path alone in a
            # block of its own, the code in the next.
            path = path or first_line.split(" (")[0].strip()
            body = body.split("\n", 1)[1] if "\n" in body else ""
            if body.startswith(("```", "~~~")):
                body = body.split("\n", 1)[1] if "\n" in body else ""
            if not body.strip():
                label = path
                continue
        path = path or label
        label = None
        if re.search(r"^(>{7} ?REPLACE|<{7} ?SEARCH)", body, re.M):
            body = _STRAY_MARKER.sub("", body)
        if path:
            edits.append(Edit(path=path, search=None, replace=body))
        else:
            unnamed.append(body)
    if not edits and default_path and unnamed:
        # Small models often answer one bare code block: take the longest as the whole file.
        edits.append(Edit(path=default_path, search=None, replace=max(unnamed, key=len)))
    return edits


def retarget(edits: list[Edit], root: Path, targets: list[str]) -> list[Edit]:
    """Models misname files (`path/to/text.py`, `src/text.py`): a path that does not exist but whose
    name matches exactly one target file is that target."""
    by_name: dict[str, list[str]] = {}
    for target in targets:
        by_name.setdefault(PurePosixPath(target).name, []).append(target)
    fixed = []
    for edit in edits:
        name = PurePosixPath(edit.path.replace("\\", "/")).name
        candidates = by_name.get(name, [])
        suspicious = ".." in edit.path or edit.path.startswith(("/", "\\")) or ".git" in edit.path.split("/")
        if not suspicious and edit.path not in targets and len(candidates) == 1 and not (root / edit.path).exists():
            edit = Edit(path=candidates[0], search=edit.search, replace=edit.replace)
        fixed.append(edit)
    return fixed


def safe_path(root: Path, relative: str) -> Path:
    """The absolute path for `relative` inside `root`, or PathRefused (outside, .git, symlink escape)."""
    if not relative or "\x00" in relative:
        raise PathRefused(f"empty or malformed path {relative!r}")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", relative):
        raise PathRefused(f"absolute path {relative!r}")
    if ".." in pure.parts:
        raise PathRefused(f"path {relative!r} leaves the repository")
    if (pure.parts and pure.parts[0] == ".git") or ".git" in pure.parts:
        raise PathRefused(f"path {relative!r} is inside .git/")
    root = root.resolve()
    target = root.joinpath(*pure.parts)
    # Resolve every existing component: a symlink anywhere on the way may point outside.
    probe = root
    for part in pure.parts:
        probe = probe / part
        if probe.is_symlink():
            real = Path(os.path.realpath(probe))
            if real != root and root not in real.parents:
                raise PathRefused(f"path {relative!r} goes through a symlink that leaves the repository")
    real_parent = Path(os.path.realpath(target.parent))
    if real_parent != root and root not in real_parent.parents:
        raise PathRefused(f"path {relative!r} resolves outside the repository")
    return target


def apply_edits(
    root: Path,
    edits: list[Edit],
    *,
    read_only: set[str] = frozenset(),
    allowed_removals: set[str] = frozenset(),
    function_level: set[str] = frozenset(),
    targets: dict[str, list[str]] | None = None,
) -> ApplyResult:
    """Apply `edits` inside `root`. `function_level`: files for which a code block holding only
    definitions replaces those definitions (big files); elsewhere it does so only when taking it as
    the whole file would drop code. `allowed_removals`: names the step may delete. `targets`: per
    file, the qualified names the step asked for (where a replaced definition goes)."""
    result = ApplyResult()
    for edit in edits:
        try:
            target = safe_path(root, edit.path)
        except PathRefused as refused:
            result.refused.append(Incident(kind="tool-misuse", detail=f"edit refused: {refused}", node="apply"))
            continue
        relative = target.relative_to(root.resolve()).as_posix()
        if relative in read_only:
            result.refused.append(
                Incident(
                    kind="tool-misuse",
                    node="apply",
                    detail=f"edit refused: {relative} is read-only (tests are the verifier)",
                )
            )
            continue
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if edit.search is None:
            new_text = edit.replace
            if (
                current is not None
                and relative.endswith(".py")
                and pyast.looks_like_definitions(new_text)
                and (relative in function_level or pyast.removed_names(current, new_text, allowed_removals))
            ):
                try:
                    new_text, _ = pyast.splice(current, new_text, (targets or {}).get(relative, ()))
                except ValueError as err:
                    result.failed.append(f"{relative}: the replaced function could not be placed ({err})")
                    continue
        else:
            if current is None:
                if edit.search.strip():
                    result.failed.append(f"{relative}: SEARCH block given for a file that does not exist")
                    continue
                new_text = edit.replace
            else:
                new_text = _replace_once(current, edit.search, edit.replace)
                if new_text is None:
                    result.failed.append(f"{relative}: SEARCH text not found")
                    continue
        if not new_text.endswith("\n"):
            new_text += "\n"
        problem = _python_problem(relative, current, new_text, allowed_removals)
        if problem is not None:
            kind, detail = problem
            if kind == "failed":
                result.failed.append(detail)
            else:
                result.refused.append(Incident(kind=kind, node="apply", detail=detail))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(new_text, encoding="utf-8")
        result.applied.append(relative)
    return result


def _python_problem(relative: str, current: str | None, new_text: str, allowed: set[str]) -> tuple[str, str] | None:
    """Why a Python edit must not land: it does not parse, or it drops definitions nobody asked to drop
    (small models "simplify" a big file by leaving most of it out)."""
    if not relative.endswith(".py"):
        return None
    if current is not None and pyast.parse(current) is None:
        return None  # it did not parse before either: nothing to compare with
    error = pyast.syntax_error(new_text)
    if error:
        return "failed", (
            f"edit of {relative} refused: the result would not parse ({error}); answer with complete, valid Python"
        )
    lost = pyast.removed_names(current or "", new_text, allowed)
    if lost:
        shown = ", ".join(lost[:8]) + (f" and {len(lost) - 8} more" if len(lost) > 8 else "")
        return "tool-misuse", (
            f"edit of {relative} refused: your edit removed {shown} which the step did not "
            "name; keep it (answer with only the changed function, or the whole file unchanged "
            "apart from the change)"
        )
    return None


def _replace_once(text: str, search: str, replace: str) -> str | None:
    if search in text:
        return text.replace(search, replace, 1)
    # Models often get trailing whitespace wrong: retry line by line, ignoring it.
    lines, wanted = text.splitlines(keepends=True), [line.rstrip() for line in search.splitlines()]
    if not wanted:
        return text + replace
    for i in range(len(lines) - len(wanted) + 1):
        if [line.rstrip() for line in lines[i : i + len(wanted)]] == wanted:
            return "".join(lines[:i]) + replace + "".join(lines[i + len(wanted) :])
    return None
