#!/usr/bin/env bash
# The default experiment: local-only, frontier-only and cascade over the first N tasks of the
# Exercism Python suite, into one out dir (one results.json, one table, one plot), then the
# release-gate comparison of cascade against frontier-only.
#
#   local    = Qwen2.5-Coder-0.5B in-process (policies/bench.yaml)
#   frontier = Qwen2.5-Coder-1.5B behind `python -m llama_cpp.server` on 127.0.0.1, started and
#              stopped by `agentsmith bench --serve-frontier`, priced $3/M in, $15/M out
#
# Usage: benchmarks/run_default_experiment.sh [OUT_DIR]
#   LIMIT=30 (first N tasks by slug)  TASKS=slug,slug (instead of LIMIT)  JOBS=1
#   STRATEGIES="local frontier cascade"  SUITE=../shared/bench/exercism-python  POLICY=policies/bench.yaml
# Re-running with the same OUT_DIR resumes: finished tasks are not run again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/bench-out/default-experiment}"
SUITE="${SUITE:-$ROOT/../shared/bench/exercism-python}"
LIMIT="${LIMIT:-30}"
JOBS="${JOBS:-1}"
STRATEGIES="${STRATEGIES:-local frontier cascade}"
AGENTSMITH="${AGENTSMITH:-$ROOT/.venv/bin/agentsmith}"
POLICY="${POLICY:-$ROOT/policies/bench.yaml}"

if [[ -n "${TASKS:-}" ]]; then selection=(--tasks "$TASKS"); else selection=(--limit "$LIMIT"); fi

for strategy in $STRATEGIES; do
    frontier=()
    [[ "$strategy" != local ]] && frontier=(--serve-frontier qwen2.5-coder-1.5b)
    echo "== $strategy ==" >&2
    "$AGENTSMITH" bench "$SUITE" --strategy "$strategy" "${selection[@]}" --jobs "$JOBS" \
        --policy "$POLICY" "${frontier[@]}" --out "$OUT"
done

echo
cat "$OUT/results.md"
if [[ " $STRATEGIES " == *" frontier "* && " $STRATEGIES " == *" cascade "* ]]; then
    # Two bars: cascade success >= frontier-only success at <= 0.8x its cost per success (the step asked
    # of these tiers), and at <= 0.35x (the product's goal, with a strong hosted frontier).
    for ratio in 0.8 0.35; do
        echo
        increase=$(python3 -c "print(round($ratio - 1, 4))")
        "$AGENTSMITH" bench compare "$OUT/results.json:frontier" "$OUT/results.json:cascade" \
            --max-success-drop 0 --max-cost-increase "$increase" --max-latency-increase 100 \
            && echo "met: cascade succeeds as often as frontier-only at <= ${ratio}x its cost per success" \
            || echo "not met: cascade at <= ${ratio}x frontier-only's cost per success (see the gate lines above)"
    done
fi
echo "results: $OUT/results.json $OUT/results.md $OUT/plot.png"
