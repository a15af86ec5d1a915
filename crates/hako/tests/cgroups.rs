//! cgroups end to end, on whatever layout the machine has (hybrid here; pure v2 and pure v1 in
//! the VMs of scripts/vm-cgroup-tests.sh). Every test uses its own absolute `cgroupsPath`
//! (`/hako-test-<unique>`) and only looks at cgroups it made; each checks that a limit is both
//! in the cgroup files and in effect, and that `delete` leaves no directory behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Bundle, World};
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
