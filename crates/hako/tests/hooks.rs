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
    assert!(msg.starts_with("createRuntime hook #0 (/bin/sh)"), "{msg}");
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

/// `runtime --root ROOT run --bundle B ID`, killed if it has not ended within 20 s: its exit
/// code (`None`: it hung), its stderr and how long it took.
fn run_limited(
    runtime: &std::path::Path,
    root: &std::path::Path,
    b: &common::Bundle,
    id: &str,
) -> (Option<i32>, String, std::time::Duration) {
    let err = root.with_extension(format!("{id}.stderr"));
    let start = std::time::Instant::now();
    let mut child = std::process::Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(["run", "--bundle", b.path(), id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_file(&err);
    (code, stderr, start.elapsed())
}

/// A full pipe never stalls the runtime (issue 19.3): a hook that reads no stdin while the
/// state is larger than a pipe holds (big annotations) still times out on time, and a hook
/// that writes more to stderr than a pipe holds still finishes. As runc, which feeds and
/// drains the pipes as the hook runs; hako used to block in the write, or leave the hook
/// blocked in its own.
#[test]
fn full_hook_pipes_stall_nothing_as_runc() {
    let w = World::new("hooks-pipes");
    let big = "x".repeat(200_000);
    let mut deaf = w.bundle(&["true"]);
    deaf.edit(|c| {
        c["annotations"] = json!({"big": big});
        let hook = json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1});
        c["hooks"] = json!({"prestart": [hook]});
    });
    let mut loud = w.bundle(&["true"]);
    loud.edit(|c| {
        let script = "head -c 300000 /dev/zero | tr '\\0' x >&2; exit 0";
        let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", script]});
        c["hooks"] = json!({"prestart": [hook]});
    });
    let runc_root = w.dir.join("runc");
    for (runtime, root) in [
        (common::runc_bin(), runc_root.clone()),
        (std::path::PathBuf::from(common::hako_bin()), w.root.clone()),
    ] {
        let who = runtime.display().to_string();
        let (deaf_id, loud_id) = (w.id("deaf"), w.id("loud"));
        let deaf_run = run_limited(&runtime, &root, &deaf, &deaf_id);
        let loud_run = run_limited(&runtime, &root, &loud, &loud_id);
        for id in [&deaf_id, &loud_id] {
            let _ = std::process::Command::new(common::runc_bin())
                .arg("--root")
                .arg(&runc_root)
                .args(["delete", "--force", id])
                .output();
        }
        let (code, err, took) = deaf_run;
        assert_eq!(code, Some(1), "{who}: {err}");
        assert!(
            err.contains("timeout") || err.contains("timed out"),
            "{who}: {err}"
        );
        assert!(
            took < std::time::Duration::from_secs(10),
            "{who} took {took:?}"
        );
        let (code, err, _) = loud_run;
        assert_eq!(code, Some(0), "{who}: {err}");
    }
}
