//! End-to-end tests through the real engines (issue 8): Podman, containerd (`ctr` through the
//! `io.containerd.runc.v2` shim, the path Kubernetes takes) and Docker, from Debian's packages,
//! drive the built hako unchanged. Every suite runs twice, with hako and with Debian's runc as
//! a control (`<engine>_hako` / `<engine>_runc`), so a failure runc does not share is hako's.
//!
//! Each suite is one test of named checks; a failing check does not stop the others, and the
//! test ends with a table of every check (shown on failure, or with `--nocapture`).
//!
//! Isolation and cleanup: every engine keeps its state in a private temp dir. The daemons
//! (containerd, dockerd) are shared by the tests of this binary that run at the same time (a
//! `Weak` handle): the first starts one, the last one's drop stops it by PID. Docker and Podman
//! run in a network namespace of their own, so their bridges, veths and iptables rules go away
//! with it. Containers, cgroups, mounts, network namespaces and stray processes (by PID: those
//! whose command line names the private dir) are removed on drop, also when a check fails.
//!
//! Machine quirks handled, not hidden: no CAP_SYS_RESOURCE, so Podman's default nofile/nproc
//! rlimits (above the hard limit) are lowered in its containers.conf; no systemd, so the
//! cgroupfs managers; no image registry, so images come from a busybox tar (`podman import`,
//! `docker import`) and an OCI archive built with umoci (`ctr image import`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Debian's runc, the control runtime.
const RUNC: &str = "/usr/sbin/runc";
/// Debian's docker CLI (not whatever else is first on PATH).
const DOCKER: &str = "/usr/bin/docker";
/// The longest any one engine command may take.
const TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The runtime under test and the control.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rt {
    Hako,
    Runc,
}

impl Rt {
    fn name(self) -> &'static str {
        match self {
            Rt::Hako => "hako",
            Rt::Runc => "runc",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Rt::Hako => common::hako_bin(),
            Rt::Runc => RUNC,
        }
    }

    /// The runtime's default `--root` (Podman passes none).
    fn default_root(self) -> &'static str {
        match self {
            Rt::Hako => "/run/hako",
            Rt::Runc => "/run/runc",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands with a time limit, their output in files (a daemon or container started by the
// command may inherit its stdio, so EOF on a pipe could never come).

struct Res {
    shown: String,
    code: Option<i32>,
    out: String,
    err: String,
}

impl Res {
    /// Success, or an error naming the command, its status and its stderr.
    fn ok(self) -> Result<Res, String> {
        if self.code == Some(0) {
            Ok(self)
        } else {
            Err(self.failure("exit 0"))
        }
    }

    /// This exit code, or an error.
    fn code_is(self, want: i32) -> Result<Res, String> {
        if self.code == Some(want) {
            Ok(self)
        } else {
            Err(self.failure(&format!("exit {want}")))
        }
    }

    fn failure(&self, wanted: &str) -> String {
        format!(
            "{}: wanted {wanted}, got {:?}\nstdout: {}\nstderr: {}",
            self.shown,
            self.code,
            self.out.trim_end(),
            self.err.trim_end()
        )
    }
}

fn run(mut cmd: Command) -> Result<Res, String> {
    let shown = format!("{cmd:?}");
    let tag = common::unique("cmd");
    let out_path = std::env::temp_dir().join(format!("hako-e2e-{tag}.out"));
    let err_path = std::env::temp_dir().join(format!("hako-e2e-{tag}.err"));
    let out_file = std::fs::File::create(&out_path).expect("stdout file");
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    cmd.stdin(Stdio::null()).stdout(out_file).stderr(err_file);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{shown}: {e}"))?;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| format!("{shown}: {e}"))? {
            break Some(s);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let code = status.and_then(|s| s.code());
    println!(
        "$ {shown}\n  -> {code:?} in {} ms\n  stdout: {}\n  stderr: {}",
        start.elapsed().as_millis(),
        out.trim_end(),
        err.trim_end()
    );
    match status {
        None => Err(format!("{shown}: no answer within {TIMEOUT:?}")),
        Some(_) => Ok(Res {
            shown,
            code,
            out,
            err,
        }),
    }
}

/// `cmd` under `script`, which gives it a terminal (for `-it`/`-t`); the exit code is its own.
fn under_script(cmd: &Command) -> Command {
    let mut line = shell_quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(&a.to_string_lossy()));
    }
    let mut s = Command::new("script");
    s.args(["-qec", &line, "/dev/null"]);
    if let Some(d) = cmd.get_current_dir() {
        s.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    s
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !($cond) {
            return Err(format!($($arg)+));
        }
    };
}

/// Poll `f` until it gives true (or 20 s have passed).
fn wait_for(what: &str, mut f: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if f()? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("timed out waiting for {what}"))
}

// ---------------------------------------------------------------------------------------------
// The report: named checks, all run, one table at the end.

type Check = Result<(), String>;

struct Report {
    title: String,
    start: Instant,
    rows: Vec<(&'static str, Check, Duration)>,
}

impl Report {
    fn new(engine: &str, rt: Rt) -> Report {
        Report {
            title: format!("{engine} with {} ({})", rt.name(), rt.path()),
            start: Instant::now(),
            rows: Vec::new(),
        }
    }

    fn check(&mut self, name: &'static str, f: impl FnOnce() -> Check) {
        println!("=== {}: {name}", self.title);
        let t = Instant::now();
        let r = f();
        if let Err(e) = &r {
            println!("FAILED {name}: {e}");
        }
        self.rows.push((name, r, t.elapsed()));
    }

    fn finish(self) {
        let mut table = format!(
            "{} ({} ms):\n",
            self.title,
            self.start.elapsed().as_millis()
        );
        for (name, r, d) in &self.rows {
            let verdict = if r.is_ok() { "ok  " } else { "FAIL" };
            let _ = writeln!(table, "  {verdict} {name} ({} ms)", d.as_millis());
        }
        println!("{table}");
        let failed: Vec<String> = self
            .rows
            .iter()
            .filter_map(|(n, r, _)| r.as_ref().err().map(|e| format!("--- {n}:\n{e}")))
            .collect();
        assert!(
            failed.is_empty(),
            "{table}\n{} failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Sharing a daemon between the tests that run at the same time.

struct Shared<T>(Mutex<Weak<T>>);

impl<T> Shared<T> {
    const fn new() -> Shared<T> {
        Shared(Mutex::new(Weak::new()))
    }

    /// The running instance, or a new one from `start`; it stops when the last user drops it.
    fn get(&self, start: impl FnOnce() -> T) -> Arc<T> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = w.upgrade() {
            return t;
        }
        let t = Arc::new(start());
        *w = Arc::downgrade(&t);
        t
    }
}

// ---------------------------------------------------------------------------------------------
// Cleanup helpers: everything by PID or by our own unique names.

/// A private temp dir, removed (after unmounting anything left under it) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        common::require_root();
        let dir = std::env::temp_dir().join(format!("hako-e2e-{}", common::unique(tag)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    fn s(&self, p: &str) -> String {
        self.join(p).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        kill_strays(&self.0);
        unmount_under(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SIGKILL, by PID, every process whose command line names `marker` (our private dir): the
/// shims, conmons and cleanup processes the engines started for us.
fn kill_strays(marker: &Path) {
    let me = std::process::id().to_string();
    // With the slash: /tmp/x-1 must not match /tmp/x-12's processes.
    let marker = format!("{}/", marker.display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let name = p.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        if name == me {
            continue;
        }
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&marker) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Lazily unmount every mount point under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Kill what is left in the cgroup `/<rel>` of every hierarchy and remove it, deepest first.
fn remove_cgroups(rel: &str) {
    assert!(!rel.is_empty() && !rel.contains(".."), "cgroup {rel:?}");
    let mut tops = vec![Path::new("/sys/fs/cgroup").join(rel)];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                tops.push(e.path().join(rel));
            }
        }
    }
    for top in tops.iter().filter(|t| t.is_dir()) {
        let mut dirs = Vec::new();
        collect_dirs(top, &mut dirs);
        for d in &dirs {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in &dirs {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// A named network namespace of our own (`ip netns`), loopback up, deleted on drop: an
/// engine run inside it keeps its bridge, veths and iptables rules there.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let ns = Netns(format!("hako-e2e-{}", common::unique(tag)));
        let mut add = Command::new("ip");
        add.args(["netns", "add", &ns.0]);
        run(add).and_then(Res::ok).expect("ip netns add");
        let mut lo = Command::new("ip");
        lo.args(["-n", &ns.0, "link", "set", "lo", "up"]);
        run(lo).and_then(Res::ok).expect("loopback up");
        ns
    }

    /// `cmd` run in this network namespace (only: same mounts and everything else).
    fn wrap(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.0)).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let mut del = Command::new("ip");
        del.args(["netns", "delete", &self.0]);
        let _ = run(del);
    }
}

/// The socket a containerd 1.6 runc shim listens on (`shim.SocketAddress`), left behind when
/// a shim is killed.
fn shim_socket(address: &Path, ns: &str, id: &str) -> Option<PathBuf> {
    let key = address.join(ns).join(id);
    let mut c = Command::new("sha256sum");
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().ok()?;
    child
        .stdin
        .take()?
        .write_all(key.to_string_lossy().as_bytes())
        .ok()?;
    let out = child.wait_with_output().ok()?;
    let hash = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .to_string();
    Some(Path::new("/run/containerd/s").join(hash))
}

/// Stop a daemon we started: SIGTERM by PID, up to 20 s for it to finish, then SIGKILL.
fn stop_daemon(child: &Mutex<Child>) {
    let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Wait until `ok()` of a command succeeds (a daemon answering), or panic with its log.
fn wait_daemon(what: &str, log: &Path, mut probe: impl FnMut() -> Command) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if run(probe()).is_ok_and(|r| r.code == Some(0)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    panic!(
        "{what} did not come up; its log ends with:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Images: a busybox rootfs tar, and an OCI archive of it.

fn busybox_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "var"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dirs");
    }
    std::fs::copy(common::busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(common::busybox())
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").expect("group");
    rootfs
}

/// `busybox.tar`, for `podman import` / `docker import`.
fn busybox_tar(dir: &Path) -> PathBuf {
    let rootfs = busybox_rootfs(dir);
    let tar = dir.join("busybox.tar");
    let mut c = Command::new("tar");
    c.arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".");
    run(c).and_then(Res::ok).expect("tar");
    tar
}

/// An OCI image archive (`oci-layout` + blobs, tag `test`) made with umoci, for `ctr import`.
fn busybox_oci_archive(dir: &Path) -> PathBuf {
    let rootfs = busybox_rootfs(dir);
    let layout = dir.join("oci");
    let image = format!("{}:test", layout.display());
    let steps: [Vec<String>; 4] = [
        vec![
            "init".into(),
            "--layout".into(),
            layout.display().to_string(),
        ],
        vec!["new".into(), "--image".into(), image.clone()],
        vec![
            "insert".into(),
            "--image".into(),
            image.clone(),
            rootfs.display().to_string(),
            "/".into(),
        ],
        vec![
            "config".into(),
            "--image".into(),
            image,
            "--config.cmd".into(),
            "sh".into(),
        ],
    ];
    for args in steps {
        let mut c = Command::new("umoci");
        c.args(args);
        run(c).and_then(Res::ok).expect("umoci");
    }
    let tar = dir.join("busybox-oci.tar");
    let mut c = Command::new("tar");
    c.arg("-C").arg(&layout).arg("-cf").arg(&tar).arg(".");
    run(c).and_then(Res::ok).expect("tar");
    tar
}

/// Print the terminal's name, then exit with `code`. The pause: Podman (conmon) may drop a
/// terminal's output when the program exits right after writing it, with runc as with hako
/// (about once in 15 `podman run -it`); the other engines get the same script.
fn tty_then_exit(code: u8) -> String {
    format!("tty; sleep 0.5; exit {code}")
}

/// A shell loop that exits 3 on SIGTERM and 4 on SIGHUP (as PID 1, only trapped signals
/// reach it): shows which signal the engine delivered.
const TRAPPER: &str = "trap 'exit 3' TERM; trap 'exit 4' HUP; while :; do sleep 0.1; done";

// ---------------------------------------------------------------------------------------------
// cgroup files, on v1 (and hybrid) or v2 hosts.

fn v1() -> bool {
    Path::new("/sys/fs/cgroup/memory").is_dir()
}

fn cg_read(ctrl: &str, rel: &str, file: &str) -> Result<String, String> {
    let p = if v1() {
        Path::new("/sys/fs/cgroup").join(ctrl).join(rel).join(file)
    } else {
        Path::new("/sys/fs/cgroup").join(rel).join(file)
    };
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("reading {}: {e}", p.display()))
}

/// The memory limit of cgroup `rel`, in bytes.
fn cg_memory(rel: &str) -> Result<String, String> {
    if v1() {
        cg_read("memory", rel, "memory.limit_in_bytes")
    } else {
        cg_read("", rel, "memory.max")
    }
}

/// The CPU quota of cgroup `rel` as "quota period".
fn cg_cpu(rel: &str) -> Result<String, String> {
    if v1() {
        Ok(format!(
            "{} {}",
            cg_read("cpu", rel, "cpu.cfs_quota_us")?,
            cg_read("cpu", rel, "cpu.cfs_period_us")?
        ))
    } else {
        cg_read("", rel, "cpu.max")
    }
}

fn cg_pids(rel: &str) -> Result<String, String> {
    cg_read("pids", rel, "pids.max")
}

fn cg_procs(rel: &str) -> Result<String, String> {
    cg_read("pids", rel, "cgroup.procs")
}

fn cg_exists(rel: &str) -> bool {
    let p = if v1() {
        Path::new("/sys/fs/cgroup/memory").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(rel)
    };
    p.exists()
}

/// The limits `--memory 64m --cpus 0.5 --pids-limit 40` give, and the process is in the group.
fn check_limits(rel: &str, pid: &str, memory: &str, cpu: &str, pids: &str) -> Check {
    let got = (cg_memory(rel)?, cg_cpu(rel)?, cg_pids(rel)?);
    ensure!(
        got == (memory.into(), cpu.into(), pids.into()),
        "cgroup {rel}: memory, cpu, pids are {got:?}, wanted ({memory}, {cpu}, {pids})"
    );
    let procs = cg_procs(rel)?;
    ensure!(
        procs.lines().any(|l| l == pid),
        "pid {pid} is not in cgroup {rel} (procs: {procs:?})"
    );
    Ok(())
}

fn want_loopback_only(out: &str) -> Check {
    let links: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    ensure!(
        links.len() == 1 && links[0].contains("lo:") && links[0].contains("UP"),
        "wanted only lo, up; got {links:?}"
    );
    Ok(())
}

fn want_caps_none(status: &str) -> Check {
    for set in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let line = status.lines().find(|l| l.starts_with(set)).unwrap_or("");
        ensure!(
            line.ends_with("0000000000000000"),
            "{set} not empty: {line:?}"
        );
    }
    Ok(())
}

/// Split space-separated options (none of which contains a space).
fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

// =============================================================================================
// Podman

/// A private Podman: containers.conf and storage.conf naming this runtime, `--root`,
/// `--runroot`, `--tmpdir` and `--volumepath` in a temp dir, a cgroup parent of its own, run in
/// its own network namespace (its CNI bridge and iptables rules live there). Podman gives the
/// runtime no `--root`: its state is in the runtime's default root, removed by `podman rm`.
struct Podman {
    cgparent: String,
    image: String,
    // Dropped in this order after `Drop::drop`: the netns, then the dir.
    netns: Netns,
    dir: TempDir,
}

impl Podman {
    fn new(rt: Rt) -> Podman {
        let dir = TempDir::new(&format!("podman-{}", rt.name()));
        let conf = format!(
            "[containers]\n\
             # No CAP_SYS_RESOURCE here: podman's default rlimits are above the hard limit.\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             runtime = \"{name}\"\n\
             runtime_supports_json = [\"crun\", \"runc\", \"hako\"]\n\
             [engine.runtimes]\n\
             {name} = [\"{path}\"]\n",
            name = rt.name(),
            path = rt.path()
        );
        std::fs::write(dir.join("containers.conf"), conf).expect("containers.conf");
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
            dir.s("run"),
            dir.s("graph")
        );
        std::fs::write(dir.join("storage.conf"), storage).expect("storage.conf");
        let p = Podman {
            cgparent: format!("hako-e2e-{}", common::unique("podman-cg")),
            image: "localhost/hako-e2e/busybox:test".into(),
            netns: Netns::new("podman"),
            dir,
        };
        let tar = busybox_tar(&p.dir.0);
        p.podman(&["import", &tar.to_string_lossy(), &p.image])
            .and_then(Res::ok)
            .expect("podman import");
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.netns.wrap("podman");
        // conmon writes an `oom` file into its working directory when the container is
        // OOM-killed: ours, not the test's.
        c.current_dir(&self.dir.0)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .args([
                "--root",
                &self.dir.s("graph"),
                "--runroot",
                &self.dir.s("run"),
            ])
            .args(["--tmpdir", &self.dir.s("tmp")])
            .args(["--volumepath", &self.dir.s("volumes")])
            .args(args);
        c
    }

    fn podman(&self, args: &[&str]) -> Result<Res, String> {
        run(self.cmd(args))
    }

    /// `podman run --cgroup-parent /<ours> <opts> <image> <args>`.
    fn run_cmd(&self, opts: &str, args: &[&str]) -> Command {
        let parent = format!("/{}", self.cgparent);
        let mut all = vec!["run", "--cgroup-parent", &parent];
        all.extend(words(opts));
        all.push(&self.image);
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    fn run(&self, opts: &str, args: &[&str]) -> Result<Res, String> {
        run(self.run_cmd(opts, args))
    }

    fn inspect(&self, name: &str, format: &str) -> Result<String, String> {
        let out = self.podman(&["inspect", "-f", format, name])?.ok()?;
        Ok(out.out.trim().to_string())
    }

    /// The container's cgroup, relative to a hierarchy's root.
    fn cgroup(&self, name: &str) -> Result<String, String> {
        let id = self.inspect(name, "{{.Id}}")?;
        Ok(format!("{}/libpod-{id}", self.cgparent))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "-af", "-t", "0"]);
        kill_strays(&self.dir.0);
        remove_cgroups(&self.cgparent);
    }
}

fn podman_suite(rt: Rt) {
    let p = Podman::new(rt);
    let mut r = Report::new("podman", rt);
    let name = |tag: &str| format!("e2e-{}", common::unique(tag));

    r.check("run --rm: output, exit code, container removed", || {
        let n = name("rm");
        let out = p
            .run(
                &format!("--rm --name {n}"),
                &["sh", "-c", "echo hello; exit 42"],
            )?
            .code_is(42)?;
        ensure!(out.out.contains("hello"), "no output: {:?}", out.out);
        p.podman(&["container", "exists", &n])?.code_is(1)?;
        Ok(())
    });

    r.check(
        "exit codes: 127 missing program, 126 not executable",
        || {
            p.run("--rm", &["/nonexistent"])?.code_is(127)?;
            p.run("--rm", &["/etc/passwd"])?.code_is(126)?;
            Ok(())
        },
    );

    let main = name("main");
    r.check("run -d, --memory/--cpus/--pids-limit in effect", || {
        let opts = format!("-d --name {main} --memory 64m --cpus 0.5 --pids-limit 40");
        p.run(&opts, &["sleep", "1000"])?.ok()?;
        let status = p.inspect(&main, "{{.State.Status}}")?;
        ensure!(status == "running", "status {status:?}");
        let pid = p.inspect(&main, "{{.State.Pid}}")?;
        check_limits(&p.cgroup(&main)?, &pid, "67108864", "50000 100000", "40")
    });

    r.check("--memory enforced: OOM kill (137)", || {
        let dd = words("dd if=/dev/zero of=/dev/null bs=96M count=1");
        p.run("--rm --memory 32m", &dd)?.code_is(137)?;
        Ok(())
    });

    r.check("exec: output and exit code", || {
        let out = p
            .podman(&["exec", &main, "sh", "-c", "echo in-$(hostname); exit 5"])?
            .code_is(5)?;
        ensure!(out.out.contains("in-"), "no output: {:?}", out.out);
        Ok(())
    });

    r.check("run -it (under script): a terminal, exit code", || {
        let c = p.run_cmd("-it --rm", &["sh", "-c", &tty_then_exit(7)]);
        let out = run(under_script(&c))?.code_is(7)?;
        ensure!(out.out.contains("/dev/pts/"), "no tty: {:?}", out.out);
        Ok(())
    });

    r.check("exec -it (under script): a terminal, exit code", || {
        let c = p.cmd(&["exec", "-it", &main, "sh", "-c", &tty_then_exit(8)]);
        let out = run(under_script(&c))?.code_is(8)?;
        ensure!(out.out.contains("/dev/pts/"), "no tty: {:?}", out.out);
        Ok(())
    });

    r.check("top", || {
        let out = p.podman(&["top", &main])?.ok()?;
        ensure!(out.out.contains("sleep 1000"), "no sleep in {:?}", out.out);
        Ok(())
    });

    r.check("stats", || {
        let f = "{{.Name}} pids={{.PIDs}} mem={{.MemUsage}}";
        let out = p
            .podman(&["stats", "--no-stream", "--format", f, &main])?
            .ok()?;
        let want = format!("{main} pids=1 mem=");
        ensure!(
            out.out.contains(&want) && out.out.contains("/ 67.11MB"),
            "stats: {:?}",
            out.out
        );
        Ok(())
    });

    r.check("pause/unpause", || {
        p.podman(&["pause", &main])?.ok()?;
        let s = p.inspect(&main, "{{.State.Status}}")?;
        ensure!(s == "paused", "status {s:?} after pause");
        p.podman(&["unpause", &main])?.ok()?;
        let s = p.inspect(&main, "{{.State.Status}}")?;
        ensure!(s == "running", "status {s:?} after unpause");
        p.podman(&["exec", &main, "true"])?.ok()?;
        Ok(())
    });

    r.check("update --memory --cpus", || {
        p.podman(&["update", "--memory", "128m", "--cpus", "1.5", &main])?
            .ok()?;
        let rel = p.cgroup(&main)?;
        let got = (cg_memory(&rel)?, cg_cpu(&rel)?);
        ensure!(
            got == ("134217728".into(), "150000 100000".into()),
            "after update: {got:?}"
        );
        Ok(())
    });

    r.check("stop: SIGTERM reaches the container", || {
        let n = name("stop");
        p.run(&format!("-d --name {n}"), &["sh", "-c", TRAPPER])?
            .ok()?;
        let t = Instant::now();
        p.podman(&["stop", "-t", "20", &n])?.ok()?;
        ensure!(
            t.elapsed() < Duration::from_secs(15),
            "took {:?}",
            t.elapsed()
        );
        let code = p.inspect(&n, "{{.State.ExitCode}}")?;
        ensure!(code == "3", "exit code {code}, wanted 3 (TERM trapped)");
        Ok(())
    });

    r.check("kill: -s HUP, then the default SIGKILL", || {
        let n = name("kill");
        p.run(&format!("-d --name {n}"), &["sh", "-c", TRAPPER])?
            .ok()?;
        p.podman(&["kill", "-s", "HUP", &n])?.ok()?;
        let code = p.podman(&["wait", &n])?.ok()?.out;
        ensure!(code.trim() == "4", "exit code {code:?}, wanted 4 (HUP)");
        let n = name("kill9");
        p.run(&format!("-d --name {n}"), &["sleep", "1000"])?.ok()?;
        p.podman(&["kill", &n])?.ok()?;
        let code = p.podman(&["wait", &n])?.ok()?.out;
        ensure!(code.trim() == "137", "exit code {code:?}, wanted 137");
        Ok(())
    });

    r.check("rm -f: container, cgroup and runtime state gone", || {
        let id = p.inspect(&main, "{{.Id}}")?;
        let rel = p.cgroup(&main)?;
        p.podman(&["rm", "-f", "-t", "0", &main])?.ok()?;
        p.podman(&["container", "exists", &main])?.code_is(1)?;
        ensure!(!cg_exists(&rel), "cgroup {rel} left behind");
        let state = Path::new(rt.default_root()).join(&id);
        ensure!(!state.exists(), "{} left behind", state.display());
        Ok(())
    });

    r.check("--network none: only loopback, up", || {
        let out = p.run("--rm --network none", &["ip", "-o", "link"])?.ok()?;
        want_loopback_only(&out.out)
    });

    r.check("default bridge: an address, the gateway answers", || {
        let out = p.run("--rm", &["sh", "-c", PING_GATEWAY])?.ok()?;
        ensure!(
            out.out.contains("inet 10.88.") && out.out.contains("1 packets received"),
            "{:?}",
            out.out
        );
        Ok(())
    });

    r.check("--read-only: / refuses writes, /tmp is a tmpfs", || {
        let script = "touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok";
        let out = p.run("--rm --read-only", &["sh", "-c", script])?.ok()?;
        ensure!(
            out.out.contains("Read-only file system")
                && out.out.contains("rc=1")
                && out.out.contains("tmp-ok"),
            "{:?}",
            out.out
        );
        Ok(())
    });

    r.check("--tmpfs keeps the directory's files (tmpcopyup)", || {
        let script = "grep nobody /etc/group; grep -w /etc /proc/mounts";
        let out = p.run("--rm --tmpfs /etc", &["sh", "-c", script])?.ok()?;
        ensure!(
            out.out.contains("nobody:x:65534:") && out.out.contains("tmpfs /etc tmpfs"),
            "{:?}",
            out.out
        );
        Ok(())
    });

    r.check("--user 65534:65534", || {
        let out = p
            .run("--rm --user 65534:65534", &["sh", "-c", "id -u; id -g"])?
            .ok()?;
        ensure!(
            out.out.split_whitespace().eq(["65534", "65534"]),
            "{:?}",
            out.out
        );
        Ok(())
    });

    r.check("--cap-drop ALL", || {
        let out = p
            .run("--rm --cap-drop ALL", &["cat", "/proc/self/status"])?
            .ok()?;
        want_caps_none(&out.out)
    });

    r.finish();
}

/// The container's address on eth0, then one ping to its default gateway.
const PING_GATEWAY: &str = "ip -o -4 addr show eth0; \
                            gw=$(ip route | awk '/default/ {print $3}'); ping -c1 -W5 $gw";

#[test]
fn podman_hako() {
    podman_suite(Rt::Hako);
}

#[test]
fn podman_runc() {
    podman_suite(Rt::Runc);
}

// =============================================================================================
// Rootless Podman

/// Podman run by the unprivileged test user (`common::rootless_user`): it enters a user
/// namespace of its own (a pause process keeps it) and runs the runtime there as its root,
/// with no user namespace and no `cgroupsPath` in the config; the runtime must then run the
/// container without a cgroup, as runc does (issue 19.1). Its `XDG_RUNTIME_DIR`, HOME (the
/// image store) and containers.conf are in a temp dir; no network (`netns = "none"`: no
/// slirp4netns here).
struct RootlessPodman {
    user: &'static common::TestUser,
    image: String,
    dir: TempDir,
}

impl RootlessPodman {
    fn new(rt: Rt) -> RootlessPodman {
        let user = common::rootless_user();
        let dir = TempDir::new(&format!("podman-rootless-{}", rt.name()));
        let conf = format!(
            "[containers]\n\
             # No CAP_SYS_RESOURCE here: podman's default rlimits are above the hard limit.\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             netns = \"none\"\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             runtime = \"{name}\"\n\
             runtime_supports_json = [\"crun\", \"runc\", \"hako\"]\n\
             [engine.runtimes]\n\
             {name} = [\"{path}\"]\n",
            name = rt.name(),
            path = rt.path()
        );
        std::fs::write(dir.join("containers.conf"), conf).expect("containers.conf");
        for d in ["xdg", "home"] {
            std::fs::create_dir(dir.join(d)).expect("user dirs");
            std::os::unix::fs::chown(dir.join(d), Some(user.uid), Some(user.gid)).expect("chown");
        }
        std::fs::set_permissions(
            dir.join("xdg"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        let p = RootlessPodman {
            user,
            image: "localhost/hako-e2e/busybox:test".into(),
            dir,
        };
        let tar = busybox_tar(&p.dir.0);
        p.podman(&["import", &tar.to_string_lossy(), &p.image])
            .and_then(Res::ok)
            .expect("rootless podman import");
        p
    }

    fn podman(&self, args: &[&str]) -> Result<Res, String> {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .args(["--init-groups", "--", "podman"])
            .current_dir(self.dir.join("home"))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", self.dir.join("home"))
            .env("XDG_RUNTIME_DIR", self.dir.join("xdg"))
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .args(args);
        run(c)
    }

    fn inspect(&self, name: &str, format: &str) -> Result<String, String> {
        let out = self.podman(&["inspect", "-f", format, name])?.ok()?;
        Ok(out.out.trim().to_string())
    }
}

impl Drop for RootlessPodman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "-af", "-t", "0"]);
        // The pause process holding the user's namespaces, by the PID Podman recorded.
        let pause = self.dir.join("xdg/libpod/tmp/pause.pid");
        if let Some(pid) = std::fs::read_to_string(pause)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        kill_strays(&self.dir.0);
    }
}

fn podman_rootless_suite(rt: Rt) {
    let p = RootlessPodman::new(rt);
    let mut r = Report::new("rootless podman", rt);
    let name = |tag: &str| format!("e2e-{}", common::unique(tag));

    r.check(
        "run --rm: output, exit code, root of the user's namespace",
        || {
            let script = "id -u; cat /proc/self/uid_map; exit 42";
            let out = p
                .podman(&["run", "--rm", &p.image, "sh", "-c", script])?
                .code_is(42)?;
            let uid = p.user.uid;
            let map: Vec<String> = out.out.lines().map(|l| words(l).join(" ")).collect();
            ensure!(
                map.first().map(String::as_str) == Some("0")
                    && map.iter().any(|l| *l == format!("0 {uid} 1")),
                "{:?}",
                out.out
            );
            Ok(())
        },
    );

    let main = name("main");
    r.check("run -d, exec: output and exit code", || {
        p.podman(&["run", "-d", "--name", &main, &p.image, "sh", "-c", TRAPPER])?
            .ok()?;
        let status = p.inspect(&main, "{{.State.Status}}")?;
        ensure!(status == "running", "status {status:?}");
        let out = p
            .podman(&["exec", &main, "sh", "-c", "echo in-$(hostname); exit 5"])?
            .code_is(5)?;
        ensure!(out.out.contains("in-"), "no output: {:?}", out.out);
        Ok(())
    });

    r.check("stop: SIGTERM reaches the container", || {
        let t = Instant::now();
        p.podman(&["stop", "-t", "20", &main])?.ok()?;
        ensure!(
            t.elapsed() < Duration::from_secs(15),
            "took {:?}",
            t.elapsed()
        );
        let code = p.inspect(&main, "{{.State.ExitCode}}")?;
        ensure!(code == "3", "exit code {code}, wanted 3 (TERM trapped)");
        Ok(())
    });

    r.check("rm: container and runtime state gone", || {
        let id = p.inspect(&main, "{{.Id}}")?;
        p.podman(&["rm", &main])?.ok()?;
        p.podman(&["container", "exists", &main])?.code_is(1)?;
        let state = p.dir.join("xdg").join(rt.name()).join(&id);
        ensure!(!state.exists(), "{} left behind", state.display());
        Ok(())
    });

    r.finish();
}

#[test]
fn podman_rootless_hako() {
    podman_rootless_suite(Rt::Hako);
}

#[test]
fn podman_rootless_runc() {
    podman_rootless_suite(Rt::Runc);
}

// =============================================================================================
// containerd

/// One containerd for the tests running at the same time: root, state, sockets, opt dir and
/// config in a temp dir; the CRI plugin off (no Kubernetes here, `ctr` talks to it directly).
struct Containerd {
    child: Mutex<Child>,
    sock: PathBuf,
    dir: TempDir,
}

static CONTAINERD: Shared<Containerd> = Shared::new();

impl Containerd {
    fn get() -> Arc<Containerd> {
        CONTAINERD.get(Containerd::start)
    }

    fn start() -> Containerd {
        let dir = TempDir::new("containerd");
        let sock = dir.join("containerd.sock");
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \
             \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \
             \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = dir.s("root"),
            state = dir.s("state"),
            sock = sock.display(),
            opt = dir.s("opt"),
        );
        std::fs::write(dir.join("config.toml"), config).expect("config.toml");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .current_dir(&dir.0)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd (apt-get install containerd)");
        let d = Containerd {
            child: Mutex::new(child),
            sock,
            dir,
        };
        wait_daemon("containerd", &d.dir.join("containerd.log"), || {
            let mut c = Command::new("ctr");
            c.arg("--address").arg(&d.sock).arg("version");
            c
        });
        d
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        stop_daemon(&self.child);
    }
}

/// This test's corner of the shared containerd: a namespace of its own (its images, containers
/// and cgroups `/<ns>/<id>`), the runtime's `--runc-root` and the fifos in a temp dir.
struct Ctr {
    rt: Rt,
    ns: String,
    image: String,
    ids: RefCell<Vec<String>>,
    dir: TempDir,
    d: Arc<Containerd>,
}

impl Ctr {
    fn new(rt: Rt) -> Ctr {
        let c = Ctr {
            rt,
            ns: format!("hako-e2e-{}", common::unique(&format!("ctr-{}", rt.name()))),
            image: "localhost/hako-e2e/busybox:test".into(),
            ids: RefCell::new(Vec::new()),
            dir: TempDir::new(&format!("ctr-{}", rt.name())),
            d: Containerd::get(),
        };
        let archive = busybox_oci_archive(&c.dir.0);
        let base = "localhost/hako-e2e/busybox";
        c.ctr(&[
            "image",
            "import",
            "--base-name",
            base,
            &archive.to_string_lossy(),
        ])
        .and_then(Res::ok)
        .expect("ctr image import");
        c
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.current_dir(&self.dir.0);
        c.arg("--address").arg(&self.d.sock).args(["-n", &self.ns]);
        c.args(args);
        c
    }

    fn ctr(&self, args: &[&str]) -> Result<Res, String> {
        run(self.cmd(args))
    }

    fn id(&self, tag: &str) -> String {
        let id = format!("e2e-{}", common::unique(tag));
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// `ctr run` through the runc shim, this runtime as its binary, our root and fifo dir.
    fn run_cmd(&self, opts: &str, id: &str, args: &[&str]) -> Command {
        let (root, fifo) = (self.dir.s("runc-root"), self.dir.s("fifo"));
        let mut all = words("run --runtime io.containerd.runc.v2");
        all.extend(["--runc-binary", self.rt.path(), "--runc-root", &root]);
        all.extend(["--fifo-dir", &fifo]);
        all.extend(words(opts));
        all.extend([self.image.as_str(), id]);
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    fn run(&self, opts: &str, id: &str, args: &[&str]) -> Result<Res, String> {
        run(self.run_cmd(opts, id, args))
    }

    /// `ctr task exec` with its fifos in our dir.
    fn exec_cmd(&self, opts: &str, id: &str, args: &[&str]) -> Command {
        let fifo = self.dir.s("fifo");
        let mut all = vec!["task", "exec", "--fifo-dir", &fifo];
        all.extend(words(opts));
        all.push(id);
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    fn exec(&self, opts: &str, id: &str, args: &[&str]) -> Result<Res, String> {
        run(self.exec_cmd(opts, id, args))
    }

    /// The task of `id` in `ctr task ls`: (pid, status).
    fn task(&self, id: &str) -> Result<Option<(String, String)>, String> {
        let out = self.ctr(&["task", "ls"])?.ok()?;
        Ok(out.out.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == id).then(|| (f[1].to_string(), f[2].to_string()))
        }))
    }

    fn status(&self, id: &str) -> Result<String, String> {
        Ok(self.task(id)?.map(|t| t.1).unwrap_or_default())
    }

    fn cgroup(&self, id: &str) -> String {
        format!("{}/{id}", self.ns)
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.ctr(&["task", "kill", "-a", "-s", "KILL", id]);
            let _ = self.ctr(&["task", "delete", "-f", id]);
            let _ = self.ctr(&["container", "rm", id]);
        }
        let _ = self.ctr(&["image", "rm", &self.image]);
        kill_strays(&self.dir.0);
        remove_cgroups(&self.ns);
        for id in self.ids.borrow().iter() {
            if let Some(s) = shim_socket(&self.d.sock, &self.ns, id) {
                let _ = std::fs::remove_file(s);
            }
        }
    }
}

fn containerd_suite(rt: Rt) {
    let c = Ctr::new(rt);
    let mut r = Report::new("containerd", rt);

    r.check("run --rm: output, exit code, container removed", || {
        let id = c.id("rm");
        let out = c
            .run("--rm", &id, &["sh", "-c", "echo hello; exit 4"])?
            .code_is(4)?;
        ensure!(out.out.contains("hello"), "no output: {:?}", out.out);
        let list = c.ctr(&["container", "ls", "-q"])?.ok()?;
        ensure!(!list.out.lines().any(|l| l == id), "{id} still listed");
        Ok(())
    });

    r.check("a new network namespace has its loopback up", || {
        let out = c.run("--rm", &c.id("lo"), &["ip", "-o", "link"])?.ok()?;
        want_loopback_only(&out.out)
    });

    let main = c.id("main");
    r.check("run -d, --memory-limit in effect", || {
        c.run("-d --memory-limit 67108864", &main, &["sleep", "1000"])?
            .ok()?;
        let (pid, status) = c.task(&main)?.ok_or("no task")?;
        ensure!(status == "RUNNING", "status {status}");
        let rel = c.cgroup(&main);
        ensure!(cg_memory(&rel)? == "67108864", "memory limit not set");
        let procs = cg_procs(&rel)?;
        ensure!(procs.lines().any(|l| l == pid), "{pid} not in {rel}");
        Ok(())
    });

    r.check("--memory-limit enforced: OOM kill (137)", || {
        let dd = words("dd if=/dev/zero of=/dev/null bs=96M count=1");
        c.run("--rm --memory-limit 33554432", &c.id("oom"), &dd)?
            .code_is(137)?;
        Ok(())
    });

    r.check("task exec: output and exit code", || {
        let out = c
            .exec("--exec-id e1", &main, &["sh", "-c", "echo ex; exit 6"])?
            .code_is(6)?;
        ensure!(out.out.contains("ex"), "no output: {:?}", out.out);
        Ok(())
    });

    r.check("task exec -t (under script): a terminal, exit code", || {
        let cmd = c.exec_cmd("-t --exec-id e2", &main, &["sh", "-c", &tty_then_exit(9)]);
        let out = run(under_script(&cmd))?.code_is(9)?;
        ensure!(out.out.contains("/dev/pts/"), "no tty: {:?}", out.out);
        Ok(())
    });

    let mut bg_pid = String::new();
    r.check("task ps: the init and an exec'd process", || {
        c.exec("-d --exec-id bg", &main, &["sleep", "500"])?.ok()?;
        let (pid, _) = c.task(&main)?.ok_or("no task")?;
        let out = c.ctr(&["task", "ps", &main])?.ok()?;
        let pids: Vec<String> = out
            .out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect();
        ensure!(pids.len() == 2 && pids.contains(&pid), "task ps: {pids:?}");
        bg_pid = pids.into_iter().find(|p| *p != pid).unwrap_or_default();
        Ok(())
    });

    r.check("task pause/resume", || {
        c.ctr(&["task", "pause", &main])?.ok()?;
        let s = c.status(&main)?;
        ensure!(s == "PAUSED", "status {s} after pause");
        c.ctr(&["task", "resume", &main])?.ok()?;
        let s = c.status(&main)?;
        ensure!(s == "RUNNING", "status {s} after resume");
        Ok(())
    });

    r.check("task metrics", || {
        let out = c.ctr(&["task", "metrics", &main])?.ok()?;
        let limit = if v1() {
            "memory.limit_in_bytes"
        } else {
            "memory.max"
        };
        let has = |k: &str, v: &str| out.out.lines().any(|l| l.split_whitespace().eq([k, v]));
        ensure!(
            has(limit, "67108864") && has("pids.current", "2"),
            "metrics: {:?}",
            out.out
        );
        Ok(())
    });

    r.check("task kill: SIGTERM by default, exit status seen", || {
        let id = c.id("term");
        c.run("-d", &id, &["sh", "-c", TRAPPER])?.ok()?;
        c.ctr(&["task", "kill", &id])?.ok()?;
        wait_for("the task to stop", || Ok(c.status(&id)? == "STOPPED"))?;
        let out = c.ctr(&["task", "delete", &id])?.ok()?;
        ensure!(
            out.err.contains("exit code 3"),
            "wanted exit code 3 (TERM trapped): {:?}",
            out.err
        );
        Ok(())
    });

    r.check("task kill --all: every process of the container", || {
        ensure!(!bg_pid.is_empty(), "no exec'd process from task ps");
        c.ctr(&["task", "kill", "--all", "-s", "KILL", &main])?
            .ok()?;
        wait_for("the task to stop", || Ok(c.status(&main)? == "STOPPED"))?;
        wait_for("the exec'd process to go", || {
            Ok(!Path::new("/proc").join(&bg_pid).exists())
        })
    });

    r.check("task delete: task, runtime state and cgroup gone", || {
        let out = c.ctr(&["task", "delete", &main])?.ok()?;
        ensure!(out.err.contains("exit code 137"), "{:?}", out.err);
        ensure!(c.task(&main)?.is_none(), "task still listed");
        let state = c.dir.join("runc-root").join(&main);
        ensure!(!state.exists(), "{} left behind", state.display());
        ensure!(!cg_exists(&c.cgroup(&main)), "cgroup left behind");
        c.ctr(&["container", "rm", &main])?.ok()?;
        Ok(())
    });

    r.finish();
}

#[test]
fn containerd_hako() {
    containerd_suite(Rt::Hako);
}

#[test]
fn containerd_runc() {
    containerd_suite(Rt::Runc);
}

// =============================================================================================
// Docker

/// One dockerd for the tests running at the same time, with both runtimes added
/// (`--add-runtime e2e-hako=... --add-runtime e2e-runc=...`); data root, exec root, pidfile,
/// socket, daemon.json and its own containerd in a temp dir; run in a network namespace of its
/// own, so its default bridge (docker0) and iptables rules stay there; containers' cgroups
/// under a parent of its own.
struct Docker {
    child: Mutex<Child>,
    sock: PathBuf,
    cgparent: String,
    image: String,
    // Dropped after `Drop::drop` stopped the daemon: the netns, then the dir.
    _netns: Netns,
    dir: TempDir,
}

static DOCKER_DAEMON: Shared<Docker> = Shared::new();

impl Docker {
    fn get() -> Arc<Docker> {
        DOCKER_DAEMON.get(Docker::start)
    }

    fn start() -> Docker {
        let dir = TempDir::new("docker");
        let netns = Netns::new("docker");
        let sock = dir.join("docker.sock");
        let cgparent = format!("hako-e2e-{}", common::unique("docker-cg"));
        std::fs::write(dir.join("daemon.json"), "{}").expect("daemon.json");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        let child = netns
            .wrap("dockerd")
            .current_dir(&dir.0)
            .arg(format!("--config-file={}", dir.s("daemon.json")))
            .arg(format!("--data-root={}", dir.s("data")))
            .arg(format!("--exec-root={}", dir.s("exec")))
            .arg(format!("--pidfile={}", dir.s("dockerd.pid")))
            .arg(format!("--host=unix://{}", sock.display()))
            .args(["--storage-driver=vfs", "--userland-proxy=false"])
            .arg("--exec-opt=native.cgroupdriver=cgroupfs")
            .arg(format!("--cgroup-parent=/{cgparent}"))
            .arg(format!("--add-runtime=e2e-hako={}", Rt::Hako.path()))
            .arg(format!("--add-runtime=e2e-runc={}", Rt::Runc.path()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd (apt-get install docker.io)");
        let d = Docker {
            child: Mutex::new(child),
            sock,
            cgparent,
            image: "hako-e2e/busybox:test".into(),
            _netns: netns,
            dir,
        };
        wait_daemon("dockerd", &d.dir.join("dockerd.log"), || d.cmd(&["info"]));
        let tar = busybox_tar(&d.dir.0);
        d.docker(&["import", &tar.to_string_lossy(), &d.image])
            .and_then(Res::ok)
            .expect("docker import");
        d
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.current_dir(&self.dir.0)
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .arg(format!("--host=unix://{}", self.sock.display()))
            .args(args);
        c
    }

    fn docker(&self, args: &[&str]) -> Result<Res, String> {
        run(self.cmd(args))
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Ok(ids) = self.docker(&["ps", "-aq"]) {
            for id in ids.out.split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        stop_daemon(&self.child);
        kill_strays(&self.dir.0);
        remove_cgroups(&self.cgparent);
    }
}

/// This test's containers on the shared dockerd: named with a prefix of its own, removed on
/// drop; `--runtime e2e-<rt>` on every run.
struct DockerTest {
    rt: Rt,
    prefix: String,
    d: Arc<Docker>,
}

impl DockerTest {
    fn new(rt: Rt) -> DockerTest {
        DockerTest {
            rt,
            prefix: format!("e2e-{}", common::unique(rt.name())),
            d: Docker::get(),
        }
    }

    fn name(&self, tag: &str) -> String {
        format!("{}-{tag}", self.prefix)
    }

    fn docker(&self, args: &[&str]) -> Result<Res, String> {
        self.d.docker(args)
    }

    /// `docker run --runtime e2e-<rt> <opts> <image> <args>`.
    fn run_cmd(&self, opts: &str, args: &[&str]) -> Command {
        let runtime = format!("--runtime=e2e-{}", self.rt.name());
        let mut all = vec!["run", &runtime];
        all.extend(words(opts));
        all.push(&self.d.image);
        all.extend_from_slice(args);
        self.d.cmd(&all)
    }

    fn run(&self, opts: &str, args: &[&str]) -> Result<Res, String> {
        run(self.run_cmd(opts, args))
    }

    fn inspect(&self, name: &str, format: &str) -> Result<String, String> {
        let out = self.docker(&["inspect", "-f", format, name])?.ok()?;
        Ok(out.out.trim().to_string())
    }

    fn cgroup(&self, name: &str) -> Result<String, String> {
        let id = self.inspect(name, "{{.Id}}")?;
        Ok(format!("{}/{id}", self.d.cgparent))
    }
}

impl Drop for DockerTest {
    fn drop(&mut self) {
        let filter = format!("name={}", self.prefix);
        if let Ok(ids) = self.docker(&["ps", "-aq", "--filter", &filter]) {
            for id in ids.out.split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
    }
}

fn docker_suite(rt: Rt) {
    let t = DockerTest::new(rt);
    let mut r = Report::new("docker", rt);

    r.check("run --rm: output, exit code, container removed", || {
        let n = t.name("rm");
        let out = t
            .run(
                &format!("--rm --name {n}"),
                &["sh", "-c", "echo hello; exit 3"],
            )?
            .code_is(3)?;
        ensure!(out.out.contains("hello"), "no output: {:?}", out.out);
        let gone = t.docker(&["container", "inspect", &n])?;
        ensure!(gone.code != Some(0), "{n} still exists");
        Ok(())
    });

    r.check(
        "exit codes: 127 missing program, 126 not executable",
        || {
            t.run("--rm", &["/nonexistent"])?.code_is(127)?;
            t.run("--rm", &["/etc/passwd"])?.code_is(126)?;
            Ok(())
        },
    );

    let main = t.name("main");
    r.check("run -d, --memory/--cpus/--pids-limit in effect", || {
        let opts = format!("-d --name {main} --memory 64m --cpus 0.5 --pids-limit 40");
        t.run(&opts, &["sleep", "1000"])?.ok()?;
        let pid = t.inspect(&main, "{{.State.Pid}}")?;
        check_limits(&t.cgroup(&main)?, &pid, "67108864", "50000 100000", "40")
    });

    r.check("--memory enforced: OOM kill (137)", || {
        let dd = words("dd if=/dev/zero of=/dev/null bs=96M count=1");
        t.run("--rm --memory 32m", &dd)?.code_is(137)?;
        Ok(())
    });

    r.check("exec: output and exit code", || {
        let out = t
            .docker(&["exec", &main, "sh", "-c", "echo in-$(hostname); exit 5"])?
            .code_is(5)?;
        ensure!(out.out.contains("in-"), "no output: {:?}", out.out);
        Ok(())
    });

    r.check("run -it (under script): a terminal, exit code", || {
        let c = t.run_cmd("-it --rm", &["sh", "-c", &tty_then_exit(7)]);
        let out = run(under_script(&c))?.code_is(7)?;
        ensure!(out.out.contains("/dev/pts/"), "no tty: {:?}", out.out);
        Ok(())
    });

    r.check("top", || {
        let out = t.docker(&["top", &main])?.ok()?;
        ensure!(out.out.contains("sleep 1000"), "no sleep in {:?}", out.out);
        Ok(())
    });

    r.check("stats", || {
        let f = "{{.Name}} pids={{.PIDs}} mem={{.MemUsage}}";
        let out = t
            .docker(&["stats", "--no-stream", "--format", f, &main])?
            .ok()?;
        let want = format!("{main} pids=1 mem=");
        ensure!(
            out.out.contains(&want) && out.out.contains("/ 64MiB"),
            "stats: {:?}",
            out.out
        );
        Ok(())
    });

    r.check("pause/unpause", || {
        t.docker(&["pause", &main])?.ok()?;
        let s = t.inspect(&main, "{{.State.Status}}")?;
        ensure!(s == "paused", "status {s:?} after pause");
        t.docker(&["unpause", &main])?.ok()?;
        let s = t.inspect(&main, "{{.State.Status}}")?;
        ensure!(s == "running", "status {s:?} after unpause");
        t.docker(&["exec", &main, "true"])?.ok()?;
        Ok(())
    });

    r.check("update (resources on the runtime's stdin)", || {
        let opts = "--memory 96m --memory-swap 192m --cpus 1.5 --pids-limit 50";
        let mut args = vec!["update"];
        args.extend(words(opts));
        args.push(&main);
        t.docker(&args)?.ok()?;
        let pid = t.inspect(&main, "{{.State.Pid}}")?;
        check_limits(&t.cgroup(&main)?, &pid, "100663296", "150000 100000", "50")
    });

    r.check("stop: SIGTERM reaches the container", || {
        let n = t.name("stop");
        t.run(&format!("-d --name {n}"), &["sh", "-c", TRAPPER])?
            .ok()?;
        let start = Instant::now();
        t.docker(&["stop", "-t", "20", &n])?.ok()?;
        ensure!(
            start.elapsed() < Duration::from_secs(15),
            "took {:?}",
            start.elapsed()
        );
        let code = t.inspect(&n, "{{.State.ExitCode}}")?;
        ensure!(code == "3", "exit code {code}, wanted 3 (TERM trapped)");
        Ok(())
    });

    r.check("kill: -s HUP, then the default SIGKILL", || {
        let n = t.name("kill");
        t.run(&format!("-d --name {n}"), &["sh", "-c", TRAPPER])?
            .ok()?;
        t.docker(&["kill", "-s", "HUP", &n])?.ok()?;
        let code = t.docker(&["wait", &n])?.ok()?.out;
        ensure!(code.trim() == "4", "exit code {code:?}, wanted 4 (HUP)");
        let n = t.name("kill9");
        t.run(&format!("-d --name {n}"), &["sleep", "1000"])?.ok()?;
        t.docker(&["kill", &n])?.ok()?;
        let code = t.docker(&["wait", &n])?.ok()?.out;
        ensure!(code.trim() == "137", "exit code {code:?}, wanted 137");
        Ok(())
    });

    r.check("rm -f: container and cgroup gone", || {
        let rel = t.cgroup(&main)?;
        t.docker(&["rm", "-f", &main])?.ok()?;
        let gone = t.docker(&["container", "inspect", &main])?;
        ensure!(gone.code != Some(0), "{main} still exists");
        ensure!(!cg_exists(&rel), "cgroup {rel} left behind");
        Ok(())
    });

    r.check("default bridge (prestart hook): address, gateway", || {
        let out = t.run("--rm", &["sh", "-c", PING_GATEWAY])?.ok()?;
        ensure!(
            out.out.contains("inet 172.17.") && out.out.contains("1 packets received"),
            "{:?}",
            out.out
        );
        Ok(())
    });

    r.check("--network none: only loopback, up", || {
        let out = t.run("--rm --network none", &["ip", "-o", "link"])?.ok()?;
        want_loopback_only(&out.out)
    });

    r.check("--init: docker-init is PID 1", || {
        let script = "tr '\\0' ' ' < /proc/1/cmdline; echo; exit 6";
        let out = t.run("--rm --init", &["sh", "-c", script])?.code_is(6)?;
        ensure!(out.out.contains("docker-init -- sh"), "{:?}", out.out);
        Ok(())
    });

    r.finish();
}

#[test]
fn docker_hako() {
    docker_suite(Rt::Hako);
}

#[test]
fn docker_runc() {
    docker_suite(Rt::Runc);
}
