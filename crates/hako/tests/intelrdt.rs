//! `linux.intelRdt` on a host without resctrl (this one): refused in runc 1.5.1's words before
//! anything is made, whatever the fields, as runc refuses it. The resctrl file writes (groups,
//! schemata, tasks, monitoring groups, removal) are unit-tested in libhako's `intelrdt.rs`
//! against a fake resctrl tree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::World;
use serde_json::json;

fn host_has_resctrl() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, p)| p.starts_with("resctrl "))
        })
}

#[test]
fn refused_in_runcs_words_without_resctrl() {
    if host_has_resctrl() {
        eprintln!("SKIPPED: this host has resctrl; the refusal is for hosts without it");
        return;
    }
    let w = World::new("rdt");
    for rdt in [
        json!({}),
        json!({"closID": "x", "l3CacheSchema": "L3:0=ff"}),
        json!({"memBwSchema": "MB:0=20"}),
        json!({"schemata": ["L3:0=f"]}),
        json!({"enableMonitoring": true}),
    ] {
        let mut b = w.bundle(&["true"]);
        b.edit(|c| c["linux"]["intelRdt"] = rdt.clone());
        let id = w.id("rdt");
        let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
        let msg = out.error_msg();
        let words = "intelRdt is specified in config, but Intel RDT is not enabled";
        assert_eq!(msg, format!("linux.intelRdt: {words}"), "{rdt}");
        if let Some(runc) = common::reference_runc_for("runc 1.5.1's words for intelRdt") {
            let theirs = w.runc_run(&runc, &[], &b).stderr();
            assert!(theirs.contains(words), "{rdt}: runc says {theirs}");
        }
        assert!(!w.state_dir(&id).exists(), "{rdt}: state dir left");
    }
}
