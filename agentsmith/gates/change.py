"""The change under scan: which files a working tree changed since a base revision, and both
versions of each, laid out side by side in a scratch folder (``base/`` and ``head/``)."""

from __future__ import annotations

import difflib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from agentsmith import vcs
from agentsmith.errors import UserError

# Files bigger than this are not scanned: generated data, not code a model wrote.
MAX_FILE_BYTES = 2_000_000


@dataclass
class ChangedFile:
    path: str  # in the working tree, relative, forward slashes
    base_path: str | None  # in the base revision (differs on a rename); None when new
    added_lines: set[int] = field(default_factory=set)  # 1-based lines of head not in base


@dataclass
class Change:
    repo: Path
    base: str  # the resolved commit id
    files: list[ChangedFile]
    scratch: Path  # holds base/ and head/

    @property
    def base_root(self) -> Path:
        return self.scratch / "base"

    @property
    def head_root(self) -> Path:
        return self.scratch / "head"

    def head_files(self) -> list[str]:
        return [f.path for f in self.files if (self.head_root / f.path).is_file()]

    def base_files(self) -> list[str]:
        return [f.path for f in self.files if (self.base_root / f.path).is_file()]


# git is vcs's: one module owns it, with one error type
git = vcs.git_bytes


def resolve_base(repo: Path, base: str) -> str:
    return vcs.resolve_revision(repo, base)


def changed_paths(repo: Path, base: str) -> dict[str, str | None]:
    """Working-tree path -> base path (None when the file is new), for every file changed since
    base: tracked edits (staged or not), renames, and untracked files git does not ignore."""
    changes: dict[str, str | None] = {}
    fields = git(repo, "diff", "--name-status", "-z", "-M", "--no-ext-diff", base, "--").split(b"\0")
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i].decode()
        if status.startswith(("R", "C")):
            old, new = fields[i + 1].decode(), fields[i + 2].decode()
            changes[new] = old if status.startswith("R") else None
            i += 3
            continue
        path = fields[i + 1].decode()
        if status != "D":
            changes[path] = None if status == "A" else path
        i += 2
    for raw in git(repo, "ls-files", "--others", "--exclude-standard", "-z").split(b"\0"):
        if raw:
            changes.setdefault(raw.decode(), None)
    return changes


def read_base_blobs(repo: Path, base: str, paths: list[str]) -> dict[str, bytes]:
    """The base revision's content of each path that exists there, in one `git cat-file` process."""
    if not paths:
        return {}
    request = "".join(f"{base}:{p}\n" for p in paths).encode()
    out = git(repo, "cat-file", "--batch", input=request)
    blobs: dict[str, bytes] = {}
    pos = 0
    for path in paths:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        pos = header_end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            blobs[path] = out[pos : pos + size]
            pos += size + 1
    return blobs


def is_scannable(data: bytes) -> bool:
    return len(data) <= MAX_FILE_BYTES and b"\0" not in data[:8192]


def added_lines(base_text: str, head_text: str) -> set[int]:
    matcher = difflib.SequenceMatcher(None, base_text.splitlines(), head_text.splitlines(), autojunk=False)
    lines: set[int] = set()
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            lines.update(range(j1 + 1, j2 + 1))
    return lines


def prepare_change(repo: Path, base: str, scratch: Path, paths: list[str] | None = None) -> Change:
    """Lay out base/ and head/ copies of the changed (or the named) files under `scratch`."""
    root = vcs.repo_root(repo)
    commit = resolve_base(root, base)
    changes = changed_paths(root, commit)
    if paths is not None:
        selected: dict[str, str | None] = {}
        for wanted in (normalise(root, p) for p in paths):
            if (root / wanted).is_dir():  # a folder: the changed files under it
                prefix = "" if wanted in ("", ".") else wanted.rstrip("/") + "/"
                selected.update({p: b for p, b in changes.items() if p.startswith(prefix)})
            else:  # a file: scanned even when unchanged
                selected[wanted] = changes.get(wanted, wanted)
        changes = selected
    base_blobs = read_base_blobs(root, commit, sorted({b for b in changes.values() if b}))
    files: list[ChangedFile] = []
    for path in sorted(changes):
        source = root / path
        # Symlinks are not followed: a link may point outside the repo.
        if source.is_symlink() or not source.is_file():
            continue
        head = source.read_bytes()
        if not is_scannable(head):
            continue
        base_path = changes[path]
        base = base_blobs.get(base_path) if base_path else None
        if base is not None and not is_scannable(base):
            base = None
        write(scratch / "head" / path, head)
        if base is not None:
            write(scratch / "base" / path, base)
        base_text = base.decode("utf-8", "replace") if base is not None else ""
        files.append(
            ChangedFile(
                path=path,
                base_path=base_path if base is not None else None,
                added_lines=added_lines(base_text, head.decode("utf-8", "replace")),
            )
        )
    return Change(repo=root, base=commit, files=files, scratch=scratch)


def normalise(root: Path, path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(root.resolve())
        except ValueError:
            raise UserError(
                f"path {path} is outside the repository {root}", "name files inside the repository"
            ) from None
    text = candidate.as_posix()
    if text.startswith("../") or text == "..":
        raise UserError(f"path {path} is outside the repository {root}", "name files inside the repository")
    return text[2:] if text.startswith("./") else text


def write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def cleanup(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SEMGREP_ENABLE_VERSION_CHECK"] = "0"
    env["SEMGREP_SEND_METRICS"] = "off"
    return env
