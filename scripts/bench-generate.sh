#!/usr/bin/env bash
# Whole-process timing of `misalign generate` for the 162 non-swap conditions (3 scenarios x
# 4 goal types x 8 goal values x 3 urgencies) from a reference-layout folder: median of N
# runs (default 5), each writing 162 prompt folders. The reference generator needs 1.16 s.
# OUT_DIR picks where the folders go (default: a RAM-backed /dev/shm when present, so the
# figure measures misalign rather than the disk). For comparison the script also times
# `cp -r` of the finished tree to the same place: no generator can beat creating its files.
# Usage: [OUT_DIR=/path/on/disk] [MISALIGN_BIN=path] scripts/bench-generate.sh [RUNS] [TEMPLATES_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
templates="${2:-crates/misalign-core/tests/fixtures/reference-layout}"
# MISALIGN_BIN=path measures that binary (e.g. another commit's, for scripts/bench-compare.sh).
bin="${MISALIGN_BIN:-./target/release/misalign}"
[ -x "$bin" ] || cargo build --release --locked -p misalign >&2

if [ -n "${OUT_DIR:-}" ]; then
  base="$OUT_DIR"
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
  base=/dev/shm
else
  base="${TMPDIR:-/tmp}"
fi
work="$(mktemp -d -p "$base")"
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
fs="$(df --output=fstype "$work" 2>/dev/null | tail -1 || echo unknown)"

# Median of a list of microsecond figures.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Times are bash's own $EPOCHREALTIME (microseconds once the point is dropped), read without
# a subshell: `$(date +%s%N)` would add the start-up of a `date` process (about 2 ms here) to
# every figure.

"$bin" generate "$work/grid162.yaml" --templates "$templates" --out "$work/out" >/dev/null 2>&1 # warm-up
# Generate and copy alternate, so both see the same moment of a machine whose speed drifts.
times=()
copies=()
for _ in $(seq "$runs"); do
  rm -rf "$work/out"
  start=${EPOCHREALTIME/[.,]/}
  "$bin" generate "$work/grid162.yaml" --templates "$templates" --out "$work/out" >/dev/null 2>&1
  end=${EPOCHREALTIME/[.,]/}
  times+=($((end - start)))
  rm -rf "$work/copy"
  start=${EPOCHREALTIME/[.,]/}
  cp -r "$work/out" "$work/copy"
  end=${EPOCHREALTIME/[.,]/}
  copies+=($((end - start)))
done
count=$(ls "$work/out/prompts" | wc -l)
m=$(median "${times[@]}")
c=$(median "${copies[@]}")
ratios=()
for i in "${!times[@]}"; do ratios+=($((times[i] * 1000 / copies[i]))); done
r=$(median "${ratios[@]}")
echo "writing to $base ($fs)"
echo "misalign generate, $count conditions, $runs runs (µs): ${times[*]}"
echo "cp -r of the same output, $runs runs (µs): ${copies[*]}"
awk -v m="$m" -v c="$c" -v r="$r" 'BEGIN {
  printf "median %.1f ms; reference generator 1160 ms -> %.0fx faster\n", m / 1000, 1160000 / m
  printf "floor: cp -r of the finished tree takes %.1f ms here (50x needs the whole run under 23.2 ms)\n", c / 1000
  printf "misalign generate / cp -r, median of the paired rounds: %.2f\n", r / 1000
}'
