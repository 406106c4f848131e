#!/usr/bin/env bash
# The main job on the embedded defaults: copy examples/demo-repo into a fresh git repository
# (your checkout is never the target) and let agentsmith implement slugify there.
set -euo pipefail
cd "$(dirname "$0")/.."
demo="${AGENTSMITH_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agentsmith/demo-repo}"
rm -rf "$demo"; mkdir -p "$demo"
cp -r examples/demo-repo/. "$demo/"
git -C "$demo" init -q -b main
git -C "$demo" add -A
git -C "$demo" -c user.name=demo -c user.email=demo@localhost commit -q -m "demo: slugify stub and tests"
echo "demo repository: $demo"
start=$(date +%s)
set +e
.venv/bin/agentsmith run "Implement slugify in text.py so the tests pass" --repo "$demo" --mode ci "$@"
rc=$?
set -e
echo "wall time: $(( $(date +%s) - start ))s"
git -C "$demo" branch --list 'agentsmith/*'
git -C "$demo" log --format='%h %s%n%b' -1 'agentsmith/*' --branches='agentsmith/*' 2>/dev/null | head -12 || true
exit $rc
