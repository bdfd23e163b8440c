#!/usr/bin/env bash
# The main job, from a fresh clone: install what is missing, build, and run the example
# experiment end to end on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
MISALIGN_SKIP_BROWSER=1 bash scripts/setup.sh
cargo build --release --locked -p misalign
exec ./target/release/misalign generate examples/quickstart.yaml "$@"
