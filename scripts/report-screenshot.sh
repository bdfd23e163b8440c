#!/usr/bin/env bash
# Renders docs/img/report.png, the README's picture of report.html: a small run of the three
# built-in scenarios against the loopback mock (no network, no API key), then headless
# Chromium at 1000 px. The mock's answers are a fixed mix, so the numbers mean nothing.
#
# Usage: scripts/report-screenshot.sh [OUT.png]
# Env:   MISALIGN_BIN / MOCK_BIN to use prebuilt binaries (default: debug builds without the
#        embedded model).
set -euo pipefail
cd "$(dirname "$0")/.."
png=${1:-docs/img/report.png}
if [ -z "${MISALIGN_BIN:-}" ] || [ -z "${MOCK_BIN:-}" ]; then
  cargo build -q -p misalign --no-default-features -p misalign-mock
fi
target=${CARGO_TARGET_DIR:-target}
bin=${MISALIGN_BIN:-$target/debug/misalign}
mock=${MOCK_BIN:-$target/debug/misalign-mock}

work=$(mktemp -d)
mock_pid=""
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$mock" --port 0 >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 200); do
  grep -q 'listening on' "$work/mock.log" 2>/dev/null && break
  sleep 0.05
done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/mock.log" | head -1)
[ -n "$url" ] || { echo "report-screenshot: the mock server did not start" >&2; exit 1; }

cat >"$work/demo.yaml" <<YAML
experiment_id: report_demo
providers:
  mock:
    kind: openai-compatible
    base_url: "$url/v1"
global:
  models: [mock/demo-model]
  temperature: 1.0
  max_tokens: 2000
  seed: 7
  samples_per_condition: 10
expansions:
  - name: demo
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: true
YAML
"$bin" run "$work/demo.yaml" --out "$work/out" --quiet >/dev/null
mkdir -p "$(dirname "$png")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1000,1400 \
  --screenshot="$(realpath -m "$png")" "file://$work/out/report.html" 2>/dev/null
echo "wrote $png ($(stat -c %s "$png") bytes)"
