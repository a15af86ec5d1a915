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

// ---------------------------------------------------------------------------------------------
// 2. Load

/// A finished `hako` run from a worker thread: exit status (`None` = hung and killed), output.
struct Ran {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn describe(&self, what: &str) -> String {
        format!(
            "{what}: {:?} stdout={:?} stderr={:?}",
            self.status,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// Run `hako --root <root> args` (with `MARK=<mark>`) from any thread, at most `limit`.
fn hako_at(root: &Path, mark: &str, args: &[&str], limit: Duration) -> Ran {
    let tmp = root.parent().unwrap().join(common::unique("out"));
    let (o, e) = (tmp.with_extension("out"), tmp.with_extension("err"));
    let mut cmd = Command::new(common::hako_bin());
    cmd.arg("--root")
        .arg(root)
        .args(args)
        .env(MARK, mark)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let read = |p: &Path| {
        let s = String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        let _ = std::fs::remove_file(p);
        s
    };
    Ran {
        status,
        stdout: read(&o),
        stderr: read(&e),
    }
}

/// Cgroup directories whose name starts with `prefix`, on every hierarchy.
fn cgroups_with_prefix(prefix: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(prefix))
                {
                    out.push(e.path());
                }
                if depth > 0 {
                    walk(&e.path(), prefix, depth - 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), prefix, 8, &mut out);
    out
}

/// Check one `state` output: a whole JSON document with a known status, or "does not exist".
fn check_state_output(r: &Ran) -> Result<(), String> {
    match r.status.map(|s| s.code()) {
        Some(Some(0)) => {
            let v: Value = serde_json::from_str(&r.stdout)
                .map_err(|e| format!("state printed broken JSON ({e}): {:?}", r.stdout))?;
            let known = ["creating", "created", "running", "paused", "stopped"];
            if known.contains(&v["status"].as_str().unwrap_or_default()) {
                Ok(())
            } else {
                Err(format!("state: odd status {v}"))
            }
        }
        Some(Some(1)) if r.stderr.contains("container does not exist") => Ok(()),
        _ => Err(r.describe("state")),
    }
}

/// Figures of one load run.
struct LoadReport {
    containers: usize,
    wall: Duration,
    failures: Vec<String>,
}

/// `n` containers, each created, checked, started, checked and force-deleted by separate `hako`
/// processes, `parallel` at a time on one root; meanwhile a reader lists and reads states.
fn container_load(n: usize, parallel: usize) -> LoadReport {
    let w = World::new("load");
    let prefix = common::unique("ld");
    let b = marked_bundle(&w, &["sleep", "1000"], &prefix);
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let root = w.root.clone();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let limit = Duration::from_secs(30);
    let t0 = Instant::now();
    let mut failures: Vec<String> = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut bad = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let l = hako_at(&root, &prefix, &["list", "--format", "json"], limit);
                if !l.ok() || serde_json::from_str::<Value>(l.stdout.trim()).is_err() {
                    bad.push(l.describe("list"));
                }
                let i = next.load(std::sync::atomic::Ordering::Relaxed).min(n - 1);
                if let Err(e) =
                    check_state_output(&hako_at(&root, &prefix, &["state", &ids[i]], limit))
                {
                    bad.push(e);
                }
            }
            bad
        });
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                s.spawn(|| {
                    let mut bad = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(id) = ids.get(i) else { break };
                        let run = |args: &[&str]| hako_at(&root, &prefix, args, limit);
                        let steps: [(&str, Vec<&str>, Option<&str>); 5] = [
                            ("create", vec!["create", "--bundle", b.path(), id], None),
                            ("state", vec!["state", id], Some("created")),
                            ("start", vec!["start", id], None),
                            ("state", vec!["state", id], Some("running")),
                            ("delete", vec!["delete", "--force", id], None),
                        ];
                        for (what, args, want) in steps {
                            let r = run(&args);
                            let status_ok = want.is_none_or(|want| {
                                serde_json::from_str::<Value>(&r.stdout)
                                    .is_ok_and(|v| v["status"] == want)
                            });
                            if !r.ok() || !status_ok {
                                bad.push(r.describe(&format!("{id} {what}")));
                                let _ = run(&["delete", "--force", id]);
                                break;
                            }
                        }
                    }
                    bad
                })
            })
            .collect();
        let mut bad: Vec<String> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        bad.extend(reader.join().unwrap());
        bad
    });
    let wall = t0.elapsed();
    // Nothing left: no state dir, no cgroup, no process, no listing.
    let entries: Vec<_> = std::fs::read_dir(&w.root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    if !entries.is_empty() {
        failures.push(format!("state dirs left: {entries:?}"));
    }
    for cg in cgroups_with_prefix(&prefix) {
        failures.push(format!("cgroup left: {}", cg.display()));
    }
    let procs = marked_processes(&prefix);
    if !procs.is_empty() {
        failures.push(format!("processes left: {procs:?}"));
    }
    LoadReport {
        containers: n,
        wall,
        failures,
    }
}

fn report(what: &str, r: &LoadReport) {
    eprintln!(
        "{what}: {} containers, wall {:.2} s ({:.1} ms each), {} failures",
        r.containers,
        r.wall.as_secs_f64(),
        r.wall.as_secs_f64() * 1000.0 / r.containers as f64,
        r.failures.len()
    );
    assert!(r.failures.is_empty(), "{:#?}", r.failures);
}

#[test]
fn load_48_containers_16_at_a_time() {
    report("load", &container_load(48, 16));
}

/// The full figure of issue 10; `cargo test --test robustness -- --ignored --nocapture`.
#[test]
#[ignore = "about a minute; run by hand for the figures"]
fn load_200_containers_16_at_a_time() {
    report("load", &container_load(200, 16));
}

#[test]
fn fifty_concurrent_execs_into_one_container() {
    let w = World::new("execs");
    let id = w.id("execs");
    let b = marked_bundle(&w, &["sleep", "1000"], &id);
    w.start(&id, &b);
    let root = w.root.clone();
    let t0 = Instant::now();
    let results: Vec<(usize, Ran)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (root, id) = (&root, &id);
                s.spawn(move || {
                    let n = i.to_string();
                    let args = ["exec", id.as_str(), "echo", n.as_str()];
                    (i, hako_at(root, id, &args, Duration::from_secs(30)))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = t0.elapsed();
    let bad: Vec<String> = results
        .iter()
        .filter(|(i, r)| !r.ok() || r.stdout != format!("{i}\n"))
        .map(|(i, r)| r.describe(&format!("exec #{i}")))
        .collect();
    eprintln!(
        "50 concurrent execs: wall {:.2} s, {} failures",
        wall.as_secs_f64(),
        bad.len()
    );
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(w.state(&id)["status"], "running");
    w.hako(&["delete", "--force", &id]).ok();
    let left = leftovers(&w, &id, &b, Duration::from_secs(2));
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn concurrent_kill_delete_and_state_on_one_container() {
    let w = World::new("kds");
    let root = w.root.clone();
    let limit = Duration::from_secs(30);
    let mut problems = Vec::new();
    for round in 0..6 {
        let id = w.id("kds");
        let b = marked_bundle(&w, &["sleep", "1000"], &id);
        w.start(&id, &b);
        let argv = |a: &[&str]| a.iter().map(|s| s.replace("ID", &id)).collect::<Vec<_>>();
        let kills = [
            argv(&["kill", "ID", "KILL"]),
            argv(&["kill", "ID", "TERM"]),
            argv(&["kill", "--all", "ID", "KILL"]),
        ];
        let deletes = [
            argv(&["delete", "--force", "ID"]),
            argv(&["delete", "--force", "ID"]),
        ];
        let states = vec![argv(&["state", "ID"]); 8];
        // All at once: the kills, the deletes and the readers race on one container.
        let (kills, deletes, states) = std::thread::scope(|s| {
            let go = |set: Vec<Vec<String>>| {
                set.into_iter()
                    .map(|a| {
                        let (root, id) = (&root, &id);
                        s.spawn(move || {
                            let a: Vec<&str> = a.iter().map(String::as_str).collect();
                            hako_at(root, id, &a, limit)
                        })
                    })
                    .collect::<Vec<_>>()
            };
            let (k, d, st) = (go(kills.to_vec()), go(deletes.to_vec()), go(states));
            let join = |v: Vec<std::thread::ScopedJoinHandle<'_, Ran>>| {
                v.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
            };
            (join(k), join(d), join(st))
        });
        for k in &kills {
            let benign = ["container not running", "container does not exist"];
            if !k.ok() && !benign.iter().any(|m| k.stderr.contains(m)) {
                problems.push(format!("round {round}: {}", k.describe("kill")));
            }
        }
        for d in &deletes {
            if !d.ok() {
                problems.push(format!("round {round}: {}", d.describe("delete --force")));
            }
        }
        for st in &states {
            if let Err(e) = check_state_output(st) {
                problems.push(format!("round {round}: {e}"));
            }
        }
        for l in leftovers(&w, &id, &b, Duration::from_secs(2)) {
            problems.push(format!("round {round}: left {l}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
