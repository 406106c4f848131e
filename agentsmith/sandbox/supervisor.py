"""Runs inside the sandbox (as the sandbox user) and executes the host's commands, one at a time.

Started once per sandbox with `python3 -c <this file>`; a `docker exec` per command costs about
50 ms of engine work, a fork from here a few. Protocol: one JSON request per line on stdin
({"argv": [...], "timeout": s, "output_limit": n}); one JSON reply per line on stdout
({"exit_code", "output", "limit", "seconds"}). Standard library only: it runs on the image's
python3 and must not import anything from the workspace.

After every command all processes of the sandbox user except this one are killed, so nothing a
command leaves behind (daemons, fork bombs) outlives it. The cgroup's pids-limit and OOM-kill
counters tell which limit stopped a command.
"""

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time

PIDS_EVENTS = ("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events")
MEMORY_EVENTS = ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events")
KILL_GRACE_S = 1.0


def counter(paths, key):
    for path in paths:
        try:
            with open(path) as handle:
                for line in handle:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except OSError:
            continue
    return 0


def counters():
    return counter(PIDS_EVENTS, "max"), counter(MEMORY_EVENTS, "oom_kill")


def kill_everything_else():
    # kill(-1) reaches every process this uid may signal except ourselves and PID 1 (the init)
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass


def make_undumpable():
    # Generated code runs as our uid; an undumpable process cannot be read, traced or have its
    # stdout opened through /proc by it, so it cannot forge replies.
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass


def run(request):
    argv = request["argv"]
    timeout = float(request["timeout"])
    output_limit = int(request["output_limit"])
    before = counters()
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=request.get("cwd") or "/workspace",
            start_new_session=True,
            close_fds=True,
        )
    except OSError as err:
        kill_everything_else()
        return {
            "exit_code": 127,
            "output": f"{argv[0]}: {err.strerror}\n",
            "limit": None,
            "seconds": time.monotonic() - started,
        }
    try:
        # the OOM killer should pick the command, never this process
        with open(f"/proc/{child.pid}/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass
    chunks, size, limit = [], 0, None
    deadline = started + timeout
    stream = child.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            limit = "timeout"
            break
        exited = child.poll() is not None
        # once the command has exited, take what is already written and stop: a daemon it
        # left holding the pipe must not keep the caller waiting (it is killed below)
        ready, _, _ = select.select([stream], [], [], 0 if exited else min(left, 0.1))
        if not ready:
            if exited:
                break
            continue
        data = os.read(stream, 65536)
        if not data:
            if exited or child.poll() is not None:
                break
            try:
                child.wait(timeout=max(left, 0))
            except subprocess.TimeoutExpired:
                limit = "timeout"
            break
        chunks.append(data)
        size += len(data)
        if size > output_limit:
            limit = "output"
            break
    if limit:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
    kill_everything_else()
    try:
        code = child.wait(timeout=KILL_GRACE_S + 5)
    except subprocess.TimeoutExpired:
        code = -signal.SIGKILL
    child.stdout.close()
    exit_code = 128 - code if code < 0 else code
    pids_hit, oom_hit = (now > first for now, first in zip(counters(), before))
    if limit == "output":
        exit_code = 137
    elif oom_hit and exit_code != 0:
        limit, exit_code = "memory", 137
    elif pids_hit and exit_code != 0:
        limit, exit_code = "pids", 137
    elif limit == "timeout":
        exit_code = 124
    output = b"".join(chunks)[:output_limit]
    return {
        "exit_code": exit_code,
        "output": output.decode("utf-8", errors="replace"),
        "limit": limit,
        "seconds": time.monotonic() - started,
        "counters": list(counters()),
    }


def main():
    make_undumpable()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            reply = run(json.loads(line))
        except Exception as err:  # a bad request must not end the supervisor
            reply = {"exit_code": 126, "output": f"sandbox supervisor: {err}\n", "limit": None, "seconds": 0.0}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
