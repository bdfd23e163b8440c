#!/usr/bin/env bash
# Alternates two builds of the local-model benchmark (`examples/bench` of misalign-local, e.g.
# a portable and a native build) on the same model and threads, and prints the medians and the
# median paired ratio A/B for prompt processing (pp512) and generation (tg128).
#
#   scripts/bench-local-ab.sh A_BENCH B_BENCH [ROUNDS] [THREADS]
#
# Build each with `cargo build --release -p misalign-local --features llama --example bench`
# (target/release/examples/bench), under the settings to compare. MODEL: a GGUF (default: the
# cached smollm2-135m-instruct).
set -euo pipefail
a="$1"; b="$2"; rounds="${3:-5}"; threads="${4:-1}"
model="${MODEL:-${MISALIGN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/misalign/models}/smollm2-135m-instruct.gguf}"
log="$(mktemp)"
for _ in $(seq "$rounds"); do
  for who in A B; do
    bin="$a"; [ "$who" = B ] && bin="$b"
    "$bin" --model "$model" --threads "$threads" --pp 512 --tg 128 --reps 3 --samples 1 \
      --gen 1 --prompt-words 50 2>/dev/null | awk -v w="$who" '/^pp512:|^tg128:/ {print w, $1, $2}' >> "$log"
  done
done
python3 - "$log" <<'PY'
import statistics, sys
d = {}
for who, test, v in (l.split() for l in open(sys.argv[1])):
    d.setdefault((who, test), []).append(float(v))
for test in ("pp512:", "tg128:"):
    a, b = d[("A", test)], d[("B", test)]
    ratio = statistics.median(x / y for x, y in zip(a, b))
    print(f"{test} A {statistics.median(a):.1f} t/s, B {statistics.median(b):.1f} t/s, "
          f"paired A/B {ratio:.3f}   rounds A {a} B {b}")
PY
rm -f "$log"
