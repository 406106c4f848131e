"""A repo's declared dependencies as an image layer, built once per set of dependency files.

The wheels are downloaded on the host (`pip download`), from a package index only when the policy
allows it, else from local wheelhouses only; they are installed inside a network-less container
which is committed as `agentsmith-deps:<hash>`. Test runs then use that image, still offline.

The layer holds the repo's runtime and test dependencies and the repo itself, installed editable
from /workspace (where each run's copy of the worktree lands): packages that read their version
through importlib.metadata need the install, and the tests must see the agent's edits. The repo is
built inside that network-less container, not on the host: a build backend runs the repo's code
(setup.py, build hooks), which is untrusted like any of its code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shlex
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

from agentsmith.errors import UserError
from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox import project
from agentsmith.sandbox.engine import LABEL, SANDBOX_UID, docker_client, require_image
from agentsmith.sandbox.workspace import worktree_tar

DEPENDENCY_FILES = (
    "requirements.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "tox.ini",
    *project.TEST_REQUIREMENT_FILES,
    *project.DEV_REQUIREMENT_FILES,
)
# What editable builds may ask for on top of the declared build requirements (PEP 660 hooks).
EDITABLE_EXTRAS = ("editables", "wheel")
REPO_IN_IMAGE = "/workspace"
DEPS_REPOSITORY = "agentsmith-deps"
IMAGE_PYTHON = "3.11"  # Debian bookworm's python3
WHEELS_IN_IMAGE = "/opt/agentsmith-wheels"
LABEL_DEPS = "agentsmith.deps"


def declared_requirements(repo: Path) -> list[str]:
    """requirements.txt lines plus pyproject's [project] dependencies (the repo itself excluded)."""
    requirements: list[str] = []
    text_file = repo / "requirements.txt"
    if text_file.is_file():
        for line in text_file.read_text(encoding="utf-8").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                if line.startswith(
                    (
                        "-e",
                        "--editable",
                        "-r",
                        "--requirement",
                        "-c",
                        "--index-url",
                        "-i",
                        "--extra-index-url",
                        "--find-links",
                        "-f",
                        "git+",
                    )
                ):
                    raise UserError(
                        f"{text_file}: option line {line!r} is not supported in the sandbox",
                        "list plain requirements; local wheels go in a wheelhouse folder",
                    )
                requirements.append(line)
    project_file = repo / "pyproject.toml"
    if project_file.is_file():
        try:
            project = tomllib.loads(project_file.read_text(encoding="utf-8")).get("project", {})
        except tomllib.TOMLDecodeError as err:
            raise UserError(f"{project_file} is not valid TOML ({err})", "fix the file") from None
        requirements += [str(item) for item in project.get("dependencies", [])]
    return requirements


def dependency_hash(repo: Path, base_image_id: str, extra: str = "") -> str:
    digest = hashlib.sha256(base_image_id.encode() + extra.encode())
    for name in DEPENDENCY_FILES:
        path = repo / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def prepare_dependencies(
    policy: SandboxPolicy, repo: Path, *, find_links: list[Path] = (), log=sys.stderr, install_repo: bool = True
) -> str:
    """The image tag for running `repo`'s tests: policy.image when it declares nothing to install."""
    repo = Path(repo).resolve()
    setup = project.discover(repo)
    requirements = declared_requirements(repo) + setup.test_requirements
    build = setup.build_requires if install_repo else []
    if not requirements and not build:
        return policy.image
    client = docker_client()
    require_image(client, policy.image)
    base = client.images.get(policy.image)
    version = project.version_hint(repo) if build else ""
    tag = f"{DEPS_REPOSITORY}:{dependency_hash(repo, base.id, version + str(install_repo))}"
    if _image_exists(client, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="agentsmith-wheels-") as folder:
        wheelhouse = Path(folder)
        arch = _architecture(client)
        (wheelhouse / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        if requirements:
            _download_wheels(policy, wheelhouse, find_links, arch, "requirements.txt")
        if build:
            (wheelhouse / "build-requirements.txt").write_text("\n".join(build) + "\n", encoding="utf-8")
            _download_wheels(policy, wheelhouse, find_links, arch, "build-requirements.txt")
            (wheelhouse / "editable-extras.txt").write_text("\n".join(EDITABLE_EXTRAS) + "\n", encoding="utf-8")
            # Most backends need none of them; a build that does fails below, with pip's reason.
            with contextlib.suppress(UserError):
                _download_wheels(policy, wheelhouse, find_links, arch, "editable-extras.txt")
        what = f"{len(requirements)} dependencies" + (f" and {repo.name} itself" if build else "")
        print(f"installing {what} of {repo.name} into {tag}", file=log)
        _install_and_commit(
            client, policy.image, wheelhouse, tag, repo=repo if build else None, version=version, log=log
        )
    return tag


def _download_wheels(
    policy: SandboxPolicy, wheelhouse: Path, find_links, arch: str, requirements: str = "requirements.txt"
) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(wheelhouse),
        "--only-binary=:all:",
        "--python-version",
        IMAGE_PYTHON,
        "--implementation",
        "cp",
        "--platform",
        f"manylinux2014_{arch}",
        "--platform",
        f"manylinux_2_36_{arch}",
        "--platform",
        "any",
        "-r",
        str(wheelhouse / requirements),
    ]
    if not policy.allow_dependency_network:
        command.append("--no-index")
    for link in find_links:
        command += ["--find-links", str(Path(link).resolve())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip download failed"])[-1][:300]
        fix = (
            "check the requirement names and that the index is reachable"
            if policy.allow_dependency_network
            else "set sandbox.allow_dependency_network: true in the policy, or pass a wheelhouse holding every wheel"
        )
        raise UserError(f"could not collect the repo's dependencies: {last}", fix)


def _install_and_commit(
    client, base_image: str, wheelhouse: Path, tag: str, *, repo: Path | None = None, version: str = "", log=sys.stderr
) -> None:
    from docker.errors import APIError

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(wheelhouse), arcname=WHEELS_IN_IMAGE.lstrip("/"))
    pip = (
        f"python3 -I -m pip install --disable-pip-version-check --no-index --no-compile "
        f"--break-system-packages --find-links {WHEELS_IN_IMAGE}"
    )
    steps = [f"{pip} -r {WHEELS_IN_IMAGE}/requirements.txt"]
    if repo is not None:
        # Editable, pointing at /workspace: the run's tmpfs copy of the worktree lands there, edits included.
        # The copy used to build stays in the layer (without CAP_DAC_OVERRIDE root cannot empty the
        # sandbox user's /workspace), hidden at run time under that tmpfs.
        # No .git in the sandbox: VCS-versioned builds (setuptools-scm, hatch-vcs) get the version from here.
        pretend = f"SETUPTOOLS_SCM_PRETEND_VERSION={shlex.quote(version)} " if version else ""
        steps.append(f"{pretend}{pip} --no-deps -e {REPO_IN_IMAGE}")
    install = " && ".join(steps) + f" && rm -rf {WHEELS_IN_IMAGE}"
    api = client.api
    created = api.create_container(
        base_image,
        command=["sh", "-c", install],
        user="0:0",
        working_dir="/",
        labels={LABEL: "1"},
        host_config=api.create_host_config(
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            mem_limit="2g",
            pids_limit=512,
        ),
    )
    container = client.containers.prepare_model({"Id": created["Id"]})
    try:
        container.put_archive("/", buffer.getvalue())
        if repo is not None:
            container.put_archive(REPO_IN_IMAGE, worktree_tar(repo, uid=0))
        container.start()
        status = container.wait(timeout=900)
        if status.get("StatusCode") != 0:
            output = container.logs().decode(errors="replace").strip().splitlines()
            print("\n".join(output[-40:]), file=log)
            raise UserError(
                f"installing the repo's dependencies failed: {(output or ['?'])[-1][:300]}",
                f"check that every requirement has a wheel for Linux and Python {IMAGE_PYTHON}",
            )
        repository, _, version = tag.partition(":")
        container.commit(
            repository=repository,
            tag=version,
            conf={
                "User": f"{SANDBOX_UID}:{SANDBOX_UID}",
                "WorkingDir": "/workspace",
                "Cmd": ["cat"],
                "Labels": {LABEL_DEPS: version},
            },
        )
    except APIError as err:
        raise UserError(f"building the dependency layer {tag} failed: {str(err)[:300]}", "retry with --debug") from None
    finally:
        container.remove(force=True, v=True)


def _image_exists(client, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def _architecture(client) -> str:
    machine = client.info().get("Architecture", "x86_64")
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
