"""agentsmith as an installed package: the built wheel carries its policy, rules, fixtures and
sandbox recipe, and works from any directory, far from the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import git, make_repo

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from the files git would ship (tracked or new, not ignored), never from the checkout itself:
    a stale build/ folder there would put modules that no longer exist into the wheel."""
    source = tmp_path_factory.mktemp("source") / "agentsmith"
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=PROJECT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for relative in filter(None, listed):
        origin, target = PROJECT / relative, source / relative
        if origin.exists() or origin.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target, follow_symlinks=False)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("agentsmith-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A clean venv holding the wheel. Its dependencies come from the locked project venv through a
    .pth line (not reinstalled: that is a 5-minute llama.cpp build); the project itself does not,
    since a .pth-added folder's own .pth files (the editable install's hook) are never processed."""
    venv = tmp_path_factory.mktemp("venv") / "scratch"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "locked-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    launcher = venv / "bin" / "agentsmith"
    launcher.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom agentsmith.cli import main\nsys.exit(main())\n")
    launcher.chmod(0o755)
    return venv


def test_the_wheel_carries_policy_rules_fixtures_and_sandbox_recipe(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "agentsmith/data/policies/default.yaml",
        "agentsmith/data/policies/semgrep/README.md",
        "agentsmith/data/policies/semgrep/terraform/public-ip.yaml",
        "agentsmith/data/policies/semgrep/terraform/public-ip.tf",
        "agentsmith/data/sandbox/packages.txt",
        "agentsmith/data/sandbox/seccomp.json",
        "agentsmith/data/sandbox/Dockerfile",
        "agentsmith/sandbox/supervisor.py",
        "agentsmith/tui/app.tcss",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"


def _run(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(venv / "bin" / "agentsmith"), *argv], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def test_installed_wheel_runs_policy_test_and_scan_from_another_directory(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import agentsmith; print(agentsmith.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), f"imported the checkout, not the wheel: {where}"

    tested = _run(installed, "policy", "test", cwd=elsewhere)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "All tests passed" in tested.stdout

    repo = make_repo(tmp_path / "repo", {"app.py": "def ok():\n    return 1\n"})
    (repo / "app.py").write_text("import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n")
    git(repo, "add", "-A")
    scanned = _run(installed, "scan", "--repo", str(repo), "--format", "json", cwd=elsewhere)
    assert scanned.returncode == 1, scanned.stdout + scanned.stderr  # the change adds a shell call
    assert "app.py" in scanned.stdout and str(PROJECT) not in scanned.stdout
