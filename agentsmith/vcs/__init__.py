"""Git: the agent works in a worktree on its own branch; the user's checkout is never touched."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from agentsmith.errors import GitError, UserError

_AGENT_IDENTITY = ("agentsmith", "agentsmith@localhost")
_LOCAL_FIX = "check that repository with `git status`; nothing of yours was changed"
_REMOTE_FIX = "check the repository URL and access to it"


def _last_line(stderr: str) -> str:
    return (stderr.strip().splitlines() or ["no message"])[-1][:300]


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {_last_line(proc.stderr)}", _LOCAL_FIX)
    return proc.stdout


def git_bytes(cwd: Path, *args: str, input: bytes | None = None, timeout: float = 120) -> bytes:
    """A git command's raw output (file contents, -z lists); GitError when it fails."""
    proc = subprocess.run(["git", "-C", str(cwd), *args], input=input, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise GitError(
            f"git {' '.join(args)} failed in {cwd}: {_last_line(proc.stderr.decode(errors='replace'))}", _LOCAL_FIX
        )
    return proc.stdout


def resolve_revision(root: Path, rev: str) -> str:
    """The commit `rev` names in `root`, or a UserError naming the fix."""
    try:
        return git_bytes(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError:
        raise UserError(
            f"unknown revision {rev!r} in {root}",
            "pass --base with a commit, branch or tag that exists (e.g. HEAD, main, HEAD~1)",
        ) from None


def repo_root(path: str | Path) -> Path:
    """The top of the git work tree at `path`, or a UserError naming the fix."""
    candidate = Path(path).expanduser()
    if not candidate.is_dir():
        raise UserError(f"repository path does not exist: {candidate}", "pass --repo with a git repository")
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=candidate, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(
            f"not a git repository: {candidate}",
            "run `git init && git add -A && git commit -m init` there, or pass --repo",
        )
    return Path(proc.stdout.strip()).resolve()


def head_revision(root: Path) -> str:
    proc = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"repository {root} has no commits", "commit your files first")
    return proc.stdout.strip()


def current_branch(root: Path) -> str:
    return _git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()


def ensure_clean(root: Path) -> None:
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    if status.strip():
        first = status.strip().splitlines()[0][3:]
        raise UserError(
            f"repository {root} has uncommitted changes (e.g. {first})",
            "commit or stash them first; agentsmith branches from HEAD and never touches your files",
        )


def create_worktree(root: Path, run_id: str, dest: Path) -> tuple[str, str]:
    """A new branch `agentsmith/<run_id>` at HEAD, checked out at `dest`. Returns (branch, base)."""
    base = head_revision(root)
    branch = f"agentsmith/{run_id}"
    _git(root, "worktree", "add", "--quiet", "-b", branch, str(dest), base)
    return branch, base


def remove_worktree(root: Path, dest: Path, *, delete_branch: str | None = None) -> None:
    if dest.exists():
        _git(root, "worktree", "remove", "--force", str(dest), check=False)
        shutil.rmtree(dest, ignore_errors=True)
    _git(root, "worktree", "prune", check=False)
    if delete_branch:
        _git(root, "branch", "-D", delete_branch, check=False)


def changed_files(worktree: Path, base: str) -> list[str]:
    """Files that differ from `base` in the working tree, untracked included."""
    tracked = _git(worktree, "diff", "--name-only", base).splitlines()
    untracked = _git(worktree, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({p for p in tracked + untracked if p})


def diff(worktree: Path, base: str) -> str:
    _git(worktree, "add", "--intent-to-add", "--all")
    return _git(worktree, "diff", base)


def commit_all(worktree: Path, message: str) -> str:
    _git(worktree, "add", "--all")
    name, email = _AGENT_IDENTITY
    _git(
        worktree,
        "-c",
        f"user.name={name}",
        "-c",
        f"user.email={email}",
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        message,
    )
    return _git(worktree, "rev-parse", "HEAD").strip()


def commit_of_run(worktree: Path, base: str, run_id: str) -> str | None:
    """The commit a run already made on its branch since `base`, if any: a driver killed between the
    commit and its checkpoint must not commit twice when the run is resumed."""
    for line in _git(
        worktree, "log", "--format=%H %(trailers:key=Agentsmith-Run,valueonly,separator=)", f"{base}..HEAD"
    ).splitlines():
        sha, _, trailer = line.partition(" ")
        if trailer.strip() == run_id:
            return sha
    return None


def tracked_files(root: Path, *pathspecs: str) -> list[str]:
    """Files git tracks in `root` (those matching `pathspecs`, when given)."""
    # -z: without it git quotes a path with unusual characters, and the quoted form names no file.
    listing = git_bytes(root, "ls-files", "-z", "--", *pathspecs).decode("utf-8", "replace")
    return [p for p in listing.split("\0") if p]


def status_snapshot(root: Path) -> tuple[str, str, str]:
    """(HEAD, branch, porcelain status): equal before and after a run means nothing was touched."""
    return (head_revision(root), current_branch(root), _git(root, "status", "--porcelain", "--untracked-files=all"))


def snapshot_tree(worktree: Path) -> str:
    """The worktree as it is now, as a git tree id (no commit, no branch moves): what a later step's
    retries restore to, so they keep the earlier steps' work."""
    _git(worktree, "add", "-A")
    return _git(worktree, "write-tree").strip()


def restore_files(worktree: Path, base: str, paths: list[str]) -> None:
    """Put `paths` back as they are at `base` (a path new since then is removed)."""
    existing = set(_git(worktree, "ls-tree", "-r", "--name-only", base, "--", *paths).split()) if paths else set()
    if existing:
        _git(worktree, "checkout", base, "--", *sorted(existing))
    for path in set(paths) - existing:
        (worktree / path).unlink(missing_ok=True)


def file_at(root: Path, rev: str, path: str) -> bytes | None:
    """The content of `path` at `rev`, or None when `rev` has no such file."""
    try:
        return git_bytes(root, "show", f"{rev}:{path}")
    except GitError:
        return None


def archive(root: Path, rev: str) -> bytes:
    """The files at `rev` as a tar archive, without the history."""
    return git_bytes(root, "archive", "--format=tar", rev)


def short_revision(root: Path, rev: str = "HEAD") -> str:
    return _git(root, "rev-parse", "--short", rev).strip()


def latest_tag(root: Path) -> str | None:
    """The nearest tag reachable from HEAD; None where there is none, or no repository."""
    return _git(root, "describe", "--tags", "--abbrev=0", check=False).strip() or None


def commit_trailers(root: Path, key: str) -> list[tuple[str, list[str]]]:
    """(sha, values of its `key` trailers) for every commit on every ref, newest first."""
    fmt = f"%H %(trailers:key={key},valueonly,separator=%x20)"
    log = git_bytes(root, "log", "--all", f"--format={fmt}").decode("utf-8", "replace")
    return [(sha, values) for sha, *values in (line.split() for line in log.splitlines())]


def init_repo(dest: Path) -> None:
    """An empty repository at `dest` (which must exist), on branch main."""
    _git(dest, "init", "-q", "-b", "main")


def commit_everything(root: Path, message: str, *, identity: tuple[str, str] = _AGENT_IDENTITY) -> None:
    """Every file under `root` as one commit (an empty one when there are none): the base of a
    throwaway repository. Ignored files too: an sdist's .gitignore may list files it ships."""
    name, email = identity
    _git(root, "add", "-A", "-f")
    _git(root, "-c", f"user.name={name}", "-c", f"user.email={email}", "commit", "-q", "--allow-empty", "-m", message)


# ------------------------------------------------------------------------------- remotes


def _remote(*args: str, cwd: Path | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        # Only the subcommand is named: the arguments hold the repository URL, which may carry a token.
        raise GitError(f"git {' '.join(args[:2])} failed: {_last_line(proc.stderr)}", _REMOTE_FIX)
    return proc.stdout


def remote_branches(url: str, *names: str) -> list[str]:
    """The branches of the repository at `url` (those of `names`, when given)."""
    listing = _remote("ls-remote", "--heads", url, *names, timeout=120)
    return [line.partition("\t")[2].removeprefix("refs/heads/") for line in listing.splitlines() if line.strip()]


def update_mirror(url: str, cache: Path) -> None:
    """A bare mirror of `url` at `cache`, up to date: cloned the first time, fetched and pruned after."""
    if (cache / "HEAD").is_file():
        _remote("remote", "update", "--prune", cwd=cache)
    else:
        shutil.rmtree(cache, ignore_errors=True)  # what a clone killed half-way left
        _remote("clone", "--quiet", "--mirror", url, str(cache))


def clone(source: str | Path, dest: Path, *, branch: str | None = None) -> None:
    _remote("clone", "--quiet", *(["--branch", branch] if branch else []), str(source), str(dest))


def remote_default_branch(root: Path) -> str:
    """The branch HEAD names in the repository `root` was cloned from."""
    return _git(root, "rev-parse", "--abbrev-ref", "origin/HEAD").strip().removeprefix("origin/")


def push_branch(root: Path, remote: str, branch: str) -> None:
    """Push `branch` to the same name at `remote` (a remote's name or a URL)."""
    proc = subprocess.run(
        ["git", "push", "--quiet", remote, f"{branch}:refs/heads/{branch}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        shown = re.sub(r"(?<=://)[^/@]*@", "", remote)  # a URL's user:token stays out of logs
        raise GitError(f"git push to {shown} failed: {_last_line(proc.stderr)}", "check the remote and its credentials")
