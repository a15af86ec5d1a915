#!/usr/bin/env bash
# The --systemd-cgroup integration tests (crates/hako/tests/systemd_cgroup.rs) where systemd
# runs: this machine has no systemd as PID 1, so a throw-away QEMU VM with pure cgroup v2
# (scripts/vmrun) starts systemd as PID 1 of a new PID (and mount) namespace, and the
# test binary (built here) runs inside that namespace, where hako reaches systemd over
# /run/systemd/private. A test that reports SKIPPED there fails this script.
# Usage: scripts/vm-systemd-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
vmrun=scripts/vmrun
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x /lib/systemd/systemd ] || { echo "systemd is not installed (apt-get install systemd)" >&2; exit 1; }

bin=$(cargo test --test systemd_cgroup --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "could not find the systemd_cgroup test binary" >&2; exit 1; }
bin=$(realpath "$bin")

# In the guest: a minimal target (nothing but systemd's own units), systemd as PID 1 of a new
# PID namespace, then the tests in that namespace once systemd says it is running.
guest=$(cat <<'GUEST'
set -eu
mkdir -p /etc/systemd/system
printf '[Unit]\nDescription=hako systemd cgroup tests\n' >/etc/systemd/system/hako-test.target
unshare -pf --mount-proc env container=hako /lib/systemd/systemd --system \
  --unit=hako-test.target --log-target=kmsg >/tmp/systemd.log 2>&1 &
outer=$!
sd=
for _ in $(seq 300); do
  sd=$(cat /proc/$outer/task/$outer/children 2>/dev/null | awk '{print $1}')
  if [ -n "$sd" ] && [ -S /run/systemd/private ] &&
     state=$(timeout 10 nsenter -t "$sd" -p -m systemctl is-system-running 2>/dev/null) ||
     [ "${state:-}" = degraded ]; then
    break
  fi
  sleep 0.1
done
if [ -z "$sd" ] || ! timeout 10 nsenter -t "$sd" -p -m systemctl is-system-running >/dev/null 2>&1; then
  echo "systemd did not come up (state: ${state:-none}); its log:" >&2
  cat /tmp/systemd.log >&2
  dmesg | tail -40 >&2
  timeout 10 nsenter -t "$sd" -p -m systemctl --failed --no-pager >&2 || true
  [ "${state:-}" = degraded ] || exit 1
fi
echo "== systemd $(timeout 10 nsenter -t "$sd" -p -m systemctl --version | head -1 | cut -d' ' -f2) is PID 1 of the test namespace (host pid $sd)"
set +e
timeout 300 nsenter -t "$sd" -p -m -- env TMPDIR=/tmp "$BIN" --test-threads=2 2>&1 | tee /tmp/tests.log
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ]; then
  echo "== systemd's log about hako units:" >&2
  dmesg | grep -a 'hako\|sd-' | tail -60 >&2
fi
# Only the refusal test (it needs a host without systemd) may skip here.
if grep '^SKIPPED: ' /tmp/tests.log | grep -vq '^SKIPPED: refused_without_systemd:'; then
  echo "== systemd tests were skipped inside the VM" >&2
  rc=1
fi
exit $rc
GUEST
)

echo "== systemd cgroup tests in a VM (cgroup v2, systemd in a PID namespace)"
if "$vmrun" -c v2 -t 600 -e RUST_BACKTRACE=1 -e BIN="$bin" -- bash -c "$guest"; then
  echo "== systemd: passed"
else
  echo "== systemd: FAILED" >&2
  exit 1
fi
