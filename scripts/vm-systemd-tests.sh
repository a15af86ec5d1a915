#!/usr/bin/env bash
# The --systemd-cgroup integration tests (crates/hako/tests/systemd_cgroup.rs) where systemd
# runs: this machine has no systemd as PID 1, so a throw-away QEMU VM with pure cgroup v2
# (scripts/vmrun) starts systemd as PID 1 of a new PID (and mount) namespace, and the
# test binary (built here) runs inside that namespace, where hako reaches systemd over
# /run/systemd/private. For the rootless tests the guest also makes an unprivileged user and
# starts its user instance (user@<uid>.service, with the system bus that its runtime dir
# needs): $HAKO_SD_USER names it to the tests. A test that reports SKIPPED there fails this
# script.
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
# dbus and user@.service pull in sysinit.target, whose systemd-tmpfiles-setup empties /tmp
# (tmpfiles.d's "D /tmp"): the tests' binaries may live there (a clone under mktemp -d).
for u in systemd-tmpfiles-setup.service systemd-tmpfiles-clean.service; do
  ln -sf /dev/null "/etc/systemd/system/$u"
done
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
# The rootless tests' user and its systemd user instance (logind, reached over the system bus,
# makes /run/user/<uid>; the instance then listens on /run/user/<uid>/systemd/private).
user=hako-sduser
id -u "$user" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$user"
uid=$(id -u "$user")
in_ns() { timeout 60 nsenter -t "$sd" -p -m -- "$@"; }
# Queued, then waited for: under TCG on a loaded host the start can take minutes.
in_ns systemctl start --no-block dbus.socket dbus.service "user@$uid.service"
for _ in $(seq 600); do
  in_ns test -S "/run/user/$uid/systemd/private" && break
  sleep 0.5
done
if ! in_ns test -S "/run/user/$uid/systemd/private"; then
  echo "== the user instance of $user did not start" >&2
  in_ns systemctl status --no-pager dbus.service "user-runtime-dir@$uid.service" \
    "user@$uid.service" >&2
  in_ns systemctl list-jobs --no-pager >&2
  dmesg | grep -a 'systemd\[' | tail -30 >&2
  exit 1
fi
echo "== systemd user instance of $user (uid $uid): $(in_ns systemctl is-active "user@$uid.service")"
set +e
timeout 300 nsenter -t "$sd" -p -m -- env TMPDIR=/tmp HAKO_SD_USER="$user" "$BIN" --test-threads=2 2>&1 | tee /tmp/tests.log
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
if "$vmrun" -c v2 -t 900 -e RUST_BACKTRACE=1 -e BIN="$bin" -- bash -c "$guest"; then
  echo "== systemd: passed"
else
  echo "== systemd: FAILED" >&2
  exit 1
fi
