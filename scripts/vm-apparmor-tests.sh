#!/usr/bin/env bash
# The process.apparmorProfile integration tests (crates/hako/tests/apparmor.rs) where AppArmor
# is enabled: this machine boots without it, so a throw-away QEMU VM (scripts/vmrun) boots
# with AppArmor as the major LSM, mounts securityfs, and runs the test binary (built here); the
# tests load their own profiles with apparmor_parser. A test that reports SKIPPED there (other
# than the refusal test, which needs a host without AppArmor) fails this script.
# Usage: scripts/vm-apparmor-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
vmrun=scripts/vmrun
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v apparmor_parser >/dev/null || [ -x /usr/sbin/apparmor_parser ] ||
  { echo "apparmor_parser is not installed (apt-get install apparmor)" >&2; exit 1; }

bin=$(timeout 900 cargo test --test apparmor --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "could not find the apparmor test binary" >&2; exit 1; }
bin=$(realpath "$bin")

guest=$(cat <<'GUEST'
set -eu
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security
echo "== AppArmor enabled: $(cat /sys/module/apparmor/parameters/enabled); LSMs: $(cat /sys/kernel/security/lsm)"
set +e
timeout 300 env TMPDIR=/tmp PATH="/usr/sbin:/sbin:$PATH" "$BIN" --test-threads=2 2>&1 | tee /tmp/tests.log
rc=${PIPESTATUS[0]}
if grep '^SKIPPED: ' /tmp/tests.log | grep -vq '^SKIPPED: refused_without_apparmor:'; then
  echo "== AppArmor tests were skipped inside the VM" >&2
  rc=1
fi
exit $rc
GUEST
)

echo "== AppArmor tests in a VM (apparmor=1 security=apparmor)"
if "$vmrun" -c v2 -t 420 -e RUST_BACKTRACE=1 -e BIN="$bin" \
  -a "apparmor=1 security=apparmor lsm=lockdown,capability,landlock,yama,apparmor" -- bash -c "$guest"; then
  echo "== apparmor: passed"
else
  echo "== apparmor: FAILED" >&2
  exit 1
fi
