"""The weaker backend: bubblewrap, used only when no Docker engine answers and the policy allows it.

Every namespace is unshared (user, pid, net with only `lo`, ipc, uts, cgroup), the root is the
same Debian tree the Docker image is made of (read-only), capabilities are dropped and the host
environment is cleared. Weaker than Docker because: no seccomp allowlist, the workspace is a host
folder (bounded per file by RLIMIT_FSIZE, not by a tmpfs), and pids/memory limits are cgroups only
where this process may create them (root on cgroup v1), else rlimits. Results say `bubblewrap`.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path, PurePosixPath

from agentsmith.errors import UserError
from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox.docker_backend import SUPERVISOR_COMMAND, memory_bytes
from agentsmith.sandbox.engine import SANDBOX_UID
from agentsmith.sandbox.image import IMAGE_ENV, rootfs_path
from agentsmith.sandbox.workspace import SKIPPED_DIRS
from agentsmith.seams import ExecResult

CGROUP_V1 = Path("/sys/fs/cgroup")
FILE_SIZE_LIMIT = 256 << 20
BACKSTOP_GRACE_S = 5.0


def check_bubblewrap() -> Path:
    """The root filesystem the weaker backend runs in, or a one-line error naming what is missing."""
    rootfs = rootfs_path()
    if not shutil.which("bwrap"):
        raise UserError(
            "no Docker engine answers and bubblewrap is not installed",
            "start Docker, or `apt-get install bubblewrap` for the weaker backend",
        )
    if not (rootfs / "usr" / "bin" / "python3").exists():
        raise UserError(f"the bubblewrap root filesystem {rootfs} is missing", "run `agentsmith sandbox build`")
    return rootfs


class BubblewrapSandbox:
    backend = "bubblewrap"

    def __init__(self, policy: SandboxPolicy, *, run_id: str) -> None:
        self.policy = policy
        self.run_id = run_id
        self.rootfs = check_bubblewrap()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"agentsmith-bwrap-{run_id}-"))
        self.workspace = self.scratch / "workspace"
        self.workspace.mkdir()
        self.cgroups = _make_cgroups(policy, f"agentsmith-{uuid.uuid4().hex[:12]}")
        self.process: subprocess.Popen | None = None
        self._counters = self._cgroup_counters()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> BubblewrapSandbox:
        env = {"PATH": IMAGE_ENV["PATH"]}
        command = [
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--hostname",
            "sandbox",
            "--cap-drop",
            "ALL",
            "--clearenv",
            "--ro-bind",
            str(self.rootfs),
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--bind",
            str(self.workspace),
            "/workspace",
            "--chdir",
            "/workspace",
        ]
        for key, value in IMAGE_ENV.items():
            command += ["--setenv", key, value]
        cgroups = list(self.cgroups.values())
        limits = self._rlimits()

        def enter_limits() -> None:
            for folder in cgroups:
                (folder / "cgroup.procs").write_text(str(os.getpid()))
            for which, value in limits:
                resource.setrlimit(which, (value, value))

        self.process = subprocess.Popen(
            command + SUPERVISOR_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            preexec_fn=enter_limits,
        )
        return self

    def _rlimits(self) -> list[tuple[int, int]]:
        limits = [(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT), (resource.RLIMIT_CORE, 0)]
        if "memory" not in self.cgroups:
            limits.append((resource.RLIMIT_AS, memory_bytes(self.policy.memory)))
        if "pids" not in self.cgroups and os.getuid() != 0:
            limits.append((resource.RLIMIT_NPROC, self.policy.pids))
        return limits

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            try:
                process.kill()
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for folder in self.cgroups.values():
            _remove_cgroup(folder)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> BubblewrapSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ workspace

    def sync_in(self, worktree: Path) -> None:
        for entry in self.workspace.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        shutil.copytree(
            worktree,
            self.workspace,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=lambda folder, names: [n for n in names if n in SKIPPED_DIRS],
        )

    def copy_out(self, worktree: Path, allowed: list[str]) -> list[str]:
        from agentsmith.edits import PathRefused, safe_path

        worktree = Path(worktree).resolve()
        self.refused: list[str] = []
        copied = []
        for relative in allowed:
            try:
                target = safe_path(worktree, relative)
            except PathRefused as refused:
                self.refused.append(str(refused))
                continue
            name = str(PurePosixPath(relative.replace("\\", "/")))
            data = _read_without_following_links(self.workspace, name)
            if data is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.agentsmith-tmp")
            temporary.write_bytes(data)
            os.replace(temporary, target)
            copied.append(name)
        return copied

    # ------------------------------------------------------------------ running commands

    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResult:
        limit_s = float(timeout if timeout is not None else self.policy.timeout_s)
        started = time.monotonic()
        if self.process is None or self.process.poll() is not None:
            self.start()
        request = {
            "argv": [str(a) for a in argv],
            "timeout": max(limit_s, 0.01),
            "output_limit": self.policy.output_limit_bytes,
        }
        reply = self._ask(request, limit_s + BACKSTOP_GRACE_S)
        pids_hits, oom_kills = self._cgroup_counters()
        if reply["exit_code"] != 0 and reply.get("limit") in (None, "timeout"):
            if oom_kills > self._counters[1]:
                reply.update(limit="memory", exit_code=137)
            elif pids_hits > self._counters[0]:
                reply.update(limit="pids", exit_code=137)
        self._counters = (pids_hits, oom_kills)
        return ExecResult(
            exit_code=int(reply["exit_code"]),
            output=reply.get("output", ""),
            seconds=time.monotonic() - started,
            limit=reply.get("limit"),
            backend=self.backend,
        )

    def _ask(self, request: dict, deadline_s: float) -> dict:
        process = self.process
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], deadline_s)
            line = process.stdout.readline() if ready else b""
        except OSError:
            line = b""
        if line:
            return json.loads(line)
        # wedged, or killed by the command: start over, as the Docker backend does
        timed_out = process.poll() is None
        self.close_process()
        return {"exit_code": 124 if timed_out else 137, "output": "", "limit": "timeout" if timed_out else None}

    def close_process(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _cgroup_counters(self) -> tuple[int, int]:
        return (
            _counter(self.cgroups.get("pids"), "pids.events", "max"),
            _counter(self.cgroups.get("memory"), "memory.oom_control", "oom_kill"),
        )


def _make_cgroups(policy: SandboxPolicy, name: str) -> dict[str, Path]:
    """pids and memory cgroups (v1) for the sandbox, where this process may create them."""
    made: dict[str, Path] = {}
    settings = {
        "pids": {"pids.max": str(policy.pids)},
        "memory": {
            "memory.limit_in_bytes": str(memory_bytes(policy.memory)),
            "memory.memsw.limit_in_bytes": str(memory_bytes(policy.memory)),
        },
    }
    for controller, files in settings.items():
        folder = CGROUP_V1 / controller / name
        try:
            folder.mkdir()
        except OSError:
            continue
        try:
            for file_name, value in files.items():
                try:
                    (folder / file_name).write_text(value)
                except FileNotFoundError:
                    pass  # memsw: the kernel has no swap accounting
            made[controller] = folder
        except OSError:
            _remove_cgroup(folder)
    return made


def _remove_cgroup(folder: Path) -> None:
    for _ in range(50):
        try:
            procs = (folder / "cgroup.procs").read_text().split()
            for pid in procs:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _counter(folder: Path | None, file_name: str, key: str) -> int:
    if folder is None:
        return 0
    try:
        for line in (folder / file_name).read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _read_without_following_links(root: Path, relative: str) -> bytes | None:
    """The bytes of a regular file under root, opening each component with O_NOFOLLOW: the
    workspace is a host folder here, and a link planted in it must not read host files."""
    parts = PurePosixPath(relative).parts
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            except OSError:
                return None
            os.close(directory)
            directory = inner
        try:
            handle = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                return None
            with os.fdopen(handle, "rb", closefd=False) as stream:
                return stream.read()
        finally:
            os.close(handle)
    finally:
        os.close(directory)


def open_bwrap_sandbox(policy: SandboxPolicy, *, run_id: str, worktree: Path | None) -> BubblewrapSandbox:
    sandbox = BubblewrapSandbox(policy, run_id=run_id)
    try:
        if worktree is not None:
            sandbox.sync_in(Path(worktree).resolve())
        sandbox.start()
    except BaseException:
        sandbox.close()
        raise
    return sandbox
