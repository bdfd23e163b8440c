#!/usr/bin/env bash
# Whole-process timing of `misalign generate` for the 162 non-swap conditions (3 scenarios x
# 4 goal types x 8 goal values x 3 urgencies) from a reference-layout folder: median of N
# runs (default 5), each writing 162 prompt folders. The reference generator needs 1.16 s.
# OUT_DIR picks where the folders go (default: a RAM-backed /dev/shm when present, so the
# figure measures misalign rather than the disk). For comparison the script also times
# `cp -r` of the finished tree to the same place: no generator can beat creating its files.
# Usage: [OUT_DIR=/path/on/disk] scripts/bench-generate.sh [RUNS] [TEMPLATES_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
templates="${2:-crates/misalign-core/tests/fixtures/reference-layout}"
bin=./target/release/misalign
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

"$bin" generate "$work/grid162.yaml" --templates "$templates" --out "$work/out" >/dev/null 2>&1 # warm-up
times=()
for _ in $(seq "$runs"); do
  rm -rf "$work/out"
  start=$(date +%s%N)
  "$bin" generate "$work/grid162.yaml" --templates "$templates" --out "$work/out" >/dev/null 2>&1
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000 )))
done
copies=()
for _ in $(seq "$runs"); do
  rm -rf "$work/copy"
  start=$(date +%s%N)
  cp -r "$work/out" "$work/copy"
  end=$(date +%s%N)
  copies+=($(( (end - start) / 1000 )))
done
count=$(ls "$work/out/prompts" | wc -l)
m=$(median "${times[@]}")
c=$(median "${copies[@]}")
echo "writing to $base ($fs)"
echo "misalign generate, $count conditions, $runs runs (µs): ${times[*]}"
echo "cp -r of the same output, $runs runs (µs): ${copies[*]}"
awk -v m="$m" -v c="$c" 'BEGIN {
  printf "median %.1f ms; reference generator 1160 ms -> %.0fx faster\n", m / 1000, 1160000 / m
  printf "floor: cp -r of the finished tree takes %.1f ms here (50x needs the whole run under 23.2 ms)\n", c / 1000
}'
