#!/usr/bin/env bash
# Side-by-side start-up benchmark of hako, Debian's runc and crun (and youki if installed) on one
# busybox bundle:
# `run` of /bin/true back to back, after 50 ms idle and with Docker's default seccomp profile,
# 50 and 200 parallel `run -d`, each lifecycle
# verb (create/start/state/kill/delete, list), peak RSS, plus the kernel floor: without cgroups
# (`unshare -pfmuin chroot rootfs /bin/true`) and with them (bench/floor.c: the same namespaces,
# chroot and /bin/true after joining a new cgroup in every hierarchy, as a container does). Medians.
# Usage (root): bench/run.sh [RUNS]   (default 200 runs per measurement; runs are interleaved)
#
# crun 1.8 refuses this machine's hybrid cgroup layout. As the issue prescribes, the whole
# benchmark runs in one private mount namespace in which an empty file is bind-mounted over
# /sys/fs/cgroup/unified/cgroup.controllers: the same conditions for all three runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
if [ -z "${HAKO_BENCH_NS:-}" ]; then
  command -v crun >/dev/null || apt-get install -y -qq crun >/dev/null
  scripts/deps.sh
  hako_bin=$(scripts/build.sh)  # its own line: set -e stops here if the build fails
  HAKO_BIN=$hako_bin HAKO_BENCH_NS=1 exec unshare -m "$0" "$@"
fi
mount --make-rprivate /
work=$(mktemp -d /tmp/hako-bench.XXXXXX)
# bench/floor.c's cgroups go under this parent in every cgroup hierarchy (each mounted once).
floorcg=/hako-bench-floor
cgmounts=$(awk '$(NF-2) ~ /^cgroup2?$/ && !seen[$3]++ {print $5}' /proc/self/mountinfo)
cleanup() {
  for r in hako runc youki crun; do
    for d in "$work"/$r-*; do
      [ -d "$d" ] || continue
      for c in $(ls "$d"); do "$(bin $r)" --root "$d" delete -f "$c" >/dev/null 2>&1 || true; done
    done
  done
  for m in $cgmounts; do rmdir "$m$floorcg"/floor-* "$m$floorcg" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
: > "$work/empty"
gcc -O2 -o "$work/floor" bench/floor.c
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
  mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers
fi
hako=$HAKO_BIN
b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
for t in true sleep; do ln -s busybox "$b/rootfs/bin/$t"; done
(cd "$b" && "$hako" spec)
# The same bundle for all three; no device rules (crun and runc would need cgroups for them).
python3 - "$b/config.json" <<'P'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["linux"].pop("resources", None)
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["ociVersion"] = "1.0.2"  # crun 1.8 knows no newer spec version
json.dump(c, open(p, "w"), indent=1)
c["process"]["args"] = ["sleep", "1000"]
json.dump(c, open(p.replace("config.json", "sleep.json"), "w"), indent=1)
P
mkdir -p "$work/sleeper" "$work/seccomp"
cp -a "$b/rootfs" "$work/sleeper/rootfs"  # runc refuses a symlinked rootfs
cp "$b/sleep.json" "$work/sleeper/config.json"
# The same /bin/true bundle with Docker's default seccomp profile (as Docker writes it).
cp -a "$b/rootfs" "$work/seccomp/rootfs"
python3 - "$b/config.json" crates/hako/tests/fixtures/docker-default-seccomp.json "$work/seccomp/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["seccomp"] = json.load(open(sys.argv[2]))
json.dump(c, open(sys.argv[3], "w"), indent=1)
P

bin() { case $1 in hako) echo "$hako" ;; *) echo "$1" ;; esac; }
# For youki under /usr/bin/time: a prefix that execs it with SIGCHLD blocked (a small C program,
# far below youki's RSS, so the maximum /usr/bin/time reports is youki's).
sigchld_blocked() {
  [ "$1" = youki ] || return 0
  if [ ! -x "$work/sigchld-blocked" ]; then
    printf '%s\n' '#include <signal.h>' '#include <unistd.h>' \
      'int main(int c, char **v) { sigset_t s; sigemptyset(&s); sigaddset(&s, SIGCHLD);' \
      '  sigprocmask(SIG_BLOCK, &s, 0); execvp(v[1], v + 1); return 127; }' |
      gcc -O2 -x c -o "$work/sigchld-blocked" -
  fi
  echo "$work/sigchld-blocked"
}
# youki when installed (`cargo install --locked --features v1,v2,systemd,seccomp youki`), before
# crun so that ratios stay against crun. Its `run` can hang unless started with SIGCHLD blocked
# (the issue's note), so every youki call, and only those, starts with SIGCHLD blocked.
rts="hako runc crun"
youki_version=
if command -v youki >/dev/null; then
  rts="hako runc youki crun"
  youki_version=$(youki --version)  # whole: youki panics when a pipe closes early
  youki_version=", ${youki_version%%$'\n'*}"
fi
echo "# $(date -u +%FT%TZ), $(nproc) cpus, kernel $(uname -r), hako $("$hako" --version | head -1 | awk '{print $3}'), $(runc --version | head -1), $(crun --version | head -1)$youki_version; $runs runs"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# Time commands interleaved: each round runs every command once, in a rotating order, so that
# drifting machine state (caches, the kernel's RCU state, other load) hits all alike.
# Prints the median, mean and min of each, and its ratio to the last one named (crun).
interleaved() { # title idle_ms warmup name cmd [name cmd ...]
  python3 - "$runs" "$@" <<'P2'
import os, sys, time, statistics, shlex, signal
runs, title, idle, warm = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 1000, int(sys.argv[4])
cmds = list(zip(sys.argv[5::2], [shlex.split(c) for c in sys.argv[6::2]]))
t = {n: [] for n, _ in cmds}
null = os.open(os.devnull, os.O_RDWR)
# youki 0.7 now and then fails to seal its memfd copy of itself (EBUSY, its own error): a failed
# youki run is deleted and retried, untimed, and counted (up to 3 per figure). Any other failure
# ends the run.
retried = 0
def spawn(name, argv):
    mask = {signal.SIGCHLD} if name == "youki" else set()
    pid = os.posix_spawnp(argv[0], argv, os.environ, setsigmask=mask, file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
    return os.waitpid(pid, 0)[1]
for r in range(warm + runs):
    k = r % len(cmds)
    for name, argv in cmds[k:] + cmds[:k]:
        if idle:
            time.sleep(idle)
        s = time.perf_counter()
        st = spawn(name, argv)
        if st != 0 and name == "youki" and retried < 3:
            retried += 1
            spawn(name, argv[:3] + ["delete", "--force", argv[-1]])
            s = time.perf_counter()
            st = spawn(name, argv)
        if st != 0:
            sys.exit(f"{name}: {argv} failed with wait status {st}")
        if r >= warm:
            t[name].append(time.perf_counter() - s)
print(f"== {title}")
if retried:
    print(f"(youki failed {retried} run(s) with its own error, each retried)")
last = statistics.median(t[cmds[-1][0]])
for name, _ in cmds:
    v = t[name]; med = statistics.median(v)
    print(f"{name:9} median {med*1000:7.2f} ms   mean {statistics.mean(v)*1000:7.2f}   min {min(v)*1000:7.2f}"
          f"   ratio to {cmds[-1][0]} {med/last:5.2f}")
P2
}

args=()
for rt in $rts; do args+=("$rt" "$(bin $rt) --root $work/$rt-run run -b $b bench"); done
interleaved "run of /bin/true, back to back" 0 10 "${args[@]}"
interleaved "run of /bin/true, 50 ms idle before each" 50 3 "${args[@]}"
args=()
for rt in $rts; do args+=("$rt" "$(bin $rt) --root $work/$rt-seccomp run -b $work/seccomp bench"); done
interleaved "run of /bin/true with Docker's default seccomp profile, back to back" 0 10 "${args[@]}"
interleaved "kernel floor: unshare -pfmuin + chroot + /bin/true (no cgroups), against crun" 0 10 \
  floor "unshare -pfmuin chroot $b/rootfs /bin/true" crun "$(bin crun) --root $work/crun-run run -b $b bench"
interleaved "kernel floor with cgroups: bench/floor.c (unshare -pfmuin + chroot + /bin/true), $(wc -w <<<"$cgmounts") cgroups joined, against hako and crun" 0 10 \
  floor-cg "$work/floor $floorcg $b/rootfs" hako "$(bin hako) --root $work/hako-run run -b $b bench" \
  crun "$(bin crun) --root $work/crun-run run -b $b bench"

echo "== lifecycle verbs on a sleeping container (ms, median of $runs)"
for rt in $rts; do
  python3 - "$(bin $rt)" "$work/$rt-verbs" "$work/sleeper" "$runs" "$rt" <<'P'
import subprocess, sys, time, statistics, signal
binary, root, bundle, runs, name = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
if name == "youki":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
verbs = ["create", "state", "start", "list", "kill", "delete"]
t = {v: [] for v in verbs}
def timed(verb, args):
    s = time.perf_counter()
    subprocess.run([binary, "--root", root] + args, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    t[verb].append(time.perf_counter() - s)
for i in range(runs):
    cid = f"v{i}"
    timed("create", ["create", "-b", bundle, cid])
    timed("state", ["state", cid])
    timed("start", ["start", cid])
    timed("list", ["list"])
    timed("kill", ["kill", cid, "KILL"])
    for _ in range(200):
        out = subprocess.run([binary, "--root", root, "state", cid], capture_output=True, text=True).stdout
        if '"stopped"' in out: break
        time.sleep(0.001)
    timed("delete", ["delete", cid])
print(f"{name:5} " + "  ".join(f"{k} {statistics.median(v)*1000:6.2f}" for k, v in t.items()))
P
done

# After the verbs: hundreds of cgroups removed at once leave the kernel busy for a while.
for n in 50 200; do
echo "== $n containers run -d in parallel, then deleted (wall ms, median of 5)"
for rt in $rts; do
  python3 - "$(bin $rt)" "$work/$rt-par" "$work/sleeper" "$rt" "$n" <<'P'
import subprocess, sys, time, statistics, signal
binary, root, bundle, name, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
if name == "youki":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
walls, failed = [], 0
for rep in range(5):
    ids = [f"p{rep}-{i}" for i in range(n)]
    s = time.perf_counter()
    procs = [subprocess.Popen([binary, "--root", root, "run", "-d", "-b", bundle, i],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in ids]
    failed += sum(p.wait() != 0 for p in procs)
    walls.append(time.perf_counter() - s)
    for i in ids:
        subprocess.run([binary, "--root", root, "delete", "--force", i], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{name:5} median {statistics.median(walls)*1000:7.1f} ms   (failed runs: {failed})")
P
done
done

echo "== peak RSS of the runtime process during run (KiB, max of 20)"
for rt in $rts; do
  peak=0
  for i in $(seq 20); do
    r=$(/usr/bin/time -f %M $(sigchld_blocked $rt) "$(bin $rt)" --root "$work/$rt-rss" run -b "$b" "rss$i" 2>&1 >/dev/null | tail -1)
    [ "$r" -gt "$peak" ] && peak=$r
  done
  echo "$rt $peak"
done
echo "== release binary: $(stat -c %s "$hako") bytes"
