//! The container process as the config describes it: args, the exact environment, cwd, user
//! and groups, umask, rlimits, no_new_privs, the five capability sets, oom_score_adj, stdio
//! passthrough, no leaked fds, and PATH lookup on the container's own PATH. runc's output for
//! the same bundle is compared where both runtimes support the config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::{Bundle, Out, World};
use serde_json::json;

fn run(w: &World, b: &Bundle) -> Out {
    let id = w.id("proc");
    w.hako(&["run", "--bundle", b.path(), &id])
}

fn run_ok(w: &World, b: &Bundle) -> String {
    run(w, b).ok().stdout()
}

fn runc(w: &World, b: &Bundle) -> Out {
    w.runc_run(&common::runc_bin(), &[], b)
}

fn runc_ok(w: &World, b: &Bundle) -> String {
    runc(w, b).ok().stdout()
}

/// A bundle running `sh -c script`.
fn sh(w: &World, script: &str) -> Bundle {
    w.bundle(&["sh", "-c", script])
}

#[test]
fn args_are_passed_verbatim() {
    let w = World::new("proc-args");
    let b = w.bundle(&[
        "sh",
        "-c",
        "printf '[%s]' \"$0\" \"$@\"; echo",
        "zero",
        "a b",
        "",
        "*",
        "$HOME",
    ]);
    let out = run_ok(&w, &b);
    assert_eq!(out, "[zero][a b][][*][$HOME]\n");
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn environment_is_exactly_the_configs() {
    let w = World::new("proc-env");
    let mut b = w.bundle(&["env"]);
    b.edit(|c| {
        c["process"]["env"] = json!([
            "PATH=/bin:/sbin",
            "FOO=bar baz",
            "EMPTY=",
            "EQ=a=b",
            "HOME=/home/x"
        ])
    });
    let out = run_ok(&w, &b);
    assert_eq!(
        out,
        "PATH=/bin:/sbin\nFOO=bar baz\nEMPTY=\nEQ=a=b\nHOME=/home/x\n"
    );
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn home_is_added_from_passwd_when_missing() {
    // runc sets HOME from the user's /etc/passwd entry when the config has none.
    let w = World::new("proc-home");
    let mut b = w.bundle(&["env"]);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin", "TERM=dumb"]));
    let out = run_ok(&w, &b);
    let runc_out = runc_ok(&w, &b);
    assert_eq!(runc_out, "PATH=/bin\nTERM=dumb\nHOME=/root\n");
    assert_eq!(out, runc_out);
    // A user with no passwd entry gets "/"; nobody gets its own home ("/" too here).
    for (uid, home) in [(4242, "/"), (65534, "/")] {
        b.edit(|c| c["process"]["user"] = json!({"uid": uid, "gid": uid}));
        let out = run_ok(&w, &b);
        assert_eq!(out, format!("PATH=/bin\nTERM=dumb\nHOME={home}\n"));
        assert_eq!(out, runc_ok(&w, &b));
    }
}

#[test]
fn cwd_is_the_configs() {
    let w = World::new("proc-cwd");
    let mut b = sh(&w, "pwd");
    b.edit(|c| c["process"]["cwd"] = json!("/etc"));
    assert_eq!(run_ok(&w, &b), "/etc\n");
    // A missing cwd is created (inside the rootfs), as runc does.
    b.edit(|c| c["process"]["cwd"] = json!("/work/dir"));
    let out = run_ok(&w, &b);
    assert_eq!(out, "/work/dir\n");
    assert!(b.rootfs().join("work/dir").is_dir());
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let w = World::new("proc-user");
    let mut b = sh(
        &w,
        "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\\t ' ' '",
    );
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]})
    });
    let out = run_ok(&w, &b);
    assert_eq!(
        out,
        "uid=1000 gid=1001 groups=5,1002\n\
         Uid: 1000 1000 1000 1000\n\
         Gid: 1001 1001 1001 1001\n\
         Groups: 5 1002 \n"
    );
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn user_without_additional_gids_has_no_groups() {
    let w = World::new("proc-nogroups");
    let mut b = sh(&w, "grep '^Groups:' /proc/self/status");
    b.edit(|c| c["process"]["user"] = json!({"uid": 65534, "gid": 65534}));
    let out = run_ok(&w, &b);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["Groups:"]);
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn umask_applies_to_new_files() {
    let w = World::new("proc-umask");
    let script = "umask; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d";
    let mut b = sh(&w, script);
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        c["process"]["user"]["umask"] = json!(0o027);
    });
    let out = run_ok(&w, &b);
    assert_eq!(out, "0027\n640\n750\n");
    assert_eq!(out, runc_ok(&w, &b));
    // Without one, the process gets 0022.
    b.edit(|c| {
        c["process"]["user"]
            .as_object_mut()
            .unwrap()
            .remove("umask");
    });
    assert_eq!(run_ok(&w, &b), "0022\n644\n755\n");
}

/// Soft and hard of one row of /proc/self/limits.
fn limit(limits: &str, name: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {limits}"));
    let rest: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (rest[0].to_string(), rest[1].to_string())
}

#[test]
fn rlimits_are_applied() {
    let w = World::new("proc-rlimits");
    let mut b = sh(&w, "ulimit -n; ulimit -c; cat /proc/self/limits");
    b.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
            {"type": "RLIMIT_CORE", "soft": 1024, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
            {"type": "RLIMIT_STACK", "soft": 4194304_u64, "hard": 18446744073709551615_u64},
        ])
    });
    let out = run_ok(&w, &b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("512"));
    // busybox reports core in 512-byte blocks.
    assert_eq!(lines.next(), Some("2"));
    assert_eq!(limit(&out, "Max open files"), ("512".into(), "2048".into()));
    assert_eq!(
        limit(&out, "Max core file size"),
        ("1024".into(), "4096".into())
    );
    assert_eq!(limit(&out, "Max processes"), ("300".into(), "400".into()));
    assert_eq!(
        limit(&out, "Max stack size"),
        ("4194304".into(), "unlimited".into())
    );
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn default_nofile_limit() {
    let w = World::new("proc-nofile");
    let b = sh(&w, "ulimit -n; ulimit -Hn");
    assert_eq!(run_ok(&w, &b), "1024\n1024\n");
}

#[test]
fn no_new_privileges_on_and_off() {
    let w = World::new("proc-nnp");
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        host.lines().any(|l| l == "NoNewPrivs:\t0"),
        "the test itself runs with no_new_privs: cannot check false"
    );
    let mut b = sh(&w, "grep NoNewPrivs /proc/self/status");
    b.edit(|c| c["process"]["noNewPrivileges"] = json!(true));
    assert_eq!(run_ok(&w, &b), "NoNewPrivs:\t1\n");
    b.edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    assert_eq!(run_ok(&w, &b), "NoNewPrivs:\t0\n");
    b.edit(|c| {
        c["process"]
            .as_object_mut()
            .unwrap()
            .remove("noNewPrivileges");
    });
    let out = run_ok(&w, &b);
    assert_eq!(out, "NoNewPrivs:\t0\n");
    assert_eq!(out, runc_ok(&w, &b));
}

const CAP_KILL: u64 = 1 << 5;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const CAP_SYS_ADMIN: u64 = 1 << 21;
const CAP_AUDIT_WRITE: u64 = 1 << 29;
const DEFAULT_CAPS: u64 = CAP_KILL | CAP_NET_BIND_SERVICE | CAP_AUDIT_WRITE;

/// CapInh, CapPrm, CapEff, CapBnd, CapAmb of the container's status, as numbers.
fn cap_sets(out: &str) -> [u64; 5] {
    let get = |k: &str| {
        let line = out
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("no {k} in {out}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    [
        get("CapInh:"),
        get("CapPrm:"),
        get("CapEff:"),
        get("CapBnd:"),
        get("CapAmb:"),
    ]
}

const CAPS_SCRIPT: &str = "grep ^Cap /proc/self/status";

#[test]
fn default_capabilities() {
    let w = World::new("proc-caps");
    let b = sh(&w, CAPS_SCRIPT);
    let out = run_ok(&w, &b);
    // The default config has no inheritable set, so its ambient set cannot be raised.
    assert_eq!(
        cap_sets(&out),
        [0, DEFAULT_CAPS, DEFAULT_CAPS, DEFAULT_CAPS, 0]
    );
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn bounding_only_capability_is_not_effective() {
    let w = World::new("proc-capbnd");
    let mut b = sh(&w, CAPS_SCRIPT);
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_ADMIN"));
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
        c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_AUDIT_WRITE"]);
    });
    let out = run_ok(&w, &b);
    // With no_new_privs, root's exec gains nothing beyond the configured permitted set;
    // an ambient capability must be inheritable too.
    assert_eq!(
        cap_sets(&out),
        [
            CAP_KILL,
            DEFAULT_CAPS,
            DEFAULT_CAPS,
            DEFAULT_CAPS | CAP_SYS_ADMIN,
            CAP_KILL
        ]
    );
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn capabilities_of_a_non_root_user_come_from_ambient() {
    let w = World::new("proc-capuser");
    let mut b = sh(&w, CAPS_SCRIPT);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"]["ambient"] = json!(["CAP_NET_BIND_SERVICE"]);
    });
    let out = run_ok(&w, &b);
    assert_eq!(
        cap_sets(&out),
        [
            CAP_NET_BIND_SERVICE,
            CAP_NET_BIND_SERVICE,
            CAP_NET_BIND_SERVICE,
            DEFAULT_CAPS,
            CAP_NET_BIND_SERVICE
        ]
    );
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn root_without_no_new_privs_gains_the_bounding_set() {
    // The kernel gives root's exec every capability of the bounding set; only no_new_privs
    // (or the bounding set) stops it. Same as runc.
    let w = World::new("proc-caproot");
    let mut b = sh(&w, CAPS_SCRIPT);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_ADMIN"));
    });
    let out = run_ok(&w, &b);
    let all = DEFAULT_CAPS | CAP_SYS_ADMIN;
    assert_eq!(cap_sets(&out), [0, all, all, all, 0]);
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn empty_capabilities() {
    let w = World::new("proc-capnone");
    let mut b = sh(&w, CAPS_SCRIPT);
    b.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []
        })
    });
    let out = run_ok(&w, &b);
    assert_eq!(cap_sets(&out), [0; 5]);
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn oom_score_adj() {
    let w = World::new("proc-oom");
    let mut b = sh(&w, "cat /proc/self/oom_score_adj");
    for adj in [500, 1000, 0] {
        b.edit(|c| c["process"]["oomScoreAdj"] = json!(adj));
        let out = run_ok(&w, &b);
        assert_eq!(out, format!("{adj}\n"));
        assert_eq!(out, runc_ok(&w, &b));
    }
    // Lowering it needs CAP_SYS_RESOURCE, which some hosts (this VM) do not give root: then
    // the container must fail, as with runc, rather than run with another score.
    b.edit(|c| c["process"]["oomScoreAdj"] = json!(-300));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let out = run(&w, &b);
    if eff & (1 << 24) != 0 {
        assert_eq!(out.ok().stdout(), "-300\n");
    } else {
        assert_ne!(out.code(), Some(0), "{}", out.stdout());
        assert_ne!(runc(&w, &b).code(), Some(0));
    }
}

#[test]
fn stdout_stderr_and_exit_code_pass_through() {
    let w = World::new("proc-stdio");
    let b = sh(&w, "echo to-out; echo to-err >&2; echo more-out; exit 3");
    let out = run(&w, &b);
    assert_eq!(out.code(), Some(3), "stderr: {}", out.stderr());
    assert_eq!(out.stdout(), "to-out\nmore-out\n");
    assert_eq!(out.stderr(), "to-err\n");
}

#[test]
fn stdin_is_passed_through() {
    let w = World::new("proc-stdin");
    let b = sh(&w, "cat; echo end");
    let id = w.id("stdin");
    let out = w.with_stdin(&["run", "--bundle", b.path(), &id], b"line one\nline two\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line one\nline two\nend\n"
    );
}

#[test]
fn no_fds_leak_into_the_container() {
    let w = World::new("proc-fds");
    let b = w.bundle(&["ls", "/proc/self/fd"]);
    // An inheritable fd in the runtime's own environment must not reach the container either.
    let leak = std::fs::File::open("/etc/hostname").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&leak);
    nix::fcntl::fcntl(
        &leak,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let out = run_ok(&w, &b);
    drop(leak);
    // 0-2, and the directory ls itself is reading.
    assert_eq!(out, "0\n1\n2\n3\n", "fd {fd} was inheritable");
    assert_eq!(out, runc_ok(&w, &b));
}

#[test]
fn path_lookup_uses_the_containers_path() {
    let w = World::new("proc-path");
    let mut b = w.bundle(&["myprog", "arg"]);
    let r = b.rootfs();
    for dir in ["first", "second"] {
        std::fs::create_dir(r.join(dir)).unwrap();
        let p = r.join(dir).join("myprog");
        std::fs::write(&p, format!("#!/bin/sh\necho {dir} \"$@\"\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A non-executable file earlier on PATH is skipped.
    std::fs::create_dir(r.join("noexec")).unwrap();
    std::fs::write(r.join("noexec/myprog"), "not a program").unwrap();
    b.edit(|c| c["process"]["env"] = json!(["PATH=/noexec:/second:/first:/bin"]));
    let out = run_ok(&w, &b);
    assert_eq!(out, "second arg\n");
    assert_eq!(out, runc_ok(&w, &b));
    b.edit(|c| c["process"]["env"] = json!(["PATH=/first:/bin"]));
    assert_eq!(run_ok(&w, &b), "first arg\n");
    // The host's PATH is not the container's: /bin only has no myprog.
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin"]));
    let id = w.id("nopath");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_ne!(out.code(), Some(0));
    assert!(
        out.stderr()
            .contains("exec: \\\"myprog\\\": executable file not found in $PATH")
            || out
                .stderr()
                .contains("exec: \"myprog\": executable file not found in $PATH"),
        "{}",
        out.stderr()
    );
    assert!(!w.state_dir(&id).exists());
}

/// A host program that starts what it is given with SIGUSR1 and SIGTERM blocked and SIGHUP,
/// SIGUSR2 and SIGRTMIN+3 ignored: a runtime started under `nohup` or by a daemon that
/// ignores or blocks signals.
const SIGWRAP: &str = r#"
#include <signal.h>
#include <unistd.h>
int main(int argc, char **argv) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGTERM);
    sigprocmask(SIG_BLOCK, &s, 0);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGRTMIN + 3, SIG_IGN);
    execvp(argv[1], argv + 1);
    return 127;
}
"#;

/// `SigBlk`, `SigIgn` and `SigCgt` of /proc/self/status as printed by the container.
fn sig_masks(status: &str) -> [u64; 3] {
    let field = |name: &str| {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {status:?}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    [field("SigBlk:"), field("SigIgn:"), field("SigCgt:")]
}

/// `run` and `exec` under a caller that ignores and blocks signals: the container's processes
/// start with every signal at its default action and none blocked. runc (through Go's
/// runtime) resets the ignored ones too; it keeps SIGHUP ignored now and then (Go respects an
/// inherited SIG_IGN for SIGHUP, racing with runc's own signal handling), and leaves blocked
/// what Go does not need unblocked (SIGUSR1 here): hako clears the mask, as crun does.
#[test]
fn signals_start_at_default_and_unblocked_as_runc() {
    let w = World::new("proc-signals");
    let host = w.dir.join("host");
    std::fs::create_dir_all(host.join("bin")).unwrap();
    common::install_c_helper(&host, "sigwrap", SIGWRAP);
    let wrap = host.join("bin/sigwrap");
    let bit = |sig: i32| 1u64 << (sig - 1);
    // What the wrapper ignores, but SIGHUP (see above).
    let ignored = bit(nix::libc::SIGUSR2) | bit(nix::libc::SIGRTMIN() + 3);
    let blocked = bit(nix::libc::SIGUSR1) | bit(nix::libc::SIGTERM);
    let probe = ["grep", "-E", "^Sig(Blk|Ign|Cgt)", "/proc/self/status"];
    let mut b = w.bundle(&probe);
    // exec needs an absolute root.path for runc.
    let rootfs = b.rootfs();
    b.edit(|c| c["root"]["path"] = json!(rootfs));
    let runtimes = [
        ("runc", common::runc_bin(), w.dir.join("runc-state")),
        ("hako", common::hako_bin().into(), w.root.clone()),
    ];
    let wrapped = |bin: &std::path::Path, root: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new(&wrap)
            .arg(bin)
            .arg("--root")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn the runtime under sigwrap");
        Out(out).ok().stdout()
    };
    for (name, bin, root) in &runtimes {
        let id = w.id(name);
        let run = sig_masks(&wrapped(bin, root, &["run", "--bundle", b.path(), &id]));
        // A container to exec into, started without the wrapper.
        let sleeper = w.id(name);
        let mut s = w.bundle(&["sleep", "100"]);
        let srootfs = s.rootfs();
        s.edit(|c| c["root"]["path"] = json!(srootfs));
        let up = std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["run", "-d", "--bundle", s.path(), &sleeper])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(up.success(), "{name} run -d");
        let mut exec_args = vec!["exec", sleeper.as_str()];
        exec_args.extend(probe);
        let exec = sig_masks(&wrapped(bin, root, &exec_args));
        let _ = std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["delete", "--force", &sleeper])
            .status();
        for (what, [blk, ign, cgt]) in [("run", run), ("exec", exec)] {
            assert_eq!(cgt, 0, "{name} {what}: SigCgt");
            if *name == "hako" {
                assert_eq!([blk, ign], [0, 0], "{name} {what}: SigBlk, SigIgn");
            } else {
                assert_eq!(ign & ignored, 0, "{name} {what}: SigIgn {ign:x}");
                assert_eq!(blk & !blocked, 0, "{name} {what}: SigBlk {blk:x}");
            }
        }
    }
}

/// An environment without PATH: the program is looked up on an empty PATH, so a bare name is
/// not found (runc's Go lookup), by the init and by exec alike.
#[test]
fn no_path_in_env_finds_no_bare_program_as_runc() {
    let w = World::new("proc-nopath");
    let mut b = sh(&w, "true");
    b.edit(|c| c["process"]["env"] = json!(["HOME=/"]));
    let wanted = "exec: \\\"sh\\\": executable file not found in $PATH";
    let r = runc(&w, &b);
    assert_ne!(r.code(), Some(0));
    assert!(r.stderr().contains(wanted), "runc: {}", r.stderr());
    let id = w.id("nopath");
    let h = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(h.code(), r.code(), "hako: {}", h.stderr());
    assert!(h.stderr().contains(wanted), "hako: {}", h.stderr());
    // A path is no lookup: it runs.
    b.edit(|c| c["process"]["args"] = json!(["/bin/sh", "-c", "echo ok"]));
    assert_eq!(run_ok(&w, &b), runc_ok(&w, &b));
}
