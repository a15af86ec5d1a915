//! `hako features` against runc 1.5.1's (`../shared/reference/runc features`, when present):
//! every mount option, the `linux.memoryPolicy`, `linux.netDevices` and `linux.intelRdt`
//! entries and `potentiallyUnsafeConfigAnnotations` are the same. (The rest of `features` is
//! checked against the schema and this host in tests/cli.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use serde_json::Value;

fn features(bin: &std::path::Path) -> Value {
    let out = Command::new(bin)
        .arg("features")
        .output()
        .expect("features");
    assert!(out.status.success(), "{} features: {out:?}", bin.display());
    serde_json::from_slice(&out.stdout).expect("features JSON")
}

#[test]
fn the_lists_runc_1_5_1_has() {
    let Some(reference) = common::reference_runc() else {
        eprintln!("SKIPPED: no ../shared/reference/runc to compare with");
        return;
    };
    let ours = features(std::path::Path::new(common::hako_bin()));
    let theirs = features(&reference);
    assert_eq!(ours["mountOptions"], theirs["mountOptions"], "mountOptions");
    for key in ["memoryPolicy", "netDevices", "intelRdt"] {
        assert_eq!(ours["linux"][key], theirs["linux"][key], "linux.{key}");
    }
    assert_eq!(
        ours["potentiallyUnsafeConfigAnnotations"],
        theirs["potentiallyUnsafeConfigAnnotations"]
    );
}
