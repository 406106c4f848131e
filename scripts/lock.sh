#!/usr/bin/env bash
# Re-pin every Python dependency, with hashes: the project's venv (pyproject.toml, extras `dev`, `scale`),
# the build backends its sdists need (locks/build.in), and Semgrep's own venv (locks/semgrep.in).
# Run after changing a dependency; commit locks/. Setup installs only from these files.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d); trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q --disable-pip-version-check "uv==0.13.9"
compile=("$tools/venv/bin/uv" pip compile --quiet --generate-hashes --universal --python-version 3.11
         --custom-compile-command "scripts/lock.sh")
"${compile[@]}" pyproject.toml --extra dev --extra scale -o locks/agentsmith.txt
"${compile[@]}" locks/build.in -o locks/build.txt
"${compile[@]}" locks/semgrep.in -o locks/semgrep.txt
echo "locks/ updated; setup rebuilds the venvs from them on its next run"
