//! What the OCI runtime-tools validation suite (`scripts/conformance.sh`) found, each as a
//! bundle of its own, independent of the suite: a seccomp profile that denies a syscall the
//! runtime makes after loading it (`close_range`, `getcwd`), no mount namespace in
//! `linux.namespaces`, and `linux.resources.memory.kernelTCP`. Compared with runc where runc
//! is right. Run as root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Bundle, Out, World};
use serde_json::{json, Value};

/// A runtime binary with its own state root in the world's temp dir; its containers are
/// `delete --force`d on drop.
struct Runtime<'w> {
    bin: PathBuf,
    root: PathBuf,
    world: &'w World,
    ids: std::cell::RefCell<Vec<String>>,
}

impl<'w> Runtime<'w> {
    fn hako(w: &'w World) -> Self {
        Self::new(w, PathBuf::from(common::hako_bin()), "hako-state")
    }

    fn runc(w: &'w World) -> Self {
        Self::new(w, common::runc_bin(), "runc-state")
    }

    fn new(world: &'w World, bin: PathBuf, root: &str) -> Self {
        Runtime {
            bin,
            root: world.dir.join(root),
            world,
            ids: Default::default(),
        }
    }

    fn name(&self) -> String {
        self.bin.display().to_string()
    }

    fn id(&self, tag: &str) -> String {
        let id = common::unique(tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Run with stdout and stderr in files (a created container inherits them).
    fn run(&self, args: &[&str]) -> Out {
        let n = common::unique("out");
        let (o, e) = (
            self.world.dir.join(format!("{n}.out")),
            self.world.dir.join(format!("{n}.err")),
        );
        let status = Command::new(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        let read = |p: &Path| {
            let b = std::fs::read(p).unwrap();
            let _ = std::fs::remove_file(p);
            b
        };
        Out(std::process::Output {
            status,
            stdout: read(&o),
            stderr: read(&e),
        })
    }

    /// `run` of `bundle` in the foreground.
    fn run_bundle(&self, bundle: &Bundle) -> Out {
        let id = self.id("oci");
        self.run(&["run", "--bundle", bundle.path(), &id])
    }
}

impl Drop for Runtime<'_> {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}

/// A profile that allows everything but `syscall`, which fails with `errno`.
fn deny(syscall: &str, errno: u32) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": [syscall], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
    })
}

/// A bundle running `args` under `seccomp`, with or without no_new_privs.
fn seccomp_bundle(w: &World, args: &[&str], seccomp: &Value, nnp: bool) -> Bundle {
    let mut b = w.bundle(args);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(nnp);
        c["linux"]["seccomp"] = seccomp.clone();
    });
    b
}

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// A profile denying `close_range` (EPERM, or ENOSYS as for a syscall newer than the profile)
/// must not break the runtime, which marks its fds close-on-exec before loading the filter:
/// the init and an exec'd process start, with and without no_new_privs, as under runc.
#[test]
fn close_range_denied_by_the_profile() {
    let w = World::new("oci-close-range");
    let (hako, runc) = (Runtime::hako(&w), Runtime::runc(&w));
    for errno in [EPERM, ENOSYS] {
        for nnp in [false, true] {
            let profile = deny("close_range", errno);
            let b = seccomp_bundle(&w, &["echo", "started"], &profile, nnp);
            for rt in [&hako, &runc] {
                let out = rt.run_bundle(&b);
                assert!(
                    out.0.status.success() && out.stdout() == "started\n",
                    "{} (errno {errno}, noNewPrivileges {nnp}): {}",
                    rt.name(),
                    out.stderr()
                );
            }
            // exec: the same steps in the exec'd process.
            let b = seccomp_bundle(&w, &["sleep", "60"], &profile, nnp);
            let id = hako.id("oci-cr-exec");
            hako.run(&["run", "-d", "--bundle", b.path(), &id]).ok();
            let out = hako.run(&["exec", &id, "echo", "exec'd"]).ok();
            assert_eq!(out.stdout(), "exec'd\n", "errno {errno}, nnp {nnp}");
            hako.run(&["delete", "--force", &id]).ok();
        }
    }
}

/// A profile denying `getcwd` (the suite's linux_seccomp) must not break the runtime's cwd
/// check (CVE-2024-21626), made before the filter. runc fails here ("failed to verify if
/// current working directory is safe"), so only hako is checked.
#[test]
fn getcwd_denied_by_the_profile() {
    let w = World::new("oci-getcwd");
    let hako = Runtime::hako(&w);
    for nnp in [false, true] {
        let b = seccomp_bundle(&w, &["echo", "started"], &deny("getcwd", EPERM), nnp);
        let out = hako.run_bundle(&b).ok();
        assert_eq!(out.stdout(), "started\n", "noNewPrivileges {nnp}");
    }
}

/// Mount points strictly below `dir` in our mount namespace.
fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p) != dir && Path::new(p).starts_with(&dir))
        .map(str::to_string)
        .collect()
}

/// Whether our "/" is a shared mount.
fn root_is_shared() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .is_some_and(|l| l.contains(" shared:"))
}

/// A bundle with no mount namespace (and none of what needs one).
fn no_mountns_bundle(w: &World, args: &[&str]) -> Bundle {
    let mut b = w.bundle(args);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["root"]["readonly"] = json!(false);
    });
    b
}

/// No `mount` in `linux.namespaces`: the container inherits the runtime's mount namespace
/// (the spec's words), sees its own rootfs (chrooted), and so does an exec'd process, as under
/// runc. Unlike runc, delete leaves no mount behind under the rootfs.
#[test]
fn no_mount_namespace_inherits_the_runtimes() {
    let w = World::new("oci-no-mntns");
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let script = "readlink /proc/self/ns/mnt; cat /etc/hostname-marker";
    let (hako, runc) = (Runtime::hako(&w), Runtime::runc(&w));
    // runc makes "/" rslave in the namespace it shares: never where that changes anything.
    let rts = if root_is_shared() {
        eprintln!("runc left out: \"/\" is shared here and runc would make it a slave");
        vec![&hako]
    } else {
        vec![&hako, &runc]
    };
    for rt in rts {
        let b = no_mountns_bundle(&w, &["sh", "-c", script]);
        std::fs::write(b.rootfs().join("etc/hostname-marker"), "in the rootfs\n").unwrap();
        let out = rt.run_bundle(&b);
        assert!(out.0.status.success(), "{}: {}", rt.name(), out.stderr());
        assert_eq!(
            out.stdout(),
            format!("{}\nin the rootfs\n", ours.display()),
            "{}",
            rt.name()
        );
        if rt.bin == Path::new(common::hako_bin()) {
            assert_eq!(mounts_below(&b.rootfs()), Vec::<String>::new());
        } else {
            // runc leaves the container's mounts in our namespace: take them down.
            let _ = Command::new("umount").arg("-R").arg(b.rootfs()).status();
            for m in mounts_below(&b.rootfs()).iter().rev() {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
    }
    // exec joins no mount namespace: it is chrooted to the init's root too.
    let b = no_mountns_bundle(&w, &["sleep", "60"]);
    std::fs::write(b.rootfs().join("etc/hostname-marker"), "exec'd\n").unwrap();
    let id = hako.id("oci-no-mntns");
    hako.run(&["run", "-d", "--bundle", b.path(), &id]).ok();
    let out = hako.run(&["exec", &id, "cat", "/etc/hostname-marker"]).ok();
    assert_eq!(out.stdout(), "exec'd\n");
    hako.run(&["delete", "--force", &id]).ok();
    assert_eq!(mounts_below(&b.rootfs()), Vec::<String>::new());
}

/// Without a mount namespace, what would change the runtime's own mounts is refused in one
/// line naming the field (masked and readonly paths as runc refuses them), and nothing is
/// left behind.
#[test]
fn no_mount_namespace_refuses_what_needs_one() {
    let w = World::new("oci-no-mntns-refused");
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 4] = [
        ("linux.maskedPaths", |c| {
            c["linux"]["maskedPaths"] = json!(["/proc/kcore"])
        }),
        ("linux.readonlyPaths", |c| {
            c["linux"]["readonlyPaths"] = json!(["/proc/sys"])
        }),
        ("root.readonly", |c| c["root"]["readonly"] = json!(true)),
        ("linux.rootfsPropagation", |c| {
            c["linux"]["rootfsPropagation"] = json!("private")
        }),
    ];
    for (field, set) in cases {
        let mut b = no_mountns_bundle(&w, &["true"]);
        b.edit(set);
        let id = w.id("refused");
        let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
        assert_eq!(
            out.error_msg(),
            format!(
                "{field}: cannot be applied without a private mount namespace \
                 (no \"mount\" in linux.namespaces)"
            )
        );
        assert!(!w.state_dir(&id).exists(), "{field}: state dir left");
        assert_eq!(mounts_below(&b.rootfs()), Vec::<String>::new());
    }
    // runc refuses masked paths the same way.
    let runc = Runtime::runc(&w);
    let mut b = no_mountns_bundle(&w, &["true"]);
    b.edit(|c| c["linux"]["maskedPaths"] = json!(["/proc/kcore"]));
    let out = runc.run(&["create", "--bundle", b.path(), &runc.id("refused")]);
    assert!(out.stderr().contains("without a private MNT namespace"));
}

/// `linux.resources.memory.kernelTCP` is written to the v1 memory cgroup where the host has
/// `memory.kmem.tcp.limit_in_bytes` (runc only warns); `kernel` gets runc's warning.
#[test]
fn kernel_tcp_applied_on_v1() {
    let knob = "memory.kmem.tcp.limit_in_bytes";
    if !Path::new("/sys/fs/cgroup/memory").join(knob).exists() {
        eprintln!("SKIPPED: no v1 memory hierarchy with {knob} on this host");
        return;
    }
    let w = World::new("oci-kernel-tcp");
    let cg = format!("/{}", common::unique("hako-it-kernel-tcp"));
    let mut b = w.bundle(&["sleep", "60"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        c["linux"]["resources"]["memory"] = json!({"kernelTCP": 50593792, "kernel": 50593792});
    });
    let id = w.id("ktcp");
    let out = w.hako(&["create", "--bundle", b.path(), &id]).ok();
    assert!(
        out.stderr()
            .contains("linux.resources.memory.kernel is ignored"),
        "{}",
        out.stderr()
    );
    assert!(!out.stderr().contains("kernelTCP"), "{}", out.stderr());
    let dir = Path::new("/sys/fs/cgroup/memory").join(cg.trim_start_matches('/'));
    let set = std::fs::read_to_string(dir.join(knob)).unwrap();
    assert_eq!(set.trim(), "50593792");
    w.hako(&["delete", "--force", &id]).ok();
    assert!(!dir.exists(), "cgroup left behind");
}

/// The spec makes `process` REQUIRED only when `start` is called: a config without it is
/// created (its namespaces, mounts and cgroup set up), `start` and `run` fail in one line
/// naming the field, and `delete` removes it. runc refuses it at create ("process property
/// must not be empty"); the spec's text is explicit, so hako follows it.
#[test]
fn process_is_required_only_by_start() {
    let w = World::new("oci-no-process");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = w.id("no-process");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    assert_eq!(w.state(&id)["status"], "created");
    let out = w.hako(&["start", &id]).fails();
    assert_eq!(
        out.error_msg(),
        "process: not set in config.json: nothing to start"
    );
    assert_eq!(w.state(&id)["status"], "created");
    w.hako(&["delete", &id]).ok();
    assert!(!w.state_dir(&id).exists());
    let run_id = w.id("no-process-run");
    let out = w.hako(&["run", "--bundle", b.path(), &run_id]).fails();
    assert_eq!(
        out.error_msg(),
        "process: not set in config.json: nothing to run"
    );
    assert!(!w.state_dir(&run_id).exists());
}
