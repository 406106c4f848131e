#!/usr/bin/env bash
# System packages: the Docker engine, mmdebstrap (the sandbox image is built from Debian packages,
# no registry), tmux (the TUI's terminal test), git, chromium (renders `report --html` in its test).
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v tmux >/dev/null || need+=(tmux)
command -v git >/dev/null || need+=(git)
command -v bwrap >/dev/null || need+=(bubblewrap)   # the sandbox's weaker backend, policy permitting
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi
