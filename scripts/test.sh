#!/usr/bin/env bash
# The whole test suite, as root on a Debian-like machine: installs what the tests need, then
# format and lint checks, unit tests, integration tests (real containers) and differential
# tests against runc, then the cgroup tests in pure-v2 and pure-v1 VMs and the --systemd-cgroup
# tests in a VM running systemd, the AppArmor and SELinux tests in VMs booted with them, and
# checkpoint/restore in a VM whose kernel CRIU works with.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the test suite runs real containers: run it as root" >&2; exit 1; }
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -q -- -D warnings
cargo test --workspace
# The cgroup tests again on pure v2 and pure v1 hosts, in throw-away VMs (about 1-2 min each).
scripts/vm-cgroup-tests.sh v2 v1
# --systemd-cgroup where systemd is PID 1 (of a PID namespace in a v2 VM; about 40 s).
scripts/vm-systemd-tests.sh
# process.apparmorProfile where AppArmor is enabled (a VM booted with it; about 1 min).
scripts/vm-apparmor-tests.sh
# process.selinuxLabel / linux.mountLabel where SELinux is enabled (a VM booted with it and
# Debian's policy loaded, permissive; about 1 min).
scripts/vm-selinux-tests.sh
# checkpoint/restore through CRIU, which fails on this host's kernel: a VM with Debian's 6.1
# kernel and pure cgroup v2, runc 1.5.1 and 1.1.5 as controls (about N min).
scripts/vm-checkpoint-tests.sh
