#!/usr/bin/env bash
# Semgrep gets a venv of its own, called by path: its pins (opentelemetry) clash with
# llama-cpp-python[server]. Version pinned; see agentsmith/config.py.
set -euo pipefail
version=$(.venv/bin/python -c 'from agentsmith.config import SEMGREP_VERSION as v; print(v)')
dest=$(.venv/bin/python -c 'from agentsmith.config import semgrep_bin; print(semgrep_bin().parent.parent)')
if [ -x "$dest/bin/semgrep" ] && SEMGREP_ENABLE_VERSION_CHECK=0 "$dest/bin/semgrep" --version >/dev/null 2>&1; then exit 0; fi
python3 -m venv "$dest"
"$dest/bin/pip" install -q --disable-pip-version-check "semgrep==$version"
SEMGREP_ENABLE_VERSION_CHECK=0 "$dest/bin/semgrep" --version
