"""Building the sandbox image: from Debian packages (no registry) or from sandbox/Dockerfile.

The image is labelled with the hash of its recipe; a build with the same recipe is skipped, so
re-running setup or CI costs a second, not a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from agentsmith.config import home
from agentsmith.errors import SandboxError, UserError
from agentsmith.sandbox.engine import KEEPER_UID, LABEL_RECIPE, RECIPE_DIR, SANDBOX_UID, docker_client

DEFAULT_IMAGE = "agentsmith-sandbox:latest"
SUITE = "bookworm"
PACKAGES_FILE = RECIPE_DIR / "packages.txt"
DOCKERFILE = RECIPE_DIR / "Dockerfile"

IMAGE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    # the workspace is scratch: no .pyc files or pytest cache dirs in it or in copies back
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTEST_ADDOPTS": "-p no:cacheprovider",
}


def debian_packages() -> list[str]:
    lines = PACKAGES_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def mmdebstrap_command(packages: list[str]) -> list[str]:
    return [
        "mmdebstrap",
        "--variant=apt",
        "--quiet",
        "--include=" + ",".join(packages),
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        f'--customize-hook=chroot "$1" useradd --uid {SANDBOX_UID} --user-group --no-create-home '
        "--home-dir /workspace --shell /usr/sbin/nologin sandbox",
        f'--customize-hook=mkdir -p "$1/workspace" && chown {SANDBOX_UID}:{SANDBOX_UID} "$1/workspace"',
        SUITE,
        "-",
    ]


def recipe_hash(dockerfile: bool = False) -> str:
    digest = hashlib.sha256()
    if dockerfile:
        digest.update(b"dockerfile\0" + DOCKERFILE.read_bytes())
    else:
        digest.update(b"mmdebstrap\0" + "\0".join(mmdebstrap_command(debian_packages())).encode())
    digest.update(repr(sorted(IMAGE_ENV.items())).encode())
    digest.update(f"{SANDBOX_UID}:{KEEPER_UID}".encode())
    return digest.hexdigest()[:16]


def image_recipe(client, image: str) -> str | None:
    from docker.errors import ImageNotFound

    try:
        return (client.images.get(image).labels or {}).get(LABEL_RECIPE)
    except ImageNotFound:
        return None


def build_image(
    image: str = DEFAULT_IMAGE,
    *,
    dockerfile: bool = False,
    force: bool = False,
    log=sys.stderr,
    tarball: Path | None = None,
) -> tuple[str, bool]:
    """Build the sandbox image unless one with the same recipe exists. Returns (image, built)."""
    client = docker_client()
    wanted = recipe_hash(dockerfile)
    if not force and image_recipe(client, image) == wanted:
        print(f"sandbox image {image} is up to date (recipe {wanted})", file=log)
        return image, False
    if dockerfile:
        _build_from_dockerfile(client, image, wanted, log)
    elif tarball is not None:
        _import_tarball(client, image, wanted, tarball)
    else:
        with debian_tarball(log) as made:
            _import_tarball(client, image, wanted, made)
    print(f"built sandbox image {image} (recipe {wanted})", file=log)
    return image, True


def rootfs_path() -> Path:
    """The bubblewrap backend's root filesystem: the same Debian recipe, as a plain folder."""
    return home() / "tools" / "sandbox-rootfs" / recipe_hash()


def build_rootfs(*, force: bool = False, log=sys.stderr, tarball: Path | None = None) -> tuple[Path, bool]:
    target = rootfs_path()
    if target.is_dir() and not force:
        print(f"sandbox root filesystem {target} is up to date", file=log)
        return target, False
    if tarball is None:
        with debian_tarball(log) as made:
            return build_rootfs(force=force, log=log, tarball=made)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # device nodes cannot be made without root and are not needed: bubblewrap mounts its own /dev
    result = subprocess.run(
        ["tar", "-x", "-f", str(tarball), "-C", str(staging), "--exclude=./dev/*", "--no-same-owner"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise UserError(
            f"unpacking the sandbox root filesystem failed: {result.stderr.strip()[-300:]}",
            f"check the free space under {target.parent}",
        )
    for old in target.parent.iterdir():
        if old != staging and old.name != target.name:
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"built sandbox root filesystem {target}", file=log)
    return target, True


def build_sandbox(image: str = DEFAULT_IMAGE, *, dockerfile: bool = False, force: bool = False, log=sys.stderr) -> None:
    """What `agentsmith sandbox build` does: the Docker image when an engine answers, and the
    bubblewrap root filesystem when bubblewrap is installed; one Debian download for both."""
    from agentsmith.errors import DockerUnavailable

    try:
        client = docker_client()
    except DockerUnavailable:
        client = None
        if not shutil.which("bwrap"):
            raise
    need_image = client is not None and (force or image_recipe(client, image) != recipe_hash(dockerfile))
    need_rootfs = bool(shutil.which("bwrap")) and (force or not rootfs_path().is_dir())
    if (need_image and not dockerfile) or need_rootfs:
        with debian_tarball(log) as tarball:
            if client is not None:
                build_image(image, dockerfile=dockerfile, force=force, log=log, tarball=tarball)
            if need_rootfs:
                build_rootfs(force=force, log=log, tarball=tarball)
        return
    if client is not None:
        build_image(image, dockerfile=dockerfile, force=force, log=log)
    if shutil.which("bwrap"):
        build_rootfs(force=force, log=log)


@contextlib.contextmanager
def debian_tarball(log):
    """mmdebstrap's root filesystem tarball, in a temporary file."""
    if not shutil.which("mmdebstrap"):
        raise UserError(
            "mmdebstrap is not installed, so the sandbox cannot be built from Debian packages",
            "`apt-get install mmdebstrap`, or `agentsmith sandbox build --dockerfile` "
            "if you can pull debian:bookworm-slim",
        )
    print(f"fetching Debian {SUITE} packages: {', '.join(debian_packages())}", file=log)
    with tempfile.TemporaryDirectory(prefix="agentsmith-rootfs-") as folder:
        tarball = Path(folder) / "rootfs.tar"
        with open(tarball, "wb") as out:
            result = subprocess.run(
                mmdebstrap_command(debian_packages()), stdout=out, stderr=subprocess.PIPE, text=True
            )
        if result.returncode != 0:
            tail = " ".join(result.stderr.strip().splitlines()[-2:])[:300]
            raise UserError(
                f"mmdebstrap failed (exit {result.returncode}): {tail}",
                "check that apt can reach deb.debian.org (or your mirror), then retry",
            )
        yield tarball


def _import_tarball(client, image: str, recipe: str, tarball: Path) -> None:
    changes = [f"ENV {key}={value}" if " " not in value else f'ENV {key}="{value}"' for key, value in IMAGE_ENV.items()]
    changes += [f"USER {SANDBOX_UID}:{SANDBOX_UID}", "WORKDIR /workspace", f"LABEL {LABEL_RECIPE}={recipe}"]
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    from docker.errors import APIError

    # import_image_from_stream(open file) fails against real engines ("header line too long": the
    # SDK declares a chunked body, requests sends the file unchunked); from_file streams it right.
    try:
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    except APIError as err:
        raise SandboxError(
            f"docker import of the sandbox image failed: {_first_line(err)}",
            "check `docker info` and the engine's free disk space, then `agentsmith sandbox build --force`",
        ) from None
    if image_recipe(client, image) != recipe:
        raise UserError(f"docker import did not produce {image}", "retry with `--debug` to see why")


def _build_from_dockerfile(client, image: str, recipe: str, log) -> None:
    from docker.errors import APIError, BuildError

    print(f"building {image} from {DOCKERFILE}", file=log)
    try:
        client.images.build(
            path=str(RECIPE_DIR), dockerfile=DOCKERFILE.name, tag=image, rm=True, labels={LABEL_RECIPE: recipe}
        )
    except (BuildError, APIError) as err:
        raise SandboxError(
            f"building {image} from {DOCKERFILE} failed: {_first_line(err)}",
            "check that the engine can pull debian:bookworm-slim, or build without --dockerfile (from Debian packages)",
        ) from None


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


__all__ = ["DEFAULT_IMAGE", "build_image", "build_rootfs", "build_sandbox", "recipe_hash", "rootfs_path"]
