#!/usr/bin/env bash
# Proves scripts/setup.sh on this machine without trusting it: for each prerequisite, a private
# mount namespace hides the thing (overlay mounts with whiteouts over the folders that hold it),
# `apt-get` is replaced by a recorder first on PATH, and setup.sh must ask for exactly the
# package that brings it back. With nothing hidden it must ask for nothing.
#
#   bash scripts/check-setup.sh [SETUP_SCRIPT]      (default: scripts/setup.sh)
#
# Run it after the real set-up (CI does), as root: it needs `unshare -m` and overlayfs. A
# machine that refuses either fails the check; it never passes by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
setup=$(realpath "${1:-scripts/setup.sh}")

[ "$(id -u)" = 0 ] || { echo "check-setup: needs root (unshare -m, mount)" >&2; exit 1; }
unshare -m true || { echo "check-setup: unshare -m is refused here" >&2; exit 1; }

work=$(mktemp -d /tmp/check-setup.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The recorder: logs each apt-get call, installs nothing.
mkdir -p "$work/bin"
cat >"$work/bin/apt-get" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$APT_LOG"
EOF
chmod +x "$work/bin/apt-get"

# Files a case hides, found independently of setup.sh's own search: every libclang shared
# object clang-sys could load (libclang-cpp, which it cannot, stays visible: the trap), and
# every command of that name on PATH.
libclang_files() {
  find /usr/lib/llvm-*/lib /usr/lib/*-linux-gnu /usr/lib64 /usr/lib /usr/local/lib -maxdepth 1 \
    \( -name 'libclang.so*' -o -name 'libclang-[0-9]*' \) 2>/dev/null | sort -u
}
command_files() { type -ap "$1" | sort -u; }
# The folder of the pip module that `python3 -m pip` imports (a folder hides like a file).
pip_files() { python3 -c 'import os, pip; print(os.path.dirname(pip.__file__))' 2>/dev/null || true; }
# The ensurepip folder `python3 -m venv` needs (Debian ships it in python3-venv).
ensurepip_files() { python3 -c 'import os, ensurepip; print(os.path.dirname(ensurepip.__file__))' 2>/dev/null || true; }

# Runs setup.sh in a new mount namespace with FILES... hidden; prints the packages it asked
# apt-get to install (one line, sorted), or nothing.
asked_for() {
  local env_extra=$1
  shift
  local case_dir
  case_dir=$(mktemp -d "$work/case.XXXXXX")
  local log="$case_dir/apt.log"
  : >"$log"
  local hide="$case_dir/hide.list"
  printf '%s\n' "$@" >"$hide"
  APT_LOG=$log HIDE=$hide WORK=$case_dir SETUP=$setup ENV_EXTRA=$env_extra PATH="$work/bin:$PATH" \
    unshare -m --propagation private bash -euo pipefail -c '
      n=0
      # One overlay per folder that holds hidden files, a whiteout (char 0:0) per file.
      for dir in $(xargs -r -n1 dirname <"$HIDE" | sort -u); do
        n=$((n + 1))
        mkdir -p "$WORK/ov$n/upper" "$WORK/ov$n/work"
        grep -F "$dir/" "$HIDE" | while read -r f; do
          if [ "$(dirname "$f")" = "$dir" ]; then mknod "$WORK/ov$n/upper/$(basename "$f")" c 0 0; fi
        done
        mount -t overlay overlay \
          -o "lowerdir=$dir,upperdir=$WORK/ov$n/upper,workdir=$WORK/ov$n/work" "$dir"
      done
      while read -r f; do
        [ -z "$f" ] && continue
        if [ -e "$f" ] || [ -L "$f" ]; then echo "check-setup: $f is still visible" >&2; exit 3; fi
      done <"$HIDE"
      env $ENV_EXTRA bash "$SETUP" >/dev/null
    ' || return 1   # (set -e does not reach here: callers test this function with ||)
  sed -n 's/^install //p' "$log" | tr ' ' '\n' | { grep -v -e '^-' -e '^$' || true; } | sort |
    tr '\n' ' ' | sed 's/ $//'
}

fail=0
check() {
  local what=$1 want=$2 env_extra=$3
  shift 3
  if [ $# -eq 0 ] && [ "$what" != "nothing hidden" ]; then
    echo "FAIL $what: found nothing to hide on this machine (is it installed? run scripts/setup.sh first)"
    fail=1
    return
  fi
  local got
  got=$(asked_for "$env_extra" "$@") || { echo "FAIL $what: the check itself failed"; fail=1; return; }
  if [ "$got" = "$want" ]; then
    echo "ok   $what: setup asks for [${got}]"
  else
    echo "FAIL $what: setup asked for [${got}], want [${want}]"
    fail=1
  fi
}

# shellcheck disable=SC2046  # one argument per file is the intent
{
  check "nothing hidden" "" ""
  check "libclang hidden (libclang-cpp left)" "libclang-dev" "" $(libclang_files)
  check "cmake hidden" "cmake" "" $(command_files cmake)
  check "c++ hidden" "g++" "" $(command_files c++)
  # Without python3 (or ensurepip) the recorder installs nothing, so the Inspect
  # environment step that follows apt-get could not run: those cases leave it out.
  check "python3 hidden" "python3 python3-pip python3-venv" "MISALIGN_SKIP_INSPECT=1" $(command_files python3)
  check "ensurepip hidden" "python3-venv" "MISALIGN_SKIP_INSPECT=1" $(ensurepip_files)
  check "pip hidden" "python3-pip" "" $(pip_files)
  check "chromium hidden" "chromium" "" $(command_files chromium)
  check "chromium hidden, browser not wanted" "" "MISALIGN_SKIP_BROWSER=1" $(command_files chromium)
  check "cmake and libclang hidden" "cmake libclang-dev" "" $(command_files cmake) $(libclang_files)
}

if [ $fail -ne 0 ]; then
  echo "check-setup: $setup does not install what it should" >&2
  exit 1
fi
echo "check-setup: every prerequisite hidden in turn was asked for"
