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
fn personality_flags_warn_and_bad_domain_is_refused() {
    let w = World::new("personality-bad");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["X"]}));
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("pflags")]).ok();
    assert!(out.stderr().contains("level=warning"), "{}", out.stderr());
    assert!(
        out.stderr().contains("personality.flags"),
        "{}",
        out.stderr()
    );
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
