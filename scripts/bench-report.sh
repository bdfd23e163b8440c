#!/usr/bin/env bash
# End-to-end benchmark of `misalign report` over a synthetic store of 100,000 samples
# (10 models x 100 conditions x 100 samples, ~1.5 kB answers): median wall time of 3 runs
# and peak RSS (GNU time). Target: < 5 s and < 300 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/bench-report}"
MODELS="${MODELS:-10}" CONDITIONS="${CONDITIONS:-100}" SAMPLES="${SAMPLES:-100}"

# PROFILE=dev measures the debug binary (dependencies, SQLite included, are built with
# opt-level 2 in this workspace) when a release build is too slow to make.
PROFILE="${PROFILE:-release}"
DIR=$([ "$PROFILE" = release ] && echo release || echo debug)
# MISALIGN_BIN=path measures that binary instead of building one (e.g. a release build made
# with `cargo build --release -p misalign --no-default-features`).
if [ -n "${MISALIGN_BIN:-}" ]; then
  BIN="$MISALIGN_BIN"
else
  cargo build --profile "$PROFILE" -q -p misalign --bin misalign
  BIN="target/$DIR/misalign"
fi
cargo build --profile "$PROFILE" -q -p misalign-report --example fill_store
rm -rf "$OUT"
echo "filling $OUT with $((MODELS * CONDITIONS * SAMPLES)) samples..."
"target/$DIR/examples/fill_store" "$OUT" "$MODELS" "$CONDITIONS" "$SAMPLES"
ls -la "$OUT"

times=()
for i in 1 2 3; do
  /usr/bin/time -v "$BIN" report "$OUT" >/dev/null 2>"$OUT/time-$i.txt"
  wall=$(grep 'Elapsed (wall clock)' "$OUT/time-$i.txt" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$OUT/time-$i.txt" | awk '{print $NF}')
  echo "run $i: wall $wall, peak RSS $((rss / 1024)) MB"
  times+=("$wall")
done
printf '%s\n' "${times[@]}" | sort | sed -n 2p | xargs echo "median wall:"
ls -la "$OUT/report.html" "$OUT/summary.csv"
