//! The container lifecycle end to end, against runc's behaviour: create -> created -> start ->
//! running -> stopped -> delete, the state JSON, `run` exit codes and signal forwarding,
//! `kill` (names, numbers, `--all`), `delete` rules, `list` formats, `--pid-file`, `--log`,
//! stdio and `--preserve-fds` passthrough, and concurrent verbs on one container.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bundle, World};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;

/// runc's `list` header (Go tabwriter, min width 12, padding 3).
const HEADER: &str = "ID          PID         STATUS      BUNDLE      CREATED     OWNER";

/// Start time and state letter of `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some((f.get(19)?.parse().ok()?, f.first()?.chars().next()?))
}

/// Whether the process that was `pid` (started at `start`) has exited (a zombie counts).
fn gone(pid: i32, start: u64) -> bool {
    match stat(pid) {
        None => true,
        Some((s, state)) => s != start || state == 'Z' || state == 'X',
    }
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

/// The `pid` of the container's state.
fn pid_of(w: &World, id: &str) -> i32 {
    let pid = w.state(id)["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0, "{id} has no pid");
    pid
}

/// The `(pid, start time)` of every process in the PID namespace of `init`.
fn pidns_members(init: i32) -> Vec<(i32, u64)> {
    let target = std::fs::read_link(format!("/proc/{init}/ns/pid")).expect("pid ns");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() == Some(target.clone())
        })
        .filter_map(|pid| Some((pid, stat(pid)?.0)))
        .collect()
}

/// `run -d` with the container's stdout and stderr in `log` (readable while it runs).
fn run_detached(w: &World, b: &Bundle, id: &str, log: &Path) {
    let f = std::fs::File::create(log).unwrap();
    let status = w
        .cmd()
        .args(["run", "-d", "--bundle", b.path(), id])
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .status()
        .unwrap();
    assert!(status.success(), "run -d {id}: {}", read(log));
}

/// hako on `root` from any thread (`World` is not `Sync`). Output is captured through pipes,
/// so this is only for verbs that do not hand stdio to a container (not create or run).
fn hako_at(root: &Path, args: &[&str]) -> common::Out {
    let out = Command::new(common::hako_bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    common::Out(out)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse RFC 3339 UTC `YYYY-MM-DDTHH:MM:SS[.frac]Z` to UNIX seconds; None if malformed.
fn rfc3339_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || !s.ends_with('Z') {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    if !(frac.is_empty()
        || frac.starts_with('.') && frac.len() > 1 && frac[1..].bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    Some(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The top-level keys of `state`'s indented output, in order.
fn key_order(json: &str) -> Vec<String> {
    json.lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .filter_map(|l| {
            l.trim_start()
                .strip_prefix('"')?
                .split('"')
                .next()
                .map(String::from)
        })
        .collect()
}

/// A bundle whose program waits until the host creates `<rootfs>/tmp/go`, then exits `code`.
fn gated(w: &World, code: i32) -> Bundle {
    w.bundle(&[
        "sh",
        "-c",
        &format!("while [ ! -e /tmp/go ]; do sleep 0.01; done; exit {code}"),
    ])
}

#[test]
fn create_start_stop_delete() {
    let w = World::new("life");
    let b = gated(&w, 0);
    let id = w.id("life");
    let before = now_secs();
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    assert!(w.state_dir(&id).is_dir());
    assert!(
        !common::cgroups_named(&id).is_empty(),
        "the container has a cgroup"
    );

    let out = w.hako(&["state", &id]).ok().stdout();
    assert_eq!(
        key_order(&out),
        [
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "owner"
        ],
        "state keys as runc prints them:\n{out}"
    );
    let s: Value = serde_json::from_str(&out).unwrap();
    assert!(s["ociVersion"].as_str().unwrap().starts_with("1."), "{s}");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["status"], "created");
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    assert_eq!(s["bundle"], bundle.to_str().unwrap());
    assert_eq!(s["rootfs"], bundle.join("rootfs").to_str().unwrap());
    assert_eq!(s["owner"], "", "runc prints an empty owner in state");
    let created = rfc3339_secs(s["created"].as_str().unwrap()).expect("RFC 3339 created");
    assert!(
        (before - 1..=now_secs() + 1).contains(&created),
        "created {} not within the test's time",
        s["created"]
    );
    let pid = s["pid"].as_i64().unwrap() as i32;
    assert!(pid > 1, "pid {pid}");
    let (start, state) = stat(pid).expect("init is a live host process");
    assert_ne!(state, 'Z');
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert_eq!(
        nspid.split_whitespace().last(),
        Some("1"),
        "PID 1 inside: {nspid}"
    );
    // The program has not been executed yet.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    assert!(
        !exe.to_string_lossy().contains("busybox"),
        "exec before start: {exe:?}"
    );

    w.hako(&["start", &id]).ok();
    let s = w.state(&id);
    assert_eq!(s["status"], "running");
    assert_eq!(s["pid"], pid, "start keeps the init pid");
    wait_until("the program to be exec'd", || {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|e| e.to_string_lossy().contains("busybox"))
    });

    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    w.wait_status(&id, "stopped");
    let s = w.state(&id);
    assert_eq!(s["pid"], 0, "a stopped container reports pid 0: {s}");
    assert_eq!(s["bundle"], bundle.to_str().unwrap());
    assert!(gone(pid, start));

    w.hako(&["delete", &id]).ok();
    assert!(!w.state_dir(&id).exists(), "delete removes the state dir");
    assert_eq!(
        common::cgroups_named(&id),
        Vec::<std::path::PathBuf>::new(),
        "cgroup left"
    );
    assert_eq!(
        w.hako(&["state", &id]).fails().error_msg(),
        "container does not exist"
    );
}

#[test]
fn run_returns_the_exit_code() {
    let w = World::new("exit");
    for code in [0, 7, 255] {
        let b = w.bundle(&["sh", "-c", &format!("echo out; echo err >&2; exit {code}")]);
        let id = w.id("exit");
        let out = w.hako(&["run", "--bundle", b.path(), &id]);
        assert_eq!(out.code(), Some(code), "stderr: {}", out.stderr());
        assert_eq!(out.stdout(), "out\n");
        assert!(out.stderr().lines().any(|l| l == "err"), "{}", out.stderr());
        assert!(!w.state_dir(&id).exists(), "run deletes the container");
    }
}

#[test]
fn run_killed_by_signal_returns_128_plus_n() {
    let w = World::new("sigexit");
    // Without a PID namespace the shell is not an init, so its own SIGTERM kills it.
    let mut b = w.bundle(&["sh", "-c", "kill -TERM $$; sleep 5; exit 3"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = w.id("sigexit");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code(), Some(128 + 15), "stderr: {}", out.stderr());

    // A PID 1 ignores signals it has no handler for, but not SIGKILL from the host.
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("sigexit");
    let mut child = w
        .cmd()
        .args(["run", "--bundle", b.path(), &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    w.wait_status(&id, "running");
    w.hako(&["kill", &id, "KILL"]).ok();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 9));
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn run_forwards_sigterm_and_sigint() {
    let w = World::new("fwd");
    for (sig, name, code) in [(Signal::SIGTERM, "TERM", 42), (Signal::SIGINT, "INT", 43)] {
        let script = format!(
            "trap 'echo got-{name}; exit {code}' {name}; echo ready; sleep 1000 & wait; exit 1"
        );
        let b = w.bundle(&["sh", "-c", &script]);
        let id = w.id("fwd");
        let mut child = w
            .cmd()
            .args(["run", "--bundle", b.path(), &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        nix::sys::signal::kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(rest, format!("got-{name}\n"), "stderr: {err}");
        assert_eq!(status.code(), Some(code), "stderr: {err}");
        assert!(!w.state_dir(&id).exists());
    }
}

#[test]
fn kill_accepts_names_numbers_and_defaults_to_term() {
    let w = World::new("killnames");
    let script = "trap 'echo usr1' USR1; trap 'echo hup' HUP; trap 'echo usr2' USR2; \
                  trap 'echo term; exit 0' TERM; echo ready; \
                  while :; do sleep 1000 & wait $!; done";
    let b = w.bundle(&["sh", "-c", script]);
    let id = w.id("killnames");
    let log = w.dir.join("killnames.log");
    run_detached(&w, &b, &id, &log);
    wait_until("ready", || read(&log).contains("ready"));
    let count = |word: &str| read(&log).lines().filter(|l| *l == word).count();
    for (sig, word, n) in [
        ("USR1", "usr1", 1),
        ("SIGHUP", "hup", 1),
        ("12", "usr2", 1),
        ("usr1", "usr1", 2),
        ("sigusr2", "usr2", 2),
        ("1", "hup", 2),
    ] {
        w.hako(&["kill", &id, sig]).ok();
        wait_until(&format!("{word} x{n} after kill {sig}"), || {
            count(word) == n
        });
    }
    assert_eq!(w.state(&id)["status"], "running");
    w.hako(&["kill", &id]).ok();
    w.wait_status(&id, "stopped");
    assert!(read(&log).lines().any(|l| l == "term"), "{}", read(&log));
}

#[test]
fn run_detach_then_kill_with_sigkill_spellings() {
    let w = World::new("killkill");
    let b = w.bundle(&["sleep", "1000"]);
    for sig in ["KILL", "SIGKILL", "9", "kill"] {
        let id = w.id("killkill");
        w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
        assert_eq!(w.state(&id)["status"], "running");
        let pid = pid_of(&w, &id);
        let (start, _) = stat(pid).unwrap();
        w.hako(&["kill", &id, sig]).ok();
        w.wait_status(&id, "stopped");
        assert!(gone(pid, start));
        assert_eq!(
            w.hako(&["kill", &id, sig]).fails().error_msg(),
            "container not running"
        );
        w.hako(&["delete", &id]).ok();
    }
}

#[test]
fn kill_all_signals_every_process() {
    let w = World::new("killall");
    // PID 1 has no TERM handler (so ignores TERM); its children do not.
    let b = w.bundle(&["sh", "-c", "sleep 1000 & sleep 1000 & wait; exit 5"]);
    let id = w.id("killall");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let init = pid_of(&w, &id);
    wait_until("two children", || pidns_members(init).len() == 3);
    let members = pidns_members(init);
    w.hako(&["kill", &id, "TERM"]).ok();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        members.iter().all(|&(p, s)| !gone(p, s)),
        "TERM to the init alone must not kill anything"
    );
    w.hako(&["kill", "--all", &id, "TERM"]).ok();
    w.wait_status(&id, "stopped");
    wait_until("every member gone", || {
        members.iter().all(|&(p, s)| gone(p, s))
    });
}

#[test]
fn run_keep_keeps_a_stopped_container() {
    let w = World::new("keep");
    let b = w.bundle(&["sh", "-c", "exit 3"]);
    let id = w.id("keep");
    let out = w.hako(&["run", "--keep", "--bundle", b.path(), &id]);
    assert_eq!(out.code(), Some(3), "stderr: {}", out.stderr());
    assert!(w.state_dir(&id).is_dir(), "--keep keeps the state dir");
    let s = w.state(&id);
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["pid"], 0);
    assert_eq!(w.hako(&["list", "-q"]).ok().stdout(), format!("{id}\n"));
    let again = w.hako(&["run", "--bundle", b.path(), &id]).fails();
    assert_eq!(again.error_msg(), "container with given ID already exists");
    w.hako(&["delete", &id]).ok();
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn pid_file_holds_the_state_pid() {
    let w = World::new("pidfile");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("pidfile");
    let pf = w.dir.join("create.pid");
    w.hako(&[
        "create",
        "--pid-file",
        pf.to_str().unwrap(),
        "--bundle",
        b.path(),
        &id,
    ])
    .ok();
    assert_eq!(read(&pf), pid_of(&w, &id).to_string());

    let id2 = w.id("pidfile");
    let pf2 = w.dir.join("run.pid");
    w.hako(&[
        "run",
        "-d",
        "--pid-file",
        pf2.to_str().unwrap(),
        "--bundle",
        b.path(),
        &id2,
    ])
    .ok();
    let pid2 = pid_of(&w, &id2);
    assert_eq!(read(&pf2), pid2.to_string());
    assert_ne!(read(&pf), read(&pf2));
    // No temp file is left next to the pid files.
    let names: Vec<String> = std::fs::read_dir(&w.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".pid"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn start_twice_and_start_stopped_fail() {
    let w = World::new("start2");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("start2");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    w.hako(&["start", &id]).ok();
    let pid = pid_of(&w, &id);
    let out = w.hako(&["start", &id]).fails();
    assert_eq!(out.error_msg(), "cannot start an already running container");
    assert_eq!(w.state(&id)["status"], "running");
    assert_eq!(pid_of(&w, &id), pid);
    w.hako(&["kill", &id, "KILL"]).ok();
    w.wait_status(&id, "stopped");
    let out = w.hako(&["start", &id]).fails();
    assert_eq!(out.error_msg(), "cannot start a container that has stopped");
    assert_eq!(w.state(&id)["status"], "stopped");
}

#[test]
fn delete_of_running_needs_force() {
    let w = World::new("delrun");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("delrun");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let pid = pid_of(&w, &id);
    let (start, _) = stat(pid).unwrap();
    let out = w.hako(&["delete", &id]).fails();
    assert_eq!(
        out.error_msg(),
        format!("cannot delete container {id} that is not stopped: running")
    );
    assert_eq!(w.state(&id)["status"], "running");
    assert!(!gone(pid, start));
    w.hako(&["delete", "--force", &id]).ok();
    assert!(
        gone(pid, start),
        "delete --force returns once the init is gone"
    );
    assert!(!w.state_dir(&id).exists());
    assert_eq!(
        common::cgroups_named(&id),
        Vec::<std::path::PathBuf>::new(),
        "cgroup left"
    );
}

#[test]
fn delete_of_created_kills_it() {
    let w = World::new("delcreated");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("delcreated");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let pid = pid_of(&w, &id);
    let (start, _) = stat(pid).unwrap();
    w.hako(&["delete", &id]).ok();
    assert!(
        gone(pid, start),
        "delete of a created container kills its init"
    );
    assert!(!w.state_dir(&id).exists());
    assert_eq!(
        common::cgroups_named(&id),
        Vec::<std::path::PathBuf>::new(),
        "cgroup left"
    );
}

#[test]
fn delete_force_of_unknown_id_succeeds() {
    let w = World::new("delunknown");
    let id = w.id("never-created");
    let out = w.hako(&["delete", "--force", &id]).ok();
    assert!(!out.stderr().contains("level=error"), "{}", out.stderr());
    let out = w.hako(&["delete", &id]).fails();
    assert_eq!(out.error_msg(), "container does not exist");
}

#[test]
fn list_table_quiet_and_json() {
    let w = World::new("list");
    // A --root that does not exist is an error, as runc 1.5.1's.
    let msg = w.hako(&["list"]).fails().error_msg();
    assert_eq!(
        msg,
        format!("open {}: no such file or directory", w.root.display())
    );
    std::fs::create_dir_all(&w.root).unwrap();
    // Nothing yet.
    assert_eq!(w.hako(&["list"]).ok().stdout(), format!("{HEADER}\n"));
    assert_eq!(w.hako(&["list", "-q"]).ok().stdout(), "");
    assert_eq!(
        w.hako(&["list", "--format", "json"]).ok().stdout(),
        "null\n"
    );

    let b = w.bundle(&["sleep", "1000"]);
    let created = w.id("list-a");
    let stopped = w.id("list-b");
    w.hako(&["create", "--bundle", b.path(), &created]).ok();
    let b2 = w.bundle(&["true"]);
    w.hako(&["run", "--keep", "--bundle", b2.path(), &stopped])
        .ok();
    let pid = pid_of(&w, &created);

    let table = w.hako(&["list"]).ok().stdout();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID "), "{table}");
    let cols = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[0]),
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    let a = cols(lines[1]);
    assert_eq!(
        &a[..4],
        [
            created.clone(),
            pid.to_string(),
            "created".into(),
            b.path().into()
        ]
    );
    assert!(rfc3339_secs(&a[4]).is_some(), "{}", a[4]);
    assert_eq!(a[5], "root");
    let s = cols(lines[2]);
    assert_eq!(
        &s[..4],
        [
            stopped.clone(),
            "0".into(),
            "stopped".into(),
            b2.path().into()
        ]
    );
    // Columns line up under the header.
    for key in ["PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        let at = lines[0].find(key).unwrap();
        for l in &lines[1..] {
            let before = &l[..at];
            assert!(
                before.ends_with(' ') && !l[at..].starts_with(' '),
                "{key} column:\n{table}"
            );
        }
    }

    let quiet = w.hako(&["list", "-q"]).ok().stdout();
    let mut ids = [created.clone(), stopped.clone()];
    ids.sort();
    assert_eq!(quiet, format!("{}\n{}\n", ids[0], ids[1]));

    let json: Value = serde_json::from_str(&w.hako(&["list", "-f", "json"]).ok().stdout()).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let get = |id: &str| arr.iter().find(|e| e["id"] == id).unwrap().clone();
    let a = get(&created);
    assert_eq!(a["status"], "created");
    assert_eq!(a["pid"], pid);
    assert_eq!(a["owner"], "root");
    assert_eq!(a["bundle"], b.path());
    let s = get(&stopped);
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["pid"], 0);

    w.hako(&["delete", "--force", &created]).ok();
    w.hako(&["delete", &stopped]).ok();
    assert_eq!(
        w.hako(&["list", "--format", "json"]).ok().stdout(),
        "null\n"
    );
    assert_eq!(w.hako(&["list"]).ok().stdout(), format!("{HEADER}\n"));
}

#[test]
fn log_file_in_json_format() {
    let w = World::new("logjson");
    let log = w.dir.join("hako.log");
    let id = w.id("logjson");
    let out = w
        .hako(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            &id,
        ])
        .fails();
    assert_eq!(out.error_msg(), "container does not exist");
    let text = read(&log);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with(r#"{"level":"error","msg":"container does not exist","time":""#),
        "{text}"
    );
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(rfc3339_secs(v["time"].as_str().unwrap()).is_some(), "{v}");
    assert_eq!(v.as_object().unwrap().len(), 3);

    // A second error appends; the message names the offending field.
    let mut b = w.bundle(&["true"]);
    b.edit(|c| c["process"]["args"] = serde_json::json!([]));
    let out = w
        .hako(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.path(),
            &id,
        ])
        .fails();
    let msg = out.error_msg();
    let text = read(&log);
    let last: Value = serde_json::from_str(text.lines().nth(1).expect("second line")).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], msg.as_str());
    assert!(msg.contains("process.args"), "{msg}");
}

#[test]
fn global_flags_after_the_id() {
    let w = World::new("flagsafter");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("flagsafter");
    let root = w.root.to_str().unwrap();
    // No --root in front; stderr goes to a file (a created container keeps create's stdio).
    let err = w.dir.join("bare.err");
    let bare = |args: &[&str]| {
        let status = Command::new(common::hako_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        common::Out(std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(&err).unwrap(),
        })
    };
    bare(&["create", &id, "--bundle", b.path(), "--root", root]).ok();
    assert_eq!(w.state(&id)["status"], "created");
    assert_eq!(w.state(&id)["bundle"], b.path());
    bare(&["start", &id, "--root", root]).ok();
    assert_eq!(w.state(&id)["status"], "running");
    let log = w.dir.join("after.log");
    let out = bare(&[
        "kill",
        &id,
        "BOGUS",
        "--root",
        root,
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
    ])
    .fails();
    assert_eq!(out.error_msg(), "unknown signal \"BOGUS\"");
    assert!(
        read(&log).contains(r#""msg":"unknown signal \"BOGUS\"""#),
        "{}",
        read(&log)
    );
    bare(&["delete", &id, "--force", "--root", root]).ok();
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn stdio_passes_through_and_stdin_eof_reaches_the_container() {
    let w = World::new("stdio");
    let b = w.bundle(&[
        "sh",
        "-c",
        "while read l; do echo \"in:$l\"; done; echo eof; echo to-err >&2; exit 4",
    ]);
    let id = w.id("stdio");
    let out = w.with_stdin(&["run", "--bundle", b.path(), &id], b"hello\nworld\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "in:hello\nin:world\neof\n",
        "stderr: {err}"
    );
    assert!(err.lines().any(|l| l == "to-err"), "{err}");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn preserve_fds_passes_fd_3() {
    let w = World::new("fds");
    let secret = w.dir.join("secret");
    std::fs::write(&secret, "secret-via-fd3\n").unwrap();
    let b = w.bundle(&["sh", "-c", "cat <&3"]);
    // The host shell opens fd 3 on the file, then execs hako with it.
    let run = |preserve: &[&str], id: &str| {
        let mut args = vec!["--root", w.root.to_str().unwrap(), "run"];
        args.extend_from_slice(preserve);
        args.extend_from_slice(&["--bundle", b.path(), id]);
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg("f=$1; shift; exec \"$@\" 3<\"$f\"")
            .arg("sh")
            .arg(&secret)
            .arg(common::hako_bin())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        common::Out(out)
    };
    let id = w.id("fds");
    let out = run(&["--preserve-fds", "1"], &id);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr());
    assert_eq!(out.stdout(), "secret-via-fd3\n");

    let id = w.id("fds");
    let out = run(&[], &id);
    assert_ne!(
        out.code(),
        Some(0),
        "fd 3 must not reach the container without --preserve-fds"
    );
    assert!(!out.stdout().contains("secret"), "{}", out.stdout());
}

#[test]
fn concurrent_start_and_delete_never_corrupt_state() {
    let w = World::new("race");
    let b = w.bundle(&["sleep", "1000"]);
    let root = w.root.as_path();
    let hako = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hako_at(root, &args)
    };
    for round in 0..8 {
        let id = w.id("race");
        w.hako(&["create", "--bundle", b.path(), &id]).ok();
        let pid = pid_of(&w, &id);
        let (pstart, _) = stat(pid).unwrap();
        let (start, delete, states) = std::thread::scope(|s| {
            let readers = s.spawn(|| {
                (0..10)
                    .map(|_| hako(vec!["state".into(), id.clone()]))
                    .collect::<Vec<_>>()
            });
            let a = s.spawn(|| hako(vec!["start".into(), id.clone()]));
            let d = s.spawn(|| hako(vec!["delete".into(), id.clone()]));
            (
                a.join().unwrap(),
                d.join().unwrap(),
                readers.join().unwrap(),
            )
        });
        for st in &states {
            if st.code() == Some(0) {
                let v: Value = serde_json::from_str(&st.stdout()).expect("whole JSON");
                // "paused" is transient: a kill through a v1 cgroup freezes it, as runc's does.
                let ok = ["created", "running", "stopped", "paused"];
                assert!(ok.contains(&v["status"].as_str().unwrap()), "{v}");
            } else {
                assert_eq!(st.error_msg(), "container does not exist");
            }
        }
        match (start.code(), delete.code()) {
            (Some(0), Some(1)) => {
                assert_eq!(
                    delete.error_msg(),
                    format!("cannot delete container {id} that is not stopped: running")
                );
                assert_eq!(w.state(&id)["status"], "running", "round {round}");
                w.hako(&["delete", "--force", &id]).ok();
            }
            (Some(1), Some(0)) => {
                let msg = start.error_msg();
                assert!(
                    msg == "container does not exist" || msg == "container not running",
                    "round {round}: start after delete: {msg}"
                );
            }
            other => panic!(
                "round {round}: start/delete {other:?}\nstart: {}\ndelete: {}",
                start.stderr(),
                delete.stderr()
            ),
        }
        assert!(gone(pid, pstart), "round {round}");
        assert!(!w.state_dir(&id).exists(), "round {round}");
    }

    // Two starts: exactly one wins.
    let id = w.id("race");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| hako(vec!["start".into(), id.clone()]));
        let y = s.spawn(|| hako(vec!["start".into(), id.clone()]));
        (x.join().unwrap(), y.join().unwrap())
    });
    let mut codes = [x.code(), y.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(1)], "{} / {}", x.stderr(), y.stderr());
    let loser = if x.code() == Some(1) { x } else { y };
    assert_eq!(
        loser.error_msg(),
        "cannot start an already running container"
    );
    assert_eq!(w.state(&id)["status"], "running");

    // Two forced deletes: both succeed, nothing is left.
    let pid = pid_of(&w, &id);
    let (pstart, _) = stat(pid).unwrap();
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| hako(vec!["delete".into(), "--force".into(), id.clone()]));
        let y = s.spawn(|| hako(vec!["delete".into(), "--force".into(), id.clone()]));
        (x.join().unwrap(), y.join().unwrap())
    });
    x.ok();
    y.ok();
    assert!(gone(pid, pstart));
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn state_and_list_on_many_containers() {
    let w = World::new("many");
    let b = w.bundle(&["sleep", "1000"]);
    let ids: Vec<String> = (0..12).map(|_| w.id("many")).collect();
    std::thread::scope(|s| {
        for chunk in ids.chunks(3) {
            let (root, bundle) = (w.root.as_path(), b.path());
            s.spawn(move || {
                for (i, id) in chunk.iter().enumerate() {
                    // The container keeps create's stdio: no pipes here.
                    let status = Command::new(common::hako_bin())
                        .arg("--root")
                        .arg(root)
                        .args(["create", "--bundle", bundle, id])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .unwrap();
                    assert!(status.success(), "create {id}");
                    if i % 2 == 0 {
                        hako_at(root, &["start", id]).ok();
                    }
                }
            });
        }
    });
    let expect = |id: &str| {
        let i = ids.iter().position(|x| x == id).unwrap();
        if i % 3 % 2 == 0 {
            "running"
        } else {
            "created"
        }
    };
    let mut sorted = ids.clone();
    sorted.sort();
    let quiet = w.hako(&["list", "-q"]).ok().stdout();
    assert_eq!(quiet.lines().collect::<Vec<_>>(), sorted);

    let json: Value = serde_json::from_str(&w.hako(&["list", "-f", "json"]).ok().stdout()).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), ids.len());
    let mut pids = std::collections::HashSet::new();
    for e in arr {
        let id = e["id"].as_str().unwrap();
        assert_eq!(e["status"], expect(id), "{e}");
        let s = w.state(id);
        assert_eq!(s["pid"], e["pid"]);
        assert_eq!(s["status"], e["status"]);
        assert!(pids.insert(s["pid"].as_i64().unwrap()), "pids are distinct");
    }
    let table = w.hako(&["list"]).ok().stdout();
    assert_eq!(table.lines().count(), ids.len() + 1);
    for id in &ids {
        w.hako(&["delete", "--force", id]).ok();
    }
    assert_eq!(w.hako(&["list", "-q"]).ok().stdout(), "");
}
