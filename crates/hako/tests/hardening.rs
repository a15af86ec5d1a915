//! Process attributes and LSM labels (issue 3, item 3): `linux.personality`,
//! `process.scheduler`, `process.ioPriority`, `process.execCPUAffinity` applied; LSM labels
//! (where the LSM is off) and `linux.intelRdt` (where there is no resctrl, tests/intelrdt.rs)
//! refused with the reason, before anything is
//! created; each container's own session keyring, compared with runc's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Bundle, World};
use serde_json::{json, Value};

/// `run` a bundle whose process is `args` with `edit` applied; its stdout.
fn run_with(w: &World, args: &[&str], edit: impl FnOnce(&mut Value)) -> String {
    let mut b = w.bundle(args);
    b.edit(edit);
    w.hako(&["run", "--bundle", b.path(), &w.id("attr")])
        .ok()
        .stdout()
}

/// `create` must fail with one error line starting with `prefix`, leaving no state dir.
fn refused(w: &World, b: &Bundle, prefix: &str) -> String {
    let id = w.id("refused");
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(msg.starts_with(prefix), "{msg}");
    assert!(
        !w.state_dir(&id).exists(),
        "a refused config left a state dir"
    );
    msg
}

fn refused_with(w: &World, edit: impl FnOnce(&mut Value), prefix: &str) -> String {
    let mut b = w.bundle(&["true"]);
    b.edit(edit);
    refused(w, &b, prefix)
}

/// Fields 18 (priority), 19 (nice) and 41 (policy) of /proc/self/stat, via the shell's own.
const SCHED: &str = "cut -d' ' -f19,41 /proc/$$/stat; ionice -p $$";

#[test]
fn personality_linux32_for_init_and_exec() {
    let w = World::new("personality");
    let out = run_with(&w, &["uname", "-m"], |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    assert_eq!(out, "i686\n");
    let mut b = w.bundle(&["sleep", "100"]);
    b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    let id = w.id("personality");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "uname", "-m"]).ok().stdout();
    assert_eq!(out, "i686\n");
    // LINUX is the default personality.
    let out = run_with(&w, &["uname", "-m"], |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX"});
    });
    assert_eq!(out, "x86_64\n");
}

#[test]
fn personality_flags_and_bad_domain_are_refused() {
    // The runtime-spec defines no personality flag; runc warns and runs without it, hako
    // refuses rather than ignore what the config asks for.
    let w = World::new("personality-bad");
    let msg = refused_with(
        &w,
        |c| c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["X"]}),
        "linux.personality.flags",
    );
    assert!(msg.contains("no personality flag is supported"), "{msg}");
    let msg = refused_with(
        &w,
        |c| c["linux"]["personality"] = json!({"domain": "BOGUS"}),
        "config.json",
    );
    assert!(msg.contains("BOGUS"), "{msg}");
}

#[test]
fn scheduler_and_io_priority_are_applied() {
    let w = World::new("sched");
    let out = run_with(&w, &["sh", "-c", SCHED], |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    });
    assert_eq!(out, "7 3\nbest-effort: prio 6\n");
    let out = run_with(&w, &["sh", "-c", SCHED], |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_IDLE",
                                           "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    });
    // RESET_ON_FORK: the shell is SCHED_IDLE, what it forks is back to SCHED_OTHER.
    assert!(out.starts_with("0 5\nidle"), "{out}");
    // exec'd processes get the process's settings too.
    let mut b = w.bundle(&["sleep", "100"]);
    b.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 3}));
    let id = w.id("sched");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "sh", "-c", SCHED]).ok().stdout();
    assert!(out.starts_with("3 3\n"), "{out}");
}

#[test]
fn invalid_scheduler_and_io_priority_are_refused() {
    let w = World::new("sched-bad");
    refused_with(
        &w,
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 25}),
        "process.scheduler.nice: 25",
    );
    refused_with(
        &w,
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "priority": 5}),
        "process.scheduler.priority",
    );
    refused_with(
        &w,
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 0}),
        "process.scheduler.priority",
    );
    refused_with(
        &w,
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "flags": ["NOPE"]}),
        "process.scheduler.flags[0]",
    );
    refused_with(
        &w,
        |c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
        "process.ioPriority.priority: 8",
    );
}

#[test]
fn exec_cpu_affinity_final_applies_to_exec_only() {
    let w = World::new("affinity");
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "grep Cpus_allowed_list /proc/self/status; sleep 100",
    ]);
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"}));
    let id = w.id("affinity");
    let out_file = w.dir.join("init.out");
    let status = w
        .cmd()
        .args(["run", "-d", "--bundle", b.path(), &id])
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let all = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut init = String::new();
    while !init.contains('\n') && std::time::Instant::now() < deadline {
        init = std::fs::read_to_string(&out_file).unwrap_or_default();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Not for the init (the runtime spec says so).
    assert_eq!(init, format!("Cpus_allowed_list:\t{}", all), "{init}");
    let out = w
        .hako(&[
            "exec",
            &id,
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ])
        .ok()
        .stdout();
    assert_eq!(out, "Cpus_allowed_list:\t0\n");
    refused_with(
        &w,
        |c| c["process"]["execCPUAffinity"] = json!({"final": "5000"}),
        "process.execCPUAffinity.final",
    );
}

#[test]
fn lsm_labels_are_refused_with_the_reason() {
    let w = World::new("lsm");
    let msg = refused_with(
        &w,
        |c| c["process"]["apparmorProfile"] = json!("docker-default"),
        "process.apparmorProfile: \"docker-default\": AppArmor",
    );
    assert!(
        msg.contains("not enabled") || msg.contains("cannot apply"),
        "{msg}"
    );
    let msg = refused_with(
        &w,
        |c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"),
        "process.selinuxLabel:",
    );
    assert!(msg.contains("selinux"), "{msg}");
    refused_with(
        &w,
        |c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0"),
        "linux.mountLabel:",
    );
    // Empty labels mean none.
    run_with(&w, &["true"], |c| {
        c["process"]["apparmorProfile"] = json!("");
        c["process"]["selinuxLabel"] = json!("");
    });
    // exec --process with a label: refused as well.
    let b = w.bundle(&["sleep", "100"]);
    let id = w.id("lsm");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let proc_json = w.dir.join("process.json");
    let p = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                   "apparmorProfile": "x"});
    std::fs::write(&proc_json, p.to_string()).unwrap();
    let out = w.hako(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    assert!(!out.0.status.success(), "{}", out.stderr());
    let msg = out.error_msg();
    assert!(msg.contains("process.apparmorProfile: \"x\""), "{msg}");
}

#[test]
fn intel_rdt_is_refused() {
    let w = World::new("rdt");
    refused_with(
        &w,
        |c| c["linux"]["intelRdt"] = json!({"closID": "x", "l3CacheSchema": "L3:0=ff"}),
        "linux.intelRdt: intelRdt is specified in config, but Intel RDT is not enabled",
    );
}

/// A static helper that prints the `KEYCTL_DESCRIBE` of its session keyring
/// ("type;uid;gid;perm;description"): busybox has no keyctl.
fn install_sesdesc(rootfs: &std::path::Path) {
    common::install_c_helper(
        rootfs,
        "sesdesc",
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
         int main(void) {\n\
           char buf[512] = {0};\n\
           /* KEYCTL_DESCRIBE (6) of KEY_SPEC_SESSION_KEYRING (-3) */\n\
           if (syscall(SYS_keyctl, 6, -3, buf, sizeof buf - 1) < 0) { perror(\"keyctl\"); return 1; }\n\
           printf(\"%s\\n\", buf);\n\
           return 0;\n\
         }\n",
    );
}

#[test]
fn each_container_gets_its_own_session_keyring_as_under_runc() {
    let w = World::new("keyring");
    let b = w.bundle(&["sesdesc"]);
    install_sesdesc(&b.rootfs());
    // The init: a keyring of its own named after the container, searchable by its owner
    // (KEY_USR_SEARCH 0x80000 on top of the kernel's 0x3f130000).
    let id = w.id("ring");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    assert_eq!(out, format!("keyring;0;0;3f1b0000;_ses.{id}\n"));
    // runc makes exactly the same.
    let runc_root = w.dir.join("runc-state");
    let runc = std::process::Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["run", "--bundle", b.path(), &id])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runc (scripts/deps.sh) runs");
    assert!(
        runc.status.success(),
        "{}",
        String::from_utf8_lossy(&runc.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&runc.stdout), out);

    // An exec'd process joins the container's keyring, not the caller's.
    let sleeper = w.bundle(&["sleep", "100"]);
    install_sesdesc(&sleeper.rootfs());
    let id = w.id("ring");
    w.hako(&["run", "-d", "--bundle", sleeper.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "sesdesc"]).ok().stdout();
    assert_eq!(out, format!("keyring;0;0;3f1b0000;_ses.{id}\n"));

    // --no-new-keyring: the processes keep the caller's keyring, for exec too.
    // (The helper run here, outside any container, shows this process's keyring.)
    let mine = std::process::Command::new(b.rootfs().join("bin/sesdesc"))
        .output()
        .unwrap();
    assert!(mine.status.success());
    let mine = String::from_utf8(mine.stdout).unwrap();
    let id = w.id("ring");
    let out = w
        .hako(&["run", "--no-new-keyring", "--bundle", b.path(), &id])
        .ok()
        .stdout();
    assert_eq!(out, mine);
    let id = w.id("ring");
    w.hako(&[
        "run",
        "-d",
        "--no-new-keyring",
        "--bundle",
        sleeper.path(),
        &id,
    ])
    .ok();
    assert_eq!(w.hako(&["exec", &id, "sesdesc"]).ok().stdout(), mine);
}

// ---------------------------------------------------------------------------------------------
// Host-side inputs (issue 23, SECURITY.md "Host-side inputs"): what the caller hands the
// runtime must not reach the host's sysctls, run a process as root by a wrapped id, or wrap a
// count. Each case is run under runc 1.5.1 too, which refuses the same configs.
// ---------------------------------------------------------------------------------------------

/// The reference runc 1.5.1 (`../shared/reference/runc`) with its own
/// state root in the world; `None` without it (a bare clone: Debian's 1.1.5 behaves otherwise
/// in these cases, and only hako's half of each comparison runs). Its output goes through
/// files: a container of `run -d` keeps what it inherits open.
fn runc(w: &World, args: &[&str]) -> Option<common::Out> {
    let Some(reference) = common::reference_runc() else {
        eprintln!("runc 1.5.1 is not here: hako's side only");
        return None;
    };
    let n = common::unique("runc-out");
    let (o, e) = (
        w.dir.join(format!("{n}.out")),
        w.dir.join(format!("{n}.err")),
    );
    let status = std::process::Command::new(reference)
        .arg("--root")
        .arg(w.dir.join("runc-state"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("spawn runc");
    Some(common::Out(std::process::Output {
        status,
        stdout: std::fs::read(&o).unwrap(),
        stderr: std::fs::read(&e).unwrap(),
    }))
}

/// `run` the bundle under runc and hako: both must succeed with the same output, or both fail,
/// hako with one error line that contains runc's reason (`why`) and leaves no state dir.
fn same_verdict(w: &World, b: &Bundle, why: Option<&str>) {
    let id = w.id("verdict");
    let r = runc(w, &["run", "--bundle", b.path(), &id]);
    let _ = runc(w, &["delete", "--force", &id]);
    let h = w.hako(&["run", "--bundle", b.path(), &id]);
    match why {
        None => {
            let out = h.ok().stdout();
            if let Some(r) = r {
                assert!(r.0.status.success(), "runc: {}", r.stderr());
                assert_eq!(out, r.stdout(), "stdout differs from runc's");
            }
        }
        Some(why) => {
            if let Some(r) = r {
                assert!(!r.0.status.success(), "runc accepted it: {}", r.stdout());
                assert!(r.stderr().contains(why), "runc ({why}): {}", r.stderr());
            }
            let msg = h.fails().error_msg();
            assert!(msg.contains(why), "hako: {msg}");
            assert!(
                !w.state_dir(&id).exists(),
                "a refused config left a state dir"
            );
        }
    }
}

/// A process with its own network namespace, for `path` joins; killed on drop.
struct NetNs(std::process::Child);

impl NetNs {
    fn new() -> NetNs {
        let ns = NetNs(
            std::process::Command::new("unshare")
                .args(["--net", "sleep", "1000"])
                .spawn()
                .expect("unshare --net"),
        );
        for _ in 0..500 {
            if std::fs::read_link(ns.path()).ok() != std::fs::read_link("/proc/self/ns/net").ok() {
                return ns;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("unshare --net never made its namespace");
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn without_namespace(c: &mut Value, typ: &str) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != typ);
}

/// `linux.sysctl` keys that are not namespaced, or whose namespace is the host's, are refused
/// before anything is made (runc's rules and words): `vm.swappiness` or `kernel.core_pattern`
/// from a config would otherwise be written to the host's /proc/sys. The refused values are
/// the host's own, so that a runtime that wrongly accepts them changes nothing.
#[test]
fn host_sysctls_are_refused_as_runc_refuses_them() {
    let w = World::new("sysctl-ns");
    let host = |key: &str| {
        std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
            .unwrap()
            .trim()
            .to_string()
    };
    let other_net = NetNs::new();
    let not_separate = "is not in a separate kernel namespace";
    let host_net = "not allowed in host network namespace";
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, Option<&str>)> = vec![
        ("vm.swappiness", Box::new(|_| {}), Some(not_separate)),
        ("kernel.core_pattern", Box::new(|_| {}), Some(not_separate)),
        (
            "kernel.shmmax",
            Box::new(|c| without_namespace(c, "ipc")),
            Some("is not allowed in the hosts ipc namespace"),
        ),
        (
            "fs.mqueue.msg_max",
            Box::new(|c| without_namespace(c, "ipc")),
            Some("is not allowed in the hosts ipc namespace"),
        ),
        (
            "net.ipv4.ip_forward",
            Box::new(|c| without_namespace(c, "network")),
            Some(host_net),
        ),
        (
            "net.ipv4.ip_forward",
            Box::new(|c| {
                without_namespace(c, "network");
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "network", "path": format!("/proc/{}/ns/net", std::process::id())}));
            }),
            Some(host_net),
        ),
        (
            "kernel.hostname",
            Box::new(|_| {}),
            Some("is not allowed as it conflicts with the OCI"),
        ),
        (
            "kernel.domainname",
            Box::new(|c| {
                without_namespace(c, "uts");
                c.as_object_mut().unwrap().remove("hostname");
            }),
            Some(not_separate),
        ),
        // Namespaced: allowed, and applied in the container only.
        ("kernel.domainname", Box::new(|_| {}), None),
        ("kernel.shmmax", Box::new(|_| {}), None),
        ("net/ipv4/ip_forward", Box::new(|_| {}), None),
        (
            "net.ipv4.ip_forward",
            Box::new(move |c| {
                without_namespace(c, "network");
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "network", "path": other_net.path()}));
            }),
            None,
        ),
    ];
    for (key, edit, why) in cases {
        let value = match why {
            Some(_) if key == "kernel.hostname" => "h".to_string(),
            Some(_) => host(key),
            None if key.contains("ip_forward") => "1".into(),
            None => "4242".into(),
        };
        let shown = format!("/proc/sys/{}", key.replace('.', "/"));
        let mut b = w.bundle(&["cat", &shown]);
        b.edit(|c| {
            c["linux"]["sysctl"] = json!({key: value});
            edit(c);
        });
        same_verdict(&w, &b, why);
    }
}

/// A `root.path` that is a symlink is refused, as runc refuses it: it could be pointed
/// elsewhere between the check and its use.
#[test]
fn symlinked_root_path_is_refused() {
    let w = World::new("root-link");
    let b = w.bundle(&["true"]);
    std::fs::rename(b.rootfs(), b.dir.join("real-rootfs")).unwrap();
    std::os::unix::fs::symlink("real-rootfs", b.rootfs()).unwrap();
    same_verdict(
        &w,
        &b,
        Some("invalid rootfs: not an absolute path, or a symlink"),
    );
}

/// Mounts over files below /proc are refused as runc refuses them (named or reached through a
/// symlink of the image), except over the files lxcfs emulates; only a procfs goes on /proc.
#[test]
fn mounts_over_proc_files_are_refused_as_by_runc() {
    let w = World::new("proc-mounts");
    let src = w.dir.join("fake");
    std::fs::write(&src, "fake\n").unwrap();
    let src = src.to_str().unwrap().to_string();
    let inside = "cannot be mounted because it is inside /proc";
    for (dest, typ, why) in [
        ("/proc/sys/kernel/core_pattern", "bind", Some(inside)),
        ("/proc/self/attr/exec", "bind", Some(inside)),
        ("/link/core_pattern", "bind", Some("inside /proc")),
        (
            "/proc",
            "tmpfs",
            Some("cannot be mounted because it is not of type proc"),
        ),
        ("/proc/uptime", "bind", None),
    ] {
        let mut b = w.bundle(&["cat", "/proc/uptime"]);
        std::os::unix::fs::symlink("/proc/sys/kernel", b.rootfs().join("link")).unwrap();
        let (source, options) = match typ {
            "bind" => (src.as_str(), json!(["bind"])),
            _ => ("tmpfs", json!([])),
        };
        b.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(
                json!({"destination": dest, "type": typ, "source": source, "options": options}),
            )
        });
        same_verdict(&w, &b, why);
    }
}

/// uid or gid 4294967295 is `(uid_t)-1`, which `setresuid` takes as "unchanged": a process
/// asked to run as it would stay root. Refused in `process.user` and for `exec --user`,
/// `--additional-gids` and `exec -p FILE`, as runc refuses them.
#[test]
fn uid_and_gid_minus_one_are_refused() {
    let w = World::new("id-minus-one");
    let m1 = 4_294_967_295u32;
    for (field, edit) in [
        ("process.user.uid", json!({"uid": m1, "gid": 0})),
        ("process.user.gid", json!({"uid": 0, "gid": m1})),
        (
            "process.user.additionalGids[0]",
            json!({"uid": 0, "gid": 0, "additionalGids": [m1]}),
        ),
    ] {
        let mut b = w.bundle(&["id"]);
        b.edit(|c| c["process"]["user"] = edit.clone());
        let id = w.id("user");
        if let Some(r) = runc(&w, &["run", "--bundle", b.path(), &id]) {
            assert!(!r.0.status.success(), "runc ran it: {}", r.stdout());
        }
        let h = w.hako(&["run", "--bundle", b.path(), &id]);
        assert!(!h.stdout().contains("uid=0"), "ran as root: {}", h.stdout());
        let msg = h.fails().error_msg();
        assert!(
            msg.starts_with(&format!("{field}: 4294967295 is not a valid")),
            "{msg}"
        );
        assert!(!w.state_dir(&id).exists());
    }
    let b = w.bundle(&["sleep", "1000"]);
    let id = w.id("exec");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let rid = w.id("exec-runc");
    runc(&w, &["run", "-d", "--bundle", b.path(), &rid]);
    let process = w.dir.join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["id"], "cwd": "/", "user": {"uid": m1, "gid": 0}}).to_string(),
    )
    .unwrap();
    let p = process.to_str().unwrap();
    for (args, field) in [
        (vec!["--user", "4294967295"], "--user"),
        (vec!["--user", "0:4294967295"], "--user"),
        (vec!["--additional-gids", "4294967295"], "--additional-gids"),
        (vec!["-p", p], "process.user.uid"),
    ] {
        let mut r_args = vec!["exec"];
        r_args.extend(&args);
        r_args.push(&rid);
        if !args.contains(&"-p") {
            r_args.push("id");
        }
        if let Some(r) = runc(&w, &r_args) {
            assert!(!r.0.status.success(), "runc ran {args:?}: {}", r.stdout());
        }
        let mut h_args = vec!["exec"];
        h_args.extend(&args);
        h_args.push(&id);
        if !args.contains(&"-p") {
            h_args.push("id");
        }
        let h = w.hako(&h_args);
        assert_eq!(
            h.code(),
            Some(255),
            "{args:?}: {}{}",
            h.stdout(),
            h.stderr()
        );
        assert!(!h.stdout().contains("uid=0"), "{args:?} ran as root");
        let msg = h.error_msg();
        assert!(
            msg.starts_with(&format!("exec failed: {field}: 4294967295 is not a valid")),
            "{msg}"
        );
    }
    let _ = runc(&w, &["delete", "--force", &rid]);
}

/// `--preserve-fds` is a count added to 3: one that wraps (3 + 4294967293 = 0) would mark every
/// fd, the container's stdio included, close-on-exec. It is refused with one line, for create
/// and exec, as are fds that are not open (runc's check and words).
#[test]
fn preserve_fds_cannot_wrap_or_name_closed_fds() {
    let w = World::new("preserve-wrap");
    let b = w.bundle(&["sh", "-c", "echo alive"]);
    let id = w.id("create");
    let msg = w
        .hako(&[
            "run",
            "--preserve-fds",
            "4294967293",
            "--bundle",
            b.path(),
            &id,
        ])
        .fails()
        .error_msg();
    assert!(msg.starts_with("--preserve-fds: 4294967293:"), "{msg}");
    assert!(!w.state_dir(&id).exists());
    let sleeper = w.bundle(&["sleep", "1000"]);
    let id = w.id("exec");
    w.hako(&["run", "-d", "--bundle", sleeper.path(), &id]).ok();
    let h = w.hako(&[
        "exec",
        "--preserve-fds",
        "4294967293",
        &id,
        "sh",
        "-c",
        "echo alive",
    ]);
    assert!(!h.stdout().contains("alive"), "{}", h.stdout());
    assert_eq!(h.code(), Some(255), "{}", h.stderr());
    assert!(h
        .error_msg()
        .starts_with("exec failed: --preserve-fds: 4294967293:"));
    // A count whose fds are not open: runc's check, in runc's words.
    let rid = w.id("exec-runc");
    runc(&w, &["run", "-d", "--bundle", sleeper.path(), &rid]);
    let r = runc(&w, &["exec", "--preserve-fds", "100", &rid, "true"]);
    let _ = runc(&w, &["delete", "--force", &rid]);
    let closed =
        |out: &str| out.contains("unable to stat preserved-fd ") && out.contains(" (of 100)");
    if let Some(r) = r {
        assert!(closed(&r.stderr()), "runc: {}", r.stderr());
    }
    let h = w.hako(&["exec", "--preserve-fds", "100", &id, "true"]);
    assert_eq!(h.code(), Some(255));
    assert!(closed(&h.error_msg()), "{}", h.stderr());
}

/// `--pid-file` in a directory others can write to: symlinks planted at every temporary name
/// the runtime could use (the old name was `.<name>.tmp<pid>`: hako is run as PID 1 of a new
/// PID namespace so that its PID is known) must not make it write through them, and the pid
/// file must end up a regular file, not a planted link. runc uses `.<name>` with `O_EXCL`,
/// and refuses ("file exists") when it is planted: its victim is left alone too.
#[test]
fn pid_file_is_never_written_through_a_planted_symlink() {
    let w = World::new("pidfile");
    let dir = w.dir.join("public");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let victim = w.dir.join("victim");
    std::fs::write(&victim, "root's file\n").unwrap();
    for name in [".pid".to_string()]
        .into_iter()
        .chain((1..=64).map(|n| format!(".pid.tmp{n}")))
    {
        std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
    }
    let pid_file = dir.join("pid");
    let b = w.bundle(&["true"]);
    let id = w.id("pidfile");
    let out = std::process::Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            common::hako_bin(),
            "--root",
        ])
        .arg(&w.root)
        .args(["run", "--pid-file"])
        .arg(&pid_file)
        .args(["--bundle", b.path(), &id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = common::Out(out).ok();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "root's file\n",
        "{}",
        out.stderr()
    );
    let meta = std::fs::symlink_metadata(&pid_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the pid file is {:?}",
        meta.file_type()
    );
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(pid > 0);
    // runc, with its temporary name planted.
    let rid = w.id("pidfile-runc");
    let runc_pid_file = dir.join("pid");
    let r = runc(
        &w,
        &[
            "run",
            "--pid-file",
            runc_pid_file.to_str().unwrap(),
            "--bundle",
            b.path(),
            &rid,
        ],
    );
    let _ = runc(&w, &["delete", "--force", &rid]);
    if let Some(r) = r {
        assert!(!r.0.status.success(), "runc wrote through .pid");
        assert!(r.stderr().contains("file exists"), "{}", r.stderr());
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file\n");
}

/// A `--root` (or a container's directory in it) that another user owns or may write to is
/// refused with one line, by every verb: whoever can write there could swap a state dir for a
/// link under a command that runs as root.
#[test]
fn a_root_others_can_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new("root-perms");
    let open_root = w.dir.join("open-root");
    std::fs::create_dir_all(&open_root).unwrap();
    std::fs::set_permissions(&open_root, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let b = w.bundle(&["true"]);
    let root_arg = open_root.to_str().unwrap();
    let hako = |args: &[&str]| {
        let out = std::process::Command::new(common::hako_bin())
            .args(["--root", root_arg])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        common::Out(out)
    };
    let want = format!(
        "state root (--root) {root_arg}: writable by others (mode 1777): refusing to use it"
    );
    for args in [
        vec!["run", "--bundle", b.path(), "c1"],
        vec!["list"],
        vec!["state", "c1"],
        vec!["delete", "--force", "c1"],
    ] {
        let out = hako(&args);
        assert_eq!(out.code(), Some(1), "{args:?}: {}", out.stdout());
        assert_eq!(out.error_msg(), want, "{args:?}");
    }
    assert_eq!(
        std::fs::read_dir(&open_root).unwrap().count(),
        0,
        "something was made in it"
    );
    // A container's directory that is someone else's, in a root that is ours.
    let id = w.id("theirs");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    std::os::unix::fs::chown(w.state_dir(&id), Some(65534), None).unwrap();
    let msg = w.hako(&["state", &id]).fails().error_msg();
    assert!(
        msg.ends_with("owned by uid 65534, not by the caller (uid 0): refusing to use it"),
        "{msg}"
    );
    std::os::unix::fs::chown(w.state_dir(&id), Some(0), None).unwrap();
}

/// A state dir that is a symlink is no state dir: `delete --force` removes the link and never
/// what it points to (the old code unlinked `state.json` and `config.json` in the victim
/// directory), as runc does.
#[test]
fn delete_removes_a_symlinked_state_dir_not_its_target() {
    let w = World::new("delete-link");
    let victim = w.dir.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    for f in ["state.json", "config.json", "other"] {
        std::fs::write(victim.join(f), "victim's\n").unwrap();
    }
    std::fs::create_dir_all(&w.root).unwrap();
    for force in [true, false] {
        let id = w.id("link");
        std::os::unix::fs::symlink(&victim, w.state_dir(&id)).unwrap();
        let rid = w.id("link-runc");
        let runc_root = w.dir.join("runc-state");
        std::fs::create_dir_all(&runc_root).unwrap();
        std::os::unix::fs::symlink(&victim, runc_root.join(&rid)).unwrap();
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        let h = w.hako(&[args.as_slice(), &[id.as_str()]].concat());
        assert_eq!(h.code(), Some(if force { 0 } else { 1 }), "{}", h.stderr());
        if let Some(r) = runc(&w, &[args.as_slice(), &[rid.as_str()]].concat()) {
            assert_eq!(h.code(), r.code(), "force {force}: runc {}", r.stderr());
            assert!(std::fs::symlink_metadata(runc_root.join(&rid)).is_err());
        }
        assert!(
            std::fs::symlink_metadata(w.state_dir(&id)).is_err(),
            "the link stayed"
        );
        for f in ["state.json", "config.json", "other"] {
            assert_eq!(
                std::fs::read_to_string(victim.join(f)).unwrap(),
                "victim's\n",
                "{f}"
            );
        }
    }
}

/// The entries of the seccomp cache in `root`: `@seccomp-*` files, and those of the directory
/// older versions kept them in.
fn cache_entries(root: &std::path::Path) -> usize {
    let named = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let files = named(root)
        .iter()
        .filter(|n| n.starts_with("@seccomp-") && root.join(n).is_file())
        .count();
    files + named(&root.join("@seccomp-cache")).len()
}

/// The compiled-program cache is keyed on what decides the program, not on where the hako
/// binary sits: on the re-exec path (a profile that logs execveat keeps hako from using the
/// exec trampoline, so it re-executes itself from a fresh sealed copy each time) every exec
/// of the same profile used to add an entry.
#[test]
fn seccomp_cache_hits_across_re_executions() {
    let w = World::new("cache-key");
    let mut b = w.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_LOG"}]})
    });
    let id = w.id("key");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    assert_eq!(cache_entries(&w.root), 1);
    for _ in 0..3 {
        w.hako(&["exec", &id, "true"]).ok();
    }
    assert_eq!(cache_entries(&w.root), 1, "each exec added an entry");
    // An entry swapped for a link to another file is neither read nor written through.
    let entry = std::fs::read_dir(&w.root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("@seccomp-")
        })
        .unwrap();
    let victim = w.dir.join("victim");
    std::fs::write(&victim, "victim's\n").unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&victim, &entry).unwrap();
    w.hako(&["exec", &id, "true"]).ok();
    assert!(std::fs::symlink_metadata(&entry)
        .unwrap()
        .file_type()
        .is_file());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim's\n");
}

/// A state root shared with runc (Docker keeps every runc-like runtime's containers in one
/// directory): hako's seccomp cache makes no directory there that `runc list` takes for a
/// container, and hako leaves runc's containers alone, saying they are not its own. (runc
/// 1.5.1's `list` cannot read a hako container's state dir, running or created, at all: it
/// crashes on it; that is runc's to fix.)
#[test]
fn a_state_root_shared_with_runc() {
    let w = World::new("shared-root");
    let Some(reference) = common::reference_runc() else {
        eprintln!("skipped: runc 1.5.1 (../shared/reference) is not here");
        return;
    };
    let mut b = w.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]})
    });
    let mut once = w.bundle(&["true"]);
    once.edit(|c| c["linux"]["seccomp"] = b_seccomp(&b));
    w.hako(&["run", "--bundle", once.path(), &w.id("hako")])
        .ok();
    assert_eq!(cache_entries(&w.root), 1, "the profile is cached");
    let theirs = w.id("runc");
    let runc_in_root = |args: &[&str]| {
        let n = common::unique("runc-shared");
        let (o, e) = (
            w.dir.join(format!("{n}.out")),
            w.dir.join(format!("{n}.err")),
        );
        let status = std::process::Command::new(&reference)
            .arg("--root")
            .arg(&w.root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        (
            status,
            std::fs::read_to_string(&o).unwrap(),
            std::fs::read_to_string(&e).unwrap(),
        )
    };
    let (status, _, err) = runc_in_root(&["run", "-d", "--bundle", b.path(), &theirs]);
    assert!(status.success(), "{err}");
    let (status, out, err) = runc_in_root(&["list", "-q"]);
    assert!(status.success() && err.is_empty(), "runc list: {err}");
    assert_eq!(out, format!("{theirs}\n"));
    let msg = w.hako(&["state", &theirs]).fails().error_msg();
    assert!(
        msg.starts_with(&format!("container {theirs} is not a hako container")),
        "{msg}"
    );
    let out = w.hako(&["delete", "--force", &theirs]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr());
    assert!(
        w.state_dir(&theirs).join("state.json").exists(),
        "hako deleted runc's container"
    );
    assert_eq!(w.hako(&["list", "-q"]).ok().stdout(), "");
    let (status, _, err) = runc_in_root(&["delete", "--force", &theirs]);
    assert!(status.success(), "{err}");
}

fn b_seccomp(b: &Bundle) -> Value {
    let c: Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    c["linux"]["seccomp"].clone()
}

/// Device numbers and owners cross into `mknod` and `fchown`: a major above 4095 or a minor
/// above 2^20 - 1 does not fit the kernel's dev_t (it would name another device, or fail late
/// with "invalid argument"), and uid or gid 4294967295 means "unchanged". Each is refused
/// before anything is made, naming the field.
#[test]
fn device_numbers_and_owners_are_checked() {
    let w = World::new("dev-numbers");
    for (dev, want) in [
        (
            json!({"major": 4097, "minor": 1}),
            "linux.devices[0].major: 4097 is out of range (at most 4095)",
        ),
        (
            json!({"major": 1, "minor": 1048576}),
            "linux.devices[0].minor: 1048576 is out of range (at most 1048575)",
        ),
        (
            json!({"major": 1, "minor": 3, "uid": 4_294_967_295u32}),
            "linux.devices[0].uid: 4294967295 is not a valid uid",
        ),
        (
            json!({"major": 1, "minor": 3, "gid": 4_294_967_295u32}),
            "linux.devices[0].gid: 4294967295 is not a valid gid",
        ),
    ] {
        let mut b = w.bundle(&["true"]);
        let mut d = json!({"path": "/dev/x", "type": "c", "fileMode": 438});
        d.as_object_mut()
            .unwrap()
            .extend(dev.as_object().unwrap().clone());
        b.edit(|c| c["linux"]["devices"] = json!([d]));
        refused(&w, &b, want);
    }
}
