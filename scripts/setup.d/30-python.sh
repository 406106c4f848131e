#!/usr/bin/env bash
# The project's venv, installed from locks/ with hash checking: every package, build backends
# included, is pinned by hash, so a new release upstream cannot change what a fresh machine gets.
# llama-cpp-python compiles from its (hashed) sdist once, about 5 minutes on 2 cores; pip caches
# the wheel. GGML_NATIVE=OFF keeps that wheel portable across CPUs of this kind.
# A venv built from another lock is thrown away and rebuilt, never patched.
set -euo pipefail
stamp=.venv/.agentsmith-lock
want=$(cat locks/build.txt locks/agentsmith.txt | sha256sum | cut -d' ' -f1)
project=(.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  "${project[@]}"    # the project itself only (entry points may have changed); a second or two
  echo "venv matches the lock"; exit 0
fi
rm -rf .venv
python3 -m venv .venv
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes)
# build backends first, so the sdists below build against hashed tools, not whatever is newest
"${pip[@]}" -r locks/build.txt
"${pip[@]}" --no-build-isolation -r locks/agentsmith.txt
"${project[@]}"
.venv/bin/python -m pip check
echo "$want" > "$stamp"
