"""The Docker engine connection and the facts every sandbox container shares."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from agentsmith.config import SANDBOX_RECIPE_DIR
from agentsmith.errors import DockerUnavailable, UserError

RECIPE_DIR = SANDBOX_RECIPE_DIR
SECCOMP_PROFILE = RECIPE_DIR / "seccomp.json"

# Untrusted commands run as this uid; the container's own keeper process runs as KEEPER_UID, so
# `kill -1` from generated code can reach neither the keeper nor the engine.
SANDBOX_UID = 10001
KEEPER_UID = 65534

LABEL = "agentsmith.sandbox"
LABEL_RUN = "agentsmith.run"
LABEL_PID = "agentsmith.pid"
LABEL_HOST = "agentsmith.host"
LABEL_RECIPE = "agentsmith.recipe"


def docker_client():
    """A connected `docker.DockerClient`, or DockerUnavailable naming the fix."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as err:
        raise DockerUnavailable(
            f"no Docker engine answers ({_first_line(err)})",
            "start one (`sudo systemctl start docker`, or `dockerd --bridge=none --iptables=false &`) "
            "and make sure your user may use it, or set DOCKER_HOST",
        ) from None
    return client


def require_image(client, image: str) -> None:
    from docker.errors import ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        raise UserError(f"the sandbox image {image} is missing", "run `agentsmith sandbox build`") from None


def seccomp_profile() -> str:
    return SECCOMP_PROFILE.read_text(encoding="utf-8")


def host_name() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def reap_stale(client=None) -> list[str]:
    """Remove sandbox containers left by agent processes on this host that no longer exist.

    Containers normally remove themselves when their agent dies (their keeper sees stdin close);
    this catches the rest, e.g. an engine restarted while the agent was gone. Returns their ids.
    """
    client = client or docker_client()
    reaped = []
    me = host_name()
    # The low-level list carries the labels: `containers.list()` fetches each container again, and one
    # that another run removed in between (auto_remove) made the whole reap fail with a 404.
    for container in client.api.containers(all=True, filters={"label": LABEL}):
        labels = container.get("Labels") or {}
        if labels.get(LABEL_HOST) != me:
            continue  # another machine's agent shares this engine; its own start reaps it
        try:
            owner = int(labels.get(LABEL_PID, "0"))
        except ValueError:
            owner = 0
        if owner and (owner == os.getpid() or pid_alive(owner)):
            continue
        try:
            client.api.remove_container(container["Id"], force=True, v=True)
            reaped.append(container["Id"])
        except Exception:
            pass
    return reaped


def repo_path(path: str | Path) -> Path:
    root = Path(path).resolve()
    if not root.is_dir():
        raise UserError(f"repository folder not found: {path}", "pass --repo with an existing folder")
    return root
