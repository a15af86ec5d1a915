//! Bad input: every malformed config, invalid id, unknown container or signal, and failure of
//! the init gives exactly one clear `level=error` line naming the field or object, exit 1, and
//! leaves nothing behind: no state dir under `--root`, no process or mount of the bundle, no
//! cgroup named after the container. Messages match runc's where runc has one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Bundle, World};
use serde_json::{json, Value};

/// Entries of the state root (which may not even exist).
fn root_entries(w: &World) -> Vec<String> {
    match std::fs::read_dir(&w.root) {
        Ok(d) => d
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// No process has the bundle as its root or cwd or has a mount of it, and the host has no
/// mount of it; no cgroup is named after `id`.
#[track_caller]
fn assert_no_trace(b: &Bundle, id: &str) {
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    let needle = bundle.to_str().unwrap();
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        for link in ["root", "cwd"] {
            if let Ok(t) = std::fs::read_link(format!("/proc/{pid}/{link}")) {
                if t.starts_with(&bundle) {
                    found.push(format!("pid {pid} {link} {}", t.display()));
                }
            }
        }
        if let Ok(m) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
            if m.contains(needle) {
                found.push(format!("pid {pid} has a mount of the bundle"));
            }
        }
    }
    let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    if own.contains(needle) {
        found.push("the host has a mount of the bundle".into());
    }
    for cg in common::cgroups_named(id) {
        found.push(format!("cgroup {}", cg.display()));
    }
    assert!(found.is_empty(), "left behind: {found:#?}");
}

/// `create` and then `run` of the bundle both fail with one error line, exit 1, and leave
/// nothing behind; returns the message (the same for both).
#[track_caller]
fn refused(w: &World, b: &Bundle) -> String {
    let mut msgs = Vec::new();
    for verb in ["create", "run"] {
        let id = w.id(verb);
        let out = w.hako(&[verb, "--bundle", b.path(), &id]).fails();
        msgs.push(out.error_msg());
        assert!(out.stdout().is_empty(), "{verb} printed: {}", out.stdout());
        assert!(!w.state_dir(&id).exists(), "{verb} left its state dir");
        assert_no_trace(b, &id);
    }
    assert!(root_entries(w).is_empty(), "root: {:?}", root_entries(w));
    assert_eq!(msgs[0], msgs[1], "create and run disagree");
    msgs.remove(0)
}

/// A busybox bundle edited by `f`, then refused.
#[track_caller]
fn refused_edit(tag: &str, f: impl FnOnce(&mut Value)) -> String {
    let w = World::new(tag);
    let mut b = w.bundle(&["sh", "-c", "exit 0"]);
    b.edit(f);
    refused(&w, &b)
}

#[test]
fn malformed_json() {
    let w = World::new("badjson");
    let b = w.bundle(&["true"]);
    for raw in [
        &b"{\"ociVersion\": \"1.0.2\", \"process\": {"[..],
        b"{not json",
        b"",
        b"\x00\xff\xfe garbage",
        b"[1, 2, 3]",
    ] {
        b.write_raw(raw);
        let msg = refused(&w, &b);
        assert!(msg.starts_with("config.json: "), "{raw:?}: {msg}");
    }
    let msg = {
        b.write_raw(b"{\"ociVersion\": \"1.0.2\", \"process\": {");
        refused(&w, &b)
    };
    assert!(msg.contains("EOF") && msg.contains("line 1"), "{msg}");

    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    let msg = refused(&w, &b);
    assert!(
        msg.contains("config.json") && msg.ends_with("no such file or directory"),
        "{msg}"
    );
}

/// The spec requires `process` only for start: create takes a config without it
/// (tests/oci_validation.rs), `run` refuses it and leaves nothing.
#[test]
fn missing_process() {
    let w = World::new("noproc");
    let mut b = w.bundle(&["sh", "-c", "exit 0"]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = w.id("run");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).fails();
    assert_eq!(
        out.error_msg(),
        "process: not set in config.json: nothing to run"
    );
    assert!(!w.state_dir(&id).exists(), "run left its state dir");
    assert_no_trace(&b, &id);
}

#[test]
fn empty_process_args() {
    let msg = refused_edit("noargs", |c| c["process"]["args"] = json!([]));
    assert_eq!(msg, "process.args: must not be empty");
}

#[test]
fn missing_root() {
    let msg = refused_edit("noroot", |c| {
        c.as_object_mut().unwrap().remove("root");
    });
    assert!(msg.starts_with("root: "), "{msg}");
}

#[test]
fn rootfs_that_does_not_exist() {
    let w = World::new("norootfs");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let msg = refused(&w, &b);
    let path = std::fs::canonicalize(&b.dir)
        .unwrap()
        .join("no-such-rootfs");
    assert_eq!(
        msg,
        format!("root.path: {}: no such file or directory", path.display())
    );
}

#[test]
fn oci_version_major_2_is_refused() {
    let msg = refused_edit("oci2", |c| c["ociVersion"] = json!("2.0.0"));
    assert!(msg.starts_with("ociVersion: "), "{msg}");
    assert!(msg.contains("\"2.0.0\""), "{msg}");
}

#[test]
fn oci_version_newer_minor_warns_but_runs() {
    let w = World::new("oci19");
    let mut b = w.bundle(&["sh", "-c", "echo ran; exit 6"]);
    b.edit(|c| c["ociVersion"] = json!("1.9.0"));
    let id = w.id("oci19");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code(), Some(6), "stderr: {}", out.stderr());
    assert_eq!(out.stdout(), "ran\n");
    let err = out.stderr();
    assert!(!err.contains("level=error"), "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("level=warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("1.9.0"), "{err}");
}

#[test]
fn relative_mount_destination() {
    let msg = refused_edit("relmount", |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "data", "type": "tmpfs", "source": "tmpfs"}));
    });
    assert_eq!(msg, "mounts[7].destination: data: must be an absolute path");
}

#[test]
fn mount_destination_with_dotdot() {
    let msg = refused_edit("dotdot", |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/a/../../etc", "type": "tmpfs", "source": "tmpfs"}));
    });
    assert!(
        msg.starts_with("mounts[7].destination: /a/../../etc"),
        "{msg}"
    );
    assert!(msg.contains(".."), "{msg}");
}

#[test]
fn unknown_namespace_type() {
    let msg = refused_edit("nstype", |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "bogus"}));
    });
    assert_eq!(
        msg,
        "linux.namespaces[5].type: \"bogus\": unknown namespace type"
    );
}

#[test]
fn duplicate_namespace() {
    let msg = refused_edit("nsdup", |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "pid"}));
    });
    assert!(msg.starts_with("linux.namespaces[5]: "), "{msg}");
    assert!(msg.to_lowercase().contains("duplicate pid"), "{msg}");
}

#[test]
fn namespace_path_that_does_not_exist() {
    let msg = refused_edit("nspath", |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "cgroup", "path": "/nonexistent/ns/cgroup"}));
    });
    assert_eq!(
        msg,
        "linux.namespaces[5].path: /nonexistent/ns/cgroup: no such file or directory"
    );
}

#[test]
fn hostname_without_uts_namespace() {
    let msg = refused_edit("nouts", |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "uts");
        c["hostname"] = json!("box");
    });
    // runc: "unable to set hostname without a private UTS namespace".
    assert_eq!(
        msg,
        "hostname: unable to set hostname without a private UTS namespace"
    );
}

#[test]
fn invalid_container_ids() {
    let w = World::new("badid");
    let b = w.bundle(&["true"]);
    for id in ["a/b", "..", ".", "a b", "../escape", ""] {
        for args in [
            vec!["create", "--bundle", b.path(), id],
            vec!["run", "--bundle", b.path(), id],
            vec!["state", id],
            vec!["start", id],
            vec!["kill", id, "KILL"],
            vec!["delete", id],
            vec!["delete", "--force", id],
        ] {
            let out = w.hako(&args).fails();
            assert_eq!(out.error_msg(), "invalid container ID format", "{args:?}");
        }
    }
    assert!(root_entries(&w).is_empty(), "{:?}", root_entries(&w));
    for stray in ["state.json", "exec.fifo", "escape", "a"] {
        assert!(!w.dir.join(stray).exists(), "{stray} outside the root");
    }
    assert_no_trace(&b, "a b");
}

#[test]
fn duplicate_id_leaves_the_first_untouched() {
    let w = World::new("dupid");
    let b1 = w.bundle(&["sleep", "1000"]);
    let b2 = w.bundle(&["sleep", "1000"]);
    let id = w.id("dupid");
    w.hako(&["create", "--bundle", b1.path(), &id]).ok();
    let before = w.hako(&["state", &id]).ok().stdout();
    let state_file = std::fs::read(w.state_dir(&id).join("state.json")).unwrap();
    for verb in ["create", "run"] {
        let out = w.hako(&[verb, "--bundle", b2.path(), &id]).fails();
        assert_eq!(out.error_msg(), "container with given ID already exists");
        assert_no_trace(&b2, "no-such-cgroup-name");
    }
    assert_eq!(w.hako(&["state", &id]).ok().stdout(), before);
    assert_eq!(
        std::fs::read(w.state_dir(&id).join("state.json")).unwrap(),
        state_file
    );
    w.hako(&["start", &id]).ok();
    assert_eq!(w.state(&id)["status"], "running");
    assert_eq!(w.state(&id)["bundle"], b1.path());
}

#[test]
fn unknown_id() {
    let w = World::new("unknownid");
    let id = w.id("nosuch");
    for args in [
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ] {
        let out = w.hako(&args).fails();
        assert_eq!(out.error_msg(), "container does not exist", "{args:?}");
    }
    assert!(root_entries(&w).is_empty());
}

#[test]
fn invalid_signals() {
    let w = World::new("badsig");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("badsig");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    w.hako(&["start", &id]).ok();
    let pid = w.state(&id)["pid"].clone();
    for sig in ["FOO", "SIGFOO", "SIG", "RTMIN+99", " 9", "99999999999"] {
        for all in [false, true] {
            let mut args = vec!["kill"];
            if all {
                args.push("--all");
            }
            args.extend([id.as_str(), sig]);
            let out = w.hako(&args).fails();
            assert_eq!(
                out.error_msg(),
                format!("unknown signal {sig:?}"),
                "{args:?}"
            );
        }
    }
    let s = w.state(&id);
    assert_eq!(s["status"], "running");
    assert_eq!(s["pid"], pid);
}

#[test]
fn program_not_in_path() {
    let w = World::new("nope");
    let b = w.bundle(&["nope"]);
    let msg = refused(&w, &b);
    assert_eq!(
        msg,
        "unable to start container process: exec: \"nope\": executable file not found in $PATH"
    );

    let b = w.bundle(&["/nope"]);
    let msg = refused(&w, &b);
    assert_eq!(
        msg,
        "unable to start container process: exec: \"/nope\": stat /nope: no such file or directory"
    );
}

#[test]
fn cwd_that_does_not_exist() {
    // As runc: a missing cwd is created in the rootfs (even a read-only one) and used.
    let w = World::new("nocwd");
    let mut b = w.bundle(&["sh", "-c", "pwd"]);
    b.edit(|c| c["process"]["cwd"] = json!("/no/such/dir"));
    let id = w.id("nocwd");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    assert_eq!(out.stdout(), "/no/such/dir\n");
    // A cwd below a regular file cannot be created: refused, naming the cwd.
    let msg = refused_edit("filecwd", |c| {
        c["process"]["cwd"] = json!("/bin/busybox/sub")
    });
    assert!(
        msg.contains("cwd") && msg.contains("/bin/busybox/sub"),
        "{msg}"
    );
    assert!(msg.ends_with("not a directory"), "{msg}");
}

#[test]
fn bind_mount_source_that_does_not_exist() {
    let msg = refused_edit("nobind", |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt", "type": "bind",
                           "source": "/no/such/source", "options": ["rbind"]}));
    });
    assert_eq!(
        msg,
        "mounts[7].source: /no/such/source: no such file or directory"
    );
}

#[test]
fn mount_failing_inside_the_init() {
    let msg = refused_edit("nosuchfs", |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt", "type": "nosuchfs", "source": "x"}));
    });
    assert!(msg.contains("nosuchfs") && msg.contains("/mnt"), "{msg}");
    assert!(msg.ends_with("no such device"), "{msg}");
}

#[test]
fn mount_failing_before_the_cgroup_exists() {
    // First in the config: the init makes it while the runtime is still making the cgroup
    // (rootfs::early), and the runtime must report the init's reason, not a closed channel.
    let msg = refused_edit("earlyfs", |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.insert(
            0,
            json!({"destination": "/mnt", "type": "nosuchfs", "source": "x"}),
        );
    });
    assert!(msg.contains("nosuchfs") && msg.contains("/mnt"), "{msg}");
    assert!(msg.ends_with("no such device"), "{msg}");
}

#[test]
fn corrupt_state_file() {
    let w = World::new("corrupt");
    // A state dir with a truncated state.json and no process.
    let id = w.id("corrupt");
    std::fs::create_dir_all(w.state_dir(&id)).unwrap();
    let file = w.state_dir(&id).join("state.json");
    std::fs::write(&file, b"{\"id\":\"x\",\"pi").unwrap();
    let msg = w.hako(&["state", &id]).fails().error_msg();
    assert!(
        msg.starts_with(&format!("{}: corrupt state file", file.display())),
        "{msg}"
    );
    for args in [
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ] {
        let m = w.hako(&args).fails().error_msg();
        assert!(m.contains("corrupt state file"), "{args:?}: {m}");
    }
    // list skips it; delete --force removes it.
    assert_eq!(w.hako(&["list", "-q"]).ok().stdout(), "");
    w.hako(&["delete", "--force", &id]).ok();
    assert!(!w.state_dir(&id).exists());

    // A real container whose state.json turns to garbage.
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("corrupt");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap() as i32;
    std::fs::write(w.state_dir(&id).join("state.json"), b"\x00garbage").unwrap();
    let msg = w.hako(&["state", &id]).fails().error_msg();
    assert!(msg.contains("corrupt state file"), "{msg}");
    w.hako(&["delete", "--force", &id]).ok();
    assert!(!w.state_dir(&id).exists());
    // Without a readable state hako cannot know the init or its cgroup: clean up by hand.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    for _ in 0..500 {
        let dirs = common::cgroups_named(&id);
        let _ = dirs.iter().rev().map(std::fs::remove_dir).count();
        if common::cgroups_named(&id).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
