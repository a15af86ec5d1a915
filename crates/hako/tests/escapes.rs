//! Runtime-escape classes, one or more tests each. Every test sets up what the attack needs
//! and checks the outcome an attacker wants did not happen (a host file written or read, a
//! host path reached, the runtime binary rewritten), so that each fails on an implementation
//! with the hole. SECURITY.md maps each class to its defence and to these tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{hako_bin, Bundle, Out, World};
use serde_json::json;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A host directory holding a file `flag` with a secret the container must never read.
fn host_secret(w: &World, name: &str) -> PathBuf {
    let d = w.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("flag"), "HOST-SECRET\n").unwrap();
    d
}

/// Run `script` with the host's `sh` (which opens fds for hako to inherit) and capture it.
fn host_sh(script: &str) -> Out {
    Out(Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap())
}

/// Drop the default `/dev` tmpfs, so that the image's own `/dev` is what hako works in.
fn image_dev(b: &mut Bundle) {
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev")
    });
}

fn writable_root(b: &mut Bundle) {
    b.edit(|c| c["root"]["readonly"] = json!(false));
}

/// Poll `path` until it holds `needle` (or `secs` pass); returns what it last held.
fn wait_for(path: &Path, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2019-5736: the runtime binary, reopened for writing through /proc/<pid>/exe.
// ---------------------------------------------------------------------------------------------

/// The attack of CVE-2019-5736, end to end, against a private copy of the hako binary: a
/// program of the image is `#!/proc/self/exe`, so `hako exec` of it makes the kernel run
/// whatever `/proc/self/exe` is at that execve inside the container; a process of the
/// container opens that process's `/proc/<pid>/exe` and, once no hako runs any more (ETXTBSY
/// until then), reopens it for writing and appends to it. The hako binary must come out
/// unchanged: what ran must be the sealed exec trampoline (default config) or, with a seccomp
/// profile that makes hako avoid the trampoline, the sealed view of the runtime binary.
#[test]
fn runtime_binary_cannot_be_rewritten_from_the_container() {
    rewrite_attack("5736", false);
}

#[test]
fn runtime_binary_cannot_be_rewritten_without_the_trampoline() {
    rewrite_attack("5736-re", true);
}

/// A seccomp profile that allows everything but logs `execveat`: not plainly allowed, so hako
/// does not exec through the trampoline and re-executes itself from a sealed view instead.
fn no_trampoline(b: &mut Bundle) {
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_LOG"}]})
    });
}

fn rewrite_attack(tag: &str, fallback: bool) {
    let w = World::new(tag);
    let hako = w.dir.join("hako-copy");
    std::fs::copy(hako_bin(), &hako).unwrap();
    let before = std::fs::read(&hako).unwrap();
    let attacker = r#"
        n=0
        while [ $n -lt 500 ]; do
          for d in /proc/[0-9]*; do
            # argv[0] of what the script's #! line ran.
            [ "$(head -c 14 $d/cmdline 2>/dev/null)" = /proc/self/exe ] || continue
            if (: < $d/exe) 2>/dev/null; then
              exec 3< $d/exe
              echo "GOT ${d#/proc/}" > /tmp/result
              m=0
              while [ $m -lt 60 ]; do
                if echo PWNED >> /proc/self/fd/3; then echo WROTE >> /tmp/result; exit 0; fi
                m=$((m+1)); sleep 0.1
              done
              echo DENIED >> /tmp/result
              exit 0
            fi
          done
          n=$((n+1)); sleep 0.02
        done
        echo NOTHING > /tmp/result
    "#;
    let mut b = w.bundle(&["sh", "-c", attacker]);
    writable_root(&mut b);
    if fallback {
        no_trampoline(&mut b);
    }
    // The runtime is dynamically linked: the image needs its loader and libraries for the
    // kernel to start it (any glibc-based image has them).
    let ldd = Command::new("ldd").arg(hako_bin()).output().unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = b.rootfs().join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, &to).unwrap();
    }
    let evil = b.rootfs().join("bin/evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = w.id(tag);
    let copy = |args: &[&str]| {
        let st = Command::new(&hako)
            .arg("--root")
            .arg(&w.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "hako-copy {args:?}: {st:?}");
    };
    copy(&["run", "-d", "--bundle", b.path(), &id]);

    // What the #! line ran (the trampoline, or the sealed runtime) blocks writing its usage
    // error to a full pipe: a window as wide as the attacker needs, without any race.
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let fl = nix::fcntl::fcntl(wr.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
    let nonblock = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(wr.as_fd(), nix::fcntl::FcntlArg::F_SETFL(nonblock)).unwrap();
    while nix::unistd::write(&wr, &[b'.'; 4096]).is_ok() {}
    let block = nix::fcntl::OFlag::from_bits_truncate(fl);
    nix::fcntl::fcntl(wr.as_fd(), nix::fcntl::FcntlArg::F_SETFL(block)).unwrap();
    let mut exec = Command::new(&hako)
        .arg("--root")
        .arg(&w.root)
        .args(["exec", &id, "/bin/evil"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(wr))
        .spawn()
        .unwrap();
    let result = b.rootfs().join("tmp/result");
    let got = wait_for(&result, "GOT", 15);
    // Let everything go: drain the pipe, the exec'd runtime and `hako exec` exit.
    let mut rd = std::fs::File::from(rd);
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = rd.read_to_end(&mut sink);
    });
    let _ = exec.wait();
    drain.join().unwrap();
    let verdict = wait_for(&result, "ED", 30);
    copy(&["delete", "--force", &id]);
    assert!(
        got.contains("GOT"),
        "the attacker never found the runtime running in the container: {got:?}"
    );
    assert!(
        !verdict.contains("WROTE"),
        "the runtime binary was reopened for writing: {verdict:?}"
    );
    assert!(verdict.contains("DENIED"), "{verdict:?}");
    assert!(
        std::fs::read(&hako).unwrap() == before,
        "the runtime binary changed"
    );
}

/// The init waits for `start` as a copy of the runtime. A process of the container (here an
/// exec'd one, root like the init and with the same capabilities) must not reach the runtime
/// binary or the init's fds through /proc/1 (the exec fifo and the state dir are host files);
/// once the init has exec'd the program, /proc/1 behaves as usual.
#[test]
fn init_is_not_dumpable_until_it_execs() {
    let w = World::new("dumpable");
    let b = w.bundle(&["sleep", "100"]);
    let id = w.id("dumpable");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let probe = r#"
        readlink /proc/1/exe && echo EXE-OPEN || echo EXE-DENIED
        for f in /proc/1/fd/*; do readlink $f && echo FD-OPEN || echo FD-DENIED; done
        ls /proc/1/cwd/ >/dev/null 2>&1 && echo CWD-OPEN || echo CWD-DENIED
        cat /proc/1/environ >/dev/null 2>&1 && echo ENV-OPEN || echo ENV-DENIED
    "#;
    let before = w.hako(&["exec", &id, "sh", "-c", probe]).ok().stdout();
    assert!(before.contains("EXE-DENIED"), "{before}");
    assert!(before.contains("FD-DENIED"), "{before}");
    assert!(
        before.contains("CWD-DENIED") && before.contains("ENV-DENIED"),
        "{before}"
    );
    assert!(!before.contains("OPEN"), "{before}");
    assert!(!before.contains(s(&w.root)), "a host path leaked: {before}");
    w.hako(&["start", &id]).ok();
    let after = w.hako(&["exec", &id, "sh", "-c", probe]).ok().stdout();
    assert!(after.contains("/bin/busybox\nEXE-OPEN"), "{after}");
}

/// An exec'd process is a copy of the runtime until its execve, holding runtime fds (here also
/// fd 7, a host directory `hako exec` inherited). It reads the container's /etc/passwd for
/// HOME, which the container made a FIFO: it waits there, in the container's namespaces, with
/// the container's credentials. The container's init must not reach its exe or its fds.
#[test]
fn exec_child_is_not_dumpable_until_it_execs() {
    let w = World::new("exec-dumpable");
    let secret = host_secret(&w, "secret");
    let attacker = r#"
        n=0; found=
        while [ $n -lt 500 ] && [ -z "$found" ]; do
          for d in /proc/[0-9]*; do
            [ "$(cat $d/comm 2>/dev/null)" = hako ] || continue
            found=$d
            {
              readlink $d/exe && echo EXE-OPEN || echo EXE-DENIED
              for f in $d/fd/*; do
                cat $f/flag 2>/dev/null && echo FD-OPEN
                readlink $f >/dev/null 2>&1 && echo FD-OPEN || echo FD-DENIED
              done
            } > /tmp/result 2>&1
          done
          n=$((n+1)); sleep 0.02
        done
        [ -n "$found" ] || echo NOTHING > /tmp/result
        echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
        sleep 100
    "#;
    let mut b = w.bundle(&["sh", "-c", attacker]);
    writable_root(&mut b);
    // The init has HOME, so only the exec'd process (without it) reads /etc/passwd.
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "HOME=/root"]));
    let passwd = b.rootfs().join("etc/passwd");
    std::fs::remove_file(&passwd).unwrap();
    nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let id = w.id("exec-dumpable");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let process = w.dir.join("process.json");
    let p = json!({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 0, "gid": 0}, "noNewPrivileges": true,
                   "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                    "permitted": ["CAP_KILL"]}});
    std::fs::write(&process, p.to_string()).unwrap();
    let out = host_sh(&format!(
        "exec 7<{}; exec {} --root {} exec --process {} {id}",
        s(&secret),
        hako_bin(),
        s(&w.root),
        s(&process)
    ));
    let result = std::fs::read_to_string(b.rootfs().join("tmp/result")).unwrap_or_default();
    out.ok();
    assert!(result.contains("EXE-DENIED"), "{result}");
    assert!(result.contains("FD-DENIED"), "{result}");
    assert!(!result.contains("OPEN"), "{result}");
    assert!(!result.contains("HOST-SECRET"), "{result}");
}

/// From the host: without the trampoline, the binary the init runs until exec is the sealed
/// view, which refuses to be opened for writing even by root (EROFS), not the installed hako.
#[test]
fn init_runs_a_sealed_runtime_binary_without_the_trampoline() {
    let w = World::new("sealed");
    let mut b = w.bundle(&["true"]);
    no_trampoline(&mut b);
    let id = w.id("sealed");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let err = std::fs::OpenOptions::new()
        .append(true)
        .open(&exe)
        .expect_err("the init's binary opened for writing");
    assert_eq!(
        err.raw_os_error(),
        Some(nix::errno::Errno::EROFS as i32),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&exe).unwrap(),
        std::fs::read(hako_bin()).unwrap()
    );
}

/// The trampoline itself: the container's program named `/proc/self/exe` (directly, with no
/// script in between) runs the sealed trampoline, which refuses to be a command; a program
/// whose exec fails after `start` is reported in runc's words by the trampoline, on the
/// container's stderr with status 1 (`run`) and as an exec failure (`exec`, status 255).
#[test]
fn trampoline_is_harmless_and_reports_exec_failures() {
    let w = World::new("trampoline");
    let mut b = w.bundle(&["/proc/self/exe", "x"]);
    std::fs::write(b.rootfs().join("bin/garbage"), "garbage\n").unwrap();
    let garbage = b.rootfs().join("bin/garbage");
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("self")]);
    assert_eq!(out.code(), Some(127), "{}", out.stderr());
    assert!(
        out.stderr().contains("hako exec trampoline: not a command"),
        "{}",
        out.stderr()
    );
    // A program that cannot be exec'd: as runc's init, the process says so on its stderr and
    // exits 255 (the runtime's channel is gone by then: see the_trampoline_holds_nothing_...).
    b.edit(|c| c["process"]["args"] = json!(["/bin/garbage"]));
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("garbage")]);
    assert_eq!(out.code(), Some(255), "{}", out.stderr());
    assert_eq!(out.stderr(), "exec /bin/garbage: exec format error\n");
    // runc 1.5.1 (1.1.5 exited 1), when it is here.
    if let Some(reference) = common::reference_runc() {
        let runc = Command::new(reference)
            .arg("--root")
            .arg(w.dir.join("runc-state"))
            .args(["run", "--bundle", b.path(), &w.id("garbage-runc")])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(runc.status.code(), Some(255));
        let err = String::from_utf8_lossy(&runc.stderr);
        assert!(
            err.ends_with("exec /bin/garbage: exec format error\n"),
            "{err}"
        );
    }
    b.edit(|c| c["process"]["args"] = json!(["sleep", "100"]));
    let id = w.id("exec");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "/bin/garbage"]);
    assert_eq!(out.code(), Some(255), "{}", out.stderr());
    assert_eq!(out.stderr(), "exec /bin/garbage: exec format error\n");
    w.hako(&["exec", "-d", &id, "/bin/garbage"]).ok();
    // Not the trampoline's doing, but its neighbour: SIGPIPE (bit 12), which the Rust runtime
    // ignores in hako, is not ignored in the container (the init's is compared with runc's
    // in the differential tests).
    let out = w.hako(&["exec", &id, "sh", "-c", "grep SigIgn /proc/self/status"]);
    let hex = out
        .ok()
        .stdout()
        .trim()
        .trim_start_matches("SigIgn:")
        .trim()
        .to_string();
    let ignored = u64::from_str_radix(&hex, 16).unwrap();
    assert_eq!(ignored & (1 << 12), 0, "SIGPIPE ignored: {hex}");
}

// ---------------------------------------------------------------------------------------------
// CVE-2024-21626: runtime fds in the container, and a cwd that follows one out of the rootfs.
// ---------------------------------------------------------------------------------------------

/// Neither the init nor an exec'd process has any fd but 0, 1, 2, even when hako itself
/// inherited more (fd 7, a host directory); `--preserve-fds` passes exactly what it names.
#[test]
fn no_runtime_fd_reaches_the_container() {
    let w = World::new("fds");
    let secret = host_secret(&w, "secret");
    let b = w.bundle(&["sh", "-c", "ls /proc/$$/fd; sleep 100"]);
    let id = w.id("fds");
    let (h, r) = (hako_bin(), s(&w.root));
    let out = host_sh(&format!(
        "exec 7<{}; exec {h} --root {r} run -d --bundle {} {id} >{d}/init.out 2>{d}/init.err",
        s(&secret),
        b.path(),
        d = s(&w.dir)
    ));
    out.ok();
    let init = wait_for(&w.dir.join("init.out"), "2\n", 10);
    assert_eq!(init, "0\n1\n2\n");
    // Two commands, so that sh does not exec ls (whose own directory fd would show).
    let list = "ls /proc/$$/fd; true";
    let out = host_sh(&format!(
        "exec 7<{}; exec {h} --root {r} exec {id} sh -c '{list}'",
        s(&secret)
    ));
    assert_eq!(out.ok().stdout(), "0\n1\n2\n");
    let out = host_sh(&format!(
        "exec 3</dev/null 7<{}; exec {h} --root {r} exec --preserve-fds 1 {id} sh -c '{list}'",
        s(&secret)
    ));
    assert_eq!(out.ok().stdout(), "0\n1\n2\n3\n");
}

/// `process.cwd` (or `exec --cwd`) `/proc/self/fd/7`, where fd 7 is a host directory hako
/// inherited: the process must not start there (it would be outside the rootfs, with `..`
/// leading to the host's root).
#[test]
fn cwd_through_a_runtime_fd_is_refused() {
    let w = World::new("cwd-fd");
    let secret = host_secret(&w, "secret");
    let (h, r) = (hako_bin(), s(&w.root));
    // exec into a running container.
    let b = w.bundle(&["sleep", "100"]);
    let id = w.id("cwd-fd");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = host_sh(&format!(
        "exec 7<{}; exec {h} --root {r} exec --cwd /proc/self/fd/7 {id} cat flag",
        s(&secret)
    ));
    assert!(!out.stdout().contains("HOST-SECRET"), "{}", out.stdout());
    // exec fails as runc's does (status 255, "exec failed: ..."), create with status 1.
    assert!(!out.0.status.success());
    assert!(out.error_msg().contains("outside of container"));
    // Even an fd passed on purpose with --preserve-fds.
    let out = host_sh(&format!(
        "exec 3<{}; exec {h} --root {r} exec --preserve-fds 1 --cwd /proc/self/fd/3 {id} cat flag",
        s(&secret)
    ));
    assert!(!out.stdout().contains("HOST-SECRET"), "{}", out.stdout());
    assert!(!out.0.status.success());
    assert!(out.error_msg().contains("outside of container"));
    // The init.
    let mut b = w.bundle(&["cat", "flag"]);
    b.edit(|c| c["process"]["cwd"] = json!("/proc/self/fd/7"));
    let id = w.id("cwd-fd");
    let out = host_sh(&format!(
        "exec 7<{}; exec {h} --root {r} run --bundle {} {id}",
        s(&secret),
        b.path()
    ));
    assert!(!out.stdout().contains("HOST-SECRET"), "{}", out.stdout());
    assert!(out.fails().error_msg().contains("cwd"));
}

// ---------------------------------------------------------------------------------------------
// CVE-2021-30465, CVE-2024-45310, the /dev symlink class: symlinks in the image at mount
// destinations and device paths.
// ---------------------------------------------------------------------------------------------

/// Mount destinations under image symlinks that point at a host directory (absolutely, and
/// with enough `..`): what hako creates and mounts stays in the rootfs.
#[test]
fn mount_destination_symlinks_stay_in_the_rootfs() {
    let w = World::new("mnt-link");
    let host = w.dir.join("host-target");
    std::fs::create_dir_all(&host).unwrap();
    let mut b = w.bundle(&["sh", "-c", "cat /proc/self/mountinfo"]);
    std::os::unix::fs::symlink(&host, b.rootfs().join("abs")).unwrap();
    let up = "../".repeat(s(&b.rootfs()).matches('/').count() + 2);
    let rel = format!("{up}{}", s(&host).trim_start_matches('/'));
    std::os::unix::fs::symlink(&rel, b.rootfs().join("rel")).unwrap();
    let src = host_secret(&w, "bind-src");
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/abs/made/tmp", "type": "tmpfs", "source": "tmpfs"}));
        m.push(
            json!({"destination": "/rel/made/bind", "type": "bind", "source": s(&src),
                      "options": ["rbind"]}),
        );
    });
    let id = w.id("mnt-link");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "hako created something in the host directory"
    );
    // Both landed at the symlinks' in-root targets.
    let inroot = s(&host).to_string();
    assert!(out.contains(&format!(" {inroot}/made/tmp ")), "{out}");
    assert!(out.contains(&format!(" {inroot}/made/bind ")), "{out}");
    assert!(b
        .rootfs()
        .join(s(&host).trim_start_matches('/'))
        .join("made/tmp")
        .is_dir());
}

/// Device nodes whose path goes through an image symlink to a host directory, and an image
/// whose whole `/dev` is such a symlink: the nodes are made in the rootfs, never on the host.
#[test]
fn device_paths_through_symlinks_stay_in_the_rootfs() {
    let w = World::new("dev-link");
    let host = w.dir.join("host-dev");
    std::fs::create_dir_all(&host).unwrap();
    // /dev/evil -> <host dir>, with the image's /dev in use.
    let mut b = w.bundle(&["sh", "-c", "stat -c '%t:%T %F' /dev/evil/null2"]);
    image_dev(&mut b);
    std::os::unix::fs::symlink(&host, b.rootfs().join("dev/evil")).unwrap();
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/evil/null2", "type": "c",
                                         "major": 1, "minor": 3, "fileMode": 438}]);
    });
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("dev-link")]);
    assert_eq!(out.ok().stdout().trim(), "1:3 character special file");
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "node made on the host"
    );
    // /dev itself -> <host dir>.
    let mut b = w.bundle(&["sh", "-c", "stat -c '%t:%T' /dev/null /dev/zero"]);
    image_dev(&mut b);
    std::fs::remove_dir(b.rootfs().join("dev")).unwrap();
    std::os::unix::fs::symlink(&host, b.rootfs().join("dev")).unwrap();
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("dev-link")]);
    assert_eq!(out.ok().stdout(), "1:3\n1:5\n");
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "node made on the host"
    );
    let inroot = b.rootfs().join(s(&host).trim_start_matches('/'));
    assert!(inroot.join("null").exists());
}

// ---------------------------------------------------------------------------------------------
// CVE-2019-16884, CVE-2023-27561, CVE-2023-28642: /proc and /sys that are not what they say.
// ---------------------------------------------------------------------------------------------

/// An image whose `/proc` or `/sys` is a symlink (to a directory of the image, or to `/`):
/// refused, as runc does, before anything is mounted through it.
#[test]
fn proc_and_sys_symlinks_are_refused() {
    let w = World::new("proc-link");
    for (dir, target) in [("proc", "/fakeproc"), ("proc", "/"), ("sys", "../..")] {
        let b = w.bundle(&["true"]);
        std::fs::create_dir_all(b.rootfs().join("fakeproc")).unwrap();
        std::fs::remove_dir(b.rootfs().join(dir)).unwrap();
        std::os::unix::fs::symlink(target, b.rootfs().join(dir)).unwrap();
        let id = w.id("proc-link");
        let out = w.hako(&["run", "--bundle", b.path(), &id]);
        let msg = out.fails().error_msg();
        assert!(
            msg.contains("must be mounted on ordinary directory"),
            "{msg}"
        );
        assert!(!w.state_dir(&id).exists());
    }
}

/// Something other than procfs on `/proc` (here the image's own `/proc` directory, made to
/// look like one, with no proc mount in the config; a bind of anything but a procfs there is
/// refused before anything is made, see `tests/hardening.rs`): hako must not mask or remount
/// under it, nor write a sysctl into it.
#[test]
fn non_procfs_on_proc_is_refused() {
    let w = World::new("fake-proc");
    let fake_proc = |b: &mut Bundle| {
        let fake = b.rootfs().join("proc");
        std::fs::create_dir_all(fake.join("sys/kernel")).unwrap();
        std::fs::write(fake.join("kcore"), "").unwrap();
        std::fs::write(fake.join("sys/kernel/shmmax"), "untouched\n").unwrap();
        b.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/proc")
        })
    };
    // Masked paths.
    let mut b = w.bundle(&["true"]);
    fake_proc(&mut b);
    let msg = w
        .hako(&["run", "--bundle", b.path(), &w.id("fake-proc")])
        .fails()
        .error_msg();
    assert!(msg.contains("/proc in the rootfs is not procfs"), "{msg}");
    // A sysctl.
    let mut b = w.bundle(&["true"]);
    fake_proc(&mut b);
    b.edit(|c| {
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["linux"]["sysctl"] = json!({"kernel.shmmax": "4242"});
    });
    let msg = w
        .hako(&["run", "--bundle", b.path(), &w.id("fake-proc")])
        .fails()
        .error_msg();
    assert!(msg.contains("not procfs"), "{msg}");
    let text = std::fs::read_to_string(b.rootfs().join("proc/sys/kernel/shmmax")).unwrap();
    assert_eq!(text, "untouched\n");
}

// ---------------------------------------------------------------------------------------------
// CVE-2025-52881: writes to procfs redirected by a mount over the target.
// ---------------------------------------------------------------------------------------------

/// A real procfs on `/proc`, but another file mounted over the sysctl's file: a host file,
/// and, the case a check of the file's filesystem alone misses, another procfs file
/// (`kernel.hostname` over `kernel.domainname`). The write must not be redirected. A config
/// cannot ask for such a mount (refused before anything is made, as runc refuses it, see
/// `tests/hardening.rs`), so the covered procfs comes ready-made: the container's `/proc` is
/// a bind of a procfs the test mounted and covered, in a mount namespace of its own.
#[test]
fn sysctl_write_through_an_overmount_is_refused() {
    let w = World::new("sysctl-over");
    let host_file = w.dir.join("host-file");
    std::fs::write(&host_file, "untouched\n").unwrap();
    let covered = w.dir.join("covered-proc");
    std::fs::create_dir_all(&covered).unwrap();
    // kernel.domainname: the files of IPC and network sysctls are looked up anew in each
    // namespace (a new IPC namespace does not see a mount over the host's `kernel.shmmax`).
    let key = "kernel.domainname";
    for source in [
        s(&host_file).to_string(),
        format!("{}/sys/kernel/hostname", s(&covered)),
    ] {
        let mut b = w.bundle(&["cat", "/proc/sys/kernel/domainname"]);
        b.edit(|c| {
            for m in c["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/proc" {
                    *m = json!({"destination": "/proc", "type": "bind", "source": s(&covered),
                                "options": ["rbind"]});
                }
            }
            c["linux"]["sysctl"] = json!({key: "redirected"});
        });
        let id = w.id("sysctl-over");
        let target = format!("{}/sys/kernel/domainname", s(&covered));
        let out = host_sh(&format!(
            "exec unshare -m --propagation private sh -c 'mount -t proc proc {c} && \
             mount --bind {source} {target} && \
             exec {h} --root {r} run --bundle {b} {id}'",
            c = s(&covered),
            h = hako_bin(),
            r = s(&w.root),
            b = b.path(),
        ));
        let _ = w.hako(&["delete", "--force", &id]);
        assert!(!out.stdout().contains("redirected"), "{}", out.stdout());
        let msg = out.fails().error_msg();
        assert!(
            msg.contains(key) && msg.contains("a mount covers it"),
            "{msg}"
        );
    }
    assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "untouched\n");
}

/// `oomScoreAdj`, written by the runtime through a verified /proc/<pid> handle, is applied.
#[test]
fn oom_score_adj_is_written_through_procfs() {
    let w = World::new("oom");
    let mut b = w.bundle(&["cat", "/proc/self/oom_score_adj"]);
    b.edit(|c| c["process"]["oomScoreAdj"] = json!(123));
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("oom")]).ok();
    assert_eq!(out.stdout().trim(), "123");
}

// ---------------------------------------------------------------------------------------------
// CVE-2025-31133: masked paths and a container /dev/null that is not the null device.
// ---------------------------------------------------------------------------------------------

/// The image's `/dev/null` is a symlink to a procfs file, or a regular file: masking must
/// fail (binding it would expose that file at the masked path), and no host file is used
/// instead.
#[test]
fn masked_paths_need_a_real_dev_null() {
    let w = World::new("fake-null");
    for fake in ["symlink", "file"] {
        let mut b = w.bundle(&["cat", "/proc/keys"]);
        image_dev(&mut b);
        let null = b.rootfs().join("dev/null");
        match fake {
            "symlink" => std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", &null),
            _ => std::fs::write(&null, "not null"),
        }
        .unwrap();
        let id = w.id("fake-null");
        let msg = w
            .hako(&["run", "--bundle", b.path(), &id])
            .fails()
            .error_msg();
        assert!(msg.contains("is not the null device"), "{fake}: {msg}");
        assert!(!w.state_dir(&id).exists());
    }
    // With the real device (the default /dev tmpfs), the mask is the container's /dev/null.
    let b = w.bundle(&["sh", "-c", "stat -c '%t:%T' /proc/keys; wc -c < /proc/keys"]);
    let out = w
        .hako(&["run", "--bundle", b.path(), &w.id("fake-null")])
        .ok();
    assert_eq!(out.stdout(), "1:3\n0\n");
}

// ---------------------------------------------------------------------------------------------
// CVE-2025-52565: /dev/console.
// ---------------------------------------------------------------------------------------------

/// `/dev/console` is the container's pty (the peer from TIOCGPTPEER, checked to be a pty),
/// the very device of the process's stdio.
#[test]
fn console_is_the_verified_pty() {
    let w = World::new("console");
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "stat -L -c '%t:%T' /dev/console /proc/self/fd/0 > /tmp/out; tty >> /tmp/out",
    ]);
    writable_root(&mut b);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let sock = w.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = w.id("console");
    w.hako(&[
        "create",
        "--console-socket",
        s(&sock),
        "--bundle",
        b.path(),
        &id,
    ])
    .ok();
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let (_, master) = libhako::sync::recv_fd(conn.as_fd(), &mut buf).unwrap();
    w.hako(&["start", &id]).ok();
    let out = wait_for(&b.rootfs().join("tmp/out"), "/dev/pts/", 10);
    drop(master);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("88:"),
        "/dev/console is a pty (major 136): {out}"
    );
    assert_eq!(
        lines[0], lines[1],
        "/dev/console is the process's own terminal: {out}"
    );
    assert_eq!(lines[2], "/dev/pts/0");
}

/// An image whose `/dev/console` is a symlink (to a procfs file): the console is not bound
/// through it.
#[test]
fn console_target_symlink_is_refused() {
    let w = World::new("console-link");
    let mut b = w.bundle(&["true"]);
    image_dev(&mut b);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    std::fs::create_dir_all(b.rootfs().join("dev/pts")).unwrap();
    std::os::unix::fs::symlink(
        "/proc/sys/kernel/core_pattern",
        b.rootfs().join("dev/console"),
    )
    .unwrap();
    let sock = w.dir.join("console.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let id = w.id("console-link");
    let out = w.hako(&[
        "create",
        "--console-socket",
        s(&sock),
        "--bundle",
        b.path(),
        &id,
    ]);
    let msg = out.fails().error_msg();
    assert!(msg.contains("/dev/console"), "{msg}");
    assert!(!w.state_dir(&id).exists());
}

// ---------------------------------------------------------------------------------------------
// The exec trampoline's window: the process is dumpable again from its execveat until the
// program's execve. Nothing of the runtime's may be held then.
// ---------------------------------------------------------------------------------------------

/// A container process that watches for each new process of its PID namespace (the next PID
/// of `ns_last_pid`), stops it, and steps it (SIGCONT, SIGSTOP) until `/proc/<pid>/exe` shows
/// the exec trampoline; then it takes every fd of it with `pidfd_getfd` (same uid, and the
/// process is dumpable) and writes to `/report` one line per fd it got: `fd N socket TYPE` or
/// `fd N other`, and `caught` for each trampoline caught.
const GRABBER: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int next_pid(void) {
    char b[32] = {0};
    int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
    if (fd < 0 || read(fd, b, sizeof b - 1) <= 0) exit(2);
    close(fd);
    return atoi(b) + 1;
}

static char state(int pid) {
    char p[64], b[512];
    snprintf(p, sizeof p, "/proc/%d/stat", pid);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return 'X';
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) return 'X';
    b[n] = 0;
    char *r = strrchr(b, ')');
    return r && r[1] ? r[2] : 'X';
}

static void grab(FILE *out, int pid) {
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) { fprintf(out, "pidfd_open %d\n", errno); return; }
    fprintf(out, "caught\n");
    for (int fd = 0; fd < 256; fd++) {
        int got = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
        if (got < 0 || fd < 3) { if (got >= 0) close(got); continue; }
        struct stat st;
        int type = 0;
        socklen_t len = sizeof type;
        if (fstat(got, &st) == 0 && S_ISSOCK(st.st_mode)) {
            getsockopt(got, SOL_SOCKET, SO_TYPE, &type, &len);
            fprintf(out, "fd %d socket %d\n", fd, type);
        } else {
            fprintf(out, "fd %d other\n", fd);
        }
        close(got);
    }
    close(pidfd);
}

int main(void) {
    FILE *out = fopen("/report", "w");
    if (!out) return 2;
    setvbuf(out, NULL, _IOLBF, 0);
    fprintf(out, "ready\n");
    for (;;) {
        int pid = next_pid();
        // Until it exists; one that came and went meanwhile is missed: watch for the next.
        int stopped;
        while (!(stopped = kill(pid, SIGSTOP) == 0))
            if (errno != ESRCH || next_pid() > pid + 1) break;
        if (!stopped) continue;
        for (long step = 0; step < 2000000; step++) {
            char s;
            while ((s = state(pid)) != 'T' && s != 't' && s != 'X' && s != 'Z')
                ;
            if (s == 'X' || s == 'Z') break;
            char exe[256] = {0}, p[64];
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            ssize_t n = readlink(p, exe, sizeof exe - 1);
            if (n > 0 && strstr(exe, "exec-trampoline")) {
                grab(out, pid);
                kill(pid, SIGCONT);
                break;
            }
            if (n > 0 || (n < 0 && errno != EACCES)) { kill(pid, SIGCONT); break; }
            kill(pid, SIGCONT);
            kill(pid, SIGSTOP);
        }
    }
}
"#;

/// The attack on the trampoline's window, by a process of the container (`GRABBER`): for each
/// `hako exec`, and for the init of a second container that joins this one's PID namespace
/// (`run -d`), it stops the new process in the trampoline and takes its fds. It must find no
/// fd of the runtime's there (it used to get the sync socket, hold `hako exec` with it for as
/// long as it liked, and make hako print a message it wrote as hako's own); and every exec
/// must end.
#[test]
fn the_trampoline_holds_nothing_of_the_runtime() {
    let w = World::new("grab");
    let mut b = w.bundle(&["grabber"]);
    writable_root(&mut b);
    common::install_c_helper(&b.rootfs(), "grabber", GRABBER);
    let id = w.id("grab");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let report = b.rootfs().join("report");
    assert!(wait_for(&report, "ready", 10).contains("ready"));
    let caught = || {
        std::thread::sleep(Duration::from_millis(20));
        let text = std::fs::read_to_string(&report).unwrap();
        text.lines().filter(|l| *l == "caught").count()
    };
    // The grabber catches a process in the trampoline now and then (it races it): exec until
    // it has caught a few.
    for _ in 0..200 {
        if caught() >= 3 {
            break;
        }
        let mut child = w
            .cmd()
            .args(["exec", &id, "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = common::wait_within(&mut child, Duration::from_secs(20));
        assert!(status.is_some_and(|s| s.success()), "hako exec: {status:?}");
    }
    let by_exec = caught();
    assert!(
        by_exec > 0,
        "the attack never caught an exec'd process in the trampoline"
    );
    // A second container in the first one's PID namespace: its init runs the trampoline too.
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    for _ in 0..40 {
        if caught() > by_exec {
            break;
        }
        let mut joined = w.bundle(&["true"]);
        joined.edit(|c| {
            for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
                if ns["type"] == "pid" {
                    ns["path"] = json!(format!("/proc/{pid}/ns/pid"));
                }
            }
        });
        w.hako(&["run", "-d", "--bundle", joined.path(), &w.id("joined")])
            .ok();
    }
    assert!(
        caught() > by_exec,
        "the attack never caught a joined init in the trampoline"
    );
    std::thread::sleep(Duration::from_millis(200));
    let text = std::fs::read_to_string(&report).unwrap();
    eprintln!("{text}");
    assert!(
        !text.contains("fd "),
        "fds taken from the trampoline:\n{text}"
    );
}
