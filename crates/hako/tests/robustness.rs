//! Robustness (issue 10): `hako create` killed at every step of setup, load from many `hako`
//! processes on one `--root`, hostile input on the command line and in the state dir, the
//! container outliving the runtime, and signals and exits of `run`.
//!
//! The crash steps use the test-only `HAKO_TEST_CRASH_AT` (libhako's `crash-points` feature,
//! on for these tests through the dev-dependency). After any test, nothing may be left: no
//! state dir, no cgroup named after the container on any hierarchy, no process of it (found
//! by a marker in its environment), no mount of its bundle on the host.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Bundle, World};
use libhako::crashpoint::{Step, ENV as CRASH_ENV};
use serde_json::{json, Value};

/// Set in the environment of every `hako` a test starts and of the container's process, so
/// that every process of a container (runtime, init before exec, program) can be found.
const MARK: &str = "HAKO_ROBUST_MARK";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Directories named `name` under /sys/fs/cgroup, on every hierarchy (not following links).
fn cgroups_named(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if e.file_name().to_str() == Some(name) {
                    out.push(e.path());
                }
                if depth > 0 {
                    walk(&e.path(), name, depth - 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 8, &mut out);
    out
}

/// Every live (non-zombie) process whose environment holds `MARK=<mark>`.
fn marked_processes(mark: &str) -> Vec<i32> {
    let needle = format!("{MARK}={mark}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
        })
        .filter(|pid| stat(*pid).is_some_and(|(_, s)| s != 'Z' && s != 'X'))
        .collect()
}

/// Start time and state letter of `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some((f.get(19)?.parse().ok()?, f.first()?.chars().next()?))
}

/// Whatever container `id` (with `MARK` = `id`, bundle `b`) left behind: state dir, cgroups,
/// processes, host mounts of the bundle. Processes get up to `grace` to finish exiting.
fn leftovers(w: &World, id: &str, b: &Bundle, grace: Duration) -> Vec<String> {
    let mut found = Vec::new();
    if w.state_dir(id).exists() {
        found.push(format!("state dir {}", w.state_dir(id).display()));
    }
    for cg in cgroups_named(id) {
        found.push(format!("cgroup {}", cg.display()));
    }
    let deadline = Instant::now() + grace;
    let mut procs = marked_processes(id);
    while !procs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        procs = marked_processes(id);
    }
    for p in procs {
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        found.push(format!("process {p} ({})", comm.trim()));
    }
    let bundle = std::fs::canonicalize(&b.dir).unwrap_or_else(|_| b.dir.clone());
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    if host.contains(bundle.to_str().unwrap()) {
        found.push("a host mount of the bundle".into());
    }
    found
}

/// Run `cmd` with stdio to /dev/null (a container may inherit it), at most `limit`; `None`
/// when it had to be killed (a hang).
fn status_within(cmd: &mut Command, limit: Duration) -> Option<ExitStatus> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A `hako` command on `w`'s root carrying the marker `mark`.
fn marked(w: &World, mark: &str) -> Command {
    let mut c = w.cmd();
    c.env(MARK, mark);
    c
}

/// `list --format json` as (id, status) pairs.
fn list(w: &World) -> Vec<(String, String)> {
    let out = w.hako(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(out.stdout().trim()).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A busybox bundle running `args` whose process carries `MARK=<mark>`.
fn marked_bundle(w: &World, args: &[&str], mark: &str) -> Bundle {
    let mut b = w.bundle(args);
    b.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("{MARK}={mark}")));
    });
    b
}

// ---------------------------------------------------------------------------------------------
// 1. Crash at any step

/// What is wrong after `hako create` was killed at `step` and `delete --force` ran.
fn crash_at(step: Step) -> Vec<String> {
    let name = step.name();
    let w = World::new(&format!("crash-{name}"));
    let id = w.id(&format!("crash-{name}"));
    let mut b = marked_bundle(&w, &["sleep", "1000"], &id);
    if step == Step::Hooks {
        b.edit(|c| c["hooks"] = json!({"prestart": [{"path": "/bin/true"}]}));
    }
    let mut problems = Vec::new();
    let mut create = marked(&w, &id);
    create
        .env(CRASH_ENV, name)
        .args(["create", "--bundle", b.path(), &id]);
    match status_within(&mut create, Duration::from_secs(20)) {
        Some(st) if st.signal() == Some(9) => {}
        other => problems.push(format!(
            "create did not die by SIGKILL (built without crash-points?): {other:?}"
        )),
    }
    // Whatever is left is never shown as created, and cannot be started.
    for _ in 0..3 {
        for (lid, status) in list(&w) {
            if lid == id && status == "created" {
                problems.push("list shows it as created".into());
            }
        }
        let st = w.hako(&["state", &id]);
        if st.code() == Some(0) {
            let v: Value = serde_json::from_str(&st.stdout()).unwrap_or(Value::Null);
            if v["status"] == "created" || v["status"] == "running" {
                problems.push(format!("state shows it as {}", v["status"]));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut start = w.cmd();
    start.args(["start", &id]);
    match status_within(&mut start, Duration::from_secs(20)) {
        Some(st) if st.success() => problems.push("start succeeded".into()),
        Some(_) => {}
        None => problems.push("start hung (20 s)".into()),
    }
    let mut delete = w.cmd();
    delete.args(["delete", "--force", &id]);
    match status_within(&mut delete, Duration::from_secs(20)) {
        Some(st) if st.success() => {}
        Some(st) => problems.push(format!("delete --force failed: {st:?}")),
        None => problems.push("delete --force hung (20 s)".into()),
    }
    problems.extend(leftovers(&w, &id, &b, Duration::from_secs(2)));
    if list(&w).iter().any(|(lid, _)| *lid == id) {
        problems.push("still listed".into());
    }
    problems
        .into_iter()
        .map(|p| format!("{name}: {p}"))
        .collect()
}

#[test]
fn create_killed_at_every_step_is_never_created_and_delete_force_removes_all() {
    let problems: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = Step::ALL
            .iter()
            .map(|step| s.spawn(move || crash_at(*step)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(problems.is_empty(), "{problems:#?}");
}
