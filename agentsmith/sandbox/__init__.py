"""Where generated code runs: a hardened, warm Docker container per run (or bubblewrap, if allowed).

from agentsmith.sandbox import open_sandbox
with open_sandbox(policy.sandbox, run_id=run_id, worktree=worktree) as sandbox:
    result = sandbox.exec(["python3", "-m", "pytest", "-q"], timeout=120)
    sandbox.copy_out(worktree, allowed=["src/app.py"])
"""

from __future__ import annotations

from pathlib import Path

from agentsmith.errors import DockerUnavailable
from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox.engine import reap_stale
from agentsmith.sandbox.image import DEFAULT_IMAGE, build_image

__all__ = ["DEFAULT_IMAGE", "build_image", "open_sandbox", "prepare_dependencies", "reap_stale"]


def open_sandbox(policy: SandboxPolicy, *, run_id: str, worktree: Path | None = None, image: str | None = None):
    """Start the run's one warm sandbox with a copy of `worktree` in /workspace.

    Docker when an engine answers. Otherwise bubblewrap if the policy allows a weaker backend,
    else DockerUnavailable (one line, with the fix). The result's `backend` says which ran.
    `image`: e.g. the tag `prepare_dependencies` returned (default: policy.image).
    """
    from agentsmith.sandbox.docker_backend import open_docker_sandbox

    if image:
        policy = policy.model_copy(update={"image": image})

    try:
        return open_docker_sandbox(policy, run_id=run_id, worktree=worktree)
    except DockerUnavailable:
        if not policy.allow_weaker_backend:
            raise
    from agentsmith.sandbox.bwrap_backend import open_bwrap_sandbox

    return open_bwrap_sandbox(policy, run_id=run_id, worktree=worktree)


def check_backend(policy: SandboxPolicy) -> str:
    """The backend a run's sandbox will have, checked before the run creates anything: "docker" when an
    engine answers, "bubblewrap" when none does and the policy allows the weaker backend (and it is
    installed), else the one-line error naming the fix."""
    from agentsmith.sandbox.engine import docker_client

    try:
        docker_client()
        return "docker"
    except DockerUnavailable:
        if not policy.allow_weaker_backend:
            raise
    from agentsmith.sandbox.bwrap_backend import check_bubblewrap

    check_bubblewrap()
    return "bubblewrap"


def prepare_dependencies(policy: SandboxPolicy, repo: Path, **kwargs) -> str:
    """The image tag to run `repo` in: its per-repo dependency layer, or the base image."""
    from agentsmith.sandbox.deps import prepare_dependencies as prepare

    return prepare(policy, repo, **kwargs)
