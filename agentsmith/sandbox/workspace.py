"""Moving files between a worktree and a sandbox: a tar stream in, checked files out."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath

SKIPPED_DIRS = {".git"}  # never copied in: history, hooks and credentials stay on the host


def worktree_tar(worktree: Path, *, uid: int) -> bytes:
    """The worktree as an uncompressed tar, without `.git`, owned by the sandbox uid.

    Symlinks are copied as links (inside the sandbox they can only point at the sandbox's own
    files); sockets, devices and fifos are skipped.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for folder, dirs, files in os.walk(worktree):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            base = Path(folder)
            for name in dirs + sorted(files):
                if name in SKIPPED_DIRS:
                    continue
                path = base / name
                relative = path.relative_to(worktree).as_posix()
                info = archive.gettarinfo(str(path), arcname=relative)
                if not (info.isreg() or info.isdir() or info.issym()):
                    continue
                info.uid = info.gid = uid
                info.uname = info.gname = ""
                info.mode = (info.mode & 0o755) | (0o700 if info.isdir() else 0o600)
                if info.isreg():
                    with open(path, "rb") as handle:
                        archive.addfile(info, handle)
                else:
                    archive.addfile(info)
    return buffer.getvalue()


def read_allowed_files(archive_bytes: bytes, worktree: Path, wanted: list[str], *, refused: list[str]) -> list[str]:
    """Write the regular files named in `wanted` from a tar of the workspace into the worktree.

    Every other member is ignored: links, devices and directories never reach the host, and a
    member whose name was not asked for is refused. `wanted` has passed the edit path checks.
    """
    from agentsmith.edits import PathRefused, safe_path

    copied: list[str] = []
    if not archive_bytes:
        return copied
    wanted_set = set(wanted)
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:") as archive:
        for member in archive:
            name = str(PurePosixPath(member.name))
            if member.isdir():
                continue
            if name not in wanted_set:
                refused.append(f"sandbox returned {member.name!r}, which was not asked for")
                continue
            if not member.isreg():
                refused.append(f"{name!r} is not a regular file in the sandbox")
                continue
            try:
                target = safe_path(worktree, name)
            except PathRefused as err:
                refused.append(str(err))
                continue
            data = archive.extractfile(member).read()
            target.parent.mkdir(parents=True, exist_ok=True)
            executable = bool(member.mode & stat.S_IXUSR)
            temporary = target.with_name(f".{target.name}.agentsmith-tmp")
            with open(temporary, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, 0o755 if executable else 0o644)
            os.replace(temporary, target)
            copied.append(name)
    return copied
