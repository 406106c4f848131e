#!/usr/bin/env bash
# Start a Docker engine when none answers. No bridge and no iptables: no container here ever gets
# a network interface besides lo.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
mkdir -p /var/log
nohup dockerd --bridge=none --iptables=false >/var/log/agentsmith-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not start; see /var/log/agentsmith-dockerd.log" >&2
exit 1
