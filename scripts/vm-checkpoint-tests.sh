#!/usr/bin/env bash
# The checkpoint/restore tests (crates/hako/tests/checkpoint.rs) where CRIU works: Debian's
# CRIU 3.17 fails on this host's kernel (`criu check`), so they run inside one throw-away QEMU
# VM booted with Debian's stock 6.1 kernel and a pure cgroup v2 layout (scripts/vmrun;
# the host filesystem is shared read-only, an overlay takes the writes). The test binary is
# built here; runc 1.5.1 (../shared/reference/runc, when there) and Debian's 1.1.5 are the
# controls, for hako's commands and through Podman. A test
# that reports SKIPPED there fails this script.
# Usage: scripts/vm-checkpoint-tests.sh [test name filter]
# LAYOUT=v1: the same on pure cgroup v1 (the suite runs on v2; on v1 the binds hako makes of
# each hierarchy are external mounts too).
# HAKO_SHARED=DIR: the shared directory (reference runc) for a checkout that has none beside it
# (a git worktree); it is linked beside the checkout inside the guest only.
set -euo pipefail
cd "$(dirname "$0")/.."
vmrun=scripts/vmrun
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v criu >/dev/null || { echo "criu is not installed (apt-get install criu)" >&2; exit 1; }

bin=$(cargo test --test checkpoint --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "could not find the checkpoint test binary" >&2; exit 1; }
bin=$(realpath "$bin")

guest=$(cat <<'GUEST'
set -u
if [ -n "${HAKO_SHARED:-}" ] && [ ! -e "$REPO/../shared" ]; then ln -s "$HAKO_SHARED" "$REPO/../shared"; fi
echo "== $(criu --version | head -1) on $(uname -r); criu check: $(criu check 2>&1 | tail -1)"
# TMPDIR: the guest's overlay /tmp (host writes are discarded with the VM).
timeout 1500 env TMPDIR=/tmp "$BIN" --test-threads=2 $FILTER 2>&1 | tee /tmp/tests.log
rc=${PIPESTATUS[0]}
if grep -q '^SKIPPED: ' /tmp/tests.log; then
  echo "== checkpoint tests were skipped inside the VM" >&2
  rc=1
fi
exit $rc
GUEST
)

echo "== checkpoint/restore tests in a VM (Debian 6.1 kernel, cgroup ${LAYOUT:-v2})"
if "$vmrun" -c "${LAYOUT:-v2}" -t 1800 -m 3G -e RUST_BACKTRACE=1 -e BIN="$bin" -e FILTER="${1:-}" \
    -e REPO="$PWD" -e HAKO_SHARED="${HAKO_SHARED:-}" -- bash -c "$guest"; then
  echo "== checkpoint: passed"
else
  echo "== checkpoint: FAILED" >&2
  exit 1
fi
