//! cgroups end to end, on whatever layout the machine has (hybrid here; pure v2 and pure v1 in
//! the VMs of scripts/vm-cgroup-tests.sh). Every test uses its own absolute `cgroupsPath`
//! (`/hako-test-<unique>`) and only looks at cgroups it made; each checks that a limit is both
//! in the cgroup files and in effect, and that `delete` leaves no directory behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Bundle, Runtime, World};
use serde_json::{json, Value};

/// A bundle running `args` in the cgroup `/hako-test-<unique>`, with `resources`.
fn bundle(w: &World, args: &[&str], resources: Value) -> (Bundle, String) {
    let cg = format!("/{}", common::unique("hako-test"));
    let mut b = w.bundle(args);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    (b, cg)
}

/// `create` + `start` with the container's stdio on files, not on pipes: `Command::output`
/// would wait for a long-running container to close them.
fn start(w: &World, id: &str, b: &Bundle) {
    let log = w.dir.join(format!("{id}.stderr"));
    let status = w
        .cmd()
        .args(["create", "--bundle", b.path(), id])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "create {id}: {err}");
    w.hako(&["start", id]).ok();
}

/// `cgroup_paths` of state.json.
fn paths(w: &World, id: &str) -> BTreeMap<String, PathBuf> {
    let text = std::fs::read_to_string(w.state_dir(id).join("state.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(v["cgroup_paths"].clone()).expect("cgroup_paths in state.json")
}

/// Pure v2: only the unified directory is recorded.
fn is_v2(p: &BTreeMap<String, PathBuf>) -> bool {
    p.len() == 1 && p.contains_key("")
}

/// The directory holding `controller`'s files.
fn dir(p: &BTreeMap<String, PathBuf>, controller: &str) -> PathBuf {
    let key = if is_v2(p) { "" } else { controller };
    p.get(key)
        .unwrap_or_else(|| panic!("no {controller} cgroup in {p:?}"))
        .clone()
}

fn read(d: &Path, f: &str) -> String {
    std::fs::read_to_string(d.join(f))
        .unwrap_or_else(|e| panic!("{}: {e}", d.join(f).display()))
        .trim()
        .to_string()
}

fn keyed(d: &Path, f: &str, key: &str) -> u64 {
    read(d, f)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} "))?.trim().parse().ok())
        .unwrap_or(0)
}

/// Every directory named like `cg` under the cgroup mounts (one or two levels down), each
/// once (v1 hosts link `cpu` and `cpuacct` to `cpu,cpuacct`).
fn leftovers(cg: &str) -> Vec<PathBuf> {
    let name = cg.trim_start_matches('/');
    let mut found = Vec::new();
    let mut check = |d: PathBuf| {
        if let Ok(real) = d.join(name).canonicalize() {
            if !found.contains(&real) {
                found.push(real);
            }
        }
    };
    check(PathBuf::from("/sys/fs/cgroup"));
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        check(e.path());
    }
    found
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn limits_are_in_the_files_and_delete_removes_every_hierarchy() {
    let w = World::new("cg-files");
    let res = json!({"pids": {"limit": 42}, "memory": {"limit": 67108864},
                     "cpu": {"shares": 2048, "quota": 50000, "period": 100000}});
    let (b, cg) = bundle(&w, &["sleep", "60"], res);
    let id = w.id("cg");
    start(&w, &id, &b);
    let p = paths(&w, &id);
    assert!(
        p.values().all(|d| d.ends_with(cg.trim_start_matches('/'))),
        "{p:?}"
    );
    assert_eq!(read(&dir(&p, "pids"), "pids.max"), "42");
    if is_v2(&p) {
        let d = dir(&p, "memory");
        assert_eq!(read(&d, "memory.max"), "67108864");
        assert_eq!(read(&d, "cpu.weight"), "79");
        assert_eq!(read(&d, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(
            read(&dir(&p, "memory"), "memory.limit_in_bytes"),
            "67108864"
        );
        assert_eq!(read(&dir(&p, "cpu"), "cpu.shares"), "2048");
        assert_eq!(read(&dir(&p, "cpu"), "cpu.cfs_quota_us"), "50000");
        let devs = read(&dir(&p, "devices"), "devices.list");
        assert!(
            devs.contains("c 1:3 rwm") && !devs.contains("a *:* rwm"),
            "{devs}"
        );
    }
    // The init is in the cgroup on every hierarchy (and in the unified tree on hybrid hosts).
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines().filter(|l| !l.is_empty()) {
        assert!(line.ends_with(&cg), "{line} not in {cg}:\n{own}");
    }
    let made = leftovers(&cg);
    assert_eq!(
        made.len(),
        p.values().collect::<std::collections::BTreeSet<_>>().len()
    );
    w.hako(&["kill", &id, "KILL"]).ok();
    w.wait_status(&id, "stopped");
    w.hako(&["delete", &id]).ok();
    assert_eq!(
        leftovers(&cg),
        Vec::<PathBuf>::new(),
        "delete must remove every hierarchy"
    );
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let w = World::new("cg-pids");
    // The inner shell forks until it cannot (and dies of it); the outer one then execs.
    let fork_loop = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 60 & done";
    let script = format!("sh -c '{fork_loop}' 2>/dev/null; exec sleep 60");
    let (b, _) = bundle(&w, &["sh", "-c", &script], json!({"pids": {"limit": 5}}));
    let id = w.id("pids");
    start(&w, &id, &b);
    let p = paths(&w, &id);
    let d = dir(&p, "pids");
    wait_until("the fork loop to hit pids.max", || {
        keyed(&d, "pids.events", "max") > 0
    });
    let current: u64 = read(&d, "pids.current").parse().unwrap();
    assert!(current <= 5, "pids.current {current} > 5");
    let ps: Vec<i64> =
        serde_json::from_str(&w.hako(&["ps", "--format", "json", &id]).ok().stdout()).unwrap();
    assert!(!ps.is_empty() && ps.len() <= 5, "{ps:?}");
}

#[test]
fn memory_limit_oom_kills_a_hog() {
    let w = World::new("cg-oom");
    // 32 MiB of memory and no swap; dd's 96 MiB buffer cannot fit.
    let mem = 32 << 20;
    let res = json!({"memory": {"limit": mem, "swap": mem}});
    let (b, _) = bundle(
        &w,
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"],
        res,
    );
    let id = w.id("oom");
    start(&w, &id, &b);
    let p = paths(&w, &id);
    w.wait_status(&id, "stopped");
    let d = dir(&p, "memory");
    let kills = if is_v2(&p) {
        keyed(&d, "memory.events", "oom_kill")
    } else {
        keyed(&d, "memory.oom_control", "oom_kill")
    };
    assert!(kills >= 1, "the hog was not OOM-killed");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let w = World::new("cg-pause");
    let (b, _) = bundle(&w, &["sh", "-c", "while :; do sleep 0.05; done"], json!({}));
    let id = w.id("pause");
    start(&w, &id, &b);
    w.hako(&["pause", &id]).ok();
    assert_eq!(w.state(&id)["status"], "paused");
    let p = paths(&w, &id);
    if is_v2(&p) {
        assert_eq!(read(&p[""], "cgroup.freeze"), "1");
    } else {
        assert_eq!(read(&p["freezer"], "freezer.state"), "FROZEN");
    }
    let msg = w.hako(&["pause", &id]).fails().error_msg();
    assert_eq!(msg, "container not running");
    w.hako(&["resume", &id]).ok();
    assert_eq!(w.state(&id)["status"], "running");
    assert_eq!(
        w.hako(&["resume", &id]).fails().error_msg(),
        "container not paused"
    );
    // A paused container can be force-deleted (its frozen tasks are killed and thawed).
    w.hako(&["pause", &id]).ok();
    w.hako(&["delete", "--force", &id]).ok();
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn update_changes_the_files() {
    let w = World::new("cg-update");
    let (b, _) = bundle(&w, &["sleep", "60"], json!({"pids": {"limit": 10}}));
    let id = w.id("upd");
    start(&w, &id, &b);
    let p = paths(&w, &id);
    w.hako(&["update", "--pids-limit", "20", "--memory", "100m", &id])
        .ok();
    assert_eq!(read(&dir(&p, "pids"), "pids.max"), "20");
    let mem = if is_v2(&p) {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read(&dir(&p, "memory"), mem), (100u64 << 20).to_string());
    // The resources JSON on stdin, as Docker sends it.
    let mut child = w
        .cmd()
        .args(["update", "-r", "-", &id])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids":{"limit":30}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read(&dir(&p, "pids"), "pids.max"), "30");
}

#[test]
fn events_stats_prints_runc_shape() {
    let w = World::new("cg-events");
    let (b, _) = bundle(
        &w,
        &["sleep", "60"],
        json!({"pids": {"limit": 10}, "memory": {"limit": 67108864}}),
    );
    let id = w.id("ev");
    start(&w, &id, &b);
    let out = w.hako(&["events", "--stats", &id]).ok().stdout();
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let d = &v["data"];
    assert_eq!(d["pids"]["current"], 1, "{d}");
    assert_eq!(d["pids"]["limit"], 10);
    assert_eq!(d["memory"]["usage"]["limit"], 67108864);
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(d["cpu"]["usage"].is_object() && d["blkio"].is_object() && d["hugetlb"].is_object());
}

#[test]
fn ps_shows_host_and_container_pids() {
    let w = World::new("cg-ps");
    let (b, _) = bundle(&w, &["sh", "-c", "sleep 60 & sleep 61"], json!({}));
    let id = w.id("ps");
    start(&w, &id, &b);
    let host = w.state(&id)["pid"].as_i64().unwrap();
    wait_until("two processes", || {
        let out = w.hako(&["ps", "--format", "json", &id]).ok().stdout();
        serde_json::from_str::<Vec<i64>>(&out).unwrap().len() == 2
    });
    let table = w.hako(&["ps", &id]).ok().stdout();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    // runc's columns, NSPID after them, before the command (CMD, last).
    let nspid = header.len() - 2;
    assert_eq!(header[1], "PID", "{table}");
    assert_eq!(header[nspid..], ["NSPID", "CMD"], "{table}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    let init = rows
        .iter()
        .find(|r| r[1] == host.to_string())
        .expect("init row");
    assert_eq!(init[nspid], "1", "the init is PID 1 inside: {table}");
}

#[test]
fn kill_all_signals_every_process_of_the_cgroup() {
    let w = World::new("cg-killall");
    let (b, _) = bundle(
        &w,
        &["sh", "-c", "sleep 60 & sleep 60 & sleep 60"],
        json!({}),
    );
    let id = w.id("ka");
    start(&w, &id, &b);
    wait_until("three processes", || {
        let out = w.hako(&["ps", "--format", "json", &id]).ok().stdout();
        serde_json::from_str::<Vec<i64>>(&out).unwrap().len() == 3
    });
    let p = paths(&w, &id);
    w.hako(&["kill", "--all", &id, "KILL"]).ok();
    w.wait_status(&id, "stopped");
    let procs = dir(&p, "pids");
    wait_until("an empty cgroup", || {
        read(&procs, "cgroup.procs").is_empty()
    });
}

#[test]
fn cgroup_namespace_shows_the_container_cgroup_as_root() {
    let w = World::new("cg-ns");
    let (mut b, _) = bundle(&w, &["cat", "/proc/self/cgroup"], json!({}));
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
    });
    let id = w.id("ns");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    for line in out.lines() {
        assert!(line.ends_with(":/"), "{line}:\n{out}");
    }
}

#[test]
fn a_resource_the_host_cannot_honour_fails_cleanly() {
    let w = World::new("cg-bad");
    // No kernel has 3 MB huge pages; the error names the resource, nothing is left behind.
    let res = json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1048576}]});
    let (b, cg) = bundle(&w, &["true"], res);
    let id = w.id("bad");
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(
        msg.contains("linux.resources.hugepageLimits") && msg.contains("hugetlb"),
        "{msg}"
    );
    assert_eq!(leftovers(&cg), Vec::<PathBuf>::new());
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn exec_joins_the_container_cgroup() {
    let w = World::new("cg-exec");
    let (b, cg) = bundle(&w, &["sleep", "60"], json!({}));
    let id = w.id("exec");
    start(&w, &id, &b);
    let status = w
        .cmd()
        .args(["exec", "-d", &id, "sleep", "30"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let out = w.hako(&["ps", "--format", "json", &id]).ok().stdout();
    let pids: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert_eq!(pids.len(), 2, "{pids:?}");
    for pid in pids {
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(own.lines().all(|l| l.ends_with(&cg)), "{pid}: {own}");
    }
}

#[test]
fn device_rules_are_enforced() {
    let w = World::new("cg-dev");
    // /dev/kmsg (1:11) is not on runc's default allow-list: writing to it is refused by the
    // devices cgroup (v1) or the eBPF device program (v2) until a rule allows it.
    let script = "echo hako-cgroup-test > /dev/kmsg-test && echo written";
    let (mut b, _) = bundle(&w, &["sh", "-c", script], json!({}));
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/kmsg-test", "type": "c",
                                        "major": 1, "minor": 11, "fileMode": 0o600}]);
    });
    let id = w.id("dev");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_ne!(out.code(), Some(0), "stdout: {}", out.stdout());
    assert!(
        out.stderr().contains("Operation not permitted"),
        "{}",
        out.stderr()
    );
    b.edit(|c| {
        let rule = json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"});
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(rule);
    });
    let id = w.id("dev");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    assert_eq!(out.stdout(), "written\n");
}

/// Where the container's cgroup `rel` freezes: the v1 freezer hierarchy when it is mounted
/// (v1 and hybrid hosts), else the unified tree.
fn freezer_dir(rel: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup/freezer");
    let base = if v1.is_dir() {
        v1
    } else {
        Path::new("/sys/fs/cgroup")
    };
    base.join(rel.trim_start_matches('/'))
}

/// The command that freezes the cgroup directory `d` (v1 `freezer.state`, v2 `cgroup.freeze`).
fn freeze_cmd(d: &Path) -> String {
    if d.starts_with("/sys/fs/cgroup/freezer") {
        format!("echo FROZEN > {}/freezer.state", d.display())
    } else {
        format!("echo 1 > {}/cgroup.freeze", d.display())
    }
}

/// The cgroup `/rel` of a test, in every hierarchy: thawed, emptied and removed (with anything
/// made below it) on drop, also when the test fails.
struct OwnCgroup(String);

impl OwnCgroup {
    /// Make `/rel` in the freezer's hierarchy ([`freezer_dir`]) and freeze it.
    fn frozen(rel: &str) -> OwnCgroup {
        let cg = OwnCgroup(rel.to_string());
        let d = freezer_dir(rel);
        std::fs::create_dir(&d).unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &freeze_cmd(&d)])
            .status()
            .unwrap();
        assert!(out.success(), "freezing {}", d.display());
        cg
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        let rel = self.0.trim_start_matches('/');
        let mut tops = vec![PathBuf::from("/sys/fs/cgroup")];
        tops.extend(
            std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
        for top in tops.iter().map(|t| t.join(rel)).filter(|d| d.is_dir()) {
            let mut dirs: Vec<PathBuf> = walk(&top);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            let _ = std::fs::write(top.join("freezer.state"), "THAWED");
            let _ = std::fs::write(top.join("cgroup.freeze"), "0");
            for d in dirs {
                let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                for _ in 0..100 {
                    if std::fs::remove_dir(&d).is_ok() || !d.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// `d` and every directory below it.
fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![d.to_path_buf()];
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// `runtime --root ROOT run --bundle B ID`, killed if it has not ended within 20 s: its exit
/// code (`None`: it hung), its stderr and how long it took.
fn run_limited(rt: &Runtime, b: &Bundle, id: &str) -> (Option<i32>, String, Duration) {
    let err = rt.root.with_extension(format!("{id}.stderr"));
    let start = Instant::now();
    let mut child = std::process::Command::new(&rt.bin)
        .arg("--root")
        .arg(&rt.root)
        .args(["run", "--bundle", b.path(), id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let code = common::wait_within(&mut child, Duration::from_secs(20)).and_then(|s| s.code());
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_file(&err);
    (code, stderr, start.elapsed())
}

const FROZEN: &str = "container's cgroup unexpectedly frozen";

#[test]
fn a_frozen_cgroup_is_refused_at_once_as_runc() {
    let w = World::new("cg-frozen");
    let (b, cg) = bundle(&w, &["true"], json!({}));
    let own = OwnCgroup::frozen(&cg);
    let runc = Runtime::runc(&w, common::runc_bin());
    for rt in [&runc, &Runtime::hako(&w)] {
        let id = w.id("frozen");
        let (code, err, took) = run_limited(rt, &b, &id);
        let _ = runc.output(&["delete", "--force", &id]);
        let who = rt.who();
        assert_eq!(code, Some(1), "{who}: {err}");
        assert!(err.contains(FROZEN), "{who}: {err}");
        assert!(took < Duration::from_secs(5), "{who} took {took:?}");
        assert!(!rt.root.join(&id).exists(), "{who} left its state dir");
        // Only the frozen cgroup the test made: nothing made in the other hierarchies.
        let frozen = freezer_dir(&own.0).canonicalize().unwrap();
        assert_eq!(leftovers(&cg), [frozen], "{who}");
    }
}

/// runc checks only the container's own cgroup, and hangs with a frozen parent (the init is
/// born frozen); hako refuses that too, before anything is made.
#[test]
fn a_cgroup_under_a_frozen_parent_is_refused() {
    let w = World::new("cg-frozen-parent");
    let (mut b, parent) = bundle(&w, &["true"], json!({}));
    let _own = OwnCgroup::frozen(&parent);
    let cg = format!("{parent}/child");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(cg));
    let id = w.id("frozen");
    let (code, err, took) = run_limited(&Runtime::hako(&w), &b, &id);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(FROZEN), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!w.state_dir(&id).exists());
    assert_eq!(leftovers(&cg), Vec::<PathBuf>::new());
}

/// A freeze after the check (here by a prestart hook, which runs while the init waits): the
/// init never answers. `create` notices, says so, and removes everything, where runc would
/// wait forever.
#[test]
fn a_cgroup_frozen_during_create_ends_it() {
    let w = World::new("cg-frozen-late");
    let (mut b, cg) = bundle(&w, &["true"], json!({}));
    // hako makes it; the test removes it should hako not.
    let _own = OwnCgroup(cg.clone());
    let hook = freeze_cmd(&freezer_dir(&cg));
    b.edit(|c| c["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]}));
    let id = w.id("frozen");
    let (code, err, took) = run_limited(&Runtime::hako(&w), &b, &id);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(FROZEN), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!w.state_dir(&id).exists());
    assert_eq!(leftovers(&cg), Vec::<PathBuf>::new(), "cgroups left behind");
}

/// A pod cgroup made by hand in a v1 cpuset hierarchy starts with empty `cpuset.cpus` and
/// `cpuset.mems`, where no task may live (issue 19.10): runc fills them down the chain before
/// the container joins a cgroup below it; hako failed with "no space left on device". No v1
/// cpuset here (pure v2): nothing to compare, said so.
#[test]
fn a_hand_made_v1_cpuset_parent_is_filled_as_runc() {
    let cpuset = Path::new("/sys/fs/cgroup/cpuset");
    if !cpuset.join("cpuset.cpus").exists() {
        eprintln!("skipped: no cgroup v1 cpuset hierarchy on this host");
        return;
    }
    let w = World::new("cg-cpuset");
    let want = read(cpuset, "cpuset.cpus");
    let runc = Runtime::runc(&w, common::runc_bin());
    for rt in [&runc, &Runtime::hako(&w)] {
        let who = rt.who();
        let pod = format!("/{}", common::unique("hako-test-pod"));
        let _own = OwnCgroup(pod.clone());
        std::fs::create_dir_all(cpuset.join(&pod[1..]).join("mid")).unwrap();
        let (mut b, _) = bundle(
            &w,
            &["grep", "Cpus_allowed_list", "/proc/self/status"],
            json!({}),
        );
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{pod}/mid/ctr")));
        let id = w.id("cpuset");
        let out = rt.output(&["run", "--bundle", b.path(), &id]);
        let _ = runc.output(&["delete", "--force", &id]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{who}: {stderr}");
        assert_eq!(
            stdout.split_whitespace().nth(1),
            Some(want.as_str()),
            "{who}"
        );
        for d in [pod.clone(), format!("{pod}/mid")] {
            let d = cpuset.join(&d[1..]);
            assert_eq!(read(&d, "cpuset.cpus"), want, "{who}: {}", d.display());
            assert!(
                !read(&d, "cpuset.mems").is_empty(),
                "{who}: {}",
                d.display()
            );
        }
    }
}

/// Device rules as runc reads them (issue 19.13): a deny rule while everything is denied
/// changes nothing and is not written, and access strings keep only `r`, `w` and `m` (the
/// kernel refuses "rwa" with EINVAL, which failed hako's create on v1). Both runtimes run the
/// same bundle: the redundant deny is harmless and the "wa" allow gives write access.
#[test]
fn device_rules_with_odd_access_strings_as_runc() {
    let w = World::new("cg-dev-rwa");
    let script = "echo hako-cgroup-test > /dev/kmsg-test && echo written";
    let (mut b, _) = bundle(&w, &["sh", "-c", script], json!({}));
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/kmsg-test", "type": "c",
                                        "major": 1, "minor": 11, "fileMode": 0o600}]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "wa"},
        ]);
    });
    let runc = Runtime::runc(&w, common::runc_bin());
    for rt in [&runc, &Runtime::hako(&w)] {
        let id = w.id("dev");
        let out = rt.output(&["run", "--bundle", b.path(), &id]);
        let _ = runc.output(&["delete", "--force", &id]);
        let who = rt.who();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{who}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "written\n", "{who}");
    }
}

/// `exec --cgroup` with runc 1.2+'s semantics (issue 19.17): a plain path is a sub-cgroup in
/// every hierarchy (on v2 the only form), `controller:path` in that controller's only; a path
/// that leaves the container's cgroup and an unknown controller are refused. The same checks
/// run against runc and hako, whose outputs must match.
#[test]
fn exec_cgroup_runs_in_a_sub_cgroup_as_runc() {
    let w = World::new("cg-exec-sub");
    let (b, cg) = bundle(&w, &["sleep", "60"], json!({}));
    let _own = OwnCgroup(cg.clone());
    let mut seen: Vec<Vec<(bool, String)>> = Vec::new();
    let runtimes = common::reference_runc_for("runc 1.2+ exec --cgroup")
        .map(|r| Runtime::runc(&w, r))
        .into_iter()
        .chain([Runtime::hako(&w)]);
    for runtime in runtimes {
        let who = runtime.who();
        let rt = |args: &[&str]| runtime.output(args);
        let id = w.id("sub");
        runtime.run_detached(&b, &id);
        let state = std::fs::read_to_string(runtime.root.join(&id).join("state.json")).unwrap();
        let state: Value = serde_json::from_str(&state).unwrap();
        let p: BTreeMap<String, PathBuf> =
            serde_json::from_value(state["cgroup_paths"].clone()).unwrap();
        for d in p.values() {
            std::fs::create_dir_all(d.join("sub")).unwrap();
            // A v1 cpuset made by hand is empty: no task could join it.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let sub = d.join("sub").join(f);
                if let (Ok(v), true) = (std::fs::read(d.join(f)), sub.exists()) {
                    std::fs::write(sub, v).unwrap();
                }
            }
        }
        let mut cases = vec![vec!["--cgroup", "sub"], vec!["--cgroup", "/"]];
        if !is_v2(&p) {
            cases.push(vec!["--cgroup", "memory:sub"]);
        }
        cases.push(vec!["--cgroup", ".."]);
        // runc 1.5.1 ignores a controller prefix on v2 (its docs: "for cgroup v2, the only key
        // allowed is \"\""); hako refuses it there too rather than ignore what was asked.
        let hako = runtime.is_hako();
        if !is_v2(&p) || hako {
            cases.push(vec!["--cgroup", "whaaat:/"]);
        }
        let mut results = Vec::new();
        for case in &cases {
            let mut args = vec!["exec"];
            args.extend(case);
            args.extend([id.as_str(), "cat", "/proc/self/cgroup"]);
            let out = rt(&args);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let lines: Vec<&str> = stdout.lines().collect();
            match case[1] {
                "sub" => assert!(
                    !lines.is_empty() && lines.iter().all(|l| l.ends_with(&format!("{cg}/sub"))),
                    "{who}: {stdout}{stderr}"
                ),
                "/" => assert!(
                    !lines.is_empty() && lines.iter().all(|l| l.ends_with(&cg)),
                    "{who}: {stdout}{stderr}"
                ),
                "memory:sub" => assert!(
                    lines
                        .iter()
                        .all(|l| l.ends_with(&cg) != l.contains(":memory:")),
                    "{who}: {stdout}{stderr}"
                ),
                ".." => assert!(stderr.contains("bad sub cgroup path"), "{who}: {stderr}"),
                _ => assert!(
                    stderr.contains("unknown controller whaaat"),
                    "{who}: {stderr}"
                ),
            }
            results.push((out.status.success(), stdout));
        }
        let _ = rt(&["delete", "--force", &id]);
        results.truncate(cases.len() - usize::from(is_v2(&p) && hako));
        seen.push(results);
    }
    if let [theirs, ours] = &seen[..] {
        assert_eq!(theirs, ours, "runc and hako differ");
    }
}

/// runc's cgroup v2 fallback for `exec` (with `--cgroup`, issue 19.17): once the container has
/// moved its init below its cgroup and enabled a controller for its children, that cgroup
/// takes no process (EBUSY); an exec then joins the init's cgroup, unless `--cgroup /` asks
/// for the container's own. Pure v2 only (the VM of scripts/vm-cgroup-tests.sh); said so
/// elsewhere.
#[test]
fn exec_falls_back_to_the_init_cgroup_on_v2_as_runc() {
    if !Path::new("/sys/fs/cgroup/cgroup.subtree_control").exists() {
        eprintln!("skipped: not a pure cgroup v2 host");
        return;
    }
    let w = World::new("cg-exec-busy");
    let (b, cg) = bundle(&w, &["sleep", "60"], json!({}));
    let _own = OwnCgroup(cg.clone());
    let dir = Path::new("/sys/fs/cgroup").join(cg.trim_start_matches('/'));
    let mut seen = Vec::new();
    for runtime in [Runtime::runc(&w, common::runc_bin()), Runtime::hako(&w)] {
        let who = runtime.who();
        let rt = |args: &[&str]| runtime.output(args);
        let id = w.id("busy");
        runtime.run_detached(&b, &id);
        let state = std::fs::read_to_string(runtime.root.join(&id).join("state.json")).unwrap();
        let pid = serde_json::from_str::<Value>(&state).unwrap()["init_process_pid"]
            .as_i64()
            .or_else(|| serde_json::from_str::<Value>(&state).unwrap()["pid"].as_i64())
            .unwrap();
        std::fs::create_dir_all(dir.join("init")).unwrap();
        std::fs::write(dir.join("init/cgroup.procs"), pid.to_string()).unwrap();
        std::fs::write(dir.join("cgroup.subtree_control"), "+pids").unwrap();
        let fallback = rt(&["exec", &id, "cat", "/proc/self/cgroup"]);
        let own = rt(&["exec", "--cgroup", "/", &id, "true"]);
        let _ = rt(&["delete", "--force", &id]);
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), "-pids");
        let stdout = String::from_utf8_lossy(&fallback.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&fallback.stderr);
        assert!(fallback.status.success(), "{who}: {stderr}");
        assert_eq!(stdout.trim(), format!("0::{cg}/init"), "{who}");
        let stderr = String::from_utf8_lossy(&own.stderr);
        assert!(
            !own.status.success(),
            "{who}: --cgroup / joined a busy cgroup"
        );
        assert!(
            stderr.contains("device or resource busy"),
            "{who}: {stderr}"
        );
        seen.push(stdout);
    }
    if let [theirs, ours] = &seen[..] {
        assert_eq!(theirs, ours, "runc and hako differ");
    }
}

/// The hierarchies' mount points: `/sys/fs/cgroup` on a pure v2 host, else each mounted
/// hierarchy under it (the unified one of a hybrid host included).
fn hierarchies() -> Vec<PathBuf> {
    let top = Path::new("/sys/fs/cgroup");
    if top.join("cgroup.procs").exists() {
        return vec![top.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(top)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.is_symlink() && p.join("cgroup.procs").exists())
        .collect();
    out.sort();
    out
}

/// A process of the test (`sleep`) put in the cgroup `/rel` of every hierarchy, killed on drop.
struct Occupant(std::process::Child);

impl Occupant {
    fn put_in(rel: &str) -> Occupant {
        let child = std::process::Command::new("sleep")
            .arg("120")
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let o = Occupant(child);
        for h in hierarchies() {
            let d = h.join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(&d).unwrap();
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let (Ok(v), true) = (std::fs::read(h.join(f)), d.join(f).exists()) {
                    std::fs::write(d.join(f), v).unwrap();
                }
            }
            std::fs::write(d.join("cgroup.procs"), o.0.id().to_string()).unwrap();
        }
        o
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Occupant {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A cgroup that already holds processes is refused (issue 19.19): runc 1.2+ fails create
/// ("container's cgroup is not empty"; 1.1 only warned). hako used to run the container there
/// and, at `delete`, kill the other processes and remove the cgroup it had not made.
#[test]
fn a_cgroup_in_use_is_refused_as_runc() {
    let w = World::new("cg-in-use");
    let (b, cg) = bundle(&w, &["true"], json!({}));
    let _own = OwnCgroup(cg.clone());
    let mut other = Occupant::put_in(&cg);
    let runc = Runtime::runc(&w, common::runc_bin());
    let runtimes = common::reference_runc_for("runc 1.2+'s refusal of a cgroup in use")
        .map(|r| Runtime::runc(&w, r))
        .into_iter()
        .chain([Runtime::hako(&w)]);
    for rt in runtimes {
        let id = w.id("in-use");
        let (code, err, _) = run_limited(&rt, &b, &id);
        let _ = runc.output(&["delete", "--force", &id]);
        let who = rt.who();
        assert_eq!(code, Some(1), "{who}: {err}");
        assert!(
            err.contains("container's cgroup is not empty: 1 process(es) found"),
            "{who}: {err}"
        );
        assert!(!rt.root.join(&id).exists(), "{who} left its state dir");
        assert!(other.alive(), "{who} killed a process it did not start");
        for h in hierarchies() {
            let d = h.join(cg.trim_start_matches('/'));
            assert!(d.is_dir(), "{who} removed {}", d.display());
        }
    }
}

/// `linux.resources.unified` (cgroup v2 files) on a v1 or hybrid host: runc's validation
/// refuses it as an "invalid configuration" (issue 19.19), before anything is made. Pure v2
/// hosts honour it: nothing to compare there, said so.
#[test]
fn unified_on_a_v1_host_is_an_invalid_configuration_as_runc() {
    if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
        eprintln!("skipped: a pure cgroup v2 host honours linux.resources.unified");
        return;
    }
    let w = World::new("cg-unified-v1");
    let (b, cg) = bundle(&w, &["true"], json!({"unified": {"pids.max": "10"}}));
    let _own = OwnCgroup(cg.clone());
    for rt in [Runtime::runc(&w, common::runc_bin()), Runtime::hako(&w)] {
        let id = w.id("unified");
        let (code, err, _) = run_limited(&rt, &b, &id);
        let who = rt.who();
        assert_eq!(code, Some(1), "{who}: {err}");
        assert!(
            err.contains("invalid configuration: cannot use unified on cgroup v1"),
            "{who}: {err}"
        );
        assert!(!rt.root.join(&id).exists(), "{who} left its state dir");
        assert_eq!(leftovers(&cg), Vec::<PathBuf>::new(), "{who}");
    }
}
