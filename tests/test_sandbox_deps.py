"""A repo's dependencies become a per-repo image layer, installed offline, cached by file hash."""

from __future__ import annotations

import base64
import hashlib
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
