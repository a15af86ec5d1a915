//! `linux.netDevices`: a veth made by the test is moved into the container's network
//! namespace, renamed, with its addresses, MTU and link state as runc 1.5.1 leaves them; bad
//! input fails `create` in one line and leaves the device on the host (where runc 1.5.1
//! loses it). Every veth is removed when the test ends, even when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::{Bundle, Out, World};
use serde_json::{json, Value};

/// A veth pair on the host (`<tag>a` / `<tag>b`), deleted on drop if it is still there.
struct Veth {
    name: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        let name = format!("hk{}{tag}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        let peer = format!("{name}p");
        ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
        let v = Veth { name };
        ip(&["addr", "add", "10.77.0.1/24", "dev", &v.name]);
        ip(&["addr", "add", "fd77::1/64", "dev", &v.name]);
        ip(&["link", "set", &v.name, "mtu", "1400"]);
        v
    }

    fn on_host(&self) -> bool {
        std::path::Path::new("/sys/class/net")
            .join(&self.name)
            .exists()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// What the container sees of `eth5`: addresses (without the interface index), MTU, flags.
const SHOW: &str = "ip -o addr show dev eth5 | sed 's/^[0-9]*: //; s/ *valid_lft.*//'; \
                    cat /sys/class/net/eth5/mtu; ip -o link show dev eth5 | cut -d'<' -f2 | cut -d'>' -f1";

fn bundle(w: &World, devices: Value, script: &str) -> Bundle {
    let mut b = w.bundle(&["sh", "-c", script]);
    b.edit(|c| c["linux"]["netDevices"] = devices);
    b
}

fn runc(w: &World, b: &Bundle) -> Out {
    w.runc_run(&common::runc_bin(), &[], b)
}

#[test]
fn moved_renamed_with_addresses_and_mtu_as_runc() {
    let w = World::new("netdev");
    let ours = Veth::new("h");
    let b = bundle(&w, json!({ours.name.clone(): {"name": "eth5"}}), SHOW);
    let id = w.id("netdev");
    let got = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    assert!(
        got.contains("inet 10.77.0.1/24 brd 10.77.0.255 scope global eth5"),
        "{got}"
    );
    assert!(got.contains("inet6 fd77::1/64 scope global"), "{got}");
    assert!(got.contains("\n1400\n") && got.contains(",UP"), "{got}");
    // The namespace is gone with the container, and the veth with it.
    assert!(!ours.on_host());
    if common::reference_runc_for("linux.netDevices under runc").is_none() {
        return;
    }
    let theirs = Veth::new("r");
    let b = bundle(&w, json!({theirs.name.clone(): {"name": "eth5"}}), SHOW);
    let reference = runc(&w, &b).ok().stdout();
    assert_eq!(got, reference, "hako vs runc");
}

#[test]
fn keeps_its_name_without_one() {
    let w = World::new("netdev-name");
    let v = Veth::new("n");
    let b = bundle(
        &w,
        json!({v.name.clone(): {}}),
        &format!("cat /sys/class/net/{}/mtu", v.name),
    );
    let id = w.id("netdev");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    assert_eq!(out, "1400\n");
}

#[test]
fn bad_input_fails_in_one_line_and_leaves_the_device_on_the_host() {
    let w = World::new("netdev-bad");
    let v = Veth::new("x");
    let n = v.name.clone();
    // (netDevices, whether the container has a network namespace, the error)
    let cases: Vec<(Value, bool, String)> = vec![
        (
            json!({"hknosuchdev0": {}}),
            true,
            "linux.netDevices.hknosuchdev0: no network device \"hknosuchdev0\" on the host".into(),
        ),
        (
            json!({n.clone(): {"name": "lo"}}),
            true,
            format!(
                "linux.netDevices.{n}: name \"lo\" is taken in the container's network namespace"
            ),
        ),
        (
            json!({n.clone(): {"name": "a/b"}}),
            true,
            format!("linux.netDevices.{n}: invalid network device name \"a/b\""),
        ),
        (
            json!({n.clone(): {"name": "sixteen_chars_xx"}}),
            true,
            format!("linux.netDevices.{n}: invalid network device name \"sixteen_chars_xx\""),
        ),
        (
            json!({n.clone(): {"name": "eth0"}, format!("{n}p"): {"name": "eth0"}}),
            true,
            format!("linux.netDevices.{n}p: name \"eth0\" is also given to {n}"),
        ),
        (
            json!({n.clone(): {}}),
            false,
            "linux.netDevices: unable to move network devices without a NET namespace".into(),
        ),
    ];
    for (devices, netns, want) in cases {
        let mut b = bundle(&w, devices.clone(), "true");
        if !netns {
            b.edit(|c| {
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "network");
            });
        }
        let id = w.id("netdev");
        let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
        assert_eq!(out.error_msg(), want, "{devices}");
        assert!(!w.state_dir(&id).exists(), "{devices}: state dir left");
        assert!(v.on_host(), "{devices}: the device left the host");
    }
}
