#!/usr/bin/env bash
# The sandbox image, built offline-capable from Debian packages (mmdebstrap | docker import).
set -euo pipefail
.venv/bin/agentsmith sandbox build
