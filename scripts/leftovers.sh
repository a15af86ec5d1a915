#!/usr/bin/env bash
# What tests leave behind on this host: cgroup directories (three levels deep in every
# hierarchy), mount points, network interfaces, state roots and temp dirs of the integration
# tests. Every test must clean up after itself, even when it fails; test.sh takes a snapshot
# before the cargo tests and the conformance suite and compares after them.
#
# Usage: scripts/leftovers.sh snapshot FILE   write what is there now to FILE
#        scripts/leftovers.sh check FILE      print what is there now and not in FILE;
#                                             exit 1 if anything is
set -euo pipefail

now() {
  {
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
      [ -d "$h" ] && find "$h" -mindepth 1 -maxdepth 3 -type d -printf 'cgroup %p\n' 2>/dev/null
    done
    awk '{print "mount " $5}' /proc/self/mountinfo
    ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "link " $2}'
    for d in /run/hako/* /tmp/hako-it-* /tmp/hako-conformance.*; do
      [ -e "$d" ] && echo "path $d"
    done
  } | sort -u
}

case ${1:-} in
  snapshot) now > "$2" ;;
  check)
    left=$(now | comm -13 "$2" -)
    if [ -n "$left" ]; then
      echo "left behind by the tests:" >&2
      printf '%s\n' "$left" | sed 's/^/  /' >&2
      exit 1
    fi
    echo "nothing left behind (cgroups, mounts, links, state roots, temp dirs)"
    ;;
  *) echo "usage: $0 snapshot|check FILE" >&2; exit 2 ;;
esac
