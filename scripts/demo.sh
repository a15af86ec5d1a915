#!/usr/bin/env bash
# Show hako running a real container, the classic `unshare -pfmu` walk-through:
# the container is PID 1 in its own PID namespace, has its own hostname and mounts,
# and the host sees it under a different PID. Run as root on a fresh Debian-like machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
hako=$(scripts/build.sh)
work=$(mktemp -d /tmp/hako-demo.XXXXXX)
root=$work/state
id=demo-$$
cleanup() { "$hako" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# A bundle: a busybox root filesystem and runc's default config (hako spec).
mkdir -p "$work/bundle/rootfs/bin"
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/bundle/rootfs/bin/$applet"
done
cd "$work/bundle"
"$hako" spec
sed -i -e 's/"terminal": true/"terminal": false/' \
  -e 's/"sh"$/"sh", "-c", "echo \\"inside:  pid=$$  hostname=$(hostname)\\"; ps; echo mounts: $(wc -l < \/proc\/self\/mountinfo); sleep 2"/' \
  config.json

echo "== host:    hostname=$(hostname)  mounts: $(wc -l < /proc/self/mountinfo)"
"$hako" --root "$root" run --detach "$id"
pid=$("$hako" --root "$root" state "$id" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
echo "== host sees the container's init as PID $pid: $(tr '\0' ' ' < /proc/$pid/cmdline)"
echo "== pid namespace: host $(readlink /proc/self/ns/pid), container $(readlink /proc/$pid/ns/pid)"
"$hako" --root "$root" list
sleep 2.5
"$hako" --root "$root" state "$id"; echo
"$hako" --root "$root" delete "$id"
echo "== deleted; a foreground run exits with the container's status:"
sed -i 's/sleep 2"/exit 42"/' config.json
set +e
"$hako" --root "$root" run "$id"
echo "== exit status: $?"
