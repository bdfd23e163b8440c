#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, builds, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked
