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
branch=$(git -C "$demo" branch --list 'agentsmith/*' --format='%(refname:short)' | tail -n 1)
if [ -n "$branch" ]; then
  git -C "$demo" log -1 --format='%h %s%n%n%b' "$branch"
  git -C "$demo" diff --stat main "$branch"
  echo "your branch is untouched: $(git -C "$demo" rev-parse --abbrev-ref HEAD), $(git -C "$demo" status --porcelain | wc -l) changed file(s)"
fi
exit $rc
