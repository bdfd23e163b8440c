#!/usr/bin/env bash
# Installs what misalign needs to build and test on a fresh Debian machine, and nothing that is
# already there. Each check looks for the very file or command the later step loads, not for a
# look-alike: clang-sys (bindgen, used by llama.cpp's bindings) opens `libclang.so*` or
# `libclang-N.so*`, and Debian's libclang-cpp14 ships only `libclang-cpp.so.14`, which it cannot use.
#
#   what                                   package        who needs it
#   a C++ compiler (c++)                   g++            llama.cpp; the static libstdc++/libgomp
#   cmake                                  cmake          llama.cpp's build
#   libclang.so / libclang-N.so            libclang-dev   bindgen (llama.cpp's bindings)
#   python3                                python3        tests that cross-check against Python
#   python3 -m pip                         python3-pip    `misalign models fetch` (the quickstart)
#   ensurepip (what `python3 -m venv` runs) python3-venv   the Inspect virtual environment below
#   chromium                               chromium       the report's browser tests
#
# MISALIGN_SKIP_BROWSER=1 leaves chromium out (the quickstart needs no browser).
#
# Then, unless MISALIGN_SKIP_INSPECT=1, it makes `.venv-inspect/` (gitignored) at the
# workspace root holding the pinned `inspect_ai` below: the test suite reads the Inspect logs
# `misalign export --format inspect` writes back with it (crates/misalign/tests/it/export.rs).
# scripts/check-setup.sh proves each line of this table by hiding the thing and watching what
# this script asks apt-get for.
set -euo pipefail

# The folders clang-sys searches on Debian, plus LIBCLANG_PATH when the user set one.
libclang_dirs() {
  [ -n "${LIBCLANG_PATH:-}" ] && printf '%s\n' "$LIBCLANG_PATH"
  printf '%s\n' /usr/lib/llvm-*/lib /usr/lib/*-linux-gnu /usr/lib64 /usr/lib /usr/local/lib
}

has_libclang() {
  local dir
  while read -r dir; do
    [ -d "$dir" ] || continue
    # libclang.so, libclang.so.1, libclang-14.so, libclang-14.so.1 — never libclang-cpp*.
    if find "$dir" -maxdepth 1 \( -name 'libclang.so' -o -name 'libclang.so.*' \
        -o -name 'libclang-[0-9]*.so' -o -name 'libclang-[0-9]*.so.*' \) \
        \( -type f -o -type l \) -print 2>/dev/null | while read -r f; do
          [ -e "$f" ] && echo found && break   # a dangling link loads nothing
        done | grep -q found; then
      return 0
    fi
  done < <(libclang_dirs)
  return 1
}

need=()
command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
}
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
has_libclang || need+=(libclang-dev)
if ! command -v python3 >/dev/null 2>&1; then
  need+=(python3 python3-pip)
elif ! python3 -m pip --version >/dev/null 2>&1; then
  need+=(python3-pip)
fi
# Debian's venv module cannot make an environment without ensurepip (python3-venv); a
# missing python3 brings it along.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
elif ! command -v python3 >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ "${MISALIGN_SKIP_BROWSER:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Inspect version the export test reads logs with; bump it deliberately (and run the
# test), never float it.
INSPECT_AI_VERSION=0.3.285
if [ "${MISALIGN_SKIP_INSPECT:-0}" != 1 ]; then
  venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-inspect"
  if ! "$venv/bin/python" -c "import importlib.metadata as m, sys
sys.exit(m.version('inspect_ai') != '$INSPECT_AI_VERSION')" >/dev/null 2>&1; then
    echo "setup: installing inspect_ai $INSPECT_AI_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "inspect_ai==$INSPECT_AI_VERSION"
  fi
fi
