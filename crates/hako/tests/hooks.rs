//! OCI hooks: all six kinds run at their point, in their namespace, with the state on stdin,
//! their args and env; failure semantics (create-time hooks fail the create and leave nothing;
//! poststart/poststop only warn) and timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::World;
use serde_json::{json, Value};

/// A hook that saves its stdin as `<dir>/<kind>.json` and appends
/// `<kind> <mnt ns> <argv1> <E> <exe of the state's pid>` to `<dir>/log`. `sh` is the host's,
/// except for startContainer (the container's).
fn hook(kind: &str, dir: &str) -> Value {
    let script = format!(
        "s=$(cat); echo \"$s\" > {dir}/{kind}.json; \
         p=$(echo \"$s\" | sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); \
         x=$(readlink /proc/$p/exe 2>/dev/null | sed 's|.*/||'); \
         echo {kind} $(readlink /proc/self/ns/mnt) $1 $E ${{x:-none}} >> {dir}/log"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script, "sh", "arg-ok"], "env": ["E=env-ok"]})
}

#[test]
fn all_six_hooks_in_order_with_state_args_env_and_namespaces() {
    let w = World::new("hooks");
    let shared = w.dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let host_dir = shared.to_str().unwrap().to_string();
    let mut b = w.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": host_dir, "options": ["rbind"]
        }));
        let hooks = json!({
            "prestart": [hook("prestart", &host_dir)],
            "createRuntime": [hook("createRuntime", &host_dir)],
            "createContainer": [hook("createContainer", &host_dir)],
            "startContainer": [hook("startContainer", "/shared")],
            "poststart": [hook("poststart", &host_dir)],
            "poststop": [hook("poststop", &host_dir)],
        });
        c["hooks"] = hooks;
    });
    let id = w.id("hooks");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    w.hako(&["start", &id]).ok();
    w.hako(&["delete", "--force", &id]).ok();

    let log = std::fs::read_to_string(shared.join("log")).unwrap();
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l[0]).collect();
    assert_eq!(
        kinds,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let host_mnt = host_mnt.to_str().unwrap();
    for l in &lines {
        assert_eq!(l[2], "arg-ok", "{l:?}");
        assert_eq!(l[3], "env-ok", "{l:?}");
        let in_container = matches!(l[0], "createContainer" | "startContainer");
        assert_eq!(l[1] != host_mnt, in_container, "namespace of {l:?}");
        // What the init runs at that point: still hako before start, the program after.
        match l[0] {
            "prestart" | "createRuntime" | "createContainer" => assert_eq!(l[4], "hako", "{l:?}"),
            "poststart" => assert_eq!(l[4], "busybox", "{l:?}"),
            "poststop" => assert_eq!(l[4], "none", "{l:?}"),
            _ => {}
        }
    }
    for (kind, status) in [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let state: Value =
            serde_json::from_slice(&std::fs::read(shared.join(format!("{kind}.json"))).unwrap())
                .unwrap();
        assert_eq!(state["id"], id.as_str(), "{kind}");
        assert_eq!(state["status"], status, "{kind}");
        assert_eq!(state["bundle"], b.path(), "{kind}");
        if kind != "poststop" {
            assert_eq!(state["pid"], pid, "{kind}");
        }
    }
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let w = World::new("hook-fail");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo no-network >&2; exit 7"]}
        ]});
    });
    let id = w.id("fail");
    let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
    let msg = out.error_msg();
    // As runc: what fails while the init is set up, under its prefix.
    assert!(
        msg.starts_with(
            "unable to start container process: error during container init: \
             createRuntime hook #0 (/bin/sh)"
        ),
        "{msg}"
    );
    assert!(msg.contains("no-network"), "{msg}");
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn hook_timeout_is_enforced() {
    let w = World::new("hook-timeout");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}
        ]});
    });
    let id = w.id("timeout");
    let t = std::time::Instant::now();
    let out = w.hako(&["run", "--bundle", b.path(), &id]).fails();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        out.error_msg().contains("timed out after 1s"),
        "{}",
        out.stderr()
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn failing_poststart_and_poststop_only_warn() {
    let w = World::new("hook-warn");
    let mut b = w.bundle(&["sh", "-c", "exit 5"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [{"path": "/bin/false"}],
            "poststop": [{"path": "/bin/false"}],
        });
    });
    let id = w.id("warn");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code(), Some(5), "{}", out.stderr());
    let err = out.stderr();
    assert!(
        err.contains("level=warning msg=\"poststart hook #0 (/bin/false)"),
        "{err}"
    );
    assert!(
        err.contains("level=warning msg=\"poststop hook #0 (/bin/false)"),
        "{err}"
    );
    assert!(!w.state_dir(&id).exists());
}
