//! `exec`, terminals and stdio: the exec'd process joins every namespace of the init, gets the
//! flags' user/env/cwd, returns its exit status; ptys arrive on the console socket (SCM_RIGHTS)
//! or are relayed by a foreground run/exec; piped stdio reaches the container unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::World;

fn running(w: &World, tag: &str) -> (String, i32) {
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id(tag);
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap() as i32;
    (id, pid)
}

#[test]
fn exec_joins_every_namespace_of_the_init() {
    let w = World::new("exec-ns");
    let (id, pid) = running(&w, "ns");
    let script =
        "for n in ipc mnt net pid uts cgroup; do echo $n $(readlink /proc/self/ns/$n); done";
    let out = w.hako(&["exec", &id, "sh", "-c", script]).ok();
    for line in out.stdout().lines() {
        let (name, link) = line.split_once(' ').unwrap();
        let init = std::fs::read_link(format!("/proc/{pid}/ns/{name}")).unwrap();
        assert_eq!(link, init.to_str().unwrap(), "namespace {name}");
    }
    assert_eq!(out.stdout().lines().count(), 6);
}

#[test]
fn exec_exit_status_user_env_cwd() {
    let w = World::new("exec-flags");
    let (id, _) = running(&w, "flags");
    let out = w.hako(&["exec", &id, "sh", "-c", "exit 42"]);
    assert_eq!(out.code(), Some(42));
    let out = w
        .hako(&[
            "exec",
            "--user",
            "65534:65534",
            "--additional-gids",
            "7",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            &id,
            "sh",
            "-c",
            "id -u; id -g; id -G; echo $FOO; pwd",
        ])
        .ok();
    assert_eq!(out.stdout(), "65534\n65534\n65534 7\nbar\n/tmp\n");
}

#[test]
fn exec_sees_the_container_pid_namespace_and_not_pid1() {
    let w = World::new("exec-pid");
    let (id, _) = running(&w, "pid");
    let out = w
        .hako(&["exec", &id, "sh", "-c", "echo $$; cat /proc/1/cmdline"])
        .ok();
    let lines: Vec<String> = out.stdout().lines().map(String::from).collect();
    assert_ne!(lines[0], "1");
    assert!(lines[1].starts_with("sleep"), "{:?}", lines[1]);
}

#[test]
fn exec_with_process_json() {
    let w = World::new("exec-process");
    let (id, _) = running(&w, "proc");
    let file = w.dir.join("process.json");
    std::fs::write(
        &file,
        r#"{"terminal":false,"user":{"uid":1,"gid":2},"args":["sh","-c","id -u; id -g; echo $X"],
            "env":["PATH=/bin","X=from-json"],"cwd":"/"}"#,
    )
    .unwrap();
    let out = w
        .hako(&["exec", "--process", file.to_str().unwrap(), &id])
        .ok();
    assert_eq!(out.stdout(), "1\n2\nfrom-json\n");
}

#[test]
fn exec_detached_writes_pid_file() {
    let w = World::new("exec-detach");
    let (id, _) = running(&w, "det");
    let pf = w.dir.join("exec.pid");
    w.hako(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
        "sleep",
        "100",
    ])
    .ok();
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmd.starts_with("sleep"), "{cmd:?}");
}

#[test]
fn exec_into_stopped_or_unknown_container_fails() {
    let w = World::new("exec-stopped");
    let b = w.bundle(&["true"]);
    let id = w.id("stopped");
    w.hako(&["run", "--keep", "--bundle", b.path(), &id]).ok();
    // runc: every exec failure is "exec failed: ..." with exit status 255.
    let out = w.hako(&["exec", &id, "true"]);
    assert_eq!(out.code(), Some(255));
    assert_eq!(
        out.error_msg(),
        "exec failed: cannot exec in a stopped container"
    );
    let out = w.hako(&["exec", "no-such-container", "true"]);
    assert_eq!(out.code(), Some(255));
    assert_eq!(out.error_msg(), "exec failed: container does not exist");
    let (id, _) = running(&w, "nope");
    let out = w.hako(&["exec", &id, "no-such-program"]);
    assert_eq!(out.code(), Some(255));
    assert_eq!(
        out.error_msg(),
        "exec failed: unable to start container process: exec: \"no-such-program\": \
         executable file not found in $PATH"
    );
}

#[test]
fn stdin_piped_through_and_stdout_stderr_kept_apart() {
    let w = World::new("stdio");
    let b = w.bundle(&["sh", "-c", "cat; echo to-err >&2"]);
    let id = w.id("stdio");
    // stdin is closed after the input: EOF must reach `cat` so the container ends.
    let out = w.with_stdin(&["run", "--bundle", b.path(), &id], b"line one\nline two\n");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line one\nline two\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-err\n");
}

#[test]
fn exec_stdin_piped() {
    let w = World::new("exec-stdin");
    let (id, _) = running(&w, "stdin");
    let mut child = w
        .cmd()
        .args(["exec", &id, "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
}

/// Receive one fd over a unix socket, as conmon or containerd's shim do.
fn receive_master(listener: &UnixListener) -> std::fs::File {
    receive_master_named(listener, PTMX)
}

/// The payload with the pty master: its name, the path it was opened by (runc 1.5.1's;
/// runc 1.1 opened and named `/dev/ptmx`).
const PTMX: &[u8] = b"/dev/pts/ptmx";

/// [`receive_master`] from a runtime that names it `name`.
fn receive_master_named(listener: &UnixListener, name: &[u8]) -> std::fs::File {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let (n, fd) = libhako::sync::recv_fd(conn.as_fd(), &mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        String::from_utf8_lossy(name),
        "the master's name"
    );
    std::fs::File::from(fd.expect("an fd with the message"))
}

/// Read from the master until `needle` shows up (or 10 s pass).
fn read_until(master: &mut std::fs::File, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !seen.contains(needle) {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.contains(needle), "never saw {needle:?} in {seen:?}");
    seen
}

#[test]
fn console_socket_receives_a_working_pty() {
    let w = World::new("console");
    let mut b = w.bundle(&["sh"]);
    b.edit(|c| {
        c["process"]["terminal"] = serde_json::json!(true);
        c["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 111});
    });
    let sock = w.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = w.id("console");
    w.hako(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        b.path(),
        &id,
    ])
    .ok();
    let mut master = receive_master(&listener);
    w.hako(&["start", &id]).ok();
    master
        .write_all(b"tty; stty size; ls -l /dev/console; echo typed-$((40+2))\n")
        .unwrap();
    let seen = read_until(&mut master, "typed-42");
    assert!(seen.contains("/dev/pts/0"), "{seen}");
    assert!(seen.contains("33 111"), "{seen}");
    assert!(seen.contains("136,"), "/dev/console is the pty: {seen}");
    master.write_all(b"exit 3\n").unwrap();
    w.wait_status(&id, "stopped");
}

#[test]
fn exec_tty_over_console_socket() {
    let w = World::new("exec-tty");
    let (id, _) = running(&w, "tty");
    let sock = w.dir.join("exec.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut child = w
        .cmd()
        .args([
            "exec",
            "-t",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
            "sh",
        ])
        .spawn()
        .unwrap();
    let mut master = receive_master(&listener);
    assert!(child.wait().unwrap().success());
    master.write_all(b"tty; echo exec-$((1+1))\n").unwrap();
    let seen = read_until(&mut master, "exec-2");
    assert!(seen.contains("/dev/pts/"), "{seen}");
}

#[test]
fn terminal_without_console_socket_needs_foreground() {
    let w = World::new("tty-detach");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    let id = w.id("tty");
    let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
    assert_eq!(
        out.error_msg(),
        "cannot allocate tty if hako will detach without setting console socket"
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn foreground_run_relays_the_terminal() {
    // `script` gives hako a real terminal as stdin/stdout, as a user's shell would.
    let w = World::new("tty-relay");
    let mut b = w.bundle(&["sh", "-c", "tty; echo relayed-$((6*7)); exit 4"]);
    b.edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    let id = w.id("relay");
    let cmd = format!(
        "{} --root {} run --bundle {} {id}",
        common::hako_bin(),
        w.root.display(),
        b.path()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .output()
        .expect("script (bsdutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("relayed-42"), "{text}");
    assert_eq!(out.status.code(), Some(4), "{text}");
}

#[test]
fn socket_activation_fds_are_passed_with_listen_env() {
    let w = World::new("listen-fds");
    let b = w.bundle(&["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"]);
    let id = w.id("listen");
    let data = w.dir.join("activation.txt");
    std::fs::write(&data, "from fd 3\n").unwrap();
    // The shell opens fd 3 and execs hako with its own pid as LISTEN_PID, as systemd would.
    let script = format!(
        "exec 3<{}; LISTEN_FDS=1 LISTEN_PID=$$ exec {} --root {} run --bundle {} {id}",
        data.display(),
        common::hako_bin(),
        w.root.display(),
        b.path()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 1\nfrom fd 3\n");
}

#[test]
fn kill_sends_real_time_signals() {
    let w = World::new("kill-rt");
    // busybox's trap takes the number: RTMIN+3 is 37 with glibc's SIGRTMIN of 34.
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "trap 'echo got-rt > /tmp/rt; exit 0' 37; while true; do sleep 0.05; done",
    ]);
    b.edit(|c| c["root"]["readonly"] = serde_json::json!(false));
    let id = w.id("rt");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    std::thread::sleep(Duration::from_millis(200));
    w.hako(&["kill", &id, "RTMIN+3"]).ok();
    w.wait_status(&id, "stopped");
    let seen = std::fs::read_to_string(b.rootfs().join("tmp/rt")).unwrap_or_default();
    assert_eq!(seen, "got-rt\n");
}

#[test]
fn exec_into_paused_container_needs_ignore_paused() {
    let w = World::new("exec-paused");
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("paused");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    w.hako(&["pause", &id]).ok();
    // runc's status for a failed exec is 255.
    let out = w.hako(&["exec", &id, "true"]);
    assert_eq!(out.code(), Some(255));
    assert!(out.error_msg().contains("paused"), "{}", out.stderr());
    // With --ignore-paused the process joins the frozen cgroup and runs once resumed.
    let child = w
        .cmd()
        .args(["exec", "--ignore-paused", &id, "sh", "-c", "echo thawed"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    w.hako(&["resume", &id]).ok();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "thawed\n");
}

#[test]
fn exec_into_a_missing_sub_cgroup_is_refused_clearly() {
    let w = World::new("exec-subcg");
    let (id, _) = running(&w, "subcg");
    let out = w.hako(&["exec", "--cgroup", "sub", &id, "true"]);
    assert_ne!(out.code(), Some(0));
    let msg = out.error_msg();
    assert!(
        msg.contains("/sub") && msg.contains("no such file or directory"),
        "{}",
        out.stderr()
    );
}

/// runc (the reference, `common::runc_bin`) with its own root in `w`, stdio in files (a
/// container started by `run -d` keeps them open).
fn runc(w: &World, args: &[&str]) -> common::Out {
    let (o, e) = (
        w.dir.join(common::unique("runc-out")),
        w.dir.join(common::unique("runc-err")),
    );
    let status = std::process::Command::new(common::runc_bin())
        .arg("--root")
        .arg(w.dir.join("runc-state"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .unwrap();
    common::Out(std::process::Output {
        status,
        stdout: std::fs::read(&o).unwrap(),
        stderr: std::fs::read(&e).unwrap(),
    })
}

/// Deletes runc's containers when dropped, even when the test fails.
struct RuncIds<'a>(&'a World, Vec<String>);

impl Drop for RuncIds<'_> {
    fn drop(&mut self) {
        for id in &self.1 {
            let _ = runc(self.0, &["delete", "--force", id]);
        }
    }
}

/// `exec --process FILE` as runc reads it: no `user` is uid 0 / gid 0, no `capabilities` the
/// container's; a file that does not parse is refused with its field named (runc names the
/// Go struct field).
#[test]
fn exec_process_file_defaults_and_errors_as_runc() {
    let w = World::new("exec-pfile");
    let mut b = w.bundle(&["sleep", "1000"]);
    // runc refuses a symlinked root.path in a bundle it is not run from: absolute.
    let rootfs = b.rootfs();
    b.edit(|c| c["root"]["path"] = serde_json::json!(rootfs));
    let hako_id = w.id("pfile");
    w.hako(&["run", "-d", "--bundle", b.path(), &hako_id]).ok();
    let ids = RuncIds(&w, vec![common::unique("runc-pfile")]);
    let runc_id = ids.1[0].clone();
    runc(&w, &["run", "-d", "--bundle", b.path(), &runc_id]).ok();
    let file = |name: &str, v: serde_json::Value| {
        let p = w.dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    let both = |path: &str| {
        (
            runc(&w, &["exec", "--process", path, &runc_id]),
            w.hako(&["exec", "--process", path, &hako_id]),
        )
    };
    let probe = file(
        "probe.json",
        serde_json::json!({
            "args": ["sh", "-c", "id; grep -E '^Cap' /proc/self/status"],
            "cwd": "/",
            "env": ["PATH=/bin"],
        }),
    );
    let (r, h) = both(&probe);
    let r = r.ok().stdout();
    assert!(r.starts_with("uid=0(root) gid=0(root)\n"), "{r}");
    assert_eq!(h.ok().stdout(), r);
    let bad = [
        ("args.json", r#"{"args": "id", "cwd": "/"}"#, "args: "),
        (
            "uid.json",
            r#"{"args": ["id"], "cwd": "/", "user": {"uid": "x"}}"#,
            "user.uid: ",
        ),
        (
            "gids.json",
            r#"{"args": ["id"], "cwd": "/", "user": {"uid": 1, "gid": 1, "additionalGids": [3, "x"]}}"#,
            "user.additionalGids[1]: ",
        ),
        ("cwd.json", r#"{"args": ["id"]}"#, "process.cwd: "),
        (
            "noargs.json",
            r#"{"cwd": "/"}"#,
            "process.args: must not be empty",
        ),
        ("broken.json", r#"{"args": ["id""#, "broken.json: "),
    ];
    for (name, text, field) in bad {
        let path = w.dir.join(name);
        std::fs::write(&path, text).unwrap();
        let (r, h) = both(path.to_str().unwrap());
        assert_eq!(r.code(), Some(255), "runc {name}: {}", r.stderr());
        assert_eq!(h.code(), Some(255), "hako {name}: {}", h.stderr());
        let msg = h.error_msg();
        assert!(
            msg.starts_with("exec failed: ") && msg.contains(field),
            "{name}: {msg}"
        );
    }
}

/// With `process.user`, the terminal (and so `/dev/console`) is handed to the process's uid,
/// its group left as devpts made it (tty), as runc does; for an exec'd process too.
#[test]
fn terminal_belongs_to_the_process_user_as_runc() {
    let w = World::new("tty-owner");
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "stat -c 'tty=%u:%g' $(tty); stat -c 'console=%u:%g' /dev/console; sleep 100",
    ]);
    b.edit(|c| {
        c["process"]["terminal"] = serde_json::json!(true);
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    });
    let mut ids = RuncIds(&w, Vec::new());
    let mut seen = Vec::new();
    for name in ["runc", "hako"] {
        let rt = |args: &[&str]| match name {
            "runc" => runc(&w, args),
            _ => w.hako(args),
        };
        let id = match name {
            "runc" => {
                ids.1.push(common::unique("runc-tty"));
                ids.1.last().unwrap().clone()
            }
            _ => w.id("tty"),
        };
        let sock = w.dir.join(format!("{name}.sock"));
        let listener = UnixListener::bind(&sock).unwrap();
        let sock = sock.to_str().unwrap();
        rt(&[
            "create",
            "--console-socket",
            sock,
            "--bundle",
            b.path(),
            &id,
        ])
        .ok();
        // What this runtime names the master: runc 1.1 named it /dev/ptmx.
        let ptmx: &[u8] = match (name, common::reference_runc()) {
            ("runc", None) => b"/dev/ptmx",
            _ => PTMX,
        };
        let mut master = receive_master_named(&listener, ptmx);
        rt(&["start", &id]).ok();
        let init = read_until(&mut master, "console=");
        let exec_args = [
            "exec",
            "-t",
            "-d",
            "--console-socket",
            sock,
            "--user",
            "1000:1000",
            &id,
            "sh",
            "-c",
            "stat -c 'exec=%u:%g' $(tty); sleep 5",
        ];
        let mut child = match name {
            "runc" => std::process::Command::new(common::runc_bin())
                .arg("--root")
                .arg(w.dir.join("runc-state"))
                .args(exec_args)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
            _ => w.cmd().args(exec_args).spawn().unwrap(),
        };
        let mut exec_master = receive_master_named(&listener, ptmx);
        assert!(child.wait().unwrap().success(), "{name} exec");
        let exec = read_until(&mut exec_master, "exec=");
        let owner = |text: &str, key: &str| {
            text.split_whitespace()
                .find_map(|t| t.strip_prefix(key).map(String::from))
        };
        seen.push([
            owner(&init, "tty="),
            owner(&init, "console="),
            owner(&exec, "exec="),
        ]);
    }
    let want = Some("1000:5".to_string());
    assert_eq!(seen[0], [want.clone(), want.clone(), want], "runc");
    assert_eq!(seen[1], seen[0], "hako");
}

/// What arrived on a `--pidfd-socket`: the payload and the PID the pidfd refers to (from its
/// fdinfo), and the pidfd.
fn receive_pidfd(listener: &UnixListener) -> (String, i32, std::os::fd::OwnedFd) {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let (n, fd) = libhako::sync::recv_fd(conn.as_fd(), &mut buf).unwrap();
    let fd = fd.expect("an fd with the message");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{raw}")).unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("not a pidfd: {info}"));
    (String::from_utf8_lossy(&buf[..n]).into_owned(), pid, fd)
}

/// `--pidfd-socket` (runc 1.2+) on create and exec: a pidfd of the init ("standard") and of
/// the exec'd process ("setns") arrives on the socket, and signals through it reach that
/// process; a socket that is not there fails in runc's words, with nothing left behind.
#[test]
fn pidfd_socket_gets_a_pidfd_of_the_process_as_runc() {
    let w = World::new("pidfd-sock");
    let b = w.bundle(&["sleep", "1000"]);
    let mut ids = RuncIds(&w, Vec::new());
    // runc before 1.2 has no --pidfd-socket: hako alone then.
    let names: &[&str] = match common::reference_runc() {
        Some(_) => &["runc", "hako"],
        None => &["hako"],
    };
    let mut errors = Vec::new();
    for &name in names {
        let rt = |args: &[&str]| match name {
            "runc" => runc(&w, args),
            _ => w.hako(args),
        };
        let id = match name {
            "runc" => {
                ids.1.push(common::unique("runc-pidfd"));
                ids.1.last().unwrap().clone()
            }
            _ => w.id("pidfd"),
        };
        let path = w.dir.join(format!("{name}-pidfd.sock"));
        let listener = UnixListener::bind(&path).unwrap();
        let sock = path.to_str().unwrap();
        rt(&["create", "--pidfd-socket", sock, "--bundle", b.path(), &id]).ok();
        let (payload, pid, init) = receive_pidfd(&listener);
        assert_eq!(payload, "standard", "{name}");
        let state: serde_json::Value =
            serde_json::from_str(&rt(&["state", &id]).ok().stdout()).unwrap();
        assert_eq!(
            i64::from(pid),
            state["pid"].as_i64().unwrap(),
            "{name}: the init"
        );
        rt(&["start", &id]).ok();

        rt(&["exec", "-d", "--pidfd-socket", sock, &id, "sleep", "1000"]).ok();
        let (payload, pid, exec) = receive_pidfd(&listener);
        assert_eq!(payload, "setns", "{name}");
        // The pidfd may come before the process has exec'd its program (runc's `runc init`
        // sends it first): wait for the exec, boundedly.
        let deadline = Instant::now() + Duration::from_secs(5);
        let cmdline = loop {
            let c = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
            if c == b"sleep\x001000\x00" || Instant::now() > deadline {
                break c;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(cmdline, b"sleep\x001000\x00", "{name}: the exec'd process");
        libhako::sys::pidfd_send_signal(exec.as_fd(), nix::sys::signal::Signal::SIGKILL as i32)
            .unwrap();
        libhako::sys::pidfd_send_signal(init.as_fd(), nix::sys::signal::Signal::SIGKILL as i32)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !rt(&["state", &id]).ok().stdout().contains("\"stopped\"") {
            assert!(
                Instant::now() < deadline,
                "{name}: still running after SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        let missing = w.dir.join("no-such.sock");
        let missing = missing.to_str().unwrap();
        let other = format!("{id}-2");
        if name == "runc" {
            ids.1.push(other.clone());
        }
        let out = rt(&[
            "create",
            "--pidfd-socket",
            missing,
            "--bundle",
            b.path(),
            &other,
        ]);
        let line = out.fails().error_msg();
        errors.push(
            line.strip_prefix("runc create failed: ")
                .unwrap_or(&line)
                .to_string(),
        );
        assert!(
            rt(&["state", &other]).code() == Some(1),
            "{name}: a failed create left {other}"
        );
    }
    let missing = w.dir.join("no-such.sock");
    let want = format!(
        "failed to dail {0}: dial unix {0}: connect: no such file or directory",
        missing.display()
    );
    assert!(errors.iter().all(|e| *e == want), "{errors:?}");
}
