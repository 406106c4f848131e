#!/usr/bin/env bash
# The project's venv. llama-cpp-python compiles from source once (about 5 minutes on 2 cores);
# pip caches the wheel. GGML_NATIVE=OFF keeps the wheel portable across CPUs of this kind.
set -euo pipefail
[ -x .venv/bin/python ] || python3 -m venv .venv
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
