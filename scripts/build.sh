#!/usr/bin/env bash
# Build the release binary hako ships: statically linked (glibc and libseccomp, static-pie so
# ASLR stays), which starts ~1 ms faster than a dynamically linked one (no loader, no shared
# libraries to map and relocate) and has a smaller peak RSS. Prints the binary's path.
# `cargo build --release` alone gives a dynamically linked hako that behaves the same.
# Usage: scripts/build.sh [cargo build args...]
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
multiarch=$(gcc -print-multiarch)
for lib in libc.a libseccomp.a; do
  [ -e "/usr/lib/$multiarch/$lib" ] ||
    { echo "build.sh: /usr/lib/$multiarch/$lib is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
# Relative relocations packed as DT_RELR (glibc >= 2.36 applies them in a static-pie): the
# 250 KB .rela.dyn table shrinks to a few KB, less to map and to walk at every start.
relr=
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if [ "$(printf '%s\n2.36\n' "$glibc" | sort -V | head -1)" = 2.36 ]; then
  relr="-C link-arg=-Wl,-z,pack-relative-relocs"
fi
# An explicit --target keeps the static C runtime off build scripts and proc macros, which
# rustc must load as shared objects (rust-lang/rust#78210).
RUSTFLAGS="-C target-feature=+crt-static $relr" \
  LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="/usr/lib/$multiarch" \
  cargo build --release -q --target "$host" "$@" >&2
bin=$PWD/target/$host/release/hako
"$bin" --version >/dev/null || { echo "build.sh: the built $bin does not run" >&2; exit 1; }
echo "$bin"
