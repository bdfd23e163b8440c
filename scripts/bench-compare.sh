#!/usr/bin/env bash
# Two builds of misalign on the README's three end-to-end figures, in alternated rounds so a
# machine whose speed drifts treats both alike: `generate` of the 162 reference conditions
# (median of 5 per round, scripts/bench-generate.sh), the 1,200-call run against the mock
# (scripts/bench-run.sh, one run per round) and `report` over one 100,000-sample store
# (filled once). Prints each build's median per figure and B/A.
#
# Usage: scripts/bench-compare.sh A_BIN B_BIN [ROUNDS]   (default 5 rounds)
# Env:   MOCK_BIN (default target/release/misalign-mock), FILL_STORE (default
#        target/release/examples/fill_store), STORE (default target/bench-compare-store)
set -euo pipefail
cd "$(dirname "$0")/.."
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-5}
export MOCK_BIN=$(realpath "${MOCK_BIN:-target/release/misalign-mock}")
fill=${FILL_STORE:-target/release/examples/fill_store}
store=${STORE:-target/bench-compare-store}
for f in "$a" "$b" "$MOCK_BIN" "$fill"; do
  [ -x "$f" ] || { echo "bench-compare: $f is not an executable" >&2; exit 2; }
done
rm -rf "$store"
"$fill" "$store" 10 100 100 >/dev/null

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A gen run rep
one_round() { # $1 = label, $2 = binary
  local g r t
  g=$(MISALIGN_BIN="$2" scripts/bench-generate.sh 5 | sed -n 's/^median \([0-9.]*\) ms.*/\1/p')
  # bench-run.sh exits 1 above 1.25x its bound; the figure is still wanted here.
  r=$(MISALIGN_BIN="$2" scripts/bench-run.sh 1 | sed -n 's/^median \([0-9.]*\)s.*/\1/p' || true)
  local s=${EPOCHREALTIME/[.,]/}
  "$2" report "$store" >/dev/null 2>&1
  t=$(( ${EPOCHREALTIME/[.,]/} - s ))
  gen[$1]+="$g " run[$1]+="$r " rep[$1]+="$(awk -v t="$t" 'BEGIN { printf "%.3f", t / 1e6 }') "
  echo "round $i $1: generate ${g} ms, run ${r} s, report $(awk -v t="$t" 'BEGIN { printf "%.3f", t / 1e6 }') s"
}
for i in $(seq "$rounds"); do
  if (( i % 2 )); then one_round A "$a"; one_round B "$b"; else one_round B "$b"; one_round A "$a"; fi
done
for what in gen run rep; do
  declare -n m=$what
  ma=$(median ${m[A]}) mb=$(median ${m[B]})
  awk -v w="$what" -v a="$ma" -v b="$mb" 'BEGIN {
    n = (w == "gen") ? "generate 162 (ms)" : (w == "run") ? "1,200-call run (s)" : "report 100k (s)"
    printf "%-20s A %8.3f  B %8.3f  B/A %.2f\n", n, a, b, b / a }'
done
