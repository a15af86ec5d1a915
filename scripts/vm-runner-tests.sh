#!/usr/bin/env bash
# The tests of scripts/vmrun itself, on real VMs (four short boots, about 40 s in all): the
# command's exit status, stdout, stderr, environment and working directory pass through, a -w
# directory is shared read-write, -c v2 and -c v1 give pure layouts (every controller on the
# one hierarchy, nothing of the other mounted), a timeout fires and says so, and a boot that
# fails (the kernel panics) ends with exit 125 and the guest console on stderr.
# Usage: scripts/vm-runner-tests.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
vmrun=$PWD/scripts/vmrun
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
tmp=$(mktemp -d /tmp/hako-vmrun-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
check() {  # check DESCRIPTION COMMAND...: one line per check
  if "${@:2}"; then echo "ok - $1"; passed=$((passed + 1))
  else echo "FAIL - $1" >&2; failed=$((failed + 1)); return 1; fi
}
has() { grep -q -- "$2" "$1"; }
# all_on FILE V: the layout FILE lists controllers, all on V and none on the other version.
all_on() { grep -q " $2\$" "$1" && ! grep -v " $2\$" "$1" | grep -q ' v[12]$'; }
is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
show() { echo "--- $1:" >&2; cat "$1" >&2; }

# In the guest: which hierarchy each enabled controller is on (/proc/cgroups: 0 = cgroup v2
# or none) and how many cgroup / cgroup2 filesystems are mounted.
layout='awk '\''NR > 1 && $4 == 1 { print $1, ($2 == 0 ? "v2" : "v1") }'\'' /proc/cgroups
  echo "v1 mounts: $(grep -c " - cgroup " /proc/self/mountinfo)"
  echo "v2 mounts: $(grep -c " - cgroup2 " /proc/self/mountinfo)"'

echo "== boot 1: pure cgroup v2; status, output, environment, cwd and a read-write share"
"$vmrun" -c v2 -t 300 -w "$tmp" -C "$tmp" -e HAKO_VMRUN_TEST='a b' -- "
  echo to-stdout; echo to-stderr >&2
  printf %s \"\$HAKO_VMRUN_TEST\" > env; pwd > cwd
  { $layout; } > v2-layout
  cat /sys/fs/cgroup/cgroup.controllers > v2-controllers
  exit 7" > "$tmp/out1" 2> "$tmp/err1"
rc=$?
check "the command's exit status (7) passes through" [ $rc = 7 ] || show "$tmp/err1"
check "the command's stdout reaches stdout" is "$tmp/out1" to-stdout
check "the command's stderr reaches stderr" has "$tmp/err1" to-stderr
check "-e passes a variable with its spaces" is "$tmp/env" 'a b'
check "-C sets the working directory (here a -w share)" is "$tmp/cwd" "$tmp"
check "v2: every controller is on cgroup v2, none on v1" all_on "$tmp/v2-layout" v2
check "v2: one cgroup2 mount" has "$tmp/v2-layout" '^v2 mounts: 1$'
check "v2: no cgroup v1 mount" has "$tmp/v2-layout" '^v1 mounts: 0$'
check "v2: memory and pids are offered at the root" \
  eval "grep -qw memory '$tmp/v2-controllers' && grep -qw pids '$tmp/v2-controllers'"

echo "== boot 2: pure cgroup v1"
"$vmrun" -c v1 -t 300 -- "$layout" > "$tmp/v1-layout" 2> "$tmp/err2"
rc=$?
check "v1: the VM boots and the command succeeds" [ $rc = 0 ] || show "$tmp/err2"
check "v1: every controller is on a v1 hierarchy, none on v2" all_on "$tmp/v1-layout" v1
check "v1: no cgroup2 mount (not hybrid)" has "$tmp/v1-layout" '^v2 mounts: 0$'

echo "== boot 3: a command that outlives its timeout (20 s)"
t0=$SECONDS
"$vmrun" -t 20 -- 'sleep 600' > /dev/null 2> "$tmp/err3"
rc=$? took=$((SECONDS - t0))
check "a timeout ends with exit 124 (got $rc)" [ $rc = 124 ] || show "$tmp/err3"
check "the timeout fires on time (took ${took}s of 20s + up to 5s to stop)" test $took -ge 20 -a $took -le 35
check "a timeout says so" has "$tmp/err3" 'vmrun: timed out after 20s'

echo "== boot 4: vmrun is stopped (TERM) while its command runs"
"$vmrun" -t 300 -w "$tmp" -- "touch $tmp/running; sleep 600" > /dev/null 2> "$tmp/err4" &
pid=$!
for _ in $(seq 600); do [ -e "$tmp/running" ] || ! kill -0 $pid 2>/dev/null && break; sleep 0.2; done
# vmrun's children (timeout(1)) and theirs (QEMU), before the signal orphans them.
vm=$(pgrep -P "$(pgrep -d, -P $pid)" 2>/dev/null)
kill -TERM $pid; wait $pid; rc=$?
left=
for _ in $(seq 50); do left=$(ps -o pid= -p "${vm:-0}" 2>/dev/null); [ -z "$left" ] && break; sleep 0.2; done
check "the command had started in the VM" [ -e "$tmp/running" ] || show "$tmp/err4"
check "vmrun exits non-zero when stopped (got $rc)" [ $rc != 0 ]
check "stopping vmrun stops its VM (QEMU ${vm:-not found})" test -n "$vm" -a -z "$left"
[ -z "$left" ] || kill -KILL $left

echo "== boot 5: a boot that fails (no init: the kernel panics)"
"$vmrun" -t 300 -a rdinit=/nonexistent -- true > /dev/null 2> "$tmp/err5"
rc=$?
check "a failed boot ends with exit 125 (got $rc)" [ $rc = 125 ] || show "$tmp/err5"
check "a failed boot prints the guest console" has "$tmp/err5" 'Kernel panic'

echo "== bad usage"
"$vmrun" -c v3 -- true 2> "$tmp/err6"
rc=$?
check "an unknown layout is refused with exit 125 (got $rc)" [ $rc = 125 ]
check "an unknown layout is refused with a reason" has "$tmp/err6" 'cgroup must be v1, v2 or hybrid'

echo "vm runner: $passed passed, $failed failed"
[ $failed = 0 ]
