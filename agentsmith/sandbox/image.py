"""Building the sandbox image: from Debian packages (no registry) or from sandbox/Dockerfile.

The image is labelled with the hash of its recipe; a build with the same recipe is skipped, so
re-running setup or CI costs a second, not a minute.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

from agentsmith.errors import UserError
from agentsmith.sandbox.engine import (KEEPER_UID, LABEL_RECIPE, RECIPE_DIR, SANDBOX_UID,
                                       docker_client)

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
        "mmdebstrap", "--variant=apt", "--quiet",
        "--include=" + ",".join(packages),
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--customize-hook=chroot \"$1\" useradd --uid %d --user-group --no-create-home "
        "--home-dir /workspace --shell /usr/sbin/nologin sandbox" % SANDBOX_UID,
        "--customize-hook=mkdir -p \"$1/workspace\" && chown %d:%d \"$1/workspace\""
        % (SANDBOX_UID, SANDBOX_UID),
        SUITE, "-",
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


def build_image(image: str = DEFAULT_IMAGE, *, dockerfile: bool = False, force: bool = False,
                log=sys.stderr) -> tuple[str, bool]:
    """Build the sandbox image unless one with the same recipe exists. Returns (image, built)."""
    client = docker_client()
    wanted = recipe_hash(dockerfile)
    if not force and image_recipe(client, image) == wanted:
        print(f"sandbox image {image} is up to date (recipe {wanted})", file=log)
        return image, False
    if dockerfile:
        _build_from_dockerfile(client, image, wanted, log)
    else:
        _build_from_debian(client, image, wanted, log)
    print(f"built sandbox image {image} (recipe {wanted})", file=log)
    return image, True


def _build_from_debian(client, image: str, recipe: str, log) -> None:
    if not shutil.which("mmdebstrap"):
        raise UserError("mmdebstrap is not installed, so the image cannot be built from Debian packages",
                        "`apt-get install mmdebstrap`, or `agentsmith sandbox build --dockerfile` "
                        "if you can pull debian:bookworm-slim")
    command = mmdebstrap_command(debian_packages())
    print(f"building {image} from Debian {SUITE} packages: {', '.join(debian_packages())}", file=log)
    changes = [f"ENV {key}={value}" if " " not in value else f'ENV {key}="{value}"'
               for key, value in IMAGE_ENV.items()]
    changes += [f"USER {SANDBOX_UID}:{SANDBOX_UID}", "WORKDIR /workspace",
                f"LABEL {LABEL_RECIPE}={recipe}"]
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client.api.import_image_from_stream(process.stdout, repository=repository, tag=tag,
                                            changes=changes)
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        code = process.wait()
    if code != 0:
        tail = " ".join(stderr.strip().splitlines()[-2:])[:300]
        raise UserError(f"mmdebstrap failed (exit {code}): {tail}",
                        "check that apt can reach deb.debian.org (or your mirror), then retry")
    if image_recipe(client, image) != recipe:
        raise UserError(f"docker import did not produce {image}", "retry with `--debug` to see why")


def _build_from_dockerfile(client, image: str, recipe: str, log) -> None:
    from docker.errors import BuildError, APIError

    print(f"building {image} from {DOCKERFILE}", file=log)
    try:
        client.images.build(path=str(RECIPE_DIR), dockerfile=DOCKERFILE.name, tag=image, rm=True,
                            labels={LABEL_RECIPE: recipe})
    except (BuildError, APIError) as err:
        raise UserError(f"building {image} from {DOCKERFILE} failed: {str(err)[:300]}",
                        "check that the engine can pull debian:bookworm-slim, or build without "
                        "--dockerfile (from Debian packages)") from None


__all__ = ["DEFAULT_IMAGE", "build_image", "recipe_hash"]
