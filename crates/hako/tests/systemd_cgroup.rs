//! `--systemd-cgroup` end to end. Where systemd is PID 1 (of the PID namespace these tests run
//! in: scripts/vm-systemd-tests.sh boots a VM, starts systemd in a new PID namespace and runs
//! this binary there), each container's cgroup must be a transient unit that systemd reports
//! active, with the limits both in the unit's properties and in the cgroup files, updated by
//! `update`, and gone with `delete`. Without systemd (this host), those tests print
//! `SKIPPED: <why>` on stderr (uncaptured) and `refused_without_systemd` checks the one-line
//! refusal instead. Container ids start with `sd-`.
//!
//! Rootless: the VM script also starts the user instance (`user@<uid>.service`) of an
//! unprivileged user named in `HAKO_SD_USER`; the `rootless_*` tests run hako, and runc 1.5.1
//! (`../shared/reference/runc`) as the control, as that user, whose containers' scopes must
//! land below that instance's cgroup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{unique, Bundle, Out, World};
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

/// The annotations runc honours with `--systemd-cgroup`, in its value syntax (GVariant text).
fn property_annotations() -> Value {
    json!({
        "org.systemd.property.TimeoutStopSec": "7",
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "org.systemd.property.RuntimeMaxUSec": "uint64 3600000000",
        "unrelated.annotation": "kept as is"
    })
}

/// The properties [`property_annotations`] must give the unit, as `systemctl show` prints them.
const ANNOTATED: [(&str, &str); 3] = [
    ("TimeoutStopUSec", "7s"),
    ("CollectMode", "inactive-or-failed"),
    ("RuntimeMaxUSec", "1h"),
];

#[test]
fn annotations_become_unit_properties() {
    require_systemd!("annotations_become_unit_properties");
    let w = World::new("sd-annot");
    let runtimes = [
        (PathBuf::from(common::hako_bin()), "hako"),
        (common::runc_bin(), "runc"),
    ];
    for (bin, prefix) in runtimes {
        let id = w.id("sd-annot");
        let mut b = w.bundle(&["sleep", "1000"]);
        b.edit(|c| c["annotations"] = property_annotations());
        let root = w.dir.join(format!("{prefix}-state"));
        let rt = |args: &[&str]| {
            let mut c = Command::new(&bin);
            c.arg("--root").arg(&root).args(args);
            run_to_files(&w.dir, &mut c)
        };
        rt(&["--systemd-cgroup", "create", "--bundle", b.path(), &id]).ok();
        let _delete = Delete(Box::new(|| {
            rt(&["delete", "--force", &id]);
        }));
        let unit = format!("{prefix}-{id}.scope");
        assert_eq!(show(&unit, "ActiveState"), "active", "{prefix}");
        for (prop, want) in ANNOTATED {
            assert_eq!(show(&unit, prop), want, "{prefix}: {prop} of {unit}");
        }
        assert_eq!(show(&unit, "Delegate"), "yes", "{prefix}");
        rt(&["delete", "--force", &id]).ok();
        assert_eq!(show(&unit, "LoadState"), "not-found", "{prefix}");
    }
}

/// Runs its closure when dropped (cleanup that must happen even when the test fails).
struct Delete<'a>(Box<dyn Fn() + 'a>);

impl Drop for Delete<'_> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A command's stdout and stderr through files (a created container inherits them).
fn run_to_files(dir: &Path, cmd: &mut Command) -> Out {
    let n = unique("out");
    let (o, e) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("spawn");
    let out = Out(Output {
        status,
        stdout: std::fs::read(&o).unwrap_or_default(),
        stderr: std::fs::read(&e).unwrap_or_default(),
    });
    let _ = std::fs::remove_file(o);
    let _ = std::fs::remove_file(e);
    out
}

#[test]
fn annotations_checked_before_reaching_systemd() {
    // Runs everywhere: like runc, hako reads the annotations before it looks for systemd, and
    // a name or value it cannot take fails create in one line with nothing left behind.
    let w = World::new("sd-badannot");
    let cases = [
        (
            "org.systemd.property.Ab",
            "1",
            "systemd property name \"Ab\" incorrect: too short",
        ),
        (
            "org.systemd.property.TimeoutStopSec",
            "'soon'",
            "value \"'soon'\" parse error: not a number",
        ),
        (
            "org.systemd.property.CollectMode",
            "bogus",
            "value \"bogus\" parse error: unrecognized type \"bogus\"",
        ),
    ];
    for (key, value, why) in cases {
        let id = w.id("sd-badannot");
        let mut b = w.bundle(&["true"]);
        b.edit(|c| c["annotations"] = json!({ key: value }));
        let msg = w
            .hako(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
            .fails()
            .error_msg();
        assert_eq!(msg, format!("annotations[{key:?}]: {why}"));
        assert!(!w.state_dir(&id).exists(), "state dir left behind");
        // runc refuses the same annotation (in its own words) before anything else.
        let root = w.dir.join("runc-state");
        let mut runc = Command::new(common::runc_bin());
        runc.arg("--root").arg(&root);
        runc.args(["--systemd-cgroup", "create", "--bundle", b.path(), &id]);
        let out = run_to_files(&w.dir, &mut runc);
        assert!(!out.0.status.success());
        assert!(
            out.stderr().contains(&format!("annotation {key}")),
            "{}",
            out.stderr()
        );
        // Without --systemd-cgroup they are plain annotations, for runc and hako.
        let id = w.id("sd-plainannot");
        w.hako(&["create", "--bundle", b.path(), &id]).ok();
        w.hako(&["delete", "--force", &id]).ok();
    }
}

/// The unprivileged user whose systemd instance the rootless tests use.
struct SdUser {
    uid: u32,
    gid: u32,
    /// Its runtime dir, `/run/user/<uid>`.
    xdg: PathBuf,
}

/// The user named in `HAKO_SD_USER` once its user instance listens, or why not.
fn sd_user() -> Result<SdUser, String> {
    no_systemd().map_or(Ok(()), Err)?;
    let name = std::env::var("HAKO_SD_USER")
        .map_err(|_| "HAKO_SD_USER (a user whose user@.service runs) is not set".to_string())?;
    let user = nix::unistd::User::from_name(&name)
        .ok()
        .flatten()
        .ok_or_else(|| format!("no user {name:?}"))?;
    let xdg = PathBuf::from(format!("/run/user/{}", user.uid));
    if !xdg.join("systemd/private").exists() {
        return Err(format!("{}/systemd/private does not exist", xdg.display()));
    }
    Ok(SdUser {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        xdg,
    })
}

macro_rules! require_sd_user {
    ($name:expr) => {
        match sd_user() {
            Ok(u) => u,
            Err(why) => {
                let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {why}", $name);
                return;
            }
        }
    };
}

impl SdUser {
    /// `program` as the user, with its runtime dir and a clean environment.
    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", "/")
            .env("XDG_RUNTIME_DIR", &self.xdg);
        c
    }

    /// `systemctl --user show -p <prop> --value <unit>` of the user's instance.
    fn show(&self, unit: &str, prop: &str) -> String {
        let out = self
            .cmd(Path::new("systemctl"))
            .args(["--user", "show", "-p", prop, "--value", unit])
            .output()
            .expect("systemctl --user");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The user instance's own cgroup.
    fn manager_cgroup(&self) -> String {
        let (uid, u) = (self.uid, self.uid);
        format!("/user.slice/user-{uid}.slice/user@{u}.service")
    }
}

/// hako or runc run by the test user against a state root of its own; every container it
/// made is deleted (as the user) when dropped.
struct AsUser<'a> {
    user: &'a SdUser,
    bin: PathBuf,
    root: PathBuf,
    dir: PathBuf,
    ids: RefCell<Vec<String>>,
}

impl<'a> AsUser<'a> {
    fn new(w: &World, user: &'a SdUser, bin: PathBuf, tag: &str) -> AsUser<'a> {
        let root = w.dir.join(unique(tag));
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid)).unwrap();
        AsUser {
            user,
            bin,
            root,
            dir: w.dir.clone(),
            ids: RefCell::new(Vec::new()),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        let mut c = self.user.cmd(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        run_to_files(&self.dir, &mut c)
    }

    /// A container id, deleted on drop.
    fn id(&self, tag: &str) -> String {
        let id = unique(tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A busybox bundle whose config is `spec --rootless` made by the user.
    fn bundle(&self, w: &World, args: &[&str]) -> Bundle {
        let mut b = w.bundle(args);
        std::fs::remove_file(b.dir.join("config.json")).unwrap();
        std::os::unix::fs::chown(&b.dir, Some(self.user.uid), Some(self.user.gid)).unwrap();
        let mut spec = self.user.cmd(Path::new(common::hako_bin()));
        spec.args(["spec", "--rootless", "--bundle", b.path()]);
        run_to_files(&self.dir, &mut spec).ok();
        b.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
        });
        b
    }

    fn pid(&self, id: &str) -> i64 {
        let state: Value = serde_json::from_str(&self.run(&["state", id]).ok().stdout()).unwrap();
        state["pid"].as_i64().unwrap()
    }
}

impl Drop for AsUser<'_> {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}

/// The whole rootless lifecycle through the user's instance, the same checks for hako and
/// runc: the scope below the user instance's cgroup with the limits and the annotations'
/// properties, exec'd processes in it, update, pause, and nothing left after delete.
fn rootless_lifecycle(w: &World, user: &SdUser, bin: PathBuf, prefix: &str) {
    let rt = AsUser::new(w, user, bin, prefix);
    let id = rt.id("sd-user");
    let mut b = rt.bundle(w, &["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}});
        c["annotations"] = property_annotations();
    });
    rt.run(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .ok();
    rt.run(&["start", &id]).ok();
    let unit = format!("{prefix}-{id}.scope");
    let cg = format!("{}/user.slice/{unit}", user.manager_cgroup());
    assert_eq!(user.show(&unit, "ActiveState"), "active", "{prefix}");
    assert_eq!(user.show(&unit, "ControlGroup"), cg, "{prefix}");
    assert_eq!(user.show(&unit, "MemoryMax"), (64u64 << 20).to_string());
    assert_eq!(user.show(&unit, "TasksMax"), "20", "{prefix}");
    for (prop, want) in ANNOTATED {
        assert_eq!(user.show(&unit, prop), want, "{prefix}: {prop}");
    }
    let dir = Path::new("/sys/fs/cgroup").join(cg.trim_start_matches('/'));
    let pid = rt.pid(&id).to_string();
    assert!(
        read(&dir, "cgroup.procs").lines().any(|p| p == pid),
        "{prefix}"
    );
    assert_eq!(
        read(&dir, "memory.max"),
        (64u64 << 20).to_string(),
        "{prefix}"
    );
    assert_eq!(read(&dir, "pids.max"), "20", "{prefix}");

    // An exec'd process joins the scope too, or a sub-cgroup of it with --cgroup.
    let exec = |args: &[&str]| rt.run(args).ok().stdout().trim().to_string();
    let seen = exec(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(
        seen,
        format!("0::{cg}"),
        "{prefix}: exec'd process's cgroup"
    );
    let mut mkdir = user.cmd(Path::new("mkdir"));
    mkdir.arg(dir.join("sub"));
    run_to_files(&w.dir, &mut mkdir).ok();
    let seen = exec(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(seen, format!("0::{cg}/sub"), "{prefix}: exec --cgroup sub");

    rt.run(&["update", "--memory", "128m", &id]).ok();
    assert_eq!(user.show(&unit, "MemoryMax"), (128u64 << 20).to_string());
    assert_eq!(
        read(&dir, "memory.max"),
        (128u64 << 20).to_string(),
        "{prefix}"
    );
    rt.run(&["pause", &id]).ok();
    assert_eq!(read(&dir, "cgroup.freeze"), "1", "{prefix}");
    rt.run(&["resume", &id]).ok();

    rt.run(&["kill", &id, "KILL"]).ok();
    for _ in 0..500 {
        let st = rt.run(&["state", &id]).ok().stdout();
        if st.contains("\"stopped\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    rt.run(&["delete", &id]).ok();
    assert_eq!(user.show(&unit, "LoadState"), "not-found", "{prefix}");
    assert!(!dir.exists(), "{prefix}: {} left behind", dir.display());
}

#[test]
fn rootless_scope_under_the_user_instance() {
    let user = require_sd_user!("rootless_scope_under_the_user_instance");
    let w = World::new("sd-user");
    rootless_lifecycle(&w, &user, PathBuf::from(common::hako_bin()), "hako");
    // The user instance's uid is recorded, for the verbs that talk to it later.
    let rt = AsUser::new(&w, &user, PathBuf::from(common::hako_bin()), "hako");
    let id = rt.id("sd-user-state");
    let b = rt.bundle(&w, &["sleep", "1000"]);
    rt.run(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .ok();
    let text = std::fs::read_to_string(rt.root.join(&id).join("state.json")).unwrap();
    let st: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(st["systemd_unit"], format!("hako-{id}.scope"));
    assert_eq!(st["systemd_user"], user.uid);
    // The control: runc 1.5.1 does the same where it is available.
    match common::reference_runc() {
        Some(runc) => rootless_lifecycle(&w, &user, runc, "runc"),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "note: no reference runc, control skipped"
            );
        }
    }
}

#[test]
fn rootless_failed_create_leaves_no_unit() {
    let user = require_sd_user!("rootless_failed_create_leaves_no_unit");
    let w = World::new("sd-userfail");
    let rt = AsUser::new(&w, &user, PathBuf::from(common::hako_bin()), "hako");
    // The init fails after the user instance made the unit: it must be stopped again.
    let id = rt.id("sd-userfail");
    let b = rt.bundle(&w, &["/no/such/program"]);
    rt.run(&["--systemd-cgroup", "create", "--bundle", b.path(), &id])
        .fails();
    let unit = format!("hako-{id}.scope");
    assert_eq!(user.show(&unit, "LoadState"), "not-found");
    assert!(!rt.root.join(&id).exists(), "state dir left behind");
    assert_eq!(common::cgroups_named(&unit), Vec::<PathBuf>::new());

    // A value the user's cgroup cannot take fails with nothing left either.
    let id = rt.id("sd-userbad");
    let mut b = rt.bundle(&w, &["true"]);
    b.edit(|c| c["annotations"] = json!({"org.systemd.property.TasksMax": "'lots'"}));
    let out = rt.run(&["--systemd-cgroup", "create", "--bundle", b.path(), &id]);
    let msg = out.fails().error_msg();
    assert!(msg.contains("TasksMax"), "{msg}");
    let unit = format!("hako-{id}.scope");
    assert_eq!(user.show(&unit, "LoadState"), "not-found");
    assert!(!rt.root.join(&id).exists(), "state dir left behind");
}
