#!/usr/bin/env bash
# Benchmarks the embedded local model against llama.cpp's own llama-bench on this machine:
# prompt processing (pp) and generation (tg) tokens/s with the same model and threads, then
# the shared-prefill ratio for N samples of one condition.
#
#   scripts/bench-local.sh [THREADS]
#
# Environment:
#   CARGO_TARGET_DIR  the build folder (default target, which the release build of misalign
#                     already holds llama.cpp in)
#   LLAMA_BENCH       an existing llama-bench binary to compare with (skips building it)
#   LLAMA_CPP_SRC     a llama.cpp source tree with tools/llama-bench to build it from
#                     (default: the llama.cpp vendored by llama-cpp-sys-2, which lacks the
#                     tool's sources; then the same llama.cpp release's tool is taken from
#                     the llama-cpp-python source package via pip)
#   MODEL             a GGUF file (default: the cached smollm2-135m-instruct)
#   ROUNDS            alternating rounds of the two programs (default 5); medians are reported
#   SAMPLES, PROMPT_WORDS, GEN   the shared-prefill check (default 10 samples of a ~2,400-token
#                     prompt, 64 new tokens each); SHARED=0 skips it
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# One llama-bench per way of building, so a native one is never compared with a portable build.
mode=portable
[[ "${RUSTFLAGS:-}" == *target-cpu=native* ]] && mode=native
[ -n "${GGML_AVX512:-}" ] && mode="$mode-avx512"
work="${BENCH_WORK:-$CARGO_TARGET_DIR/llama-bench-$mode}"
mkdir -p "$work"

if [ -z "${MODEL:-}" ]; then
  cargo run -q --release -p misalign -- models fetch
  MODEL="${MISALIGN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/misalign/models}/smollm2-135m-instruct.gguf"
fi

build_llama_bench() {
  local src="${LLAMA_CPP_SRC:-}"
  if [ -z "$src" ]; then
    local vendored
    vendored="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-*/llama.cpp 2>/dev/null | sort -V | tail -1)"
    [ -n "$vendored" ] || { echo "bench: no vendored llama.cpp found; build misalign-local --features llama first" >&2; exit 1; }
    src="$work/llama.cpp"
    if [ ! -f "$src/tools/llama-bench/llama-bench.cpp" ]; then
      rm -rf "$src" && cp -r "$vendored" "$src"
      echo "bench: the vendored llama.cpp omits tools/; taking llama-bench from the llama-cpp-python sources (pip)"
      local sd="$work/sdist"
      mkdir -p "$sd"
      if ! ls "$sd"/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
        python3 -m pip download --no-deps --no-binary :all: "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION:-0.3.36}" -d "$sd"
      fi
      tar xzf "$sd"/llama_cpp_python-*.tar.gz -C "$sd" --wildcards '*/vendor/llama.cpp/tools/llama-bench/*'
      cp "$sd"/llama_cpp_python-*/vendor/llama.cpp/tools/llama-bench/* "$src/tools/llama-bench/"
      printf 'llama_add_compile_flags()\nadd_subdirectory(llama-bench)\n' > "$src/tools/CMakeLists.txt"
    fi
  fi
  # Built the way misalign's llama.cpp is (.cargo/config.toml): the portable SIMD set and never
  # AMX, or -march=native when RUSTFLAGS asks for a native build (docs/local-model.md).
  local simd noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  if [[ "${RUSTFLAGS:-}" == *target-cpu=native* ]]; then
    simd=(-DGGML_NATIVE=ON)
  else
    simd=(-DGGML_NATIVE=OFF -DGGML_SSE42="${GGML_SSE42:-ON}" -DGGML_AVX="${GGML_AVX:-ON}"
      -DGGML_AVX2="${GGML_AVX2:-ON}" -DGGML_FMA="${GGML_FMA:-ON}" -DGGML_F16C="${GGML_F16C:-ON}"
      -DGGML_BMI2="${GGML_BMI2:-ON}")
    for v in GGML_AVX512 GGML_AVX512_VBMI GGML_AVX512_VNNI GGML_AVX512_BF16; do
      [ -n "${!v:-}" ] && simd+=("-D$v=${!v}")
    done
  fi
  echo "bench: llama-bench with ${simd[*]} and $noamx" >&2
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release "${simd[@]}" \
    -DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx" \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
  cmake --build "$work/build" --target llama-bench -j"$(nproc)" >/dev/null
  LLAMA_BENCH="$work/build/bin/llama-bench"
}

[ -n "${LLAMA_BENCH:-}" ] || build_llama_bench

rounds="${ROUNDS:-5}"
cargo build -q --release --locked -p misalign-local --features llama --example bench
ours="$CARGO_TARGET_DIR/release/examples/bench"
log="$work/rounds.tsv"
: > "$log"
# Alternate the two programs so a slow spell of the machine hits both alike.
for round in $(seq "$rounds"); do
  echo "== round $round/$rounds (threads $threads)" >&2
  "$LLAMA_BENCH" -m "$MODEL" -t "$threads" -p 512 -n 128 -r 3 -o jsonl 2>/dev/null |
    python3 -c 'import json, sys
for d in map(json.loads, sys.stdin):
    test = "pp" if d["n_gen"] == 0 else "tg"
    ts = d["avg_ts"]
    print(f"llama-bench\t{test}\t{ts:.2f}")' >> "$log"
  "$ours" --model "$MODEL" --threads "$threads" --pp 512 --tg 128 --reps 3 --samples 1 --gen 1 --prompt-words 50 2>/dev/null |
    awk '/^pp512:/ { printf "misalign\tpp\t%s\n", $2 } /^tg128:/ { printf "misalign\ttg\t%s\n", $2 }' >> "$log"
done
python3 - "$log" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
by = {}
for who, test, ts in rows:
    by.setdefault((who, test), []).append(float(ts))
print("tokens/s, median of rounds (each round: mean of 3 repetitions); the ratio is the median")
print("of each round's misalign / llama-bench, which pairs runs taken moments apart")
for test, label in (("pp", "pp512 (prompt processing)"), ("tg", "tg128 (generation)")):
    refs, ours = by[("llama-bench", test)], by[("misalign", test)]
    ratio = statistics.median(o / r for o, r in zip(ours, refs))
    print(f"{label:28} llama-bench {statistics.median(refs):7.1f}  misalign {statistics.median(ours):7.1f}"
          f"  ratio {ratio:.3f}   rounds: llama-bench {refs}  misalign {ours}")
PY
[ "${SHARED:-1}" = 1 ] || exit 0
echo
echo "== shared prefill: N = ${SAMPLES:-10} samples of one scenario-sized prompt (threads $threads)"
"$ours" --model "$MODEL" --threads "$threads" --pp 16 --tg 4 --reps 1 \
  --samples "${SAMPLES:-10}" --prompt-words "${PROMPT_WORDS:-1800}" --gen "${GEN:-64}" 2>/dev/null | grep '^N='
