#!/usr/bin/env bash
# Sets up everything agentsmith needs on a fresh Debian machine, idempotently:
# system packages, the Docker engine, the Python venv, Semgrep's own venv, the local models,
# and the sandbox image. Each step is a file in scripts/setup.d/, run in order.
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/setup.d/*.sh; do
  echo "== setup: $(basename "$step")"
  start=$(date +%s)
  bash "$step"
  echo "== setup: $(basename "$step") done in $(( $(date +%s) - start ))s"
done
