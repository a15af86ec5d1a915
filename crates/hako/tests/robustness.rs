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

use std::os::unix::fs::DirBuilderExt;
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
    for cg in common::cgroups_named(id) {
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
    let host = std::fs::read("/proc/self/mountinfo").unwrap();
    let needle = mountinfo_escape(bundle.as_os_str());
    if host.windows(needle.len()).any(|w| w == needle) {
        found.push("a host mount of the bundle".into());
    }
    found
}

/// A path as /proc/*/mountinfo spells it (space, tab, newline and backslash in octal).
fn mountinfo_escape(path: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for &c in path.as_bytes() {
        match c {
            b' ' | b'\t' | b'\n' | b'\\' => out.extend(format!("\\{c:03o}").bytes()),
            _ => out.push(c),
        }
    }
    out
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
    common::wait_within(&mut child, limit)
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
        // Nothing is recorded before state.json; after it, a dead create reads as stopped.
        let st = w.hako(&["state", &id]);
        let v: Value = serde_json::from_str(&st.stdout()).unwrap_or(Value::Null);
        match (step, st.code()) {
            (Step::StateDir, Some(1)) if st.stderr().contains("does not exist") => {}
            (Step::StateDir, _) => problems.push(format!("state: {}", st.stderr())),
            (_, Some(0)) if v["status"] == "stopped" => {}
            _ => problems.push(format!("state: {v} {}", st.stderr())),
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
    let status = common::wait_within(&mut child, limit);
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
    // The reader may list before the first create has made the root, and `list` of a root
    // that does not exist fails (as runc 1.5.1's).
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&root)
        .unwrap();
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

// ---------------------------------------------------------------------------------------------
// 3. Hostile input on the command line and in the state dir

/// `hako args` fails with runc's exit code (255 for exec, 1 otherwise) and one error line;
/// nothing appears under the root.
#[track_caller]
fn refused_cleanly(w: &World, args: &[&std::ffi::OsStr]) -> String {
    let out = w.cmd().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // One runc-style error line: exit 255 from exec, as runc, and 1 otherwise or for an argument
    // that is not UTF-8 (refused before any verb runs).
    let code = out.status.code();
    let one_line = err.lines().count() == 1 && err.contains("level=error");
    let not_utf8 = err.contains("is not valid UTF-8") && code == Some(1);
    let runc_code = if args[0] == "exec" { 255 } else { 1 };
    assert!(
        one_line && (not_utf8 || code == Some(runc_code)),
        "{args:?}: {code:?} {err}"
    );
    let entries: Vec<_> = std::fs::read_dir(&w.root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.is_empty(), "{args:?} left {entries:?}");
    err
}

#[test]
fn ids_with_odd_bytes_are_refused_cleanly() {
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStringExt;
    let w = World::new("oddid");
    let b = w.bundle(&["true"]);
    let long = "a".repeat(2000);
    let ids: Vec<OsString> = [
        &b"a/b"[..],
        b"../escape",
        b"..",
        b".",
        b"a\nb",
        b"a b",
        b"\x01\x02",
        b"a\xffb",
        b"\xc3\x28",
        b"",
        long.as_bytes(),
    ]
    .iter()
    .map(|b| OsString::from_vec(b.to_vec()))
    .collect();
    for id in &ids {
        let create = [
            OsStr::new("create"),
            OsStr::new("--bundle"),
            b.dir.as_os_str(),
            id,
        ];
        refused_cleanly(&w, &create);
        for verb in ["state", "start", "delete", "kill", "pause", "exec"] {
            let mut args = vec![OsStr::new(verb)];
            if verb == "delete" {
                args.push(OsStr::new("--force"));
            }
            args.push(id);
            if verb == "exec" {
                args.push(OsStr::new("true"));
            }
            refused_cleanly(&w, &args);
        }
    }
    assert!(!w.dir.join("escape").exists() && !w.root.join("../escape").exists());
}

#[test]
fn bundle_paths_with_odd_bytes_work_or_fail_cleanly() {
    use std::os::unix::ffi::OsStrExt;
    let w = World::new("oddpath");
    for name in [
        &b"with space"[..],
        b"new\nline",
        b"\xce\xbb-unicode",
        b"not-utf8-\xff",
    ] {
        let b = w.bundle(&["true"]);
        let odd = w.dir.join(std::ffi::OsStr::from_bytes(name));
        std::fs::rename(&b.dir, &odd).unwrap();
        let b = Bundle { dir: odd };
        let id = w.id("oddpath");
        let out = w
            .cmd()
            .arg("run")
            .arg("--bundle")
            .arg(&b.dir)
            .arg(&id)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(1) => assert_eq!(err.matches("level=error").count(), 1, "{name:?}: {err}"),
            other => panic!("{name:?}: exit {other:?}: {err}"),
        }
        let left = leftovers(&w, &id, &b, Duration::from_secs(2));
        assert!(left.is_empty(), "{name:?}: {left:#?}");
    }
}

#[test]
fn hook_paths_with_odd_bytes_are_refused_cleanly() {
    let w = World::new("oddhook");
    // Refused by validation (naming the field), or, for a path that is well-formed but runs
    // nothing, by the failing hook; either way nothing is left.
    let field = "hooks.createRuntime[0].path";
    for (path, why, want) in [
        ("relative/hook", "relative", field),
        ("/bin/tr\u{0}ue", "NUL byte", field),
        ("", "empty", field),
        ("/no/such/hook", "missing", "createRuntime hook #0"),
        ("/bin/\ntrue", "newline", "createRuntime hook #0"),
    ] {
        let id = w.id("oddhook");
        let mut b = marked_bundle(&w, &["true"], &id);
        b.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": path}]}));
        let out = marked(&w, &id)
            .args(["create", "--bundle", b.path(), &id])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{why}: {err}");
        assert_eq!(err.matches("level=error").count(), 1, "{why}: {err}");
        assert!(err.contains(want), "{why}: the error names the hook: {err}");
        let left = leftovers(&w, &id, &b, Duration::from_secs(2));
        assert!(left.is_empty(), "{why}: {left:#?}");
    }
}

#[test]
fn garbage_state_files_give_a_clear_error_and_delete_force_removes_them() {
    let w = World::new("garbage");
    let real = json!({
        "id": "x", "pid": 1, "pid_start": 1, "bundle": "/b", "rootfs": "/b/rootfs",
        "created": "2026-01-01T00:00:00Z", "owner": "root", "creating": false
    })
    .to_string();
    let shapes: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\x00\xff\xfe garbage".to_vec(),
        real.as_bytes()[..real.len() / 2].to_vec(),
        real.replace("\"pid\":1", "\"pid\":\"one\"").into_bytes(),
        real.replace("\"pid\":1", "\"pid\":99999999999999")
            .into_bytes(),
        b"[]".to_vec(),
        b"null".to_vec(),
        vec![b'['; 100_000],
    ];
    for (i, bytes) in shapes.iter().enumerate() {
        let id = w.id("garbage");
        std::fs::create_dir_all(w.state_dir(&id)).unwrap();
        std::fs::write(w.state_dir(&id).join("state.json"), bytes).unwrap();
        let st = w.hako(&["state", &id]).fails();
        let msg = st.error_msg();
        assert!(msg.contains("corrupt state file"), "shape {i}: {msg}");
        // list skips what it cannot read, and still prints valid JSON.
        let l = w.hako(&["list", "--format", "json"]).ok();
        assert!(
            serde_json::from_str::<Value>(l.stdout().trim()).is_ok(),
            "{}",
            l.stdout()
        );
        w.hako(&["delete", "--force", &id]).ok();
        assert!(!w.state_dir(&id).exists(), "shape {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. The container outlives the runtime

#[test]
fn container_outlives_the_runtime_and_is_found_again() {
    let w = World::new("outlive");
    let id = w.id("outlive");
    let b = marked_bundle(&w, &["sleep", "1000"], &id);
    w.start(&id, &b);
    // Every hako process has exited: only the container's process carries the marker.
    let pid = w.state(&id)["pid"].as_i64().unwrap() as i32;
    let procs = marked_processes(&id);
    assert_eq!(procs, vec![pid], "only the container runs");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.state(&id)["status"], "running");
    assert_eq!(w.state(&id)["pid"], pid);
    let out = w.hako(&["exec", &id, "echo", "still-here"]).ok();
    assert_eq!(out.stdout(), "still-here\n");
    w.hako(&["delete", "--force", &id]).ok();
    let left = leftovers(&w, &id, &b, Duration::from_secs(2));
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn a_recycled_pid_is_never_mistaken_for_the_container() {
    let w = World::new("recycled");
    // An unrelated live process stands in for a PID the kernel gave to someone else.
    let mut other = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = other.id() as i32;
    let (start, _) = stat(pid).unwrap();
    let fake = |id: &str, pid_start: u64| {
        std::fs::create_dir_all(w.state_dir(id)).unwrap();
        let st = json!({
            "id": id, "pid": pid, "pid_start": pid_start, "bundle": "/nonexistent",
            "rootfs": "/nonexistent/rootfs", "created": "2026-01-01T00:00:00Z",
            "owner": "root", "creating": false
        });
        std::fs::write(w.state_dir(id).join("state.json"), st.to_string()).unwrap();
    };
    // The same PID with another start time: a different process.
    let id = w.id("recycled");
    fake(&id, start + 1);
    let st = w.state(&id);
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(st["pid"], 0, "{st}");
    let msg = w.hako(&["kill", &id, "KILL"]).fails().error_msg();
    assert_eq!(msg, "container not running");
    w.hako(&["delete", &id]).ok();
    w.hako(&["delete", "--force", &id]).ok();
    assert!(!w.state_dir(&id).exists());
    assert!(
        stat(pid).is_some_and(|(s, st)| s == start && st != 'Z'),
        "hako signalled a process that was not the container"
    );
    // The right start time: the liveness check does look at the process.
    let id = w.id("recycled");
    fake(&id, start);
    assert_eq!(w.state(&id)["status"], "running");
    let _ = std::fs::remove_dir_all(w.state_dir(&id));
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn an_init_killed_behind_hakos_back_reads_as_stopped() {
    let w = World::new("behind");
    for started in [false, true] {
        let id = w.id("behind");
        let b = marked_bundle(&w, &["sleep", "1000"], &id);
        w.hako(&["create", "--bundle", b.path(), &id]).ok();
        if started {
            w.hako(&["start", &id]).ok();
        }
        let pid = w.state(&id)["pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
        w.wait_status(&id, "stopped");
        assert_eq!(w.state(&id)["pid"], 0);
        // An init that exited before start is reported at once, not waited for.
        let t0 = Instant::now();
        let mut start = w.cmd();
        start.args(["start", &id]);
        let st = status_within(&mut start, Duration::from_secs(10)).expect("start hung");
        assert_eq!(st.code(), Some(1));
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        w.hako(&["delete", &id]).ok();
        let left = leftovers(&w, &id, &b, Duration::from_secs(2));
        assert!(left.is_empty(), "started={started}: {left:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Signals and exits of `run`

/// Children of `pid` that are zombies.
fn zombie_children(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                return false;
            };
            let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
                return false;
            };
            let f: Vec<&str> = rest.split(' ').collect();
            f.first() == Some(&"Z") && f.get(1).and_then(|pp| pp.parse().ok()) == Some(pid)
        })
        .collect()
}

/// Poll `f` every 10 ms for up to 10 s.
#[track_caller]
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn run_forwards_hup_int_usr1_and_term() {
    let w = World::new("fwd");
    let id = w.id("fwd");
    let script = "for s in HUP INT USR1; do trap \"echo $s >> /tmp/sigs\" $s; done; \
                  trap 'echo TERM >> /tmp/sigs; exit 3' TERM; \
                  touch /tmp/ready; while :; do sleep 0.02; done";
    let mut b = marked_bundle(&w, &["sh", "-c", script], &id);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let (sigs, ready) = (b.rootfs().join("tmp/sigs"), b.rootfs().join("tmp/ready"));
    let mut run = marked(&w, &id)
        .args(["run", "--bundle", b.path(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let hako = nix::unistd::Pid::from_raw(run.id() as i32);
    wait_until("the container to be ready", || ready.exists());
    let mut want = String::new();
    for (sig, name) in [
        (nix::sys::signal::SIGHUP, "HUP"),
        (nix::sys::signal::SIGINT, "INT"),
        (nix::sys::signal::SIGUSR1, "USR1"),
    ] {
        nix::sys::signal::kill(hako, sig).unwrap();
        want.push_str(name);
        want.push('\n');
        wait_until(name, || {
            std::fs::read_to_string(&sigs).unwrap_or_default() == want
        });
    }
    nix::sys::signal::kill(hako, nix::sys::signal::SIGTERM).unwrap();
    let status = common::wait_within(&mut run, Duration::from_secs(10))
        .expect("run did not exit after TERM");
    assert_eq!(
        status.code(),
        Some(3),
        "run exits with the container's status"
    );
    assert_eq!(
        std::fs::read_to_string(&sigs).unwrap(),
        "HUP\nINT\nUSR1\nTERM\n"
    );
    let left = leftovers(&w, &id, &b, Duration::from_secs(2));
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn run_reaps_every_child_it_inherits() {
    let w = World::new("reap");
    let id = w.id("reap");
    // No PID namespace: orphans of the container are reparented to `hako run`, the subreaper.
    let script = "for i in 1 2 3 4 5; do (sleep 0.1 &); done; touch /tmp/ready; sleep 2";
    let mut b = marked_bundle(&w, &["sh", "-c", script], &id);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let ready = b.rootfs().join("tmp/ready");
    let mut run = marked(&w, &id)
        .args(["run", "--bundle", b.path(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let hako = run.id() as i32;
    wait_until("the container to be ready", || ready.exists());
    // The orphans have exited by now; none may linger as a zombie of hako.
    std::thread::sleep(Duration::from_millis(700));
    let zombies = zombie_children(hako);
    assert!(zombies.is_empty(), "zombies under hako run: {zombies:?}");
    assert_eq!(run.wait().unwrap().code(), Some(0));
    let left = leftovers(&w, &id, &b, Duration::from_secs(2));
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn run_of_a_program_that_exits_at_once_never_hangs() {
    let w = World::new("fast");
    let b = w.bundle(&["true"]);
    for _ in 0..10 {
        let id = w.id("fast");
        let mut run = w.cmd();
        run.args(["run", "--bundle", b.path(), &id]);
        let st = status_within(&mut run, Duration::from_secs(10)).expect("run hung");
        assert_eq!(st.code(), Some(0));
    }
}

/// A foreground `run` with a terminal whose caller stops reading its stdout (issue 19.3: a
/// full pipe): the relay used to block in its write to stdout, so a SIGTERM to `hako run` was
/// never read, never forwarded, and the run never ended. Now the relay writes only what
/// stdout takes, the signal reaches the container (no PID namespace: `yes` dies of it), and
/// the output left over is given up after a bounded drain. runc 1.5.1 hangs here.
#[test]
fn run_with_a_terminal_and_an_unread_stdout_still_forwards_signals() {
    let w = World::new("full-stdout");
    let mut b = w.bundle(&["yes"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let id = w.id("full");
    let (_unread, out) = nix::unistd::pipe().unwrap();
    let mut run = w
        .cmd()
        .args(["run", "--bundle", b.path(), &id])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = nix::unistd::Pid::from_raw(run.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = common::wait_within(&mut run, Duration::from_secs(15));
    let status = status.expect("hako run hung on its full stdout");
    assert_eq!(status.code(), Some(128 + 15), "{status:?}");
}
