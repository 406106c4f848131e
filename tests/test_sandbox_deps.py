"""A repo's dependencies become a per-repo image layer, installed offline, cached by file hash."""

from __future__ import annotations

import base64
import hashlib
import io
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from agentsmith.errors import UserError
from agentsmith.policy.schema import SandboxPolicy
from agentsmith.sandbox import build_image, open_sandbox, prepare_dependencies
from agentsmith.sandbox.engine import docker_client

pytestmark = pytest.mark.docker


def build_wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A real, minimal pure-Python wheel (what `pip wheel` makes for a one-module package)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": source.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: agentsmith-test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def base_image() -> str:
    return build_image()[0]


def test_declared_dependency_installed_offline_into_a_cached_layer(base_image, tmp_path):
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    build_wheel(wheelhouse, "tinydep", "0.1.0", "VALUE = 42\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    # a unique comment: a new dependency hash per test run, so the layer is really built here
    (repo / "requirements.txt").write_text(f"# run {uuid.uuid4().hex}\ntinydep==0.1.0\n")
    (repo / "test_dep.py").write_text("import tinydep\n\ndef test_value():\n    assert tinydep.VALUE == 42\n")
    policy = SandboxPolicy()  # allow_dependency_network is false: wheelhouse only
    client = docker_client()
    tag = prepare_dependencies(policy, repo, find_links=[wheelhouse])
    try:
        assert tag.startswith("agentsmith-deps:")
        started = time.monotonic()
        assert prepare_dependencies(policy, repo, find_links=[wheelhouse]) == tag
        assert time.monotonic() - started < 3  # cached by the hash of the dependency files
        with open_sandbox(policy, run_id="test-deps", worktree=repo, image=tag) as box:
            result = box.exec(["python3", "-m", "pytest", "-q"], timeout=60)
            assert result.ok and "1 passed" in result.output, result.output
            user = box.exec(["id", "-u"])
            assert user.output.strip() == "10001"
            net = box.exec(["ls", "/sys/class/net"])
            assert net.output.split() == ["lo"]
    finally:
        client.images.remove(tag, force=True)


def test_repo_without_dependency_files_uses_the_base_image(base_image, tmp_path):
    assert prepare_dependencies(SandboxPolicy(), tmp_path) == base_image


def test_index_needed_but_forbidden_by_policy_is_a_clear_error(base_image, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'app'\nversion = '0'\ndependencies = ['surely-not-in-any-wheelhouse==9.9']\n"
    )
    with pytest.raises(UserError, match="allow_dependency_network"):
        prepare_dependencies(SandboxPolicy(), tmp_path, find_links=[tmp_path])


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_offline_the_image_builds_the_repo_and_a_test_tool_it_cannot_have_is_left_out(base_image, tmp_path):
    """Offline (the schema's default), a setuptools repo whose test extra names pytest (in the image), its
    coverage plugin (not to be had) and whose config adds coverage options: the image's own setuptools
    builds it (no wheel fetched), the plugin is left out with a note, the coverage options are left out of
    the test command, and the library is installed: its metadata reads, its tests pass. Before, pytest
    itself had to come from a wheelhouse, the plugin's absence left the library uninstalled, and every
    run stopped on the unknown --cov option (cachetools, wcwidth)."""
    from agentsmith.sandbox import project

    repo = _write_tree(
        tmp_path / "repo",
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
                f'[project]\nname = "clampy"\nversion = "1.4.{uuid.uuid4().int % 10_000}"\n\n'
                '[project.optional-dependencies]\ntests = ["pytest", "pytest-cov-surely-not-here"]\n'
            ),
            "tox.ini": "[pytest]\naddopts = --cov=clampy --cov-report term-missing -ra\n",
            "src/clampy/__init__.py": "def clamp(v, lo, hi):\n    return max(lo, min(v, hi))\n",
            "tests/test_clamp.py": (
                "import importlib.metadata\nfrom clampy import clamp\n\n"
                "def test_clamp():\n    assert clamp(5, 0, 3) == 3\n\n"
                "def test_installed():\n    assert importlib.metadata.version('clampy').startswith('1.4.')\n"
            ),
        },
    )
    setup = project.discover(repo)
    assert setup.options == ["-o", "addopts=-ra"]
    log = io.StringIO()
    tag = prepare_dependencies(SandboxPolicy(), repo, log=log)
    try:
        assert "left out 1 test requirement(s) of clampy that could not be had offline: pytest-cov-surely-not-here" in (
            log.getvalue()
        )
        assert "installing 0 dependencies and clampy itself" in log.getvalue()
        with open_sandbox(SandboxPolicy(), run_id="test-deps-offline", worktree=repo, image=tag) as box:
            result = box.exec(setup.command(), timeout=120)
            assert result.ok and "2 passed" in result.output, result.output
    finally:
        docker_client().images.remove(tag, force=True)


def test_a_backend_that_cannot_be_had_offline_leaves_the_tests_importing_the_workspace(base_image, tmp_path):
    """A hatchling repo offline: its backend is not in the image and no wheel is at hand, so the repo is not
    built; the layer points the interpreter at /workspace/src instead, and the agent's edits, synced in,
    are what the tests import."""
    from agentsmith.sandbox import project

    repo = _write_tree(
        tmp_path / "repo",
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["hatchling-surely-not-here"]\nbuild-backend = "hatchling.build"\n\n'
                f'[project]\nname = "halve"\nversion = "0.{uuid.uuid4().int % 10_000}"\n'
            ),
            "src/halve/__init__.py": "def halve(n):\n    return n // 2\n",
            "tests/test_halve.py": "from halve import halve\n\ndef test_halve():\n    assert halve(9) == 4.5\n",
        },
    )
    log = io.StringIO()
    tag = prepare_dependencies(SandboxPolicy(), repo, log=log)
    try:
        assert "halve is not installed, its tests import it from /workspace/src" in log.getvalue()
        setup = project.discover(repo)
        with open_sandbox(SandboxPolicy(), run_id="test-deps-path", worktree=repo, image=tag) as box:
            before = box.exec(setup.command(), timeout=120)
            assert before.exit_code == 1 and "1 failed" in before.output, before.output
            (repo / "src/halve/__init__.py").write_text("def halve(n):\n    return n / 2\n")
            box.sync_in(repo)
            after = box.exec(setup.command(), timeout=120)
            assert after.ok and "1 passed" in after.output, after.output
    finally:
        docker_client().images.remove(tag, force=True)


def test_a_setup_py_project_is_installed_although_its_build_writes_beside_the_code(base_image, tmp_path):
    """No pyproject: pip runs `setup.py develop`, which creates <name>.egg-info in /workspace. The build
    container's root has no capabilities, and /workspace was the sandbox user's: "Permission denied",
    nothing installed (boltons, in the real-library bench)."""
    repo = _write_tree(
        tmp_path / "repo",
        {
            "setup.py": (
                "from setuptools import setup\n\n"
                f"setup(name='legacy', version='2.{uuid.uuid4().int % 10_000}', packages=['legacy'])\n"
            ),
            "legacy/__init__.py": "ANSWER = 42\n",
            "tests/test_legacy.py": (
                "import importlib.metadata\nimport legacy\n\n"
                "def test_installed():\n    assert legacy.ANSWER == 42\n"
                "    assert importlib.metadata.version('legacy').startswith('2.')\n"
            ),
        },
    )
    log = io.StringIO()
    tag = prepare_dependencies(SandboxPolicy(), repo, log=log)
    try:
        assert tag.startswith("agentsmith-deps:"), log.getvalue()
        with open_sandbox(SandboxPolicy(), run_id="test-deps-legacy", worktree=repo, image=tag) as box:
            result = box.exec(["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"], timeout=120)
            assert result.ok and "1 passed" in result.output, result.output
    finally:
        docker_client().images.remove(tag, force=True)
