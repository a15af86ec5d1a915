#!/usr/bin/env bash
# The cgroup integration tests (crates/hako/tests/cgroups.rs) on the layouts this machine does
# not have: inside a throw-away QEMU VM with a pure cgroup v2 hierarchy, then one with pure v1
# (scripts/vmrun; the host filesystem is shared read-only). The test binary is built here
# and run directly in the guest, one boot per layout. Usage: scripts/vm-cgroup-tests.sh [v2 v1 hybrid]
set -euo pipefail
cd "$(dirname "$0")/.."
vmrun=scripts/vmrun
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
layouts=("$@")
[ ${#layouts[@]} -gt 0 ] || layouts=(v2 v1)

# Build the test binary (and the hako binary it drives) on the host.
bin=$(cargo test --test cgroups --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "could not find the cgroups test binary" >&2; exit 1; }
bin=$(realpath "$bin")

status=0
for layout in "${layouts[@]}"; do
  echo "== cgroup tests in a VM with cgroup layout $layout"
  # TMPDIR: the guest's overlay /tmp (host writes are discarded with the VM).
  if "$vmrun" -c "$layout" -t 900 -e RUST_BACKTRACE=1 -e TMPDIR=/tmp -- \
      "$bin" --test-threads=2; then
    echo "== $layout: passed"
  else
    echo "== $layout: FAILED" >&2
    status=1
  fi
done
exit $status
