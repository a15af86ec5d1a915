#!/usr/bin/env bash
# The whole test suite, as root on a Debian-like machine: installs what the tests need, then
# format and lint checks, unit tests, integration tests (real containers) and differential
# tests against runc, then, in throw-away VMs (scripts/vmrun), the runner's own tests, the
# cgroup tests on pure v2 and pure v1, the --systemd-cgroup tests under a real systemd, and the
# AppArmor and SELinux tests in VMs booted with them, and checkpoint/restore with CRIU in a VM
# whose kernel it works with.
#
# Every suite runs even when one before it failed, and prints one line with its result and the
# time it took; the last line counts them, and the exit status is non-zero if any failed.
# What needs ../shared beside the repository (CI has it; a bare clone does not) runs when it
# is there, and otherwise one line says what was skipped and why.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
[ "$(id -u)" = 0 ] || { echo "the test suite runs real containers: run it as root" >&2; exit 1; }
scripts/deps.sh || { echo "scripts/deps.sh failed: the tests cannot run without its packages" >&2; exit 1; }
shared=$(cd .. && pwd)/shared
start=$SECONDS passed=0 failed=()

suite() {  # suite NAME COMMAND...
  local name=$1 t0=$SECONDS
  shift
  echo "== $name: $*"
  if "$@"; then
    passed=$((passed + 1))
    echo "== $name: passed in $((SECONDS - t0)) s"
  else
    failed+=("$name")
    echo "== $name: FAILED in $((SECONDS - t0)) s" >&2
  fi
}
skipped() { echo "== $1: skipped: $2"; }

suite fmt cargo fmt --all -- --check
suite clippy cargo clippy --all-targets -q -- -D warnings
[ -x "$shared/reference/runc" ] || skipped "comparison with runc 1.5.1" \
  "no ../shared/reference/runc beside the repository (the differential tests compare with Debian's runc 1.1.5 instead)"
snapshot=$(mktemp /tmp/hako-leftovers.XXXXXX)
scripts/leftovers.sh snapshot "$snapshot"
suite "cargo test" cargo test --workspace --no-fail-fast
# The OCI runtime-tools validation suite against this tree's hako, checked against
# scripts/conformance-expected.txt (it prints one skip line where ../shared/conformance is absent).
suite conformance scripts/conformance.sh
# Every test cleans up after itself, even when it fails: nothing new may be left on the host.
suite leftovers scripts/leftovers.sh check "$snapshot"
rm -f "$snapshot"

# Each VM suite boots its own VM (a few seconds under TCG); the tests take the rest.
suite "vm runner" scripts/vm-runner-tests.sh
suite "vm cgroup v2" scripts/vm-cgroup-tests.sh v2
suite "vm cgroup v1" scripts/vm-cgroup-tests.sh v1
# --systemd-cgroup where systemd is PID 1 (of a PID namespace in a v2 VM).
suite "vm systemd" scripts/vm-systemd-tests.sh
# process.apparmorProfile where AppArmor is enabled (a VM booted with it).
suite "vm apparmor" scripts/vm-apparmor-tests.sh
# process.selinuxLabel / linux.mountLabel where SELinux is enabled (a VM booted with it and
# Debian's policy loaded, permissive).
suite "vm selinux" scripts/vm-selinux-tests.sh
# checkpoint/restore through CRIU, which fails on this host's kernel: a VM with Debian's 6.1
# kernel and pure v2, runc 1.5.1 (when ../shared is there) and 1.1.5 as controls, Podman too.
suite "vm checkpoint" scripts/vm-checkpoint-tests.sh

echo "== all suites ran in $((SECONDS - start)) s${failed[0]:+; failed: ${failed[*]}}"
echo "suites: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} = 0 ]
