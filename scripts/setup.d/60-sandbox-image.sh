#!/usr/bin/env bash
# The sandbox image, built offline-capable from Debian packages (mmdebstrap | docker import), and,
# when bubblewrap is installed, the same Debian tree as a folder for the weaker backend. Skipped when
# both are up to date (the image is labelled with its recipe hash).
set -euo pipefail
.venv/bin/agentsmith sandbox build
