#!/usr/bin/env bash
# Whole-process timing of `misalign generate` for the 162 non-swap conditions (3 scenarios x
# 4 goal types x 8 goal values x 3 urgencies) from a reference-layout folder: median of N
# runs (default 5), each writing 162 prompt folders. The reference generator needs 1.16 s.
# Usage: scripts/bench-generate.sh [RUNS] [TEMPLATES_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
templates="${2:-crates/misalign-core/tests/fixtures/reference-layout}"
bin=./target/release/misalign
[ -x "$bin" ] || cargo build --release --locked -p misalign >&2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/grid162.yaml" <<'YAML'
experiment_id: grid162
global:
  samples_per_condition: 1
expansions:
  - name: all
    enabled: true
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, latent, ambiguous, none]
      goal_values: [america, global, safety, acceleration, ethical, pragmatic, individualism, collectivism]
      urgency_types: [replacement, restriction, none]
YAML

if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --warmup 1 --runs "$runs" --prepare "rm -rf $work/out" \
    "$bin generate $work/grid162.yaml --templates $templates --out $work/out"
  exit 0
fi

"$bin" generate "$work/grid162.yaml" --templates "$templates" --out "$work/out" >/dev/null 2>&1 # warm-up
times=()
for _ in $(seq "$runs"); do
  rm -rf "$work/out"
  start=$(date +%s%N)
  "$bin" generate "$work/grid162.yaml" --templates "$templates" --out "$work/out" >/dev/null 2>&1
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000 )))
done
count=$(ls "$work/out/prompts" | wc -l)
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( runs / 2 ))]}
echo "misalign generate, $count conditions, $runs runs (µs): ${times[*]}"
awk -v m="$median" 'BEGIN { printf "median %.1f ms; reference generator 1160 ms -> %.0fx faster\n", m / 1000, 1160000 / m }'
