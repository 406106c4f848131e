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
import json
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
LAYER_FORMAT = "2"  # part of a layer's key: a change to how layers are built does not reuse older ones


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
            pyproject = tomllib.loads(project_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise UserError(f"{project_file} is not valid TOML ({err})", "fix the file") from None
        requirements += [str(item) for item in pyproject.get("project", {}).get("dependencies", [])]
        poetry = pyproject.get("tool", {}).get("poetry", {})
        requirements += project.poetry_requirements(poetry.get("dependencies", {}))
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
    runtime = declared_requirements(repo)
    build = setup.build_requires if install_repo else []
    if not runtime and not setup.test_requirements and not build:
        return policy.image
    client = docker_client()
    require_image(client, policy.image)
    base = client.images.get(policy.image)
    version = project.version_hint(repo) if build else ""
    # (whether the index may be used is in the key: a layer built without it may lack test tools)
    key = f"{LAYER_FORMAT}{version}{install_repo}{policy.allow_dependency_network}"
    tag = f"{DEPS_REPOSITORY}:{dependency_hash(repo, base.id, key)}"
    if _image_exists(client, tag):
        return tag
    # What the sandbox image already has (pytest, setuptools, wheel, ...) is not fetched: offline, a repo
    # whose tox deps named pytest could not be set up at all.
    installed = image_packages(client, policy.image, base.id)
    name = project.project_name(repo) or repo.name  # (a run's worktree folder is named after the run)
    runtime = unsatisfied(runtime, installed)
    testing = [r for r in unsatisfied(setup.test_requirements, installed) if r not in runtime]
    isolated = bool(unsatisfied(build, installed))  # else the image's own backend builds the repo
    if not runtime and not testing and not build:
        return policy.image
    with tempfile.TemporaryDirectory(prefix="agentsmith-wheels-") as folder:
        wheelhouse = Path(folder)
        arch = _architecture(client)
        _write(wheelhouse / "runtime.txt", runtime)
        if runtime:  # the library cannot import without them: all or a clear error
            _download_wheels(policy, wheelhouse, find_links, arch, "runtime.txt")
        missing = _collect_some(policy, wheelhouse, find_links, arch, testing)
        if missing:
            print(
                f"left out {len(missing)} test requirement(s) of {name} that could not be had "
                f"{'from the index' if policy.allow_dependency_network else 'offline'}: {', '.join(missing)}",
                file=log,
            )
        requirements = runtime + [r for r in testing if r not in missing]
        if not requirements and not build:
            return policy.image
        _write(wheelhouse / "requirements.txt", requirements)
        import_path = None
        if isolated:
            _write(wheelhouse / "build-requirements.txt", build)
            try:
                _download_wheels(policy, wheelhouse, find_links, arch, "build-requirements.txt")
            except UserError as err:
                # Not buildable here (offline, its backend not in the image): the tests import the repo from
                # the workspace instead, as an editable install would, and its installed metadata is missing.
                import_path = f"{REPO_IN_IMAGE}/src" if setup.src_layout else REPO_IN_IMAGE
                print(f"{name} is not installed, its tests import it from {import_path}: {err}", file=log)
            _write(wheelhouse / "editable-extras.txt", list(EDITABLE_EXTRAS))
            # Most backends need none of them; a build that does fails below, with pip's reason.
            with contextlib.suppress(UserError):
                _download_wheels(policy, wheelhouse, find_links, arch, "editable-extras.txt")
        built = bool(build) and import_path is None
        what = f"{len(requirements)} dependencies" + (f" and {name} itself" if built else "")
        print(f"installing {what} of {name} into {tag}", file=log)
        _install_and_commit(
            client,
            policy.image,
            wheelhouse,
            tag,
            repo=repo if built else None,
            version=version,
            log=log,
            isolated=isolated,
            requirements=bool(requirements),
            import_path=import_path,
        )
    return tag


def _write(path: Path, requirements: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")


def _collect_some(policy: SandboxPolicy, wheelhouse: Path, find_links, arch: str, requirements: list[str]) -> list[str]:
    """Downloads the test requirements' wheels; returns those that could not be had. They are best effort:
    test extras list coverage and lint tools the tests do not import (cachetools' tox deps: pytest-cov),
    and one of them missing offline left the library itself uninstalled and every test erroring."""
    if not requirements:
        return []
    _write(wheelhouse / "testing.txt", requirements)
    try:
        _download_wheels(policy, wheelhouse, find_links, arch, "testing.txt")
        return []
    except UserError:
        pass
    missing = []
    for requirement in requirements:
        _write(wheelhouse / "one.txt", [requirement])
        try:
            _download_wheels(policy, wheelhouse, find_links, arch, "one.txt")
        except UserError:
            missing.append(requirement)
    return missing


# Markers are judged for the sandbox's interpreter, not the host's.
IMAGE_MARKERS = {
    "python_version": IMAGE_PYTHON,
    "python_full_version": f"{IMAGE_PYTHON}.2",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "extra": "",
}
_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
)


def image_packages(client, image: str, image_id: str) -> dict[str, str]:
    """The distributions installed in `image` (canonical name -> version), read once per image id."""
    from agentsmith.config import home

    cache = home() / "sandbox" / f"packages-{image_id.replace(':', '-')[:80]}.json"
    if cache.is_file():
        with contextlib.suppress(OSError, ValueError):
            return json.loads(cache.read_text(encoding="utf-8"))
    from docker.errors import DockerException
    from packaging.utils import canonicalize_name

    try:
        output = client.containers.run(
            image,
            ["python3", "-I", "-c", _LIST_DISTRIBUTIONS],
            network_mode="none",
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            labels={LABEL: "1"},
            remove=True,
        )
        found = {canonicalize_name(name): version for name, version in json.loads(output).items()}
    except (DockerException, ValueError) as err:
        print(f"could not list {image}'s packages ({str(err)[:200]}); fetching every requirement", file=sys.stderr)
        return {}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(found, sort_keys=True), encoding="utf-8")
    return found


def unsatisfied(requirements: list[str], installed: dict[str, str]) -> list[str]:
    """The requirements `installed` does not meet (name, version range; extras always fetched); those
    whose environment marker excludes the sandbox's Python are dropped."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion

    needed = []
    for line in requirements:
        try:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(IMAGE_MARKERS):
                continue
            have = installed.get(canonicalize_name(requirement.name))
            if have and not requirement.extras and requirement.specifier.contains(have, prereleases=True):
                continue
        except (InvalidRequirement, InvalidVersion):
            pass  # pip reports it, with its own words
        needed.append(line)
    return list(dict.fromkeys(needed))


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
    client,
    base_image: str,
    wheelhouse: Path,
    tag: str,
    *,
    repo: Path | None = None,
    version: str = "",
    log=sys.stderr,
    isolated: bool = True,
    requirements: bool = True,
    import_path: str | None = None,
) -> None:
    from docker.errors import APIError

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(wheelhouse), arcname=WHEELS_IN_IMAGE.lstrip("/"))
    pip = (
        f"python3 -I -m pip install --disable-pip-version-check --no-index --no-compile "
        f"--break-system-packages --find-links {WHEELS_IN_IMAGE}"
    )
    steps = [f"{pip} -r {WHEELS_IN_IMAGE}/requirements.txt"] if requirements else []
    if repo is not None:
        # Editable, pointing at /workspace: the run's tmpfs copy of the worktree lands there, edits included.
        # The copy used to build stays in the layer (without CAP_DAC_OVERRIDE root cannot empty the
        # sandbox user's /workspace), hidden at run time under that tmpfs.
        # No .git in the sandbox: VCS-versioned builds (setuptools-scm, hatch-vcs) get the version from here.
        pretend = f"SETUPTOOLS_SCM_PRETEND_VERSION={shlex.quote(version)} " if version else ""
        # Its build requirements all in the image already: built with them, no wheels needed.
        isolation = "" if isolated else " --no-build-isolation"
        # --use-pep517: a setup.py-only project is built as an editable wheel too, its metadata installed
        # beside it; `setup.py develop` left it in /workspace, which each run replaces with its own copy.
        steps.append(f"{pretend}{pip} --no-deps --use-pep517{isolation} -e {REPO_IN_IMAGE}")
    if import_path is not None:  # a .pth file: the interpreter finds the workspace's code as if installed
        pth = f"import site; open(site.getsitepackages()[0] + '/agentsmith-workspace.pth', 'w').write('{import_path}')"
        steps.append(f"python3 -I -c {shlex.quote(pth)}")
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
            # /workspace itself made root's: a build that writes beside the code (setup.py develop creates
            # <name>.egg-info there) failed with "Permission denied" (boltons). Runs mount their own tmpfs.
            container.put_archive("/", _root_owned_dir(REPO_IN_IMAGE.strip("/")))
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


def _root_owned_dir(name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.type, info.uid, info.gid, info.mode = tarfile.DIRTYPE, 0, 0, 0o755
        archive.addfile(info)
    return buffer.getvalue()


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
