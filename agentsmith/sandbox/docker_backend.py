"""The Docker sandbox: one hardened container per run, kept warm, commands exec'd into it.

Containment, all by default: no network (only `lo`), read-only root, tmpfs scratch and workspace,
a non-root uid, no capabilities, no-new-privileges, the seccomp allowlist in sandbox/seccomp.json,
pids/memory/CPU limits, an output cap and a wall-clock timeout, no host environment, no socket.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
import time
from pathlib import Path, PurePosixPath

from agentsmith.errors import SandboxError
from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox.engine import (
    KEEPER_UID,
    LABEL,
    LABEL_HOST,
    LABEL_PID,
    LABEL_RUN,
    SANDBOX_UID,
    docker_client,
    host_name,
    reap_stale,
    require_image,
    seccomp_profile,
)
from agentsmith.sandbox.workspace import read_allowed_files, worktree_tar
from agentsmith.seams import ExecResult

WORKSPACE = "/workspace"
USER = f"{SANDBOX_UID}:{SANDBOX_UID}"

SUPERVISOR = (Path(__file__).with_name("supervisor.py")).read_text(encoding="utf-8")
# `-I`: the workspace is the cwd, and a json.py planted there must not be imported by the supervisor
SUPERVISOR_COMMAND = ["python3", "-I", "-c", SUPERVISOR]
COUNTERS = r"""
kill -s KILL -- -1 2>/dev/null
P=/sys/fs/cgroup/pids/pids.events; [ -r "$P" ] || P=/sys/fs/cgroup/pids.events
M=/sys/fs/cgroup/memory/memory.oom_control; [ -r "$M" ] || M=/sys/fs/cgroup/memory.events
count() { _n=0; [ -r "$1" ] || return 0; while read -r _k _v; do [ "$_k" = "$2" ] && _n=$_v; done < "$1"; return 0; }
count "$P" max; p=$_n; count "$M" oom_kill; o=$_n
echo "agentsmith-exit 0 $p $o" >&2
"""
KILL_ALL = ["kill", "-s", "KILL", "--", "-1"]
BACKSTOP_GRACE_S = 5.0  # the host kills the exec itself if the in-container timeout failed


def memory_bytes(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _serialised(method):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class DockerSandbox:
    """Satisfies agentsmith.seams.Sandbox. Use `open_sandbox`, or as a context manager."""

    backend = "docker"

    def __init__(self, policy: SandboxPolicy, *, run_id: str, client=None) -> None:
        self.policy = policy
        self.run_id = run_id
        self.client = client or docker_client()
        self.image = policy.image
        self.container = None
        self._keeper = None  # attached stdin: when this process dies, the container goes
        self._worktree: Path | None = None
        self._counters = (0, 0)  # cgroup pids-limit hits, OOM kills, as last seen
        self._started_at = 0.0
        self._supervisor: _Channel | None = None
        self.replaced = 0  # how many times a dead or wedged container was replaced
        self._lock = threading.RLock()  # one command at a time: graph nodes may run in threads

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> DockerSandbox:
        require_image(self.client, self.image)
        policy = self.policy
        memory = memory_bytes(policy.memory)
        from docker.types import Ulimit

        api = self.client.api
        host_config = api.create_host_config(
            init=True,
            auto_remove=True,
            network_mode="none",
            read_only=True,
            tmpfs={
                "/tmp": "rw,nosuid,nodev,size=256m,mode=1777",
                WORKSPACE: f"rw,nosuid,nodev,exec,size={max(memory // 2, 64 << 20)},"
                f"uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0755",
            },
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true", f"seccomp={seccomp_profile()}"],
            pids_limit=policy.pids,
            mem_limit=memory,
            memswap_limit=memory,  # no swap: the memory limit is the limit
            nano_cpus=int(policy.cpus * 1e9),
            ulimits=[Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0, hard=0)],
            ipc_mode="private",
            log_config={"type": "none", "config": {}},
        )
        created = api.create_container(
            self.image,
            command=["cat"],  # the keeper: exits when our end of stdin closes
            user=f"{KEEPER_UID}:{KEEPER_UID}",
            working_dir=WORKSPACE,
            stdin_open=True,  # with detach=False this sets StdinOnce
            hostname="sandbox",
            environment={},  # the image's env only: nothing from the host
            labels={LABEL: "1", LABEL_RUN: self.run_id, LABEL_PID: str(os.getpid()), LABEL_HOST: host_name()},
            host_config=host_config,
        )
        self.container = self.client.containers.prepare_model({"Id": created["Id"]})
        self._keeper = self.client.api.attach_socket(self.container.id, params={"stdin": 1, "stream": 1})
        self.container.start()
        self._started_at = time.time()
        self._counters = (0, 0)  # a fresh container has a fresh cgroup
        return self

    def close(self) -> None:
        self._close_supervisor()
        container, self.container = self.container, None
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            try:
                keeper.close()
            except OSError:
                pass
        if container is not None:
            from docker.errors import APIError, NotFound

            try:
                container.remove(force=True, v=True)
            except (NotFound, APIError):
                pass  # auto_remove got there first

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _replace(self) -> None:
        """A dead or wedged container is swapped for a fresh one with the same workspace."""
        self.close()
        self.replaced += 1
        self.start()
        if self._worktree is not None:
            self.sync_in(self._worktree)

    def _alive(self) -> bool:
        try:
            self.container.reload()
        except Exception:
            return False
        return self.container.status == "running"

    # ------------------------------------------------------------------ workspace

    @_serialised
    def sync_in(self, worktree: Path) -> None:
        worktree = Path(worktree).resolve()
        self._worktree = worktree
        payload = worktree_tar(worktree, uid=SANDBOX_UID)
        # no stragglers to stop first: the supervisor kills them after every command
        script = f"find {WORKSPACE} -mindepth 1 -delete; exec tar -x -m -C {WORKSPACE} -f -"
        code, _, err = self._raw_exec(["sh", "-c", script], stdin=payload, timeout=120)
        if code != 0:
            raise SandboxError(
                f"copying the worktree into the sandbox failed: {err[-300:]!r}",
                "check `docker info` and the free disk space of the engine",
            )

    @_serialised
    def copy_out(self, worktree: Path, allowed: list[str]) -> list[str]:
        """Copy back the allowed files the sandbox changed; see workspace.read_allowed_files."""
        from agentsmith.edits import PathRefused, safe_path

        worktree = Path(worktree).resolve()
        wanted = []
        self.refused: list[str] = []
        for relative in allowed:
            try:
                safe_path(worktree, relative)
                wanted.append(str(PurePosixPath(relative.replace("\\", "/"))))
            except PathRefused as refused:
                self.refused.append(str(refused))
        if not wanted:
            return []
        code, archive, err = self._raw_exec(
            ["tar", "-c", "--ignore-failed-read", "-C", WORKSPACE, "-f", "-", "--", *wanted],
            timeout=120,
            stdout_limit=1 << 30,
        )
        if code not in (0, 2) and not archive:
            raise SandboxError(
                f"reading files back from the sandbox failed: {err[-300:]!r}",
                "check `docker info` and the free disk space of the engine",
            )
        return read_allowed_files(archive, worktree, wanted, refused=self.refused)

    # ------------------------------------------------------------------ running commands

    @_serialised
    def exec(self, argv: list[str], *, timeout: float | None = None) -> ExecResult:
        if not argv:
            raise ValueError("exec needs a command")
        limit_s = float(timeout if timeout is not None else self.policy.timeout_s)
        started = time.monotonic()
        request = {
            "argv": [str(part) for part in argv],
            "timeout": max(limit_s, 0.01),
            "output_limit": self.policy.output_limit_bytes,
        }
        try:
            reply = self._supervised(request, limit_s + BACKSTOP_GRACE_S)
        except _SupervisorGone:
            reply = self._after_supervisor_died()
        except _SupervisorWedged:
            self._kill_all()
            self._close_supervisor()
            reply = {"exit_code": 124, "output": "", "limit": "timeout"}
        return ExecResult(
            exit_code=int(reply["exit_code"]),
            output=reply.get("output", ""),
            seconds=time.monotonic() - started,
            limit=reply.get("limit"),
            backend=self.backend,
        )

    def _supervised(self, request: dict, deadline_s: float) -> dict:
        if self._supervisor is None:
            self._supervisor = self._start_supervisor()
        reply = self._supervisor.ask(request, deadline_s)
        if "counters" in reply:
            self._counters = tuple(reply["counters"])
        return reply

    def _start_supervisor(self) -> _Channel:
        from docker.errors import APIError, NotFound

        try:
            return _Channel.open(self.client.api, self.container.id, SUPERVISOR_COMMAND)
        except (APIError, NotFound):
            # the container is gone (its keeper or init was killed): a fresh one, same workspace
            self._replace()
            return _Channel.open(self.client.api, self.container.id, SUPERVISOR_COMMAND)

    def _close_supervisor(self) -> None:
        if self._supervisor is not None:
            self._supervisor.close()
            self._supervisor = None

    def _after_supervisor_died(self) -> dict:
        """The command killed the supervisor (kill -1), the OOM killer took it, or the container itself is
        gone: say which."""
        self._close_supervisor()
        counters = self._read_counters(strict=True) if self._alive() else None
        if counters is None:  # (a container being removed can still read "running": its exec fails)
            oom = self._oom_killed()
            self._replace()
            if oom:
                return {
                    "exit_code": 137,
                    "output": "sandbox container killed at its memory limit; replaced\n",
                    "limit": "memory",
                }
            # `docker rm -f`, an engine restart, a cleanup script: not this command's doing, and not a
            # memory limit (a bench beside CI reported one for a candidate whose container CI removed)
            return {"exit_code": 137, "output": "sandbox container was stopped from outside; replaced\n", "limit": None}
        before, self._counters = self._counters, counters
        if counters[1] > before[1]:
            return {"exit_code": 137, "output": "", "limit": "memory"}
        if counters[0] > before[0]:
            return {"exit_code": 137, "output": "", "limit": "pids"}
        return {"exit_code": 137, "output": "the command killed the sandbox's supervisor\n", "limit": None}

    def _oom_killed(self) -> bool:
        """Did the engine log an out-of-memory kill for this container? (auto_remove has taken the container,
        and its state with it, by the time we look: the engine's event log keeps the `oom` event.)"""
        container = self.container
        if container is None:
            return False
        try:
            events = self.client.api.events(
                since=int(self._started_at) - 1,
                until=int(time.time()) + 1,
                filters={"container": container.id, "event": "oom"},
                decode=True,
            )
            return any(True for _ in events)
        except Exception:
            return True  # no event log to read: the old answer, the limit most likely to be hit

    def _read_counters(self, *, strict: bool = False) -> tuple[int, int] | None:
        """strict: None when the container cannot run the reading (it is gone), not the last counters."""
        from docker.errors import DockerException

        try:
            _, _, err = self._raw_exec(["sh", "-c", COUNTERS], timeout=30)
        except (_ExecFailed, DockerException):  # e.g. 500 "is not running: Removal In Progress"
            return None if strict else self._counters
        return _parse_trailer(err.encode()) or (None if strict else self._counters)

    def _kill_all(self) -> None:
        """Kill every sandbox-user process, the supervisor included (it is restarted on demand)."""
        try:
            self._raw_exec(KILL_ALL, timeout=10)
        except Exception:
            try:
                self.container.kill()
            except Exception:
                pass

    def _raw_exec(
        self, command: list[str], *, stdin: bytes | None = None, timeout: float = 60, stdout_limit: int = 16 << 20
    ) -> tuple[int | None, bytes, str]:
        """An internal command (no wrapper); stdin, when given, is sent through the socket."""
        from docker.errors import APIError

        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.container.id,
                command,
                stdout=True,
                stderr=True,
                stdin=stdin is not None,
                user=USER,
                workdir=WORKSPACE,
            )["Id"]
        except APIError as err:
            raise _ExecFailed(str(err)) from None
        if stdin is None:
            code, out, err, _, _ = self._finish_stream(api, exec_id, stdout_limit, timeout)
            return code, out, err.decode(errors="replace")
        sock = api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(timeout)
        try:
            raw.sendall(stdin)
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(65536):
                pass
        finally:
            raw.close()
        info = _wait_exec(api, exec_id, timeout)
        return info.get("ExitCode"), b"", ""

    def _finish_stream(self, api, exec_id, limit, timeout):
        stream = api.exec_start(exec_id, stream=True, demux=True)
        out, err, size = [], [], 0
        for stdout_chunk, stderr_chunk in stream:
            if stdout_chunk:
                out.append(stdout_chunk)
                size += len(stdout_chunk)
                if size > limit:
                    break
            if stderr_chunk:
                err.append(stderr_chunk)
        info = _wait_exec(api, exec_id, timeout)
        return info.get("ExitCode"), b"".join(out), b"".join(err), False, False


class _ExecFailed(Exception):
    pass


class _SupervisorGone(Exception):
    pass


class _SupervisorWedged(Exception):
    pass


class _Channel:
    """The supervisor's stdin and multiplexed stdout/stderr, over one hijacked engine socket."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.stdout = bytearray()
        self.stderr = bytearray()

    @classmethod
    def open(cls, api, container_id: str, command: list[str]) -> _Channel:
        exec_id = api.exec_create(
            container_id, command, stdin=True, stdout=True, stderr=True, user=USER, workdir=WORKSPACE
        )["Id"]
        handle = api.exec_start(exec_id, socket=True)
        return cls(getattr(handle, "_sock", handle))

    def ask(self, request: dict, deadline_s: float) -> dict:
        deadline = time.monotonic() + deadline_s
        try:
            self.sock.settimeout(deadline_s)
            self.sock.sendall(json.dumps(request).encode() + b"\n")
            while b"\n" not in self.stdout:
                self._read_frame(deadline)
        except TimeoutError:
            raise _SupervisorWedged() from None
        except OSError:
            raise _SupervisorGone() from None
        line, _, rest = bytes(self.stdout).partition(b"\n")
        self.stdout = bytearray(rest)
        try:
            return json.loads(line)
        except ValueError:
            raise _SupervisorGone() from None

    def _read_frame(self, deadline: float) -> None:
        header = self._read_exactly(8, deadline)
        size = int.from_bytes(header[4:8], "big")
        payload = self._read_exactly(size, deadline)
        if header[0] == 1:
            self.stdout += payload
        else:
            self.stderr = (self.stderr + payload)[-65536:]

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            chunk = self.sock.recv(min(size - len(data), 1 << 20))
            if not chunk:
                raise _SupervisorGone()
            data += chunk
        return bytes(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _wait_exec(api, exec_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    info = api.exec_inspect(exec_id)
    while info.get("Running") and time.monotonic() < deadline:
        time.sleep(0.02)
        info = api.exec_inspect(exec_id)
    return info


def _parse_trailer(stderr: bytes) -> tuple[int, int] | None:
    for line in reversed(stderr.decode(errors="replace").strip().splitlines()):
        parts = line.split()
        if len(parts) == 4 and parts[0] == "agentsmith-exit":
            try:
                return int(parts[2]), int(parts[3])
            except ValueError:
                return None
    return None


def open_docker_sandbox(policy: SandboxPolicy, *, run_id: str, worktree: Path | None) -> DockerSandbox:
    client = docker_client()
    reap_stale(client)
    sandbox = DockerSandbox(policy, run_id=run_id, client=client).start()
    try:
        # the supervisor's python starts up while the worktree is copied in
        sandbox._supervisor = sandbox._start_supervisor()
        if worktree is not None:
            sandbox.sync_in(worktree)
    except BaseException:
        sandbox.close()
        raise
    return sandbox


__all__ = ["DockerSandbox", "open_docker_sandbox"]
