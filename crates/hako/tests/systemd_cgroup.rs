//! `--systemd-cgroup` end to end. Where systemd is PID 1 (of the PID namespace these tests run
//! in: scripts/vm-systemd-tests.sh boots a VM, starts systemd in a new PID namespace and runs
//! this binary there), each container's cgroup must be a transient unit that systemd reports
//! active, with the limits both in the unit's properties and in the cgroup files, updated by
//! `update`, and gone with `delete`. Without systemd (this host), those tests print
//! `SKIPPED: <why>` on stderr (uncaptured) and `refused_without_systemd` checks the one-line
//! refusal instead. Container ids start with `sd-`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Bundle, World};
use serde_json::{json, Value};

/// Why systemd-backed tests cannot run here, if they cannot.
fn no_systemd() -> Option<String> {
    let comm = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if comm.trim() != "systemd" {
        return Some(format!(
            "PID 1 of this PID namespace is {:?}, not systemd",
            comm.trim()
        ));
    }
    if !Path::new("/run/systemd/private").exists() {
        return Some("systemd runs but /run/systemd/private does not exist".into());
    }
    None
}

/// Skip visibly: the line goes straight to stderr, past the test harness's capture.
macro_rules! require_systemd {
    ($name:expr) => {
        if let Some(why) = no_systemd() {
            let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {why}", $name);
            return;
        }
    };
}

/// `systemctl show -p <prop> --value <unit>`.
fn show(unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-p", prop, "--value", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// state.json as stored (the unit and the cgroup paths).
fn stored(w: &World, id: &str) -> Value {
    let text = std::fs::read_to_string(w.state_dir(id).join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// `create` (with --systemd-cgroup) + `start`; the container's stdio on /dev/null.
fn start(w: &World, id: &str, b: &Bundle) {
    w.hako(&["--systemd-cgroup", "create", "--bundle", b.path(), id])
        .ok();
    w.hako(&["start", id]).ok();
}

/// Stops a unit the test made on purpose (a slice) even when the test fails.
struct StopUnit(String);

impl Drop for StopUnit {
    fn drop(&mut self) {
        let _ = Command::new("systemctl").args(["stop", &self.0]).status();
    }
}

#[test]
fn refused_without_systemd() {
    if no_systemd().is_none() && Path::new("/run/systemd/system").exists() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: refused_without_systemd: systemd runs here"
        );
        return;
    }
    let w = World::new("sd-refused");
    let id = w.id("sd-refused");
    let b = w.bundle(&["true"]);
    let out = w
        .hako(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .fails();
    let msg = out.error_msg();
    assert!(
        msg.starts_with("--systemd-cgroup: systemd is not running on this host"),
        "{msg}"
    );
    assert!(!w.state_dir(&id).exists(), "state dir left behind");
    assert_eq!(
        common::cgroups_named(&format!("hako-{id}.scope")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(common::cgroups_named(&id), Vec::<PathBuf>::new());
    // The flag is global, as runc's: verbs that never make a cgroup accept it.
    w.hako(&["--systemd-cgroup", "list"]).ok();
}

#[test]
fn scope_unit_carries_the_container_and_its_limits() {
    require_systemd!("scope_unit_carries_the_container_and_its_limits");
    let w = World::new("sd-scope");
    let id = w.id("sd-scope");
    let mut b = w.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
        c["linux"]["resources"]["pids"] = json!({"limit": 20});
        c["linux"]["resources"]["cpu"] = json!({"shares": 1024, "quota": 50000, "period": 100000});
    });
    start(&w, &id, &b);
    let unit = format!("hako-{id}.scope");
    let st = stored(&w, &id);
    assert_eq!(st["systemd_unit"], unit);
    let dir = PathBuf::from(st["cgroup_paths"][""].as_str().expect("unified path"));
    assert!(
        dir.ends_with(format!("system.slice/{unit}")),
        "{}",
        dir.display()
    );

    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "MemoryMax"), (64u64 << 20).to_string());
    assert_eq!(show(&unit, "TasksMax"), "20");
    assert_eq!(show(&unit, "CPUWeight"), "39");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");

    let pid = w.state(&id)["pid"].as_i64().unwrap();
    let procs = read(&dir, "cgroup.procs");
    assert!(procs.lines().any(|p| p == pid.to_string()), "{procs}");
    assert_eq!(read(&dir, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&dir, "pids.max"), "20");
    assert_eq!(read(&dir, "cpu.max"), "50000 100000");

    // The verbs that act on the cgroup files keep working.
    let ps = w.hako(&["ps", &id]).ok().stdout();
    assert!(ps.contains("sleep"), "{ps}");
    w.hako(&["pause", &id]).ok();
    assert_eq!(w.state(&id)["status"], "paused");
    w.hako(&["resume", &id]).ok();
    assert_eq!(w.state(&id)["status"], "running");
    w.hako(&["exec", &id, "true"]).ok();

    // update: the unit's properties and the files.
    w.hako(&["update", "--memory", "128m", "--pids-limit", "30", &id])
        .ok();
    assert_eq!(show(&unit, "MemoryMax"), (128u64 << 20).to_string());
    assert_eq!(show(&unit, "TasksMax"), "30");
    assert_eq!(read(&dir, "memory.max"), (128u64 << 20).to_string());
    assert_eq!(read(&dir, "pids.max"), "30");

    w.hako(&["kill", "--all", &id, "KILL"]).ok();
    w.wait_status(&id, "stopped");
    w.hako(&["delete", &id]).ok();
    assert_eq!(show(&unit, "LoadState"), "not-found");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn slice_prefix_and_name_from_cgroups_path() {
    require_systemd!("slice_prefix_and_name_from_cgroups_path");
    let w = World::new("sd-path");
    let id = w.id("sd-path");
    let slice = format!("system-hakotest{}.slice", std::process::id());
    let _stop = StopUnit(slice.clone());
    let mut b = w.bundle(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{slice}:pfx:{id}")));
    start(&w, &id, &b);
    let unit = format!("pfx-{id}.scope");
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), slice);
    let dir = PathBuf::from(stored(&w, &id)["cgroup_paths"][""].as_str().unwrap());
    assert!(
        dir.ends_with(format!("system.slice/{slice}/{unit}")),
        "{}",
        dir.display()
    );
    // delete --force of a running container stops the unit too.
    w.hako(&["delete", "--force", &id]).ok();
    assert_eq!(show(&unit, "LoadState"), "not-found");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn failed_create_leaves_no_unit() {
    require_systemd!("failed_create_leaves_no_unit");
    let w = World::new("sd-fail");
    // The init fails after systemd made the unit: it must be stopped again.
    let id = w.id("sd-fail");
    let b = w.bundle(&["/no/such/program"]);
    w.hako(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .fails();
    let unit = format!("hako-{id}.scope");
    assert_eq!(show(&unit, "LoadState"), "not-found");
    assert!(!w.state_dir(&id).exists(), "state dir left behind");
    assert_eq!(common::cgroups_named(&unit), Vec::<PathBuf>::new());

    // A cgroupsPath not in systemd's form fails before anything is made.
    let id = w.id("sd-badpath");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!("/not/a/slice"));
    let msg = w
        .hako(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(
        msg.starts_with("linux.cgroupsPath: expected \"slice:prefix:name\""),
        "{msg}"
    );
    assert!(!w.state_dir(&id).exists(), "state dir left behind");
}
