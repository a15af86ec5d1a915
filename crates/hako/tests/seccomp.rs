//! seccomp and capabilities, end to end: what a process inside the container sees when the
//! profile denies, kills, notifies or tests arguments; Docker's default profile
//! (`fixtures/docker-default-seccomp.json`: moby's `profiles/seccomp/default.json`, Apache-2.0,
//! rendered as Docker writes it into config.json for its default capabilities on amd64); how
//! capability names are read; and a differential run against runc.
//!
//! runc must be installed for the differential test: without it the test fails, never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Bundle, Out, World};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

/// Docker's default capabilities (bounding, effective, permitted; nothing inheritable).
const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn docker_profile() -> Value {
    serde_json::from_str(include_str!("fixtures/docker-default-seccomp.json"))
        .expect("fixture json")
}

/// The process and seccomp settings Docker puts in config.json by default.
fn docker_config(c: &mut Value) {
    c["process"]["capabilities"] = json!({
        "bounding": DOCKER_CAPS,
        "effective": DOCKER_CAPS,
        "permitted": DOCKER_CAPS,
    });
    c["process"]["noNewPrivileges"] = json!(false);
    c["linux"]["seccomp"] = docker_profile();
}

/// A profile that allows everything but the given rules.
fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn run(w: &World, b: &Bundle) -> Out {
    let id = w.id("sc");
    w.hako(&["run", "--bundle", b.path(), &id])
}

fn sh(w: &World, script: &str, seccomp: Value) -> Out {
    let mut b = w.bundle(&["sh", "-c", script]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = seccomp;
    });
    run(w, &b)
}

#[test]
fn errno_action_returns_its_errno() {
    let w = World::new("sc-errno");
    let deny = |errno: Option<u32>| {
        let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"});
        if let Some(e) = errno {
            rule["errnoRet"] = json!(e);
        }
        allow_but(json!([rule]))
    };
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", deny(Some(13))).ok();
    assert_eq!(out.stdout(), "rc=1\n");
    assert!(
        out.stderr()
            .contains("mkdir: can't create directory '/tmp/x': Permission denied"),
        "{}",
        out.stderr()
    );
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", deny(Some(1))).ok();
    assert!(
        out.stderr().contains("Operation not permitted"),
        "{}",
        out.stderr()
    );
    // ERRNO without errnoRet is EPERM.
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", deny(None)).ok();
    assert!(
        out.stderr().contains("Operation not permitted"),
        "{}",
        out.stderr()
    );
    // Everything else still works.
    let out = sh(&w, "echo hi > /tmp/f && cat /tmp/f", deny(Some(13))).ok();
    assert_eq!(out.stdout(), "hi\n");
}

#[test]
fn default_errno_ret_applies_to_unlisted_syscalls() {
    let w = World::new("sc-deferrno");
    let mut p = docker_profile();
    let allow = p["syscalls"][0]["names"].as_array_mut().unwrap();
    allow.retain(|n| n != "mkdir" && n != "mkdirat");
    p["defaultErrnoRet"] = json!(13);
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", p.clone()).ok();
    assert_eq!(out.stdout(), "rc=1\n");
    assert!(
        out.stderr().contains("Permission denied"),
        "{}",
        out.stderr()
    );
    // Without defaultErrnoRet the default ERRNO is EPERM.
    p.as_object_mut().unwrap().remove("defaultErrnoRet");
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", p).ok();
    assert!(
        out.stderr().contains("Operation not permitted"),
        "{}",
        out.stderr()
    );
}

#[test]
fn kill_actions_kill_with_sigsys() {
    let w = World::new("sc-kill");
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let mut b = w.bundle(&["mkdir", "/tmp/x"]);
        b.edit(|c| {
            c["linux"]["seccomp"] =
                allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": action}]))
        });
        let out = run(&w, &b);
        assert_eq!(out.code(), Some(128 + 31), "{action}: {}", out.stderr());
    }
}

#[test]
fn argument_conditions() {
    let w = World::new("sc-args");
    // busybox linux32 calls personality(PER_LINUX32 = 8), linux64 personality(PER_LINUX = 0).
    let script = "linux64 true; echo l64=$?; linux32 true; echo l32=$?";
    // "personality only with arg0 == 0": deny when arg0 != 0.
    let ne0 = allow_but(
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]),
    );
    let out = sh(&w, script, ne0).ok();
    assert_eq!(out.stdout(), "l64=0\nl32=1\n", "{}", out.stderr());
    // Two conditions on the same argument are alternatives (runc's rule), not a conjunction
    // that could never hold.
    let either = allow_but(
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                 {"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]}]),
    );
    let out = sh(&w, script, either).ok();
    assert_eq!(out.stdout(), "l64=0\nl32=1\n", "{}", out.stderr());
    // MASKED_EQ: value is the mask, valueTwo the datum: (arg0 & 8) == 8 denies linux32 only.
    let masked = allow_but(
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}]),
    );
    let out = sh(&w, script, masked).ok();
    assert_eq!(out.stdout(), "l64=0\nl32=1\n", "{}", out.stderr());
    // GT 8: neither is denied.
    let gt = allow_but(
        json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_GT"}]}]),
    );
    let out = sh(&w, script, gt).ok();
    assert_eq!(out.stdout(), "l64=0\nl32=0\n", "{}", out.stderr());
}

fn status_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            ["Seccomp:", "Seccomp_filters:", "NoNewPrivs:", "Cap"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn status_shows_filter_mode_with_and_without_no_new_privs() {
    let w = World::new("sc-status");
    for nnp in [true, false] {
        let mut b = w.bundle(&["cat", "/proc/self/status"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] =
                allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]));
        });
        let out = run(&w, &b).ok();
        let lines = status_lines(&out.stdout());
        assert!(lines.contains(&"Seccomp:\t2".to_string()), "{lines:?}");
        assert!(
            lines.contains(&"Seccomp_filters:\t1".to_string()),
            "{lines:?}"
        );
        let want = format!("NoNewPrivs:\t{}", u8::from(nnp));
        assert!(lines.contains(&want), "{lines:?}");
    }
}

#[test]
fn docker_default_profile_runs_a_container() {
    let w = World::new("sc-docker");
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "echo hi > /tmp/f && cat /tmp/f && ls / >/dev/null && mkdir /tmp/d && linux32 true && \
         (sleep 0 &) && wait; echo rc=$?; hostname x 2>/dev/null; echo hostname=$?",
    ]);
    b.edit(|c| {
        docker_config(c);
        c["root"]["readonly"] = json!(false);
    });
    let out = run(&w, &b).ok();
    assert_eq!(out.stdout(), "hi\nrc=0\nhostname=1\n", "{}", out.stderr());
}

#[test]
fn bad_profile_is_a_config_error_before_anything_is_made() {
    let w = World::new("sc-bad");
    let cases = [
        (
            allow_but(json!([{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                             {"names": ["mkdir"], "action": "X"}])),
            r#"linux.seccomp.syscalls[1].action: unknown action "X""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
            r#"linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80""#,
        ),
        (
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}])),
            r#"linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_SOMETIMES""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
            r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE""#,
        ),
    ];
    for (profile, msg) in cases {
        let mut b = w.bundle(&["true"]);
        b.edit(|c| c["linux"]["seccomp"] = profile);
        let id = w.id("sc");
        let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
        assert!(out.error_msg().ends_with(msg), "{}", out.error_msg());
        assert!(
            !w.state_dir(&id).exists(),
            "no state dir after a config error"
        );
    }
}

#[test]
fn unknown_syscall_names_and_flags_are_handled_as_runc_does() {
    let w = World::new("sc-names");
    let mut p = allow_but(
        json!([{"names": ["no_such_syscall_hako", "mkdir", "mkdirat"],
        "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]),
    );
    p["flags"] = json!([
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", p).ok();
    assert_eq!(out.stdout(), "rc=1\n");
    assert!(
        out.stderr().contains("Permission denied"),
        "{}",
        out.stderr()
    );
}

/// A seccomp agent: accepts one connection, takes the state and the listener fd, answers the
/// first notification with EACCES. Returns (state JSON, fd was a seccomp listener).
fn agent(sock: &Path) -> std::thread::JoinHandle<(Value, String)> {
    let listener = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .unwrap();
            let mut fd = None;
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    fd = fds.first().copied();
                }
            }
            (msg.bytes, fd.expect("an fd with the state"))
        };
        // Read the rest of the JSON, if the sender split it.
        let mut text = buf[..n].to_vec();
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut &conn, &mut rest).unwrap();
        text.extend(rest);
        let state: Value = serde_json::from_slice(&text).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let req = libseccomp::ScmpNotifReq::receive(fd).unwrap();
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc_eacces(),
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(fd)
        .unwrap();
        // The agent hangs up: later notifications fail with ENOSYS in the container.
        nix::unistd::close(fd).unwrap();
        (state, link)
    })
}

fn libc_eacces() -> i32 {
    nix::errno::Errno::EACCES as i32
}

#[test]
fn notify_sends_the_listener_fd_and_state_to_listener_path() {
    let w = World::new("sc-notify");
    let sock = w.dir.join("agent.sock");
    let handle = agent(&sock);
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "mkdir /tmp/x; echo rc=$?; mkdir /tmp/y && echo made",
    ]);
    let sock_path = sock.display().to_string();
    b.edit(|c| {
        c["annotations"] = json!({"org.hako.test": "notify"});
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock_path,
            "listenerMetadata": "hako-test-metadata",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
        });
    });
    let id = w.id("notify");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    let (state, link) = handle.join().unwrap();
    // The first mkdir was answered EACCES by the agent; the agent is gone for the second,
    // which the kernel then fails with ENOSYS.
    assert!(
        out.stdout().starts_with("rc=1\n"),
        "{}\n{}",
        out.stdout(),
        out.stderr()
    );
    assert!(
        out.stderr().contains("Permission denied"),
        "{}",
        out.stderr()
    );
    assert_eq!(link, "anon_inode:seccomp notify");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hako-test-metadata");
    assert!(state["pid"].as_i64().unwrap() > 1);
    assert_eq!(state["state"]["id"], id);
    assert_eq!(state["state"]["status"], "creating");
    assert_eq!(state["state"]["pid"], state["pid"]);
    assert_eq!(state["state"]["bundle"], json!(b.path()));
    assert_eq!(state["state"]["annotations"]["org.hako.test"], "notify");
    assert!(state["ociVersion"].as_str().unwrap().starts_with("1."));
}

#[test]
fn notify_with_an_unreachable_listener_fails_create() {
    let w = World::new("sc-notify-bad");
    let mut b = w.bundle(&["true"]);
    let missing = w.dir.join("nobody-listens.sock").display().to_string();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": missing,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
        });
    });
    let id = w.id("sc");
    let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
    assert!(
        out.error_msg().contains("listenerPath"),
        "{}",
        out.error_msg()
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn capability_names_unknown_to_the_kernel_are_skipped_with_a_warning() {
    let w = World::new("sc-caps");
    let mut b = w.bundle(&["grep", "^Cap", "/proc/self/status"]);
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_FROM_THE_FUTURE"],
            "effective": ["CAP_CHOWN"],
            "permitted": ["CAP_CHOWN", "CAP_FROM_THE_FUTURE"],
        });
    });
    let out = run(&w, &b).ok();
    assert!(
        out.stderr().contains("level=warning msg=\"ignoring unknown or unavailable capabilities: [CAP_FROM_THE_FUTURE]\""),
        "{}",
        out.stderr()
    );
    assert_eq!(
        status_lines(&out.stdout()),
        [
            "CapInh:\t0000000000000000",
            "CapPrm:\t0000000000000001",
            "CapEff:\t0000000000000001",
            "CapBnd:\t0000000000000001",
            "CapAmb:\t0000000000000000"
        ]
    );
    b.edit(|c| c["process"]["capabilities"]["effective"] = json!(["CAP_CHOWN", "chown"]));
    let id = w.id("sc");
    let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
    assert_eq!(
        out.error_msg(),
        r#"process.capabilities.effective[1]: "chown" is not a capability name"#
    );
}

#[test]
fn five_capability_sets_are_applied_exactly() {
    let w = World::new("sc-caps5");
    let mut b = w.bundle(&["grep", "^Cap", "/proc/self/status"]);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"],
        });
    });
    let out = run(&w, &b).ok();
    // CAP_CHOWN = bit 0, CAP_KILL = bit 5, CAP_NET_RAW = bit 13. After exec as uid 1000 the
    // ambient set becomes the new permitted and effective sets.
    assert_eq!(
        status_lines(&out.stdout()),
        [
            "CapInh:\t0000000000000020",
            "CapPrm:\t0000000000000020",
            "CapEff:\t0000000000000020",
            "CapBnd:\t0000000000002021",
            "CapAmb:\t0000000000000020"
        ]
    );
    // Absent capabilities: nothing at all, Inheritable included.
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 0, "gid": 0});
        c["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let out = run(&w, &b).ok();
    assert!(
        status_lines(&out.stdout())
            .iter()
            .all(|l| l.ends_with("0000000000000000")),
        "{}",
        out.stdout()
    );
}

// ---- differential: the same bundle under runc ----

fn runc_bin() -> PathBuf {
    ["/usr/sbin/runc", "/usr/bin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("runc not found: the differential test compares with runc (apt-get install runc)")
}

/// runc with a private `--root` in the world's temp dir; every container it ran is
/// `runc delete --force`d on drop, even when the test fails.
struct Runc {
    root: PathBuf,
    ids: RefCell<Vec<String>>,
}

impl Runc {
    fn run(&self, args: &[&str]) -> Out {
        if let Some(id) = args.last() {
            self.ids.borrow_mut().push(id.to_string());
        }
        Out(Command::new(runc_bin())
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn runc"))
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = Command::new(runc_bin())
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .output();
        }
    }
}

#[test]
fn differential_docker_profile_and_caps_match_runc() {
    let w = World::new("sc-diff");
    let runc = Runc {
        root: w.dir.join("runc-state"),
        ids: RefCell::default(),
    };
    let script =
        "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs|Cap[A-Za-z]+):' /proc/self/status; \
                  linux32 true; echo linux32=$?; \
                  mkdir /tmp/x 2>&1; echo mkdir=$?; \
                  hostname h 2>&1; echo hostname=$?";
    let mut b = w.bundle(&["sh", "-c", script]);
    // Docker's defaults, plus one denial with an errno of its own on top of the profile.
    b.edit(|c| {
        docker_config(c);
        let p = &mut c["linux"]["seccomp"];
        p["syscalls"][0]["names"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n != "mkdir" && n != "mkdirat");
        p["syscalls"].as_array_mut().unwrap().push(
            json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}),
        );
    });
    let id = w.id("diff");
    let theirs = runc.run(&["run", "--bundle", b.path(), &id]);
    let ours = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(theirs.code(), Some(0), "runc: {}", theirs.stderr());
    assert_eq!(ours.code(), Some(0), "hako: {}", ours.stderr());
    assert_eq!(ours.stdout(), theirs.stdout());
    assert!(ours.stdout().contains("Seccomp:\t2"), "{}", ours.stdout());
    assert!(
        ours.stdout().contains("Permission denied\nmkdir=1"),
        "{}",
        ours.stdout()
    );
    assert!(ours.stdout().contains("linux32=0"), "{}", ours.stdout());
    // With no_new_privs the filter goes last; the view is the same under both.
    b.edit(|c| c["process"]["noNewPrivileges"] = json!(true));
    let id = w.id("diff");
    let theirs = runc.run(&["run", "--bundle", b.path(), &id]);
    let ours = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(theirs.code(), Some(0), "runc: {}", theirs.stderr());
    assert_eq!(ours.stdout(), theirs.stdout());
    assert!(
        ours.stdout().contains("NoNewPrivs:\t1"),
        "{}",
        ours.stdout()
    );
}

#[test]
fn exec_processes_get_the_containers_filter() {
    let w = World::new("sc-exec");
    for nnp in [true, false] {
        let mut b = w.bundle(&["sleep", "100"]);
        b.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = allow_but(json!([{"names": ["mkdir", "mkdirat"],
                "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]));
        });
        let id = w.id("sc");
        w.start(&id, &b);
        let out = w
            .hako(&[
                "exec",
                &id,
                "sh",
                "-c",
                "grep ^Seccomp: /proc/self/status; mkdir /x; echo rc=$?",
            ])
            .ok();
        assert_eq!(out.stdout(), "Seccomp:\t2\nrc=1\n", "{}", out.stderr());
        assert!(
            out.stderr().contains("Permission denied"),
            "{}",
            out.stderr()
        );
        w.hako(&["delete", "--force", &id]).ok();
    }
}

/// A static helper that calls each syscall number given (all arguments 0) and prints
/// `nr=result/errno`: busybox cannot make a syscall newer than the profile.
fn install_sysno(rootfs: &Path) {
    common::install_c_helper(
        rootfs,
        "sysno",
        "#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
         int main(int argc, char **argv) {\n\
           for (int i = 1; i < argc; i++) {\n\
             long nr = strtol(argv[i], 0, 0);\n\
             errno = 0;\n\
             long r = syscall(nr, 0, 0, 0, 0, 0, 0);\n\
             printf(\"%ld=%ld/%d\\n\", nr, r, r < 0 ? errno : 0);\n\
           }\n\
           return 0;\n\
         }\n",
    );
}

#[test]
fn differential_syscalls_newer_than_the_profile_get_enosys_as_under_runc() {
    let w = World::new("sc-enosys");
    let runc = Runc {
        root: w.dir.join("runc-state"),
        ids: RefCell::default(),
    };
    // 250 keyctl: older than the profile's newest syscall and not in it: the default, EPERM.
    // 462 mseal, 470: newer than every syscall Docker's profile names: ENOSYS (runc's stub).
    // 39 getpid: allowed.
    let mut b = w.bundle(&["sysno", "250", "462", "470", "39"]);
    install_sysno(&b.rootfs());
    b.edit(docker_config);
    let id = w.id("enosys");
    let theirs = runc.run(&["run", "--bundle", b.path(), &id]);
    let ours = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(theirs.code(), Some(0), "runc: {}", theirs.stderr());
    assert_eq!(ours.code(), Some(0), "hako: {}", ours.stderr());
    assert_eq!(ours.stdout(), theirs.stdout());
    assert_eq!(ours.stdout(), "250=-1/1\n462=-1/38\n470=-1/38\n39=1/0\n");
    // With defaultErrnoRet ENOSYS, or a permissive default, there is no stub.
    b.edit(|c| {
        c["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_ALLOW");
        c["linux"]["seccomp"]["syscalls"] =
            json!([{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]);
    });
    let id = w.id("enosys");
    let theirs = runc.run(&["run", "--bundle", b.path(), &id]);
    let ours = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(ours.stdout(), theirs.stdout());
    assert!(
        ours.stdout().starts_with("250=-1/13\n"),
        "{}",
        ours.stdout()
    );
}

#[test]
fn trap_log_and_trace_actions() {
    let w = World::new("sc-actions");
    let rule = |action: &str| allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": action}]));
    // TRAP: SIGSYS, which busybox does not handle.
    let mut b = w.bundle(&["mkdir", "/tmp/x"]);
    b.edit(|c| c["linux"]["seccomp"] = rule("SCMP_ACT_TRAP"));
    let out = run(&w, &b);
    assert_eq!(out.code(), Some(128 + 31), "{}", out.stderr());
    // LOG: allowed (and logged by the kernel).
    let out = sh(&w, "mkdir /tmp/x && echo made", rule("SCMP_ACT_LOG")).ok();
    assert_eq!(out.stdout(), "made\n");
    // TRACE without a tracer: the kernel fails the syscall with ENOSYS.
    let out = sh(&w, "mkdir /tmp/x; echo rc=$?", rule("SCMP_ACT_TRACE")).ok();
    assert_eq!(out.stdout(), "rc=1\n");
    assert!(
        out.stderr().contains("Function not implemented"),
        "{}",
        out.stderr()
    );
}

/// An entry (`<root>/@seccomp-<hash>`) split into its key part (magic, key length, key) and
/// its program part (flags, BPF), as seccomp/cache.rs writes them.
fn split_entry(bytes: &[u8]) -> (&[u8], &[u8]) {
    let len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    bytes.split_at(20 + len)
}

#[test]
fn compiled_programs_are_cached_and_used_only_under_their_whole_key() {
    let w = World::new("sc-cache");
    let entries = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&w.root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("@seccomp-")
            })
            .collect();
        v.sort();
        v
    };
    let strict = allow_but(json!([{"names": ["mkdir", "mkdirat"],
        "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]));
    let open = allow_but(json!([{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]));
    let mkdir = "mkdir /tmp/x 2>/dev/null; echo rc=$?";
    assert_eq!(sh(&w, mkdir, strict.clone()).ok().stdout(), "rc=1\n");
    let first = entries();
    assert_eq!(first.len(), 1, "one entry after one profile");
    let strict_entry = first[0].clone();
    assert_eq!(sh(&w, mkdir, open.clone()).ok().stdout(), "rc=0\n");
    let open_entry = entries()
        .into_iter()
        .find(|p| *p != strict_entry)
        .expect("a second entry for the second profile");
    // The cache's files are no containers.
    assert_eq!(w.hako(&["list", "-q"]).ok().stdout(), "");
    let strict_bytes = std::fs::read(&strict_entry).unwrap();
    let open_bytes = std::fs::read(&open_entry).unwrap();

    // An entry holding another profile's key under this profile's name (a hash collision, or
    // a planted file) is not used: the strict filter is compiled again and still denies.
    std::fs::write(&strict_entry, &open_bytes).unwrap();
    assert_eq!(sh(&w, mkdir, strict.clone()).ok().stdout(), "rc=1\n");
    assert_eq!(std::fs::read(&strict_entry).unwrap(), strict_bytes);

    // The entry really is what a hit loads: the strict key with the open program is obeyed
    // while the file is hako's own (0600)...
    let (strict_key, _) = split_entry(&strict_bytes);
    let (_, open_program) = split_entry(&open_bytes);
    let forged = [strict_key, open_program].concat();
    std::fs::write(&strict_entry, &forged).unwrap();
    assert_eq!(sh(&w, mkdir, strict.clone()).ok().stdout(), "rc=0\n");
    // ...and ignored once anyone else could have written it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&strict_entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(sh(&w, mkdir, strict).ok().stdout(), "rc=1\n");
    assert_eq!(std::fs::read(&strict_entry).unwrap(), strict_bytes);
}
