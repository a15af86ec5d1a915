//! `checkpoint` and `restore` through CRIU, each case also run with runc as the control where
//! it does the same thing (runc 1.5.1, the reference, and Debian's 1.1.5 for the main case).
//!
//! CRIU 3.17 does not work on this host's kernel (`criu check` fails), so the tests that need
//! it print `SKIPPED: <test>: <why>` here and run inside a VM with Debian's 6.1 kernel and a
//! pure cgroup v2 layout: `scripts/vm-checkpoint-tests.sh`, which fails on any skip. The bad
//! input cases that never reach CRIU run everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cgroups_named, hako_bin, reference_runc, unique, Bundle, Out, World};
use serde_json::json;

/// Why CRIU cannot run here, if it cannot (its own check, run as `criu check` would be).
fn no_criu() -> Option<String> {
    match Command::new("criu").arg("check").output() {
        Err(e) => Some(format!("criu is not installed ({e})")),
        Ok(o) if !o.status.success() => Some(format!(
            "criu check fails on this kernel: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Ok(_) => None,
    }
}

/// Skip visibly (past the harness's capture) where CRIU does not work.
macro_rules! require_criu {
    ($name:expr) => {
        if let Some(why) = no_criu() {
            let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {why}", $name);
            return;
        }
    };
}

/// One runtime under test: hako or a runc, with its own state root; deletes what it ran.
struct Rt<'w> {
    name: &'static str,
    bin: PathBuf,
    root: PathBuf,
    w: &'w World,
    ids: std::cell::RefCell<Vec<String>>,
}

impl<'w> Rt<'w> {
    fn hako(w: &'w World) -> Rt<'w> {
        Rt::new("hako", PathBuf::from(hako_bin()), w.root.clone(), w)
    }

    fn new(name: &'static str, bin: PathBuf, root: PathBuf, w: &'w World) -> Rt<'w> {
        Rt {
            name,
            bin,
            root,
            w,
            ids: Default::default(),
        }
    }

    /// hako, runc 1.5.1 (when ../shared is there) and, with `old`, Debian's runc 1.1.5.
    fn all(w: &'w World, old: bool) -> Vec<Rt<'w>> {
        let mut v = vec![Rt::hako(w)];
        if let Some(r) = reference_runc() {
            v.push(Rt::new("runc 1.5.1", r, w.dir.join("runc-state"), w));
        }
        if old && Path::new("/usr/sbin/runc").exists() {
            let root = w.dir.join("runc-old-state");
            v.push(Rt::new("runc 1.1.5", "/usr/sbin/runc".into(), root, w));
        }
        v
    }

    fn id(&self, tag: &str) -> String {
        let id = unique(tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).stdin(Stdio::null());
        c
    }

    /// Run with stdout and stderr captured in files (not pipes: a container may keep them).
    fn run(&self, args: &[&str]) -> Out {
        let n = unique("out");
        let (o, e) = (
            self.w.dir.join(format!("{n}.out")),
            self.w.dir.join(format!("{n}.err")),
        );
        let status = self
            .cmd()
            .args(args)
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        Out(std::process::Output {
            status,
            stdout: std::fs::read(&o).unwrap(),
            stderr: std::fs::read(&e).unwrap(),
        })
    }

    /// `run -d` with the container's stdio on /dev/null (CRIU cannot dump a file of a host
    /// mount: a test's capture files would be one); errors come through `--log`.
    fn start(&self, b: &Bundle, id: &str, extra: &[&str]) {
        let log = self.w.dir.join(unique("log"));
        let status = self
            .cmd()
            .arg("--log")
            .arg(&log)
            .args(["run", "-d", "--bundle", b.path()])
            .args(extra)
            .arg(id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "{}: run -d {id}: {text}", self.name);
    }

    /// A [`COUNTER`] container (`tag` in its id) started and seen counting up to `min`.
    fn start_counter(&self, tag: &str, min: u64) -> Counter {
        let b = bundle(self.w, COUNTER);
        let count = b.rootfs().join("tmp/count");
        let id = self.id(tag);
        self.start(&b, &id, &[]);
        let seen = wait_count(&count, min);
        Counter { b, count, id, seen }
    }

    fn status(&self, id: &str) -> Option<String> {
        let out = self.run(&["state", id]);
        if !out.0.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
        v["status"].as_str().map(String::from)
    }

    fn checkpoint(&self, id: &str, images: &Path, extra: &[&str]) -> Out {
        let mut args = vec!["checkpoint", "--image-path", images.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    fn restore(&self, b: &Bundle, id: &str, images: &Path, extra: &[&str]) -> Out {
        let mut args = vec![
            "restore",
            "-d",
            "--bundle",
            b.path(),
            "--image-path",
            images.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }
}

impl Drop for Rt<'_> {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}

// Written to a new file and renamed, so a dump that stops the loop between the truncation and
// the write of `>` never leaves an empty /tmp/count behind.
const COUNTER: &str =
    "i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.2; done";

/// A running [`COUNTER`] container.
struct Counter {
    b: Bundle,
    /// Its count file, seen from the host.
    count: PathBuf,
    id: String,
    /// The count seen when it was started.
    seen: u64,
}

/// A busybox bundle running `script`, with a writable rootfs and a cgroup of its own.
fn bundle(w: &World, script: &str) -> Bundle {
    let mut b = w.bundle(&["sh", "-c", script]);
    let cg = format!("/{}", unique("hako-ckpt"));
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["cgroupsPath"] = json!(cg);
    });
    b
}

fn count_in(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Wait (30 s at most: the VM is slow) until the counter in `file` is at least `min`.
fn wait_count(file: &Path, min: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(n) = count_in(file).filter(|n| *n >= min) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "{} never reached {min}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The counter carries on from `from` (it was not restarted): every value read is at least
/// `from`, and it passes `from + 3`.
fn carries_on(file: &Path, from: u64, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(n) = count_in(file) {
            assert!(n >= from, "{who}: the counter restarted ({n} after {from})");
            if n >= from + 3 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{who}: the counter stopped at {from}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The counter does not move for a while (its process is gone or frozen).
fn stands_still(file: &Path, who: &str) -> u64 {
    let a = count_in(file).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let b = count_in(file).unwrap();
    assert_eq!(a, b, "{who}: the counter still moves");
    a
}

#[test]
fn counter_keeps_counting_after_restore() {
    require_criu!("counter_keeps_counting_after_restore");
    let w = World::new("ckpt-counter");
    for rt in Rt::all(&w, true) {
        let Counter { b, count, id, .. } = rt.start_counter("ctr", 3);
        let images = w.dir.join(unique("img"));
        rt.checkpoint(&id, &images, &[]).ok();
        // As runc: the dumped container is gone, its processes with it.
        assert_eq!(rt.status(&id), None, "{}: state after checkpoint", rt.name);
        let at = stands_still(&count, rt.name);
        assert!(images.join("descriptors.json").is_file(), "{}", rt.name);
        rt.restore(&b, &id, &images, &[]).ok();
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{}", rt.name);
        carries_on(&count, at, rt.name);
        rt.run(&["delete", "--force", &id]).ok();
    }
}

#[test]
fn leave_running_keeps_the_container() {
    require_criu!("leave_running_keeps_the_container");
    let w = World::new("ckpt-leave");
    for rt in Rt::all(&w, false) {
        let Counter {
            count, id, seen, ..
        } = rt.start_counter("leave", 2);
        let images = w.dir.join(unique("img"));
        rt.checkpoint(&id, &images, &["--leave-running"]).ok();
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{}", rt.name);
        assert!(images.join("inventory.img").is_file(), "{}", rt.name);
        carries_on(&count, seen, rt.name);
        rt.run(&["delete", "--force", &id]).ok();
    }
}

#[test]
fn pre_dump_then_dump_with_parent_path() {
    require_criu!("pre_dump_then_dump_with_parent_path");
    let w = World::new("ckpt-predump");
    for rt in Rt::all(&w, false) {
        let Counter { b, count, id, .. } = rt.start_counter("pre", 2);
        let images = w.dir.join(unique("img"));
        let pre = images.join("pre");
        rt.checkpoint(&id, &pre, &["--pre-dump"]).ok();
        // A pre-dump leaves the container running.
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{}", rt.name);
        let last = images.join("last");
        rt.checkpoint(&id, &last, &["--parent-path", "../pre"]).ok();
        assert_eq!(rt.status(&id), None, "{}", rt.name);
        // CRIU links the final dump to its parent.
        let parent = std::fs::read_link(last.join("parent")).unwrap();
        assert_eq!(parent, Path::new("../pre"), "{}", rt.name);
        let at = stands_still(&count, rt.name);
        rt.restore(&b, &id, &last, &[]).ok();
        carries_on(&count, at, rt.name);
        rt.run(&["delete", "--force", &id]).ok();
    }
}

/// A network namespace made with `ip netns add`, deleted when dropped.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = unique("hako-ckpt-ns");
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        Netns(name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

fn inode(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
}

#[test]
fn joined_network_namespace_is_kept() {
    require_criu!("joined_network_namespace_is_kept");
    let w = World::new("ckpt-netns");
    for rt in Rt::all(&w, false) {
        let ns = Netns::new();
        let mut b = bundle(&w, COUNTER);
        let path = ns.path();
        b.edit(|c| {
            for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
                if n["type"] == "network" {
                    n["path"] = json!(path);
                }
            }
        });
        let count = b.rootfs().join("tmp/count");
        let id = rt.id("netns");
        rt.start(&b, &id, &[]);
        wait_count(&count, 2);
        let images = w.dir.join(unique("img"));
        rt.checkpoint(&id, &images, &[]).ok();
        let at = stands_still(&count, rt.name);
        rt.restore(&b, &id, &images, &[]).ok();
        carries_on(&count, at, rt.name);
        // Restored into the namespace it had joined, not a new one.
        let state: serde_json::Value =
            serde_json::from_str(&rt.run(&["state", &id]).ok().stdout()).unwrap();
        let pid = state["pid"].as_i64().unwrap();
        let inside = inode(Path::new(&format!("/proc/{pid}/ns/net")));
        assert_eq!(
            inside,
            inode(&path),
            "{}: the restored network namespace",
            rt.name
        );
        rt.run(&["delete", "--force", &id]).ok();
    }
}

#[test]
fn lazy_pages_through_a_page_server() {
    require_criu!("lazy_pages_through_a_page_server");
    let w = World::new("ckpt-lazy");
    for (n, rt) in Rt::all(&w, false).into_iter().enumerate() {
        let Counter { b, count, id, .. } = rt.start_counter("lazy", 2);
        let images = w.dir.join(unique("img"));
        let port = (27277 + n).to_string();
        // --status-fd: the write end of a pipe, inherited (pipe(2) makes no close-on-exec fds).
        let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
        let fd = ready_w.as_raw_fd().to_string();
        let page_server = format!("127.0.0.1:{port}");
        let dump = rt
            .cmd()
            .args(["checkpoint", "--lazy-pages", "--page-server", &page_server])
            .args(["--status-fd", &fd, "--image-path"])
            .arg(&images)
            .arg(&id)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut dump = Guard(dump);
        drop(ready_w);
        // The dump is done and its pages are served once \0 comes.
        let mut byte = [1u8; 1];
        let got = std::fs::File::from(ready_r).read(&mut byte).unwrap();
        assert_eq!((got, byte[0]), (1, 0), "{}: --status-fd", rt.name);
        let daemon = Command::new("criu")
            .args(["lazy-pages", "--page-server", "--address", "127.0.0.1"])
            .args(["--port", &port, "-D"])
            .arg(&images)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut daemon = Guard(daemon);
        // The dumped container is still there (and in its cgroup) while its pages are served:
        // a new id and cgroup, as for runc.
        let cg = format!("/{}", unique("hako-ckpt-lazy"));
        let mut b = b;
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(cg));
        let new_id = rt.id("lazy-restored");
        rt.restore(&b, &new_id, &images, &["--lazy-pages"]).ok();
        assert!(
            dump.0.wait().unwrap().success(),
            "{}: the lazy checkpoint",
            rt.name
        );
        let _ = daemon.0.wait();
        assert_eq!(rt.status(&id), None, "{}: the dumped container", rt.name);
        assert_eq!(
            rt.status(&new_id).as_deref(),
            Some("running"),
            "{}",
            rt.name
        );
        let at = count_in(&count).unwrap();
        carries_on(&count, at, rt.name);
        rt.run(&["delete", "--force", &new_id]).ok();
    }
}

/// A `--console-socket` receiver: the pty master sent by the runtime.
struct ConsoleSocket {
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<OwnedFd>>,
}

impl ConsoleSocket {
    fn new(w: &World) -> ConsoleSocket {
        let path = w.dir.join(unique("console.sock"));
        let listener = UnixListener::bind(&path).unwrap();
        let thread = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let (_, fd) = libhako::sync::recv_fd(conn.as_fd(), &mut buf).unwrap();
            fd.expect("a pty master")
        });
        ConsoleSocket {
            path,
            thread: Some(thread),
        }
    }

    fn master(mut self) -> std::fs::File {
        std::fs::File::from(self.thread.take().unwrap().join().unwrap())
    }
}

/// Read from the pty master until a `tick N` line with N > `after` shows; returns N.
fn tick_after(master: &mut std::fs::File, after: u64, who: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    loop {
        if readable(master) {
            let n = master.read(&mut buf).unwrap_or(0);
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            let ticks: Vec<u64> = text
                .split("tick ")
                .skip(1)
                .filter_map(|t| t.split_whitespace().next()?.parse().ok())
                .collect();
            if let Some(t) = ticks.iter().rev().find(|t| **t > after) {
                return *t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{who}: no tick after {after} on the terminal: {text:?}"
        );
    }
}

/// Whether the master has something to read within 200 ms.
fn readable(master: &std::fs::File) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(200u16)).is_ok_and(|n| n > 0)
}

#[test]
fn terminal_through_console_socket() {
    require_criu!("terminal_through_console_socket");
    let w = World::new("ckpt-tty");
    for rt in Rt::all(&w, false) {
        let mut b = bundle(
            &w,
            "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done",
        );
        b.edit(|c| c["process"]["terminal"] = json!(true));
        let id = rt.id("tty");
        let sock = ConsoleSocket::new(&w);
        rt.start(&b, &id, &["--console-socket", sock.path.to_str().unwrap()]);
        let mut first = sock.master();
        let before = tick_after(&mut first, 1, rt.name);
        let images = w.dir.join(unique("img"));
        rt.checkpoint(&id, &images, &[]).ok();
        drop(first);
        let sock = ConsoleSocket::new(&w);
        let path = sock.path.to_str().unwrap().to_string();
        rt.restore(&b, &id, &images, &["--console-socket", &path])
            .ok();
        // The restored shell writes on to a new terminal, from where it was.
        let mut second = sock.master();
        tick_after(&mut second, before, rt.name);
        rt.run(&["delete", "--force", &id]).ok();
    }
}

/// A bundle whose counter writes to `/data/count`, a bind mount of a host directory of its
/// own; the host path of that file.
fn counter_on_a_bind(w: &World) -> (Bundle, PathBuf) {
    let mut b = bundle(
        w,
        "i=0; while :; do i=$((i+1)); echo $i > /data/count; sleep 0.2; done",
    );
    let data = w.dir.join(unique("data"));
    std::fs::create_dir_all(&data).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": data, "options": ["rbind", "rw"]
        }))
    });
    (b, data.join("count"))
}

#[test]
fn bind_mount_is_restored() {
    require_criu!("bind_mount_is_restored");
    let w = World::new("ckpt-bind");
    for rt in Rt::all(&w, false) {
        let (b, count) = counter_on_a_bind(&w);
        let id = rt.id("bind");
        rt.start(&b, &id, &[]);
        wait_count(&count, 2);
        let images = w.dir.join(unique("img"));
        rt.checkpoint(&id, &images, &[]).ok();
        let at = stands_still(&count, rt.name);
        rt.restore(&b, &id, &images, &[]).ok();
        carries_on(&count, at, rt.name);
        rt.run(&["delete", "--force", &id]).ok();
    }
}

#[test]
fn restored_container_goes_through_the_lifecycle() {
    require_criu!("restored_container_goes_through_the_lifecycle");
    let w = World::new("ckpt-life");
    let rt = Rt::hako(&w);
    let Counter { b, count, id, .. } = rt.start_counter("life", 2);
    let images = w.dir.join(unique("img"));
    rt.checkpoint(&id, &images, &[]).ok();
    let at = stands_still(&count, "hako");
    let pid_file = w.dir.join("restored.pid");
    rt.restore(
        &b,
        &id,
        &images,
        &["--pid-file", pid_file.to_str().unwrap()],
    )
    .ok();
    let state: serde_json::Value =
        serde_json::from_str(&rt.run(&["state", &id]).ok().stdout()).unwrap();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(state["pid"].to_string(), pid.trim(), "--pid-file");
    carries_on(&count, at, "hako");
    let seen = rt.run(&["exec", &id, "cat", "/tmp/count"]).ok().stdout();
    assert!(seen.trim().parse::<u64>().unwrap() >= at, "exec: {seen}");
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.status(&id).as_deref(), Some("paused"));
    let frozen = stands_still(&count, "hako paused");
    rt.run(&["resume", &id]).ok();
    carries_on(&count, frozen, "hako resumed");
    rt.run(&["kill", &id, "KILL"]).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.status(&id).as_deref() != Some("stopped") {
        assert!(Instant::now() < deadline, "never stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cg = b.dir.join("config.json");
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(cg).unwrap()).unwrap();
    let cg_name = cfg["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .trim_start_matches('/');
    assert!(!cgroups_named(cg_name).is_empty(), "the restored cgroup");
    rt.run(&["delete", &id]).ok();
    assert!(
        cgroups_named(cg_name).is_empty(),
        "cgroup left after delete"
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn foreground_restore_hands_over_pipes_and_exit_status() {
    require_criu!("foreground_restore_hands_over_pipes_and_exit_status");
    let w = World::new("ckpt-fg");
    let rt = Rt::hako(&w);
    let script = "i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); echo $i; sleep 0.2; done; exit 7";
    let b = bundle(&w, script);
    let id = rt.id("fg");
    // stdout is a pipe, as an engine's: the restored process gets the restore's stdout.
    let mut first = rt
        .cmd()
        .args(["run", "-d", "--bundle", b.path(), &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = first.stdout.take().unwrap();
    assert!(first.wait().unwrap().success());
    let mut buf = [0u8; 64];
    let n = out.read(&mut buf).unwrap();
    assert!(n > 0);
    let images = w.dir.join(unique("img"));
    rt.checkpoint(&id, &images, &[]).ok();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let last: u64 = rest
        .lines()
        .chain(String::from_utf8_lossy(&buf[..n]).lines())
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap();
    let fg = rt
        .cmd()
        .args(["restore", "--bundle", b.path(), "--image-path"])
        .arg(&images)
        .arg(&id)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut fg = Guard(fg);
    let mut pipe = std::io::BufReader::new(fg.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut pipe, &mut line).unwrap();
    let n: u64 = line.trim().parse().unwrap();
    assert!(n > last, "restored output {n} after {last}");
    std::fs::write(b.rootfs().join("tmp/stop"), "").unwrap();
    let status = fg.0.wait().unwrap();
    assert_eq!(status.code(), Some(7), "the container's exit status");
    // A foreground restore deletes the container when it ends, as runc's.
    assert_eq!(rt.status(&id), None);
}

/// A child killed if the test fails before it is waited for.
struct Guard(std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn failed_checkpoint_leaves_the_container_running() {
    require_criu!("failed_checkpoint_leaves_the_container_running");
    let w = World::new("ckpt-fail");
    for rt in Rt::all(&w, false) {
        let b = bundle(&w, COUNTER);
        let count = b.rootfs().join("tmp/count");
        let id = rt.id("fail");
        // stdout on a file of a host mount: CRIU cannot dump that.
        let log = w.dir.join(unique("stdout"));
        let status = rt
            .cmd()
            .args(["run", "-d", "--bundle", b.path(), &id])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let n = wait_count(&count, 2);
        let images = w.dir.join(unique("img"));
        let out = rt.checkpoint(&id, &images, &[]).fails();
        if rt.name == "hako" {
            let msg = out.error_msg();
            let dump_log = images.join("dump.log");
            assert!(
                msg.starts_with("criu dump failed: ")
                    && msg.ends_with(&format!("(criu log: {})", dump_log.display())),
                "{msg}"
            );
            assert!(dump_log.is_file());
        }
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{}", rt.name);
        carries_on(&count, n, rt.name);
        rt.run(&["delete", "--force", &id]).ok();
    }
}

#[test]
fn failed_restore_leaves_nothing_behind() {
    require_criu!("failed_restore_leaves_nothing_behind");
    let w = World::new("ckpt-badimg");
    for rt in Rt::all(&w, false) {
        // A checkpoint of a container with a bind mount, restored into a bundle without it.
        let (with, count) = counter_on_a_bind(&w);
        let id = rt.id("src");
        rt.start(&with, &id, &[]);
        wait_count(&count, 2);
        let images = w.dir.join(unique("img"));
        rt.checkpoint(&id, &images, &[]).ok();
        let at = stands_still(&count, rt.name);
        let other = bundle(&w, COUNTER);
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(other.dir.join("config.json")).unwrap()).unwrap();
        let cg = cfg["linux"]["cgroupsPath"]
            .as_str()
            .unwrap()
            .trim_start_matches('/')
            .to_string();
        let new_id = rt.id("dst");
        let out = rt.restore(&other, &new_id, &images, &[]).fails();
        if rt.name == "hako" {
            let msg = out.error_msg();
            let restore_log = images.join("restore.log");
            assert!(
                msg.starts_with("criu restore failed: ")
                    && msg.ends_with(&format!("(criu log: {})", restore_log.display())),
                "{msg}"
            );
            assert!(!w.state_dir(&new_id).exists(), "state dir left behind");
        }
        assert_eq!(rt.status(&new_id), None, "{}", rt.name);
        assert!(
            cgroups_named(&cg).is_empty(),
            "{}: cgroup left behind",
            rt.name
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(count_in(&count), Some(at), "{}: something runs", rt.name);
        assert_eq!(count_in(&other.rootfs().join("tmp/count")), None);
    }
}

// ---- What never reaches CRIU (runs on every host). ----

#[test]
fn restore_without_an_image_dir_is_refused() {
    let w = World::new("ckpt-noimg");
    let b = bundle(&w, COUNTER);
    let rt = Rt::hako(&w);
    let id = rt.id("noimg");
    let missing = w.dir.join("no-such-images");
    let msg = rt.restore(&b, &id, &missing, &[]).fails().error_msg();
    assert_eq!(
        msg,
        format!(
            "--image-path {}: no such file or directory",
            missing.display()
        )
    );
    assert!(!w.state_dir(&id).exists());
    // A directory that holds no checkpoint.
    let empty = w.dir.join("empty-images");
    std::fs::create_dir_all(&empty).unwrap();
    let msg = rt.restore(&b, &id, &empty, &[]).fails().error_msg();
    assert!(
        msg.starts_with(&format!(
            "{} is not a checkpoint of a container: ",
            empty.display()
        )),
        "{msg}"
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn checkpoint_refuses_what_runc_refuses() {
    let w = World::new("ckpt-refuse");
    let b = bundle(&w, COUNTER);
    let rt = Rt::hako(&w);
    let id = rt.id("created");
    rt.run(&["create", "--bundle", b.path(), &id]).ok();
    let images = w.dir.join("img");
    let msg = rt.checkpoint(&id, &images, &[]).fails().error_msg();
    assert_eq!(msg, "Container cannot be checkpointed in created state");
    rt.run(&["start", &id]).ok();
    wait_count(&b.rootfs().join("tmp/count"), 1);
    let cases: &[(&[&str], &str)] = &[
        (&["--parent-path", "/abs"], "--parent-path must be relative"),
        (
            &["--page-server", "nowhere"],
            "Use --page-server ADDRESS:PORT to specify page server",
        ),
        (
            &["--manage-cgroups-mode", "bogus"],
            "invalid --manage-cgroups-mode value \"bogus\": soft, full, strict or ignore",
        ),
        (
            &["--empty-ns", "pid"],
            "--empty-ns \"pid\": namespace is not supported (only \"network\")",
        ),
        (
            &["--status-fd", "1"],
            "--status-fd is only meaningful with --lazy-pages",
        ),
    ];
    for (flags, want) in cases {
        let msg = rt.checkpoint(&id, &images, flags).fails().error_msg();
        assert_eq!(&msg, want, "{flags:?}");
    }
    // A parent that holds no previous dump.
    std::fs::create_dir_all(images.join("notadump")).unwrap();
    let msg = rt
        .checkpoint(&id, &images, &["--parent-path", "notadump"])
        .fails()
        .error_msg();
    assert!(msg.contains("holds no previous checkpoint"), "{msg}");
    // CRIU missing (not on PATH): named, and the container is left running.
    let out = Command::new(hako_bin())
        .env("PATH", "/nonexistent")
        .arg("--root")
        .arg(&w.root)
        .args(["checkpoint", "--image-path"])
        .arg(&images)
        .arg(&id)
        .output()
        .unwrap();
    let msg = Out(out).fails().error_msg();
    assert!(msg.starts_with("cannot run criu: "), "{msg}");
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
}

#[test]
fn features_say_checkpoint_only_where_criu_works() {
    let w = World::new("ckpt-features");
    let out = w.hako(&["features"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    let enabled = v["annotations"]["org.hako.checkpoint.enabled"].as_str();
    let want = if no_criu().is_none() { "true" } else { "false" };
    assert_eq!(enabled, Some(want), "criu check says {:?}", no_criu());
}

// ---- Podman end to end (in the VM too; runc 1.5.1 as the control). ----

/// A private Podman naming one runtime: containers.conf, vfs storage and state in `dir`, its
/// containers under a cgroup parent of their own, no network (no CNI in the VM).
struct Podman {
    dir: PathBuf,
    cgparent: String,
}

impl Podman {
    fn new(w: &World, runtime: &Path) -> Podman {
        // Podman refuses a runroot path longer than 50 characters: a short dir of its own.
        let dir = std::env::temp_dir().join(unique("hkpm"));
        std::fs::create_dir_all(&dir).unwrap();
        let rt = "ckpt-runtime";
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             runtime = \"{rt}\"\nruntime_supports_json = [\"{rt}\"]\n\
             [engine.runtimes]\n{rt} = [\"{}\"]\n",
            runtime.display()
        );
        std::fs::write(dir.join("containers.conf"), conf).unwrap();
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/run\"\ngraphroot = \"{0}/graph\"\n",
            dir.display()
        );
        std::fs::write(dir.join("storage.conf"), storage).unwrap();
        let p = Podman {
            dir,
            cgparent: format!("/{}", unique("hako-ckpt-podman")),
        };
        // A busybox image: the rootfs of a test bundle, with PATH set.
        let b = w.bundle(&["true"]);
        let tar = p.dir.join("busybox.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(b.rootfs())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(ok.success());
        let tar = tar.to_str().unwrap().to_string();
        p.ok(&[
            "import",
            "--change",
            "ENV PATH=/bin",
            &tar,
            "localhost/ckpt:t",
        ]);
        p
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let d = self.dir.display().to_string();
        Command::new("podman")
            .current_dir(&self.dir)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .args([
                "--root",
                &format!("{d}/graph"),
                "--runroot",
                &format!("{d}/run"),
            ])
            .args(["--tmpdir", &format!("{d}/tmp")])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self, name: &str) -> String {
        self.ok(&["inspect", "-f", "{{.State.Status}}", name])
            .trim()
            .to_string()
    }

    /// The numbers the counter printed (its log).
    fn numbers(&self, name: &str) -> Vec<u64> {
        self.ok(&["logs", name])
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Wait until the counter printed `min` or more, then check it carried on from `before`
    /// (the numbers it printed before its checkpoint): no number up to `before`'s last
    /// beyond those (a restarted counter would print 1, 2, ... again).
    fn carries_on(&self, name: &str, before: &[u64], who: &str) -> u64 {
        let last = before.last().copied().unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.numbers(name);
            let old = now.iter().filter(|n| **n <= last).count();
            assert!(
                old == 0 || old == before.len(),
                "{who}: {name} restarted: {now:?} after {before:?}"
            );
            if let Some(n) = now.last().filter(|n| **n >= last + 3) {
                return *n;
            }
            assert!(Instant::now() < deadline, "{who}: {name} stopped at {last}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        for d in cgroups_named(self.cgparent.trim_start_matches('/')) {
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn podman_checkpoint_and_restore() {
    require_criu!("podman_checkpoint_and_restore");
    let w = World::new("ckpt-podman");
    let mut runtimes = vec![("hako", PathBuf::from(hako_bin()))];
    runtimes.extend(reference_runc().map(|r| ("runc 1.5.1", r)));
    for (name, bin) in runtimes {
        let p = Podman::new(&w, &bin);
        let counter = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done";
        p.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--cgroup-parent",
            &p.cgparent,
            "--name",
            "ctr",
            "localhost/ckpt:t",
            "/bin/sh",
            "-c",
            counter,
        ]);
        p.carries_on("ctr", &[], name);
        p.ok(&["container", "checkpoint", "ctr"]);
        assert_eq!(p.status("ctr"), "exited", "{name}");
        let before = p.numbers("ctr");
        p.ok(&["container", "restore", "ctr"]);
        assert_eq!(p.status("ctr"), "running", "{name}");
        p.carries_on("ctr", &before, name);
        // Exported, removed, imported under a new name: it counts on from where it was.
        let tar = p.dir.join("ctr.tar.gz");
        let tar = tar.to_str().unwrap();
        p.ok(&["container", "checkpoint", "--export", tar, "ctr"]);
        let before = p.numbers("ctr");
        p.ok(&["rm", "-f", "ctr"]);
        p.ok(&["container", "restore", "--import", tar, "--name", "again"]);
        assert_eq!(p.status("again"), "running", "{name}");
        p.carries_on("again", &before, name);
        let cmd = p.ok(&["exec", "again", "/bin/cat", "/proc/1/cmdline"]);
        assert!(cmd.contains("while"), "{name}: {cmd}");
        p.ok(&["rm", "-f", "-t", "0", "again"]);
    }
}
