# Shared by the mock benchmarks (bench-run.sh, bench-agent.sh); sourced, not run.
# Defines: bin, mock, work (a temporary folder removed on exit), start_mock ARGS... (sets
# `url`), and report_median NAME BOUND TIMES... (prints the median and ratio; fails over 1.25x).

if [ -z "${MISALIGN_BIN:-}" ] || [ -z "${MOCK_BIN:-}" ]; then
  cargo build --release -q -p misalign -p misalign-mock
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

# Starts the mock with ARGS on a free port and waits until it listens; sets `url`.
start_mock() {
  "$mock" --port 0 "$@" >"$work/mock.log" 2>&1 &
  mock_pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$work/mock.log" 2>/dev/null && break
    sleep 0.05
  done
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/mock.log" | head -1)
  [ -n "$url" ] || { echo "the mock server did not start" >&2; cat "$work/mock.log" >&2; exit 1; }
}

# Prints the median of TIMES over the bound and fails when it is over 1.25x.
report_median() {
  local name=$1 bound=$2
  shift 2
  local median ratio
  median=$(printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  ratio=$(awk -v m="$median" -v b="$bound" 'BEGIN { printf "%.2f", m / b }')
  echo "median ${median}s over $# runs; bound ${bound}s; ratio ${ratio}x (target <= 1.25x)"
  awk -v r="$ratio" 'BEGIN { exit !(r <= 1.25) }' || { echo "$name: slower than 1.25x the bound" >&2; exit 1; }
}
