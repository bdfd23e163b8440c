#!/usr/bin/env bash
# Agent-mode sampling benchmark: 100 episodes of up to 8 steps (800 model calls) at
# concurrency 50 against the loopback mock with 200 ms latency. Each episode's steps are
# sequential (8 x 0.2 s = 1.6 s), and 800 calls through 50 slots take 800 x 0.2 s / 50 =
# 3.2 s: the bound is the larger, 3.2 s. The target is within 1.25x (4.0 s) including process
# start-up, planning, one SQLite commit per step and the reference-layout export.
#
# Usage: scripts/bench-agent.sh [RUNS]   (default 5; prints each run and the median)
# Env:   MISALIGN_BIN / MOCK_BIN to use prebuilt binaries; EPISODES/STEPS/CONCURRENCY/
#        LATENCY_MS to vary.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
episodes=${EPISODES:-100}
steps=${STEPS:-8}
conc=${CONCURRENCY:-50}
latency=${LATENCY_MS:-200}

# shellcheck source=scripts/bench-mock-lib.sh
. scripts/bench-mock-lib.sh

# The policy: list the inbox at every step, never stop (so every episode runs to the limit).
cat >"$work/policy.json" <<'JSON'
[{"needle": "", "steps": [[{"name": "list_emails", "arguments": {}}]], "after": "repeat_last"}]
JSON
start_mock --latency-ms "$latency" --no-record-bodies --agent-policy "$work/policy.json"

cat >"$work/bench.yaml" <<YAML
experiment_id: bench-agent
providers:
  mock:
    kind: openai-compatible
    base_url: $url/v1
global:
  models: [mock/mock-model]
  temperature: 1.0
  max_tokens: 200
  seed: 1
  samples_per_condition: $episodes
  concurrency:
    providers:
      mock: $conc
expansions:
  - name: bench
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [explicit]
      goal_values: [america]
      urgency_types: [replacement]
      interaction: [agent]
    agent:
      max_steps: $steps
classification:
  enabled: false
execution:
  timeout_seconds: 30
  retries: 3
YAML

calls=$(( episodes * steps ))
bound=$(awk -v n="$calls" -v c="$conc" -v l="$latency" -v s="$steps" \
  'BEGIN { a = n * l / 1000 / c; b = s * l / 1000; printf "%.3f", (a > b ? a : b) }')
times=()
for i in $(seq "$runs"); do
  out="$work/out-$i"
  start=$(date +%s%N)
  "$bin" run "$work/bench.yaml" --out "$out" --quiet --no-classify 2>"$work/run-$i.log" \
    || { echo "run $i failed:" >&2; cat "$work/run-$i.log" >&2; exit 1; }
  end=$(date +%s%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  files=$(find "$out/models" -name response.json | wc -l)
  [ "$files" -eq "$episodes" ] || { echo "run $i: exported $files of $episodes episodes" >&2; exit 1; }
  echo "run $i: ${secs}s ($episodes episodes, $calls calls)"
  times+=("$secs")
done
report_median bench-agent "$bound" "${times[@]}"
