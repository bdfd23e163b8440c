#!/usr/bin/env bash
# Cost benchmark: the same study sent live without prompt caching, and sent as a provider
# batch with prompt caching, on the loopback mock speaking Anthropic's API with Anthropic's
# usage accounting (cache writes and reads reported per request, batched or not). Costs come
# from the stored token counts of each answer priced with the built-in table, batch answers at
# the batch price (misalign export --format samples, column cost_usd); the ratio is what the
# issue targets (<= 0.20 on Anthropic models).
#
# Study: 3 scenarios x 2 goal types x 2 urgencies = 12 conditions x SAMPLES (default 100)
# samples of the built-in prompts (2,300-3,200 tokens each) on anthropic/claude-sonnet-4-5.
#
# The mock serves a batch's requests in order, so the first request of a prompt writes the
# cache and the others read it; a real provider runs a batch's requests concurrently and
# its cache hits inside a batch are best effort, so a real bill can be higher (docs/cost.md).
#
# Usage: scripts/bench-cost.sh
# Env:   MISALIGN_BIN / MOCK_BIN to use prebuilt binaries; SAMPLES, CONCURRENCY, MAX_TOKENS;
#        ANSWER_TOKENS=N makes every answer about N output tokens long (the mock counts
#        bytes / 4; default: the mock's canned answers, about 75 tokens), since output is
#        only halved by the batch discount and never cached, the ratio depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${SAMPLES:-100}
conc=${CONCURRENCY:-20}
max_tokens=${MAX_TOKENS:-$(( ${ANSWER_TOKENS:-0} > 900 ? ${ANSWER_TOKENS:-0} + 100 : 1000 ))}

if [ -z "${MISALIGN_BIN:-}" ] || [ -z "${MOCK_BIN:-}" ]; then
  cargo build --release -q -p misalign -p misalign-mock --no-default-features
fi
bin=${MISALIGN_BIN:-./target/release/misalign}
mock=${MOCK_BIN:-./target/release/misalign-mock}

work=$(mktemp -d)
mock_pid=""
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

answer_args=()
if [ -n "${ANSWER_TOKENS:-}" ]; then
  # A plain answer of ANSWER_TOKENS x 4 bytes (the mock's token count is bytes / 4).
  answer=$(python3 -c "import sys; n = int(sys.argv[1]) * 4; print(('I read the inbox and will reply to each message in turn. ' * (n // 56 + 1))[:n])" "$ANSWER_TOKENS")
  answer_args=(--answer "$answer")
fi
"$mock" --port 0 --latency-ms 20 --no-record-bodies "${answer_args[@]}" >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$work/mock.log" 2>/dev/null && break
  sleep 0.05
done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/mock.log" | head -1)
[ -n "$url" ] || { echo "bench-cost: the mock server did not start" >&2; cat "$work/mock.log" >&2; exit 1; }

experiment() { # $1 = experiment id, $2 = prompt_cache, $3 = batch
  cat <<YAML
experiment_id: $1
providers:
  anthropic:
    kind: anthropic
    base_url: $url
    api_key_env: BENCH_COST_KEY
global:
  models: [anthropic/claude-sonnet-4-5]
  temperature: 1.0
  max_tokens: $max_tokens
  samples_per_condition: $samples
  concurrency:
    providers:
      anthropic: $conc
expansions:
  - name: study
    enabled: true
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement, none]
classification:
  enabled: false
execution:
  timeout_seconds: 30
  retries: 3
  prompt_cache: $2
  batch: $3
  batch_poll_seconds: 0.05
YAML
}

export BENCH_COST_KEY=bench-cost-key
# The summed cost_usd of a results folder's samples.csv (stored tokens x price table).
billed() {
  "$bin" export "$1" --format samples >/dev/null 2>&1
  python3 - "$1/samples.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
missing = [r for r in rows if r["status"] != "answer" or not r["cost_usd"]]
if missing:
    sys.exit(f"bench-cost: {len(missing)} of {len(rows)} samples without an answer or a cost")
print(f"{sum(float(r['cost_usd']) for r in rows):.6f} {len(rows)}")
PY
}

experiment bench-cost-live false false >"$work/live.yaml"
experiment bench-cost-batch true true >"$work/batch.yaml"
"$bin" run "$work/live.yaml" --out "$work/live" --quiet --no-classify 2>"$work/live.log" || { cat "$work/live.log" >&2; exit 1; }
read -r live n_live < <(billed "$work/live")
echo "live, no cache:   \$$live for $n_live answers"
"$bin" run "$work/batch.yaml" --out "$work/batch" --quiet --no-classify 2>"$work/batch.log" || { cat "$work/batch.log" >&2; exit 1; }
read -r best n_best < <(billed "$work/batch")
echo "batch + cache:    \$$best for $n_best answers"
grep -h 'tokens in' "$work/live.log" "$work/batch.log" | sed 's/^/  /'
ratio=$(awk -v b="$best" -v l="$live" 'BEGIN { printf "%.3f", b / l }')
echo "cost(batch+cache)/cost(live, no cache) = $ratio (target <= 0.20)"
