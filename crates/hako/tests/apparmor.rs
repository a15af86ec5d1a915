//! `process.apparmorProfile` end to end. Where AppArmor is enabled (scripts/vm-apparmor-tests.sh
//! boots a VM with it and runs this binary there), each test loads a small profile of its own
//! with `apparmor_parser -r` (everything allowed but reading `/aa-secret`), removed again by a
//! guard even when the test fails, and checks that the init and exec'd processes really run
//! confined: `/proc/self/attr/current` names the profile in enforce mode and the read fails
//! with EACCES, while it works without the profile. Where AppArmor is not enabled (this host),
//! those tests print `SKIPPED: <test>: <why>` on stderr (uncaptured) and
//! `refused_without_apparmor` checks the one-line refusal instead. Container ids start with
//! `aa-`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Bundle, World};
use serde_json::{json, Value};

/// Why AppArmor-backed tests cannot run here, if they cannot.
fn no_apparmor() -> Option<String> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    if !enabled {
        return Some("AppArmor is not enabled (/sys/module/apparmor/parameters/enabled)".into());
    }
    if !Path::new("/sys/kernel/security/apparmor").exists() {
        return Some("securityfs is not mounted on /sys/kernel/security".into());
    }
    if parser().is_none() {
        return Some("apparmor_parser not found (apt-get install apparmor)".into());
    }
    None
}

fn parser() -> Option<PathBuf> {
    ["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Skip visibly: the line goes straight to stderr, past the test harness's capture.
macro_rules! require_apparmor {
    ($name:expr) => {
        if let Some(why) = no_apparmor() {
            let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {why}", $name);
            return;
        }
    };
}

/// A loaded test profile; unloaded (`apparmor_parser -R`) when dropped.
struct Profile {
    name: String,
    file: PathBuf,
}

impl Profile {
    /// Load a profile that allows everything but reading `/aa-secret` (as the container sees
    /// it: paths are mediated relative to the container's root).
    fn load(w: &World, tag: &str) -> Profile {
        Profile::load_with(w, tag, "file,")
    }

    /// The same profile with `files` (its file rules) in place of `file,`.
    fn load_with(w: &World, tag: &str, files: &str) -> Profile {
        let name = format!("hako-test-{}", common::unique(tag));
        let file = w.dir.join(format!("{name}.profile"));
        let text = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  {files}\n  \
             capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n  umount,\n  \
             pivot_root,\n  deny /aa-secret r,\n}}\n"
        );
        std::fs::write(&file, text).unwrap();
        let out = Command::new(parser().unwrap())
            .arg("-r")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "apparmor_parser -r {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Profile { name, file }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(p) = parser() {
            let _ = Command::new(p).arg("-R").arg(&self.file).output();
        }
    }
}

/// What a process reports about itself: its label, then the read of `/aa-secret`.
const PROBE: &str = "cat /proc/self/attr/current; echo; cat /aa-secret 2>&1; echo rc=$?";

fn bundle(w: &World, args: &[&str], edit: impl FnOnce(&mut Value)) -> Bundle {
    let mut b = w.bundle(args);
    std::fs::write(b.rootfs().join("aa-secret"), "secret\n").unwrap();
    b.edit(edit);
    b
}

/// The probe's output must show `profile` confining the process, or no confinement.
fn assert_probe(out: &str, profile: Option<&str>) {
    match profile {
        Some(name) => {
            assert!(out.contains(&format!("{name} (enforce)")), "{out}");
            assert!(out.contains("Permission denied"), "{out}");
            assert!(out.contains("rc=1"), "{out}");
            assert!(!out.contains("secret\n"), "{out}");
        }
        None => {
            assert!(out.contains("unconfined"), "{out}");
            assert!(out.contains("secret\nrc=0"), "{out}");
        }
    }
}

#[test]
fn init_runs_confined_and_unconfined_without_a_profile() {
    require_apparmor!("init_runs_confined_and_unconfined_without_a_profile");
    let w = World::new("aa-init");
    let p = Profile::load(&w, "aa-init");
    let plain = bundle(&w, &["sh", "-c", PROBE], |_| {});
    let out = w
        .hako(&["run", "--bundle", plain.path(), &w.id("aa-plain")])
        .ok()
        .stdout();
    assert_probe(&out, None);
    let name = p.name.clone();
    let confined = bundle(&w, &["sh", "-c", PROBE], |c| {
        c["process"]["apparmorProfile"] = json!(name);
    });
    let out = w
        .hako(&["run", "--bundle", confined.path(), &w.id("aa-init")])
        .ok()
        .stdout();
    assert_probe(&out, Some(&p.name));
}

/// A profile that lets nothing be executed (file rules without `x`): the program must still
/// start, confined, because the transition happens at its own execve, which is checked
/// against the runtime's (unconfined) label, as under runc. Were the program exec'd through
/// hako's exec trampoline, the confined trampoline would need exec permission for it and the
/// start would fail with EACCES: this is the test that the trampoline is skipped.
#[test]
fn profile_without_exec_rules_applies_at_the_programs_own_exec() {
    require_apparmor!("profile_without_exec_rules_applies_at_the_programs_own_exec");
    let w = World::new("aa-noexec");
    let p = Profile::load_with(&w, "aa-noexec", "/** rwlkm,");
    let name = p.name.clone();
    let b = bundle(&w, &["cat", "/proc/self/attr/current"], |c| {
        c["process"]["apparmorProfile"] = json!(name);
    });
    let out = w.hako(&["run", "--bundle", b.path(), &w.id("aa-noexec")]);
    assert!(
        out.0.status.success(),
        "the confined program did not start: {}",
        out.stderr()
    );
    assert!(
        out.stdout().contains(&format!("{} (enforce)", p.name)),
        "{}",
        out.stdout()
    );
    let id = w.id("aa-noexec-d");
    let b = bundle(&w, &["sleep", "100"], |_| {});
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&[
        "exec",
        "--apparmor",
        &p.name,
        &id,
        "cat",
        "/proc/self/attr/current",
    ]);
    assert!(
        out.0.status.success() && out.stdout().contains(&format!("{} (enforce)", p.name)),
        "exec: {} {}",
        out.stdout(),
        out.stderr()
    );
}

#[test]
fn exec_defaults_to_the_container_profile_and_takes_its_own() {
    require_apparmor!("exec_defaults_to_the_container_profile_and_takes_its_own");
    let w = World::new("aa-exec");
    let p = Profile::load(&w, "aa-exec");
    let name = p.name.clone();
    let b = bundle(&w, &["sleep", "100"], |c| {
        c["process"]["apparmorProfile"] = json!(name);
    });
    let id = w.id("aa-exec");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    // The container's profile, for an exec from the flags and from --process.
    let out = w.hako(&["exec", &id, "sh", "-c", PROBE]).ok().stdout();
    assert_probe(&out, Some(&p.name));
    let proc_json = w.dir.join("process.json");
    let process = json!({"args": ["sh", "-c", PROBE], "cwd": "/", "user": {"uid": 0, "gid": 0},
                         "env": ["PATH=/bin"]});
    std::fs::write(&proc_json, process.to_string()).unwrap();
    let out = w
        .hako(&["exec", "--process", proc_json.to_str().unwrap(), &id])
        .ok()
        .stdout();
    assert_probe(&out, Some(&p.name));

    // An unconfined container: exec'd processes too, unless given a profile.
    let b = bundle(&w, &["sleep", "100"], |_| {});
    let id = w.id("aa-exec-plain");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", &id, "sh", "-c", PROBE]).ok().stdout();
    assert_probe(&out, None);
    let out = w
        .hako(&["exec", "--apparmor", &p.name, &id, "sh", "-c", PROBE])
        .ok()
        .stdout();
    assert_probe(&out, Some(&p.name));
    let mut process = process;
    process["apparmorProfile"] = json!(p.name);
    std::fs::write(&proc_json, process.to_string()).unwrap();
    let out = w
        .hako(&["exec", "--process", proc_json.to_str().unwrap(), &id])
        .ok()
        .stdout();
    assert_probe(&out, Some(&p.name));
}

/// The transition is asked for before the seccomp filter is loaded: a filter that denies every
/// syscall the write needs (openat2, write) does not stop it, with and without no_new_privs.
#[test]
fn seccomp_cannot_block_the_transition() {
    require_apparmor!("seccomp_cannot_block_the_transition");
    let w = World::new("aa-seccomp");
    let p = Profile::load(&w, "aa-seccomp");
    for nnp in [true, false] {
        let name = p.name.clone();
        let b = bundle(&w, &["sh", "-c", PROBE], |c| {
            c["process"]["apparmorProfile"] = json!(name);
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["openat2"], "action": "SCMP_ACT_ERRNO"}]
            });
        });
        let out = w
            .hako(&["run", "--bundle", b.path(), &w.id("aa-seccomp")])
            .ok()
            .stdout();
        assert_probe(&out, Some(&p.name));
    }
}

#[test]
fn unknown_profile_fails_with_its_name() {
    require_apparmor!("unknown_profile_fails_with_its_name");
    let w = World::new("aa-unknown");
    let b = bundle(&w, &["true"], |c| {
        c["process"]["apparmorProfile"] = json!("hako-test-no-such-profile");
    });
    let id = w.id("aa-unknown");
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(
        msg.contains("process.apparmorProfile: \"hako-test-no-such-profile\""),
        "{msg}"
    );
    assert!(
        !w.state_dir(&id).exists(),
        "a failed create left a state dir"
    );
}

#[test]
fn refused_without_apparmor() {
    if no_apparmor().is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: refused_without_apparmor: AppArmor is enabled here"
        );
        return;
    }
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    if enabled {
        // Enabled but not usable by these tests (no securityfs or parser): nothing to refuse.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: refused_without_apparmor: AppArmor is enabled, {}",
            no_apparmor().unwrap_or_default()
        );
        return;
    }
    let w = World::new("aa-refused");
    let b = bundle(&w, &["true"], |c| {
        c["process"]["apparmorProfile"] = json!("docker-default");
    });
    let id = w.id("aa-refused");
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert_eq!(
        msg,
        "process.apparmorProfile: \"docker-default\": AppArmor is not enabled on this host"
    );
    // exec --apparmor into an unconfined container: refused the same way.
    let b = bundle(&w, &["sleep", "100"], |_| {});
    let id = w.id("aa-refused");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = w.hako(&["exec", "--apparmor", "docker-default", &id, "true"]);
    assert!(!out.0.status.success(), "{}", out.stderr());
    let msg = out.error_msg();
    assert!(
        msg.contains("process.apparmorProfile: \"docker-default\": AppArmor is not enabled"),
        "{msg}"
    );
}
