//! Differential tests against runc (the reference 1.5.1 in `../shared` when present, else
//! Debian's: `common::runc_bin`): the same bundle runs under `runc` (with a private
//! `--root` in the test world's temp dir) and under hako, and what a caller or the container
//! can observe is compared: `state` and `list` output, exit codes and error lines, and what the
//! container sees under the default spec (mounts, credentials, /dev, limits, env).
//!
//! runc must be installed (CI installs it): without it these tests fail, they never skip.
//! What legitimately differs (`ociVersion`, PIDs, creation times, mount and device numbers,
//! super-block options) is normalised away; everything else must be equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bundle, Out, World};
use serde_json::{json, Value};

/// runc with its own state root inside the world's temp dir. Every container registered
/// with [`Runc::track`] is `runc delete --force`d on drop, even when the test fails.
struct Runc {
    bin: PathBuf,
    root: PathBuf,
    ids: RefCell<Vec<String>>,
}

impl Runc {
    fn new(w: &World) -> Runc {
        Runc {
            bin: common::runc_bin(),
            root: w.dir.join("runc-state"),
            ids: Default::default(),
        }
    }

    /// Remember `id` for the forced delete on drop.
    fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.args(args);
        exec(c, self.root.parent().expect("world dir"))
    }

    fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]).ok();
        serde_json::from_str(&out.stdout()).expect("runc state json")
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self
                .cmd()
                .args(["delete", "--force", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Run `c` to completion with stdout and stderr in files under `dir`, not pipes: a created
/// container inherits the runtime's stdio and would hold a pipe open until it exits.
fn exec(mut c: Command, dir: &Path) -> Out {
    let (out_path, err_path) = (
        dir.join(common::unique("stdout")),
        dir.join(common::unique("stderr")),
    );
    let status = c
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .status()
        .expect("spawn runtime");
    let read = |p: &Path| {
        let bytes = std::fs::read(p).expect("read output");
        let _ = std::fs::remove_file(p);
        bytes
    };
    Out(std::process::Output {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    })
}

/// One world with both runtimes. Fields drop in declaration order: `runc` first, so its
/// containers are deleted before the world removes the temp dir holding runc's state root.
struct Both {
    runc: Runc,
    w: World,
}

impl Both {
    fn new(tag: &str) -> Both {
        let w = World::new(tag);
        let runc = Runc::new(&w);
        Both { runc, w }
    }

    /// An id valid in both roots (each runtime has its own, so one name serves both) and
    /// cleaned up by both.
    fn id(&self, tag: &str) -> String {
        let id = self.w.id(tag);
        self.runc.track(&id);
        id
    }

    /// A busybox bundle from `hako spec` (≈ `runc spec`) with a fixed hostname.
    fn bundle(&self, args: &[&str]) -> Bundle {
        let mut b = self.w.bundle(args);
        b.edit(|c| c["hostname"] = json!("difftest"));
        b
    }

    /// The same verb under both runtimes: (runc, hako). A `create` or `run` gives each
    /// runtime's container a cgroup of its own ([`own_cgroup`]).
    fn both(&self, args: &[&str]) -> (Out, Out) {
        own_cgroup(args, "runc");
        let r = self.runc.run(args);
        own_cgroup(args, "hako");
        (r, self.hako(args))
    }

    /// hako with this world's `--root`, stdio in files (see [`exec`]).
    fn hako(&self, args: &[&str]) -> Out {
        let mut c = self.w.cmd();
        c.args(args);
        exec(c, &self.w.dir)
    }

    /// The same verb under both, both must succeed: their stdout (runc, hako).
    fn ok_both(&self, args: &[&str]) -> (String, String) {
        let (r, h) = self.both(args);
        (r.ok().stdout(), h.ok().stdout())
    }

    /// `run` the bundle to completion under both; returns (runc, hako).
    fn run_both(&self, b: &Bundle, tag: &str) -> (Out, Out) {
        let id = self.id(tag);
        self.both(&["run", "--bundle", b.path(), &id])
    }

    /// Run `script` under both runtimes (default spec, hostname fixed), assert both exit 0,
    /// and return their stdout: (runc, hako).
    fn probe(&self, script: &str) -> (String, String) {
        let b = self.bundle(&["sh", "-c", script]);
        let (r, h) = self.run_both(&b, "probe");
        assert_eq!(r.code(), Some(0), "runc run failed: {}", r.stderr());
        assert_eq!(h.code(), Some(0), "hako run failed: {}", h.stderr());
        (r.stdout(), h.stdout())
    }

    /// Poll both `state`s until each reports `status`.
    fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for hako in [false, true] {
            loop {
                let out = if hako {
                    self.hako(&["state", id])
                } else {
                    self.runc.run(&["state", id])
                };
                if out.code() == Some(0) {
                    let v: Value = serde_json::from_str(&out.stdout()).expect("state json");
                    if v["status"] == status {
                        break;
                    }
                }
                let who = if hako { "hako" } else { "runc" };
                assert!(
                    Instant::now() < deadline,
                    "{who}: {id} never became {status}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Before a `create` or `run` of `args` (`... --bundle DIR ... ID`) by `who`: set the bundle's
/// `linux.cgroupsPath` to `<ID>-<who>` (relative, under the runtime's own cgroup, as the
/// default `<ID>` is). Both containers of one id would otherwise share a cgroup, which runc 1.5
/// and hako refuse once it holds processes (and each `delete` would kill the other's).
fn own_cgroup(args: &[&str], who: &str) {
    if !matches!(args.first(), Some(&"create" | &"run")) {
        return;
    }
    let bundle = args
        .iter()
        .position(|a| *a == "--bundle")
        .and_then(|i| args.get(i + 1));
    let (Some(dir), Some(id)) = (bundle, args.last()) else {
        return;
    };
    let mut b = Bundle {
        dir: PathBuf::from(dir),
    };
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{id}-{who}")));
}

/// The JSON type name of a value, for shape comparisons.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keys and value types of a JSON object, in order.
fn shape(v: &Value) -> Vec<(String, &'static str)> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .iter()
        .map(|(k, v)| (k.clone(), kind(v)))
        .collect()
}

/// `MAJOR.MINOR.PATCH` with an optional `-suffix` (runc prints `1.0.2-dev`).
fn is_spec_version(s: &str) -> bool {
    let core = s
        .split_once('-')
        .map_or(s, |(c, rest)| if rest.is_empty() { "" } else { c });
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `time.RFC3339Nano` in UTC, as runc prints `created`: the fraction has no trailing
/// zeros (and is left out when zero).
fn is_go_rfc3339_nano(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() < 20 || !s.ends_with('Z') {
        return false;
    }
    let base = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let frac = &s[19..s.len() - 1];
    let frac_ok = frac.is_empty()
        || (frac.len() >= 2
            && frac.len() <= 10
            && frac.starts_with('.')
            && frac[1..].bytes().all(|c| c.is_ascii_digit())
            && !frac.ends_with('0'));
    base && frac_ok
}

/// `state` text with the values that legitimately differ (`ociVersion`, `pid` when live,
/// `created`) replaced, so layout, key order and every other value compare byte for byte.
fn normalise_state_text(text: &str) -> String {
    text.lines()
        .map(|l| {
            for key in ["ociVersion", "created"] {
                if l.starts_with(&format!("  \"{key}\": ")) {
                    return format!("  \"{key}\": \"<{key}>\",");
                }
            }
            if l.starts_with("  \"pid\": ") && l != "  \"pid\": 0," {
                return "  \"pid\": <pid>,".to_string();
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Check one runtime's `state` of a container expected in `status`.
fn check_state(who: &str, v: &Value, id: &str, b: &Bundle, status: &str) {
    assert!(
        is_spec_version(v["ociVersion"].as_str().unwrap_or("")),
        "{who}: ociVersion {}",
        v["ociVersion"]
    );
    assert!(
        is_go_rfc3339_nano(v["created"].as_str().unwrap_or("")),
        "{who}: created {} is not Go's RFC 3339 with nanoseconds",
        v["created"]
    );
    assert_eq!(v["id"], id, "{who}");
    assert_eq!(v["status"], status, "{who}");
    assert_eq!(
        v["bundle"],
        b.path(),
        "{who}: bundle is the absolute bundle dir"
    );
    assert_eq!(
        v["rootfs"],
        b.rootfs().to_str().unwrap(),
        "{who}: rootfs is the absolute rootfs"
    );
    assert_eq!(v["owner"], "", "{who}: state prints owner empty");
    let pid = v["pid"].as_i64().expect("pid is a number");
    if status == "stopped" {
        assert_eq!(pid, 0, "{who}: pid is 0 once stopped");
    } else {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "{who}: pid {pid} is not a live process"
        );
    }
}

/// Compare `state` of both runtimes: shape, key order, layout and the semantic checks.
fn compare_state(t: &Both, id: &str, b: &Bundle, status: &str) {
    let (r, h) = t.both(&["state", id]);
    let (r, h) = (r.ok(), h.ok());
    let (rv, hv): (Value, Value) = (
        serde_json::from_str(&r.stdout()).expect("runc state json"),
        serde_json::from_str(&h.stdout()).expect("hako state json"),
    );
    assert_eq!(shape(&rv), shape(&hv), "state keys/types at {status}");
    check_state("runc", &rv, id, b, status);
    check_state("hako", &hv, id, b, status);
    assert_eq!(
        normalise_state_text(&r.stdout()),
        normalise_state_text(&h.stdout()),
        "state text at {status}"
    );
}

#[test]
fn state_matches_runc_through_the_lifecycle() {
    let t = Both::new("diff-state");
    let b = t.bundle(&["sleep", "100"]);
    let id = t.id("st");
    let (r, h) = t.both(&["create", "--bundle", b.path(), &id]);
    r.ok();
    h.ok();
    compare_state(&t, &id, &b, "created");
    let (r, h) = t.both(&["start", &id]);
    r.ok();
    h.ok();
    compare_state(&t, &id, &b, "running");
    let (r, h) = t.both(&["kill", &id, "KILL"]);
    r.ok();
    h.ok();
    t.wait_status(&id, "stopped");
    compare_state(&t, &id, &b, "stopped");
    let (r, h) = t.both(&["delete", &id]);
    r.ok();
    h.ok();
    let (r, h) = t.both(&["state", &id]);
    assert_eq!(r.fails().error_msg(), h.fails().error_msg());
}

#[test]
fn state_bundle_and_rootfs_are_absolute_from_a_relative_bundle() {
    let t = Both::new("diff-relbundle");
    let b = t.bundle(&["sleep", "100"]);
    let id = t.id("rel");
    let parent = b.dir.parent().unwrap();
    let rel = b.dir.file_name().unwrap().to_str().unwrap();
    for (mut c, who) in [(t.runc.cmd(), "runc"), (t.w.cmd(), "hako")] {
        own_cgroup(&["create", "--bundle", b.path(), &id], who);
        c.current_dir(parent).args(["create", "--bundle", rel, &id]);
        exec(c, &t.w.dir).ok();
    }
    compare_state(&t, &id, &b, "created");
}

#[test]
fn state_annotations_omitted_when_empty_and_shown_sorted_when_set() {
    let t = Both::new("diff-annot");
    let b = t.bundle(&["sleep", "100"]);
    let plain = t.id("plain");
    let (r, h) = t.both(&["create", "--bundle", b.path(), &plain]);
    r.ok();
    h.ok();
    let (rv, hv) = (t.runc.state(&plain), t.w.state(&plain));
    assert!(rv.get("annotations").is_none(), "runc: {rv}");
    assert!(hv.get("annotations").is_none(), "hako: {hv}");

    let mut b = b;
    b.edit(|c| {
        c["annotations"] =
            json!({"org.example.zeta": "last", "org.example.alpha": "first", "m": "middle"});
    });
    let annotated = t.id("annot");
    let (r, h) = t.both(&["create", "--bundle", b.path(), &annotated]);
    r.ok();
    h.ok();
    let (rv, hv) = (t.runc.state(&annotated), t.w.state(&annotated));
    assert_eq!(rv["annotations"], hv["annotations"]);
    assert_eq!(hv["annotations"]["m"], "middle");
    compare_state(&t, &annotated, &b, "created");
}

/// A `list` table split at the header's column starts; each cell trimmed.
struct Table {
    starts: Vec<usize>,
    rows: Vec<Vec<String>>,
}

fn parse_table(text: &str) -> Table {
    let mut lines = text.lines();
    let header = lines.next().expect("header line");
    let names = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let starts: Vec<usize> = names
        .iter()
        .map(|n| {
            header
                .match_indices(n)
                .map(|(i, _)| i)
                .find(|&i| i == 0 || header.as_bytes()[i - 1] == b' ')
                .unwrap_or_else(|| panic!("no {n} in header {header:?}"))
        })
        .collect();
    let rows = std::iter::once(header)
        .chain(lines)
        .map(|l| {
            (0..names.len())
                .map(|i| {
                    let end = starts.get(i + 1).copied().unwrap_or(l.len());
                    let cell = l.get(starts[i]..end.min(l.len())).unwrap_or("");
                    if i + 1 < names.len() {
                        assert!(
                            cell.ends_with("   ") || cell.len() == 12 && cell.ends_with(' '),
                            "cell {cell:?} of {l:?} not padded like Go's tabwriter"
                        );
                        assert!(!cell.trim_end().contains("  "), "misaligned: {l:?}");
                    }
                    cell.trim_end().to_string()
                })
                .collect()
        })
        .collect();
    Table { starts, rows }
}

/// Column widths follow Go's tabwriter (min width 12, padding 3): true for both runtimes.
fn check_widths(who: &str, t: &Table) {
    for col in 0..t.starts.len() - 1 {
        let widest = t.rows.iter().map(|r| r[col].len()).max().unwrap_or(0);
        assert_eq!(
            t.starts[col + 1] - t.starts[col],
            (widest + 3).max(12),
            "{who}: width of column {col}"
        );
    }
}

#[test]
fn list_table_quiet_and_json_match_runc() {
    let t = Both::new("diff-list");
    // A --root that does not exist: runc 1.5.1 fails to open it (runc 1.1 made it and listed
    // nothing), and hako does as 1.5.1.
    let (r, h) = t.both(&["list"]);
    let missing = |root: &Path| format!("open {}: no such file or directory", root.display());
    assert_eq!(h.fails().error_msg(), missing(&t.w.root));
    if common::reference_runc().is_some() {
        assert_eq!(r.fails().error_msg(), missing(&t.runc.root));
    }
    assert!(!t.w.root.exists(), "hako made its --root");
    for root in [&t.runc.root, &t.w.root] {
        std::fs::create_dir_all(root).unwrap();
    }
    // Empty: the same header, nothing for -q, `null` for json.
    let (r, h) = t.ok_both(&["list"]);
    assert_eq!(r, h, "empty table");
    let (r, h) = t.ok_both(&["list", "-q"]);
    assert_eq!((r.as_str(), h.as_str()), ("", ""), "empty -q");
    let (r, h) = t.ok_both(&["list", "--format", "json"]);
    assert_eq!((r.as_str(), h.as_str()), ("null\n", "null\n"), "empty json");

    // Two containers, created in reverse name order: one created, one stopped.
    let b = t.bundle(&["sleep", "100"]);
    // `unique` puts the tag first, so "ls-a-..." sorts before "ls-b-...".
    let second = t.id("ls-b");
    let first = t.id("ls-a");
    for id in [&second, &first] {
        let (r, h) = t.both(&["create", "--bundle", b.path(), id]);
        r.ok();
        h.ok();
    }
    let (r, h) = t.both(&["kill", &second, "KILL"]);
    r.ok();
    h.ok();
    t.wait_status(&second, "stopped");

    let (r, h) = t.ok_both(&["list", "-q"]);
    assert_eq!(r, format!("{first}\n{second}\n"));
    assert_eq!(h, r);

    let (r, h) = t.ok_both(&["list"]);
    let (rt, ht) = (parse_table(&r), parse_table(&h));
    check_widths("runc", &rt);
    check_widths("hako", &ht);
    assert_eq!(rt.rows.len(), 3);
    // Every column but CREATED has the same width (same ids, bundle, statuses; PIDs fit 12).
    assert_eq!(rt.starts[..5], ht.starts[..5], "column starts");
    for (rr, hr) in rt.rows.iter().zip(&ht.rows) {
        for col in [0, 2, 3, 5] {
            assert_eq!(rr[col], hr[col], "column {col}");
        }
    }
    for (who, table) in [("runc", &rt), ("hako", &ht)] {
        for row in &table.rows[1..] {
            assert!(is_go_rfc3339_nano(&row[4]), "{who}: CREATED {}", row[4]);
            assert!(row[1].parse::<u32>().is_ok(), "{who}: PID {}", row[1]);
        }
        assert_eq!(
            table.rows[2][1], "0",
            "{who}: a stopped container lists pid 0"
        );
    }

    let (r, h) = t.ok_both(&["list", "--format", "json"]);
    assert!(
        r.ends_with("]\n") && h.ends_with("]\n"),
        "runc: {r}\nhako: {h}"
    );
    let (rv, hv): (Value, Value) = (
        serde_json::from_str(&r).unwrap(),
        serde_json::from_str(&h).unwrap(),
    );
    let (ra, ha) = (rv.as_array().unwrap(), hv.as_array().unwrap());
    assert_eq!(ra.len(), 2);
    assert_eq!(ha.len(), 2);
    for (re, he) in ra.iter().zip(ha) {
        assert_eq!(shape(re), shape(he), "list json entry keys/types");
        for key in ["id", "status", "bundle", "rootfs", "owner"] {
            assert_eq!(re[key], he[key], "list json {key}");
        }
        assert_eq!(re["owner"], "root");
    }
}

/// Wait for a child with a deadline; kill it and fail when it does not exit.
fn wait_child(who: &str, mut child: Child) -> Option<i32> {
    common::wait_within(&mut child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("{who}: run did not exit"))
        .code()
}

#[test]
fn run_exit_codes_match_runc() {
    let t = Both::new("diff-exit");
    for code in [0, 3, 255] {
        let b = t.bundle(&["sh", "-c", &format!("exit {code}")]);
        let (r, h) = t.run_both(&b, "exit");
        assert_eq!(r.code(), Some(code), "runc: {}", r.stderr());
        assert_eq!(h.code(), Some(code), "hako: {}", h.stderr());
    }
}

#[test]
fn run_killed_by_signal_exits_128_plus_n_like_runc() {
    let t = Both::new("diff-sig");
    let b = t.bundle(&["sleep", "100"]);
    let id = t.id("sig");
    let spawn = |mut c: Command| {
        c.args(["run", "--bundle", b.path(), &id])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn run")
    };
    // One after the other: each reads the bundle with its own cgroup (see `own_cgroup`).
    let run = ["run", "--bundle", b.path(), id.as_str()];
    own_cgroup(&run, "runc");
    let rc = spawn(t.runc.cmd());
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.runc.run(&["state", &id]).code() != Some(0) {
        assert!(Instant::now() < deadline, "runc: {id} never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    own_cgroup(&run, "hako");
    let hc = spawn(t.w.cmd());
    t.wait_status(&id, "running");
    let (r, h) = t.both(&["kill", &id, "KILL"]);
    r.ok();
    h.ok();
    let (rcode, hcode) = (wait_child("runc", rc), wait_child("hako", hc));
    assert_eq!(rcode, Some(128 + 9), "runc");
    assert_eq!(hcode, Some(128 + 9), "hako");
}

/// runc prefixes errors of `create` (and `run`) with this; hako does not.
const RUNC_CREATE_PREFIX: &str = "runc create failed: ";

/// Both fail with exit 1 and one error line, with the same message (modulo runc's prefix).
#[track_caller]
fn same_error(r: Out, h: Out, expected: &str) {
    let (rm, hm) = (r.fails().error_msg(), h.fails().error_msg());
    let rm = rm
        .strip_prefix(RUNC_CREATE_PREFIX)
        .unwrap_or(&rm)
        .to_string();
    assert_eq!(rm, expected, "runc message");
    assert_eq!(hm, expected, "hako message");
}

#[test]
fn errors_exit_1_with_runc_messages() {
    let t = Both::new("diff-err");
    let unknown = t.id("nope");
    for verb in ["state", "kill", "delete", "start"] {
        let (r, h) = t.both(&[verb, &unknown]);
        same_error(r, h, "container does not exist");
    }
    let (r, h) = t.both(&["state", "a/b"]);
    same_error(r, h, "invalid container ID format");

    let b = t.bundle(&["sleep", "100"]);
    for bad in ["a/b", "..", "with space"] {
        let (r, h) = t.both(&["create", "--bundle", b.path(), bad]);
        same_error(r, h, "invalid container ID format");
    }

    let id = t.id("err");
    let (r, h) = t.both(&["create", "--bundle", b.path(), &id]);
    r.ok();
    h.ok();
    let (r, h) = t.both(&["create", "--bundle", b.path(), &id]);
    same_error(r, h, "container with given ID already exists");
    let (r, h) = t.both(&["kill", &id, "FOO"]);
    same_error(r, h, "unknown signal \"FOO\"");
    let (r, h) = t.both(&["start", &id]);
    r.ok();
    h.ok();
    let (r, h) = t.both(&["start", &id]);
    same_error(r, h, "cannot start an already running container");
    let (r, h) = t.both(&["delete", &id]);
    same_error(
        r,
        h,
        &format!("cannot delete container {id} that is not stopped: running"),
    );
    let (r, h) = t.both(&["delete", "--force", &id]);
    r.ok();
    h.ok();

    let (r, h) = t.both(&["delete", "--force", &unknown]);
    assert_eq!(r.code(), Some(0), "runc: {}", r.stderr());
    assert_eq!(h.code(), Some(0), "hako: {}", h.stderr());
}

/// (mount point, per-mount options, fstype) of each mountinfo line, sorted.
fn mount_table(mountinfo: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = mountinfo
        .lines()
        .map(|l| {
            let (pre, post) = l.split_once(" - ").expect("mountinfo separator");
            let pre: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next().unwrap_or("");
            (pre[4].to_string(), pre[5].to_string(), fstype.to_string())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn mountinfo_matches_runc() {
    let t = Both::new("diff-mounts");
    let (r, h) = t.probe("cat /proc/self/mountinfo");
    let (rm, hm) = (mount_table(&r), mount_table(&h));
    let only_runc: Vec<_> = rm.iter().filter(|m| !hm.contains(m)).collect();
    let only_hako: Vec<_> = hm.iter().filter(|m| !rm.contains(m)).collect();
    assert!(
        only_runc.is_empty() && only_hako.is_empty() && rm.len() == hm.len(),
        "mounts differ\nonly under runc: {only_runc:#?}\nonly under hako: {only_hako:#?}\n\
         runc:\n{r}\nhako:\n{h}"
    );
}

#[test]
fn proc_status_credentials_and_signals_match_runc() {
    let t = Both::new("diff-status");
    let (r, h) = t.probe("cat /proc/self/status");
    let pick = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| {
                let key = l.split(':').next().unwrap_or("");
                matches!(
                    key,
                    "Uid"
                        | "Gid"
                        | "Groups"
                        | "CapInh"
                        | "CapPrm"
                        | "CapEff"
                        | "CapBnd"
                        | "CapAmb"
                        | "NoNewPrivs"
                        | "Seccomp"
                        | "SigBlk"
                        | "SigIgn"
                )
            })
            .map(|l| match l.strip_prefix("SigIgn:") {
                // Signals 32 and 33 are glibc's internal ones: Go (runc) takes 33 over at
                // start, so an ignore inherited from the caller survives under hako only.
                Some(hex) => {
                    let v = u64::from_str_radix(hex.trim(), 16).unwrap_or(u64::MAX);
                    format!("SigIgn: {:016x}", v & !(0b11 << 31))
                }
                None => l.split_whitespace().collect::<Vec<_>>().join(" "),
            })
            .collect()
    };
    let (rp, hp) = (pick(&r), pick(&h));
    assert_eq!(rp.len(), 12, "runc status lines: {rp:?}");
    assert_eq!(rp, hp);
}

#[test]
fn hostname_matches_runc() {
    let t = Both::new("diff-host");
    let (r, h) = t.probe("hostname");
    assert_eq!(r, "difftest\n");
    assert_eq!(h, r);
}

/// `ls -lan` lines without sizes and dates: (mode, links, uid, gid, device numbers, name).
fn ls_entries(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            if t.len() < 8 || t[0].len() != 10 {
                return (!l.is_empty() && !l.starts_with("total") && !l.ends_with(':'))
                    .then(|| panic!("unexpected ls line {l:?}"));
            }
            let device = t[0].starts_with('c') || t[0].starts_with('b');
            let (devnum, rest) = if device {
                (format!("{}{}", t[4], t[5]), 6)
            } else {
                (String::new(), 5)
            };
            // Month, day and time (or year) follow; the name (and `-> target`) after them.
            let name = t[rest + 3..].join(" ");
            Some(format!(
                "{} {} {}:{} {devnum} {name}",
                t[0], t[1], t[2], t[3]
            ))
        })
        .collect()
}

#[test]
fn dev_listing_matches_runc() {
    let t = Both::new("diff-dev");
    let (r, h) = t.probe("ls -lan /dev; echo; ls -lan /dev/pts /dev/shm /dev/mqueue");
    let (re, he) = (ls_entries(&r), ls_entries(&h));
    assert!(re.iter().any(|e| e.ends_with(" null")), "runc: {r}");
    assert_eq!(re, he, "runc:\n{r}\nhako:\n{h}");
}

#[test]
fn open_files_limit_matches_runc() {
    let t = Both::new("diff-ulimit");
    let (r, h) = t.probe("ulimit -n; ulimit -Hn");
    assert_eq!(r, "1024\n1024\n");
    assert_eq!(h, r);
}

#[test]
fn cwd_matches_runc() {
    let t = Both::new("diff-cwd");
    let (r, h) = t.probe("pwd");
    assert_eq!(r, "/\n");
    assert_eq!(h, r);
}

#[test]
fn env_matches_runc() {
    let t = Both::new("diff-env");
    let (r, h) = t.probe("env | sort");
    assert!(r.contains("PATH="), "runc env: {r}");
    assert_eq!(h, r);
}

#[test]
fn id_matches_runc() {
    let t = Both::new("diff-id");
    let (r, h) = t.probe("id");
    assert_eq!(r, "uid=0(root) gid=0(root)\n");
    assert_eq!(h, r);
}

/// Whitespace-separated fields of a `ps` line, the last (the command) kept whole.
fn ps_fields(line: &str, columns: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while out.len() + 1 < columns {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    out.push(rest.to_string());
    out
}

/// `ps ID`: runc's header and columns in runc's order (tools parse them), hako's NSPID (the
/// PID inside the container) after them, before the command; with ps arguments whose last
/// column is no command, NSPID comes last.
#[test]
fn ps_keeps_runcs_columns_and_puts_nspid_before_the_command() {
    let t = Both::new("diff-ps");
    let b = t.bundle(&["sleep", "1000"]);
    // Two ids: the default cgroup is named after the id, and ps lists the cgroup.
    let (rid, hid) = (t.id("psr"), t.id("psh"));
    t.runc.run(&["run", "-d", "--bundle", b.path(), &rid]).ok();
    t.hako(&["run", "-d", "--bundle", b.path(), &hid]).ok();
    for extra in [&[][..], &["-o", "pid,user,args"], &["-o", "user,pid,ppid"]] {
        let r = t
            .runc
            .run(&[&["ps", rid.as_str()][..], extra].concat())
            .ok()
            .stdout();
        let h = t
            .hako(&[&["ps", hid.as_str()][..], extra].concat())
            .ok()
            .stdout();
        let (rh, hh) = (r.lines().next().unwrap(), h.lines().next().unwrap());
        let runc_cols: Vec<&str> = rh.split_whitespace().collect();
        let mut hako_cols: Vec<&str> = hh.split_whitespace().collect();
        let last_is_command = matches!(*runc_cols.last().unwrap(), "CMD" | "COMMAND");
        let at = if last_is_command {
            hako_cols.len() - 2
        } else {
            hako_cols.len() - 1
        };
        assert_eq!(hako_cols.remove(at), "NSPID", "{extra:?}: {hh}");
        assert_eq!(hako_cols, runc_cols, "{extra:?}");
        // The init's line: PID 1 inside, the same command as runc's.
        let (rl, hl): (Vec<&str>, Vec<&str>) =
            (r.lines().skip(1).collect(), h.lines().skip(1).collect());
        assert_eq!((rl.len(), hl.len()), (1, 1), "runc:\n{r}\nhako:\n{h}");
        let rf = ps_fields(rl[0], runc_cols.len());
        let mut hf = ps_fields(hl[0], runc_cols.len() + 1);
        assert_eq!(hf.remove(at), "1", "{extra:?}: {}", hl[0]);
        let cmd = |f: &[String]| {
            let i = runc_cols
                .iter()
                .position(|c| *c == "CMD" || *c == "COMMAND");
            i.map(|i| f[i].clone())
        };
        assert_eq!(cmd(&hf), cmd(&rf), "{extra:?}");
        if last_is_command {
            assert_eq!(cmd(&hf).as_deref(), Some("sleep 1000"), "{extra:?}");
        }
    }
}

/// The processes in the cgroup named `name` (its pids hierarchy, or a v2 one).
fn cgroup_procs(name: &str) -> usize {
    common::cgroups_named(name)
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids") || d.join("cgroup.kill").exists())
        .and_then(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .map_or(0, |p| p.lines().count())
}

/// Poll until `f` holds, for 10 s.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `kill` as runc 1.5.1: an unknown container is named before a bad signal; SIGKILL thaws a
/// paused container, so that it stops; SIGKILL to a container without a PID namespace of its
/// own kills every process of its cgroup, not only the init (runc 1.1: the init alone, so
/// compared with runc 1.5.1 only).
#[test]
fn kill_as_runc() {
    let t = Both::new("diff-kill");
    let unknown = t.id("nope");
    let (r, h) = t.both(&["kill", &unknown, "BOGUS"]);
    same_error(r, h, "container does not exist");

    let b = t.bundle(&["sleep", "1000"]);
    let paused = t.id("paused");
    for args in [
        &["run", "-d", "--bundle", b.path(), &paused][..],
        &["pause", &paused],
    ] {
        let (r, h) = t.both(args);
        r.ok();
        h.ok();
    }
    let (r, h) = t.both(&["kill", &paused, "KILL"]);
    r.ok();
    h.ok();
    t.wait_status(&paused, "stopped");

    let mut b = t.bundle(&["sh", "-c", "sleep 1000 & exec sleep 1001"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let id = t.id("hostpid");
    let mut runtimes = vec!["hako"];
    if common::reference_runc().is_some() {
        runtimes.push("runc");
    }
    for who in runtimes {
        let run = ["run", "-d", "--bundle", b.path(), &id];
        own_cgroup(&run, who);
        let cg = &format!("{id}-{who}");
        match who {
            "runc" => t.runc.run(&run).ok(),
            _ => t.hako(&run).ok(),
        };
        eventually(&format!("{who}: two processes"), || cgroup_procs(cg) == 2);
        match who {
            "runc" => t.runc.run(&["kill", &id, "KILL"]).ok(),
            _ => t.hako(&["kill", &id, "KILL"]).ok(),
        };
        eventually(&format!("{who}: the init's child left behind"), || {
            cgroup_procs(cg) == 0
        });
    }
}

/// Ambient capabilities that cannot be raised (not both permitted and inheritable) get runc
/// 1.5.1's warning lines; hako used to leave them out silently. (runc 1.1 did not warn:
/// compared with 1.5.1 only.)
#[test]
fn ignored_settings_warn_as_runc() {
    let t = Both::new("diff-warn");
    let mut b = t.bundle(&["true"]);
    b.edit(|c| {
        c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_CHOWN"]);
    });
    let warnings = |o: Out| -> Vec<String> {
        o.ok()
            .stderr()
            .lines()
            .filter(|l| l.contains("level=warning"))
            .filter_map(|l| l.split_once(" msg=").map(|(_, m)| m.to_string()))
            .collect()
    };
    let (r, h) = t.run_both(&b, "warn");
    let h = warnings(h);
    let mut want = vec![
        "\"can't raise ambient capability CAP_CHOWN: operation not permitted\"",
        "\"can't raise ambient capability CAP_KILL: operation not permitted\"",
    ];
    let mut sorted = h.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "hako");
    if common::reference_runc().is_some() {
        let mut r = warnings(r);
        r.sort();
        assert_eq!(r, want, "runc");
    }
}

/// `spec` and `spec --rootless` write runc 1.5.1's config (but the hostname): no ambient
/// set, ociVersion 1.3.0, the cgroup mount kept when rootless. Compared with an older runc,
/// those two fields are left out.
#[test]
fn spec_matches_runc() {
    let t = Both::new("diff-spec");
    let older = common::reference_runc().is_none();
    for extra in [&[][..], &["--rootless"]] {
        let read = |who: &str| -> Value {
            let dir = t.w.dir.join(common::unique(&format!("spec-{who}")));
            std::fs::create_dir(&dir).unwrap();
            let args = [&["spec"][..], extra, &["--bundle", dir.to_str().unwrap()]].concat();
            match who {
                "runc" => t.runc.run(&args).ok(),
                _ => t.hako(&args).ok(),
            };
            let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
            let mut v: Value = serde_json::from_str(&text).unwrap();
            v["hostname"] = json!("<hostname>");
            if older {
                v["ociVersion"] = json!("<version>");
                v["process"]["capabilities"]
                    .as_object_mut()
                    .unwrap()
                    .remove("ambient");
            }
            v
        };
        assert_eq!(read("runc"), read("hako"), "spec {extra:?}");
    }
}

/// `events --stats` as runc 1.5.1: the v1 cpuset's files under `cpuset` (an empty object
/// before), no `throttling` object when nothing was throttled. (runc 1.1 printed neither so:
/// compared with 1.5.1 only.)
#[test]
fn events_stats_cpuset_and_throttling_as_runc() {
    let t = Both::new("diff-events");
    let b = t.bundle(&["sleep", "1000"]);
    let id = t.id("ev");
    let (r, h) = t.both(&["run", "-d", "--bundle", b.path(), &id]);
    r.ok();
    h.ok();
    let (r, h) = t.ok_both(&["events", "--stats", &id]);
    let data =
        |text: &str| -> Value { serde_json::from_str::<Value>(text).unwrap()["data"].clone() };
    let (r, h) = (data(&r), data(&h));
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    if Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() {
        let cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
        assert!(
            !h["cpuset"]["cpus"].as_array().unwrap().is_empty(),
            "{cpus}: {}",
            h["cpuset"]
        );
    }
    assert!(h["cpu"].get("throttling").is_none(), "{}", h["cpu"]);
    if common::reference_runc().is_some() {
        assert_eq!(keys(&h["cpuset"]), keys(&r["cpuset"]));
        assert_eq!(h["cpuset"]["cpus"], r["cpuset"]["cpus"]);
        assert_eq!(keys(&h["cpu"]), keys(&r["cpu"]));
    }
}
