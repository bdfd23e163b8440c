#!/usr/bin/env bash
# End-to-end sampling benchmark: 1,200 calls at concurrency 100 against the loopback mock
# with 200 ms latency. The bound is 1,200 x 0.2 s / 100 = 2.4 s; the target is within 1.25x
# (3.0 s) including process start-up, planning, SQLite writes and the reference-layout export.
#
# Usage: scripts/bench-run.sh [RUNS]   (default 5; prints each run and the median)
# Env:   MISALIGN_BIN / MOCK_BIN to use prebuilt binaries; CALLS/CONCURRENCY/LATENCY_MS to vary.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
calls=${CALLS:-1200}
conc=${CONCURRENCY:-100}
latency=${LATENCY_MS:-200}

# shellcheck source=scripts/bench-mock-lib.sh
. scripts/bench-mock-lib.sh

start_mock --latency-ms "$latency" --no-record-bodies

# 6 conditions (3 scenarios x explicit/none, replacement) x samples = calls.
samples=$(( (calls + 5) / 6 ))
cat >"$work/bench.yaml" <<YAML
experiment_id: bench-run
providers:
  mock:
    kind: openai-compatible
    base_url: $url/v1
global:
  models: [mock/mock-model]
  temperature: 1.0
  max_tokens: 200
  seed: 1
  samples_per_condition: $samples
  concurrency:
    providers:
      mock: $conc
expansions:
  - name: bench
    enabled: true
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: false
execution:
  timeout_seconds: 30
  retries: 3
YAML

total_calls=$(( samples * 6 ))
bound=$(awk -v n="$total_calls" -v c="$conc" -v l="$latency" 'BEGIN { printf "%.3f", n * l / 1000 / c }')
times=()
for i in $(seq "$runs"); do
  out="$work/out-$i"
  start=$(date +%s%N)
  "$bin" run "$work/bench.yaml" --out "$out" --quiet --no-classify 2>"$work/run-$i.log"
  end=$(date +%s%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  files=$(find "$out/models" -name response.json | wc -l)
  [ "$files" -eq "$total_calls" ] || { echo "run $i: exported $files of $total_calls" >&2; exit 1; }
  echo "run $i: ${secs}s ($total_calls calls, $files files)"
  times+=("$secs")
done
report_median bench-run "$bound" "${times[@]}"
