#!/usr/bin/env bash
# Side-by-side start-up benchmark of hako, runc and crun on one busybox bundle running
# /bin/true: `run` back to back, create/start/delete, and peak RSS of the runtime process.
# Usage (root): bench/run.sh [RUNS]   (default 200 runs per measurement)
#
# crun 1.8 refuses this machine's hybrid cgroup layout; as documented for this host it runs in
# a private mount namespace with an empty file over /sys/fs/cgroup/unified/cgroup.controllers.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
command -v crun >/dev/null || { apt-get install -y -qq crun >/dev/null; }
scripts/deps.sh
cargo build --release -q
hako=$PWD/target/release/hako
work=$(mktemp -d /tmp/hako-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/true"
(cd "$b" && "$hako" spec && sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"true"/' config.json)
# The same bundle for all three; no device rules (crun and runc would need cgroups for them).
python3 - "$b/config.json" <<'P'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["linux"].pop("resources", None)
c["ociVersion"] = "1.0.2"  # crun 1.8 knows no newer spec version
json.dump(c, open(p, "w"), indent=1)
P
empty=$work/empty; : > "$empty"
crun_wrap=$work/crun
cat > "$crun_wrap" <<W
#!/bin/sh
exec unshare -m sh -c 'mount --bind $empty /sys/fs/cgroup/unified/cgroup.controllers && exec crun "\$@"' crun "\$@"
W
chmod +x "$crun_wrap"

cmd() { # runtime -> a command line that runs /bin/true once
  case $1 in
    hako) echo "$hako --root $work/hako-state run -b $b bench-\$\$" ;;
    runc) echo "runc --root $work/runc-state run -b $b bench-\$\$" ;;
    crun) echo "$crun_wrap --root $work/crun-state run -b $b bench-\$\$" ;;
  esac
}
echo "== run of /bin/true, back to back ($runs runs each, interleaved by hyperfine order)"
hyperfine -N --warmup 10 --runs "$runs" --export-markdown "$work/run.md" \
  -n hako "sh -c '$(cmd hako)'" -n runc "sh -c '$(cmd runc)'" -n crun "sh -c '$(cmd crun)'" >/dev/null
cat "$work/run.md"

echo "== run of /bin/true with 50 ms idle before each (cold cgroup path; $runs runs)"
hyperfine -N --warmup 3 --runs "$runs" --prepare 'sleep 0.05' --export-markdown "$work/cold.md" \
  -n hako "sh -c '$(cmd hako)'" -n runc "sh -c '$(cmd runc)'" -n crun "sh -c '$(cmd crun)'" >/dev/null
cat "$work/cold.md"

echo "== 50 containers run -d in parallel, then deleted (wall ms of the 50 runs, median of 5)"
for rt in hako runc crun; do
  case $rt in hako) bin=$hako;; runc) bin=runc;; crun) bin=$crun_wrap;; esac
  python3 - "$bin" "$work/$rt-par" "$b" "$rt" <<'P'
import subprocess, sys, time, statistics
binary, root, bundle, name = sys.argv[1:5]
walls = []
for rep in range(5):
    ids = [f"p{rep}-{i}" for i in range(50)]
    s = time.perf_counter()
    procs = [subprocess.Popen([binary, "--root", root, "run", "-d", "-b", bundle, i],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) for i in ids]
    failed = sum(p.wait() != 0 for p in procs)
    walls.append(time.perf_counter() - s)
    for i in ids:
        subprocess.run([binary, "--root", root, "delete", "--force", i], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{name:5} {statistics.median(walls)*1000:7.1f} ms  (failures in last round: {failed})")
P
done

echo "== create / start / delete (ms, median of $runs)"
for rt in hako runc crun; do
  case $rt in hako) bin=$hako;; runc) bin=runc;; crun) bin=$crun_wrap;; esac
  python3 - "$bin" "$work/$rt-state2" "$b" "$runs" "$rt" <<'P'
import subprocess, sys, time, statistics
binary, root, bundle, runs, name = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
t = {"create": [], "start": [], "delete": []}
for i in range(runs):
    cid = f"b{i}"
    for verb, args in (("create", ["create", "-b", bundle, cid]), ("start", ["start", cid])):
        s = time.perf_counter(); subprocess.run([binary, "--root", root] + args, check=True, stdin=subprocess.DEVNULL); t[verb].append(time.perf_counter() - s)
    time.sleep(0.002)
    s = time.perf_counter(); subprocess.run([binary, "--root", root, "delete", "--force", cid], check=True); t["delete"].append(time.perf_counter() - s)
print(f"{name:5} " + "  ".join(f"{k} {statistics.median(v)*1000:6.2f}" for k, v in t.items()))
P
done

echo "== peak RSS of the runtime process during run (KiB, max of 20)"
for rt in hako runc crun; do
  peak=0
  for i in $(seq 20); do
    c=$(cmd $rt | sed "s/\\\$\\\$/rss$i/")
    r=$(/usr/bin/time -f %M sh -c "exec $c" 2>&1 >/dev/null | tail -1)
    [ "$r" -gt "$peak" ] && peak=$r
  done
  echo "$rt $peak"
done
