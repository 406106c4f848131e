"""Where agentsmith keeps its state, and the handful of environment switches it reads."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

# The default policy, the Semgrep rules with their fixtures and the sandbox recipe are package data,
# so an installed wheel works from any directory. (`policies/` and `sandbox/` at the top of the
# checkout are links to these folders, for the people who own them.)
DATA_DIR = Path(str(files("agentsmith") / "data"))
POLICIES_DIR = DATA_DIR / "policies"
DEFAULT_POLICY = POLICIES_DIR / "default.yaml"
SANDBOX_RECIPE_DIR = DATA_DIR / "sandbox"


def home() -> Path:
    """AGENTSMITH_HOME, else $XDG_DATA_HOME/agentsmith, else ~/.local/share/agentsmith."""
    explicit = os.environ.get("AGENTSMITH_HOME")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "agentsmith"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    path = home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def worktrees_dir() -> Path:
    path = home() / "worktrees"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoints_db() -> Path:
    return home() / "checkpoints.sqlite"


def audit_db() -> Path:
    return home() / "audit.sqlite"


SEMGREP_VERSION = "1.180.0"
SEMGREP_FIX = "run scripts/setup.sh (or set AGENTSMITH_SEMGREP)"  # what to do when semgrep_bin() is missing


def semgrep_bin() -> Path:
    """Semgrep lives in a venv of its own: its pins clash with llama-cpp-python[server]."""
    explicit = os.environ.get("AGENTSMITH_SEMGREP")
    if explicit:
        return Path(explicit)
    return home() / "tools" / f"semgrep-{SEMGREP_VERSION}" / "bin" / "semgrep"
