//! `linux.memoryPolicy`: every mode and flag, read back from /proc/self/numa_maps inside the
//! container (the policy of each mapping) and compared with runc 1.5.1; exec'd processes get it
//! too; what runc or the kernel refuses fails `create` in one line naming the field and leaves
//! no state dir. This machine has one NUMA node (0), so every node set is `0`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Bundle, Out, World};
use serde_json::{json, Value};

const SHOW: &str = "head -1 /proc/self/numa_maps | cut -d' ' -f2";

fn bundle(w: &World, policy: Value, script: &str) -> Bundle {
    let mut b = w.bundle(&["sh", "-c", script]);
    b.edit(|c| c["linux"]["memoryPolicy"] = policy);
    b
}

/// `run` under the reference runc (linux.memoryPolicy is runtime-spec 1.3; Debian's runc 1.1.5
/// ignores it), when it is here.
fn runc(w: &World, b: &Bundle) -> Option<Out> {
    let runc = common::reference_runc_for("linux.memoryPolicy under runc")?;
    Some(w.runc_run(&runc, &[], b))
}

#[test]
fn every_mode_and_flag_as_runc() {
    let w = World::new("mpol");
    let cases = [
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (
            json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}),
            "weighted",
        ),
        (json!({"mode": "MPOL_PREFERRED"}), "local"),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (
            json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}),
            "prefer",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
            "prefer=relative:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "bind=balancing:0",
        ),
    ];
    for (policy, want) in cases {
        let b = bundle(&w, policy.clone(), SHOW);
        let id = w.id("mpol");
        let got = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
        assert_eq!(got.trim(), want, "{policy}");
        if let Some(reference) = runc(&w, &b) {
            assert_eq!(got, reference.ok().stdout(), "{policy}: hako vs runc");
        }
    }
}

#[test]
fn exec_gets_the_policy() {
    let w = World::new("mpol-exec");
    let b = bundle(
        &w,
        json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
        "sleep 30",
    );
    let id = w.id("mpol");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "sh", "-c", SHOW]).ok().stdout();
    assert_eq!(out.trim(), "interleave:0");
}

#[test]
fn refusals_name_the_field_and_leave_nothing() {
    let w = World::new("mpol-bad");
    let cases = [
        // Checked during validation, in runc's words.
        (
            json!({"mode": "MPOL_NOPE"}),
            "linux.memoryPolicy.mode: invalid memory policy mode",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_X"]}),
            "linux.memoryPolicy.flags[0]: invalid memory policy flag",
        ),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "linux.memoryPolicy.nodes: memory policy mode MPOL_DEFAULT requires 0 nodes",
        ),
        (
            json!({"mode": "MPOL_BIND"}),
            "linux.memoryPolicy.nodes: memory policy mode MPOL_BIND requires at least one node",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "3-1"}),
            "linux.memoryPolicy.nodes: invalid memory policy nodes \"3-1\"",
        ),
        // Refused by the kernel in the init: a node that is not online, exclusive flags.
        (
            json!({"mode": "MPOL_BIND", "nodes": "1"}),
            "linux.memoryPolicy: set_mempolicy MPOL_BIND with nodes \"1\": invalid argument",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0",
                   "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy: set_mempolicy MPOL_BIND",
        ),
    ];
    for (policy, want) in cases {
        let b = bundle(&w, policy.clone(), "true");
        let id = w.id("mpol");
        let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
        let msg = out.error_msg();
        assert!(msg.contains(want), "{policy}: {msg}");
        assert!(!w.state_dir(&id).exists(), "{policy}: state dir left");
        if let Some(reference) = runc(&w, &b) {
            assert!(!reference.0.status.success(), "{policy}: runc accepts it");
        }
    }
}
