#!/usr/bin/env bash
# Semgrep gets a venv of its own, called by path: its pins (opentelemetry) clash with
# llama-cpp-python[server]. Installed from locks/semgrep.txt with hash checking; a venv built from
# another lock is rebuilt. The version is pinned in agentsmith/config.py and in the lock.
set -euo pipefail
version=$(.venv/bin/python -c 'from agentsmith.config import SEMGREP_VERSION as v; print(v)')
grep -q "^semgrep==$version " locks/semgrep.txt || {
  echo "locks/semgrep.txt does not pin semgrep==$version (agentsmith/config.py); run scripts/lock.sh" >&2; exit 1; }
dest=$(.venv/bin/python -c 'from agentsmith.config import semgrep_bin; print(semgrep_bin().parent.parent)')
want=$(sha256sum locks/semgrep.txt | cut -d' ' -f1)
if [ -x "$dest/bin/semgrep" ] && [ "$(cat "$dest/.agentsmith-lock" 2>/dev/null)" = "$want" ] \
   && SEMGREP_ENABLE_VERSION_CHECK=0 "$dest/bin/semgrep" --version >/dev/null 2>&1; then
  echo "semgrep $version matches the lock"; exit 0
fi
rm -rf "$dest"
python3 -m venv "$dest"
"$dest/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r locks/semgrep.txt
SEMGREP_ENABLE_VERSION_CHECK=0 "$dest/bin/semgrep" --version
echo "$want" > "$dest/.agentsmith-lock"
