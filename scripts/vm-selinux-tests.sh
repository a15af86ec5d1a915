#!/usr/bin/env bash
# The process.selinuxLabel / linux.mountLabel integration tests (crates/hako/tests/selinux.rs)
# where SELinux is enabled: this machine boots without it, so a throw-away QEMU VM
# (scripts/vmrun) boots with SELinux as the major LSM, mounts selinuxfs, loads Debian's
# reference policy (selinux-policy-default) in permissive mode with load_policy, and runs the
# test binary (built here). Permissive mode applies labels as enforcing does (an invalid
# context is refused either way); enforcing would need a labelled root filesystem, and the
# guest's is 9p. A test that reports SKIPPED there (other than the refusal test, which needs a
# host without SELinux) fails this script.
# Usage: scripts/vm-selinux-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
vmrun=scripts/vmrun
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x /usr/sbin/load_policy ] ||
  { echo "load_policy is not installed (apt-get install policycoreutils)" >&2; exit 1; }
[ -d /etc/selinux/default/policy ] ||
  { echo "no SELinux policy (apt-get install selinux-policy-default)" >&2; exit 1; }

bin=$(timeout 900 cargo test --test selinux --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "could not find the selinux test binary" >&2; exit 1; }
bin=$(realpath "$bin")

guest=$(cat <<'GUEST'
set -eu
mountpoint -q /sys/fs/selinux || mount -t selinuxfs selinuxfs /sys/fs/selinux
# The guest's /etc is a throw-away overlay: load the default policy, permissive.
printf 'SELINUX=permissive\nSELINUXTYPE=default\n' > /etc/selinux/config
/usr/sbin/load_policy -i
echo 0 > /sys/fs/selinux/enforce
echo "== SELinux: enforce=$(cat /sys/fs/selinux/enforce), policy $(cat /sys/fs/selinux/policyvers), label $(tr -d '\0' < /proc/self/attr/current)"
set +e
timeout 300 env TMPDIR=/tmp PATH="/usr/sbin:/sbin:$PATH" "$BIN" --test-threads=2 2>&1 | tee /tmp/tests.log
rc=${PIPESTATUS[0]}
if grep '^SKIPPED: ' /tmp/tests.log | grep -vq '^SKIPPED: refused_without_selinux:'; then
  echo "== SELinux tests were skipped inside the VM" >&2
  rc=1
fi
exit $rc
GUEST
)

echo "== SELinux tests in a VM (security=selinux, permissive)"
if "$vmrun" -c v2 -t 420 -e RUST_BACKTRACE=1 -e BIN="$bin" \
  -a "security=selinux lsm=lockdown,capability,landlock,yama,selinux" -- bash -c "$guest"; then
  echo "== selinux: passed"
else
  echo "== selinux: FAILED" >&2
  exit 1
fi
