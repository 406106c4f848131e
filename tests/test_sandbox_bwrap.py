"""The weaker backend: bubblewrap, only when no engine answers and the policy allows it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox import open_sandbox
from agentsmith.sandbox.image import IMAGE_ENV, build_rootfs

WEAKER = SandboxPolicy(memory="256m", pids=64, timeout_s=20, output_limit_bytes=100_000, allow_weaker_backend=True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    build_rootfs()  # setup builds it; this is the idempotent re-check
    repo = tmp_path_factory.mktemp("bwrap") / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[core]\n")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "test_calc.py").write_text("from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    patch = pytest.MonkeyPatch()
    patch.setenv("DOCKER_HOST", f"unix://{repo.parent}/no-engine.sock")  # no engine answers
    patch.setenv("AGENTSMITH_TEST_SECRET_TOKEN", "sk-test-must-not-leak")
    try:
        with open_sandbox(WEAKER, run_id="test-bwrap", worktree=repo) as box:
            box.repo = repo
            yield box
    finally:
        patch.undo()


def test_falls_back_to_bubblewrap_and_says_so(sandbox):
    result = sandbox.exec(["python3", "-m", "pytest", "-q"], timeout=60)
    assert result.ok and "1 passed" in result.output, result.output
    assert sandbox.backend == result.backend == "bubblewrap"
    assert sandbox.exec(["ls", "-A"]).output.split() == ["calc.py", "test_calc.py"]  # no .git


def test_contained_like_the_docker_backend(sandbox):
    result = sandbox.exec(
        [
            "sh",
            "-c",
            """
id -u
grep -E '^(CapEff|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '
tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
(touch /usr/evil) 2>/dev/null && echo root-writable || echo root-read-only
env | cut -d= -f1 | sort | tr '\\n' ' '
""",
        ]
    )
    lines = result.output.splitlines()
    assert lines[:5] == ["10001", "CapEff: 0000000000000000", "NoNewPrivs: 1", "lo", "root-read-only"]
    assert set(lines[5].split()) <= set(IMAGE_ENV) | {"PWD", "SHLVL", "_"}
    lookup = sandbox.exec(["python3", "-c", "import socket; socket.getaddrinfo('deb.debian.org', 80)"])
    assert lookup.exit_code == 1 and "gaierror" in lookup.output


def test_limits_fire_and_the_sandbox_recovers(sandbox):
    loop = sandbox.exec(["python3", "-c", "while True: pass"], timeout=2)
    assert (loop.exit_code, loop.limit) == (124, "timeout")
    output = sandbox.exec(["yes"])
    assert (output.exit_code, output.limit, len(output.output)) == (137, "output", 100_000)
    bomb = sandbox.exec(["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 30"], timeout=4)
    assert bomb.exit_code in (124, 137) and bomb.limit in (
        "pids",
        "timeout",
        "output",
    )  # its "Cannot fork" spam may hit the output cap first
    memory = sandbox.exec(["python3", "-c", "c = []\nwhile True: c.append(bytearray(32 << 20))"])
    assert memory.exit_code != 0 and not memory.ok
    assert sandbox.exec(["echo", "ok"]).output == "ok\n"


def test_copy_out_never_follows_links_planted_in_the_workspace(sandbox, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("host only")
    sandbox.exec(["sh", "-c", f"ln -sf {secret} calc.py; mkdir -p d; echo new > d/ok.py"])
    copied = sandbox.copy_out(sandbox.repo, ["calc.py", "d/ok.py", "../x.py"])
    assert copied == ["d/ok.py"]
    assert (sandbox.repo / "calc.py").read_text().startswith("def add")
    assert len(sandbox.refused) == 1
    assert os.path.exists(Path(sandbox.repo, "d", "ok.py"))
