#!/usr/bin/env bash
# The tests, in the order that fails fastest: lint and format, then the fast tier (the graph's
# paths with scripted models, real sandbox and gates: seconds), then everything else (real models,
# real libraries, PostgreSQL and Redis). Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q -m fast "$@"
.venv/bin/python -m pytest -q -m "not fast" "$@"
