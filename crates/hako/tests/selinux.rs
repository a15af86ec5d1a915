//! `process.selinuxLabel`, `linux.mountLabel` and `exec --process-label` end to end. Where
//! SELinux is enabled with a policy loaded (scripts/vm-selinux-tests.sh boots a VM with it,
//! loads Debian's reference policy in permissive mode and runs this binary there), the tests
//! check what the kernel reports: the program's `/proc/self/attr/current` is the label asked
//! for (and its `attr/prev` the runtime's, so the label was taken at the program's own execve,
//! not at the exec trampoline's), and the `security.selinux` label of the container's mounts
//! (read from the host through `/proc/<pid>/root` with `stat -c %C`) is the mount label on
//! tmpfs, devpts, mqueue and a masked directory, and is not on proc, sysfs or a bind mount.
//! Permissive mode applies labels as enforcing does; an invalid context is refused by the
//! kernel in both. Where SELinux is not enabled (this host), those tests print
//! `SKIPPED: <test>: <why>` on stderr (uncaptured) and `refused_without_selinux` checks the
//! one-line refusal instead. Container ids start with `se-`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::{Bundle, World};
use serde_json::{json, Value};

/// The container's process label (valid in Debian's reference policy).
const LABEL: &str = "system_u:system_r:initrc_t:s0:c1,c2";
/// Another process label, for exec'd processes.
const EXEC_LABEL: &str = "system_u:system_r:unconfined_t:s0:c3,c4";
/// The mount label: tmpfs_t, but with categories no default label has.
const MOUNT_LABEL: &str = "system_u:object_r:tmpfs_t:s0:c7,c8";
/// Well-formed, but no such type in any policy: the kernel refuses it.
const BAD_LABEL: &str = "system_u:system_r:hako_no_such_t:s0";

/// Why SELinux-backed tests cannot run here, if they cannot.
fn no_selinux() -> Option<String> {
    if !Path::new("/sys/fs/selinux/enforce").exists() {
        return Some("SELinux is not enabled (no selinuxfs on /sys/fs/selinux)".into());
    }
    if own_label() == "kernel" {
        return Some("SELinux is enabled but no policy is loaded".into());
    }
    None
}

/// Skip visibly: the line goes straight to stderr, past the test harness's capture.
macro_rules! require_selinux {
    ($name:expr) => {
        if let Some(why) = no_selinux() {
            let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {why}", $name);
            return;
        }
    };
}

/// A label as the kernel prints it, without its trailing NUL or newline.
fn trim(s: &str) -> &str {
    s.trim_end_matches(['\0', '\n'])
}

/// The label of this process (the runtime's, since hako runs as our child).
fn own_label() -> String {
    let s = std::fs::read_to_string("/proc/self/attr/current").unwrap_or_default();
    trim(&s).to_string()
}

/// What the program (`sh`, `$$`; not the `cat` it runs) reports about itself: `current=<label>`
/// and `prev=<label before its execve>`.
const PROBE: &str = "echo current=$(cat /proc/$$/attr/current) prev=$(cat /proc/$$/attr/prev)";

/// The probe's output must show `label` as the current label, taken at the program's own
/// execve from the runtime's label (`prev`); with `None`, the runtime's label unchanged.
#[track_caller]
fn assert_probe(out: &str, label: Option<&str>) {
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(|v| trim(v).to_string())
            .unwrap_or_else(|| panic!("no {name}= in {out:?}"))
    };
    let runtime = own_label();
    assert_eq!(
        field("current"),
        label.unwrap_or(&runtime),
        "current label: {out}"
    );
    // Through the trampoline, prev would be the new label (the trampoline's own).
    assert_eq!(
        field("prev"),
        runtime,
        "label before the program's execve: {out}"
    );
}

fn bundle(w: &World, args: &[&str], edit: impl FnOnce(&mut Value)) -> Bundle {
    let mut b = w.bundle(args);
    b.edit(edit);
    b
}

/// `stat -c %C` of `path` inside the container whose init is `pid`, seen from the host.
fn label_of(pid: i64, path: &str) -> String {
    let full = format!("/proc/{pid}/root{path}");
    let out = Command::new("stat")
        .args(["-c", "%C", &full])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stat -c %C {full}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether any process still names container `id` on its command line (a leftover init or
/// runtime).
fn process_named(id: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == id.as_bytes()))
    })
}

#[test]
fn init_runs_with_the_label_taken_at_its_own_execve() {
    require_selinux!("init_runs_with_the_label_taken_at_its_own_execve");
    let w = World::new("se-init");
    let plain = bundle(&w, &["sh", "-c", PROBE], |_| {});
    let out = w
        .hako(&["run", "--bundle", plain.path(), &w.id("se-plain")])
        .ok()
        .stdout();
    assert_probe(&out, None);
    let labelled = bundle(&w, &["sh", "-c", PROBE], |c| {
        c["process"]["selinuxLabel"] = json!(LABEL);
    });
    let out = w
        .hako(&["run", "--bundle", labelled.path(), &w.id("se-init")])
        .ok()
        .stdout();
    assert_probe(&out, Some(LABEL));
    // The label is asked for before the seccomp filter: one that refuses openat2 (which the
    // write needs) does not stop it, with and without no_new_privs.
    for nnp in [true, false] {
        let b = bundle(&w, &["sh", "-c", PROBE], |c| {
            c["process"]["selinuxLabel"] = json!(LABEL);
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["openat2"], "action": "SCMP_ACT_ERRNO"}]
            });
        });
        let out = w
            .hako(&["run", "--bundle", b.path(), &w.id("se-seccomp")])
            .ok()
            .stdout();
        assert_probe(&out, Some(LABEL));
    }
}

#[test]
fn exec_defaults_to_the_container_label_and_takes_its_own() {
    require_selinux!("exec_defaults_to_the_container_label_and_takes_its_own");
    let w = World::new("se-exec");
    let b = bundle(&w, &["sleep", "100"], |c| {
        c["process"]["selinuxLabel"] = json!(LABEL);
    });
    let id = w.id("se-exec");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    // The container's label, for an exec from the flags, with an empty --process-label, and
    // from --process.
    let out = w.hako(&["exec", &id, "sh", "-c", PROBE]).ok().stdout();
    assert_probe(&out, Some(LABEL));
    let out = w
        .hako(&["exec", "--process-label", "", &id, "sh", "-c", PROBE])
        .ok()
        .stdout();
    assert_probe(&out, Some(LABEL));
    let proc_json = w.dir.join("process.json");
    let process = json!({"args": ["sh", "-c", PROBE], "cwd": "/", "user": {"uid": 0, "gid": 0},
                         "env": ["PATH=/bin"]});
    std::fs::write(&proc_json, process.to_string()).unwrap();
    let out = w
        .hako(&["exec", "--process", proc_json.to_str().unwrap(), &id])
        .ok()
        .stdout();
    assert_probe(&out, Some(LABEL));
    // Its own label, from the flag and from --process.
    let out = w
        .hako(&[
            "exec",
            "--process-label",
            EXEC_LABEL,
            &id,
            "sh",
            "-c",
            PROBE,
        ])
        .ok()
        .stdout();
    assert_probe(&out, Some(EXEC_LABEL));
    let mut own = process.clone();
    own["selinuxLabel"] = json!(EXEC_LABEL);
    std::fs::write(&proc_json, own.to_string()).unwrap();
    let out = w
        .hako(&["exec", "--process", proc_json.to_str().unwrap(), &id])
        .ok()
        .stdout();
    assert_probe(&out, Some(EXEC_LABEL));

    // A container without a label: exec'd processes keep the runtime's, unless given one.
    let b = bundle(&w, &["sleep", "100"], |_| {});
    let id = w.id("se-exec-plain");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "sh", "-c", PROBE]).ok().stdout();
    assert_probe(&out, None);
    let out = w
        .hako(&[
            "exec",
            "--process-label",
            EXEC_LABEL,
            &id,
            "sh",
            "-c",
            PROBE,
        ])
        .ok()
        .stdout();
    assert_probe(&out, Some(EXEC_LABEL));
}

#[test]
fn mount_label_is_on_the_containers_filesystems_but_not_proc_sysfs_or_binds() {
    require_selinux!("mount_label_is_on_the_containers_filesystems_but_not_proc_sysfs_or_binds");
    let w = World::new("se-mounts");
    let host_dir = w.dir.join("bound");
    std::fs::create_dir_all(&host_dir).unwrap();
    let edit = |label: Option<&str>| {
        let host_dir = host_dir.clone();
        let label = label.map(String::from);
        move |c: &mut Value| {
            if let Some(l) = label {
                c["linux"]["mountLabel"] = json!(l);
            }
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.push(
                json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "nodev", "mode=755"]}),
            );
            mounts.push(json!({"destination": "/bound", "type": "bind",
                               "source": host_dir.to_str().unwrap(),
                               "options": ["rbind", "ro"]}));
            c["linux"]["maskedPaths"] = json!(["/masked"]);
        }
    };
    let b = bundle(&w, &["sleep", "100"], edit(Some(MOUNT_LABEL)));
    std::fs::create_dir_all(b.rootfs().join("masked")).unwrap();
    let id = w.id("se-mounts");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    for path in [
        "/scratch",
        "/dev",
        "/dev/shm",
        "/dev/pts",
        "/dev/mqueue",
        "/masked",
    ] {
        assert_eq!(label_of(pid, path), MOUNT_LABEL, "{path}");
    }
    let bound = label_of(pid, "/bound");
    assert_eq!(
        bound,
        label_of(std::process::id().into(), host_dir.to_str().unwrap()),
        "a bind mount keeps its source's label"
    );
    for path in ["/proc", "/sys", "/bound"] {
        assert_ne!(label_of(pid, path), MOUNT_LABEL, "{path}");
    }

    // Without a mount label, none of them has it.
    let b = bundle(&w, &["sleep", "100"], edit(None));
    std::fs::create_dir_all(b.rootfs().join("masked")).unwrap();
    let id = w.id("se-mounts-plain");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    for path in ["/scratch", "/dev", "/dev/shm", "/dev/pts", "/masked"] {
        assert_ne!(label_of(pid, path), MOUNT_LABEL, "{path}");
    }
}

#[test]
fn invalid_labels_fail_in_one_line_and_leave_nothing() {
    require_selinux!("invalid_labels_fail_in_one_line_and_leave_nothing");
    let w = World::new("se-bad");
    for (field, edit) in [
        (
            "process.selinuxLabel",
            Box::new(|c: &mut Value| c["process"]["selinuxLabel"] = json!(BAD_LABEL))
                as Box<dyn Fn(&mut Value)>,
        ),
        (
            "linux.mountLabel",
            Box::new(|c: &mut Value| c["linux"]["mountLabel"] = json!(BAD_LABEL)),
        ),
    ] {
        let b = bundle(&w, &["true"], edit);
        let id = w.id("se-bad");
        let msg = w
            .hako(&["run", "--bundle", b.path(), &id])
            .fails()
            .error_msg();
        assert!(
            msg.starts_with(&format!("{field}: \"{BAD_LABEL}\": ")),
            "{msg}"
        );
        assert!(msg.contains("invalid argument"), "{msg}");
        assert!(!w.state_dir(&id).exists(), "a failed run left a state dir");
        assert!(
            common::cgroups_named(&id).is_empty(),
            "a failed run left a cgroup"
        );
        assert!(!process_named(&id), "a failed run left a process");
    }
    // exec with a bad label: refused, the container keeps running.
    let b = bundle(&w, &["sleep", "100"], |_| {});
    let id = w.id("se-bad-exec");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", "--process-label", BAD_LABEL, &id, "true"]);
    assert!(!out.0.status.success(), "{}", out.stderr());
    let msg = out.error_msg();
    assert!(
        msg.contains(&format!("process.selinuxLabel: \"{BAD_LABEL}\": ")),
        "{msg}"
    );
    assert_eq!(w.state(&id)["status"], "running");
}

#[test]
fn refused_without_selinux() {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: refused_without_selinux: SELinux is enabled here"
        );
        return;
    }
    let w = World::new("se-refused");
    let runc = "selinux label is specified in config, but selinux is disabled or not supported";
    for (field, edit) in [
        (
            "process.selinuxLabel",
            Box::new(|c: &mut Value| c["process"]["selinuxLabel"] = json!(LABEL))
                as Box<dyn Fn(&mut Value)>,
        ),
        (
            "linux.mountLabel",
            Box::new(|c: &mut Value| c["linux"]["mountLabel"] = json!(MOUNT_LABEL)),
        ),
    ] {
        let b = bundle(&w, &["true"], edit);
        let id = w.id("se-refused");
        let msg = w
            .hako(&["create", "--bundle", b.path(), &id])
            .fails()
            .error_msg();
        let label = if field == "linux.mountLabel" {
            MOUNT_LABEL
        } else {
            LABEL
        };
        assert_eq!(msg, format!("{field}: \"{label}\": {runc}"));
        assert!(
            !w.state_dir(&id).exists(),
            "a refused create left a state dir"
        );
    }
    // exec --process-label into an unlabelled container: refused the same way.
    let b = bundle(&w, &["sleep", "100"], |_| {});
    let id = w.id("se-refused");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", "--process-label", LABEL, &id, "true"]);
    assert!(!out.0.status.success(), "{}", out.stderr());
    let msg = out.error_msg();
    assert!(
        msg.contains(&format!("process.selinuxLabel: \"{LABEL}\": {runc}")),
        "{msg}"
    );
}

#[test]
fn session_keyring_is_created_with_the_process_label() {
    require_selinux!("session_keyring_is_created_with_the_process_label");
    let w = World::new("se-keyring");
    // A static helper printing the label of its session keyring (KEYCTL_GET_SECURITY, 17, of
    // KEY_SPEC_SESSION_KEYRING, -3): busybox has no keyctl.
    let helper = |b: &Bundle| {
        common::install_c_helper(
            &b.rootfs(),
            "seslabel",
            "#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
             int main(void) {\n\
               char buf[512] = {0};\n\
               if (syscall(SYS_keyctl, 17, -3, buf, sizeof buf - 1) < 0) { perror(\"keyctl\"); return 1; }\n\
               printf(\"%s\\n\", buf);\n\
               return 0;\n\
             }\n",
        )
    };
    let labelled = bundle(&w, &["seslabel"], |c| {
        c["process"]["selinuxLabel"] = json!(LABEL);
    });
    helper(&labelled);
    let out = w
        .hako(&["run", "--bundle", labelled.path(), &w.id("se-ring")])
        .ok()
        .stdout();
    assert_eq!(trim(&out), LABEL);
    // Without a label the keyring has the label of the runtime that made it.
    let plain = bundle(&w, &["seslabel"], |_| {});
    helper(&plain);
    let out = w
        .hako(&["run", "--bundle", plain.path(), &w.id("se-ring-plain")])
        .ok()
        .stdout();
    assert_eq!(trim(&out), own_label());
}
