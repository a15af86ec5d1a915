//! Rootless and user-namespaced containers (issue 6).
//!
//! The suite runs as root; the rootless tests make an unprivileged user `hako-rootless` (with
//! /etc/subuid and /etc/subgid ranges) when it is missing and run the whole lifecycle as that
//! user through `setpriv`, with `XDG_RUNTIME_DIR` pointing at a private directory of the test
//! world and no `--root`, so hako's default state root is exercised. Each test checks from
//! inside the container and from the host; every container is deleted and every directory
//! removed when the test's world is dropped, also on failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{hako_bin, unique, Bundle, Out, World};
use serde_json::{json, Value};

/// A test world whose containers are made by the test user: its `XDG_RUNTIME_DIR` is a
/// private directory of the world. Dropping it deletes every container as the user, kills
/// anything left, then the world removes its directory.
struct Rootless {
    user: &'static common::TestUser,
    xdg: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
    w: World,
}

impl Rootless {
    fn new(tag: &str) -> Rootless {
        let user = common::rootless_user();
        let w = World::new(tag);
        let xdg = w.dir.join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        chown(&xdg, user.uid, user.gid);
        std::fs::set_permissions(&xdg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        Rootless {
            user,
            xdg,
            ids: Default::default(),
            w,
        }
    }

    /// A fresh container id, deleted as the user on drop.
    fn id(&self, tag: &str) -> String {
        let id = unique(tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// The state root hako should pick by itself.
    fn state_root(&self) -> PathBuf {
        self.xdg.join("hako")
    }

    /// `hako <args>` as the test user, with a clean environment and no `--root`.
    fn cmd(&self) -> Command {
        self.cmd_of(hako_bin())
    }

    /// `program` as the test user, with a clean environment but for XDG_RUNTIME_DIR.
    fn cmd_of(&self, program: &str) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", "/")
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .stdin(Stdio::null());
        c
    }

    /// Run `hako <args>` as the user; output through files (see `World::hako`).
    fn hako(&self, args: &[&str]) -> Out {
        run_to_files(&self.w.dir, self.cmd().args(args))
    }

    /// A busybox bundle whose config.json is `hako spec --rootless` run by the user, with
    /// terminal off and `args`.
    fn bundle(&self, args: &[&str]) -> Bundle {
        let mut b = self.w.bundle(args);
        std::fs::remove_file(b.dir.join("config.json")).unwrap();
        chown(&b.dir, self.user.uid, self.user.gid);
        self.hako(&["spec", "--rootless", "--bundle", b.path()])
            .ok();
        b.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
        });
        b
    }

    /// `run` as the user; returns stdout.
    fn run_ok(&self, b: &Bundle) -> String {
        let id = self.id("run");
        self.hako(&["run", "--bundle", b.path(), &id]).ok().stdout()
    }

    /// `create` + `start` as the user; returns the init's host PID.
    fn start(&self, id: &str, b: &Bundle) -> i32 {
        self.hako(&["create", "--bundle", b.path(), id]).ok();
        self.hako(&["start", id]).ok();
        let state: Value = serde_json::from_str(&self.hako(&["state", id]).ok().stdout()).unwrap();
        state["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.hako(&["delete", "--force", id]);
            // Should delete have failed, kill the init from its state so nothing outlives us.
            let state = self.state_root().join(id).join("state.json");
            if let Ok(v) = std::fs::read(&state).map(|b| serde_json::from_slice::<Value>(&b)) {
                if let Some(pid) = v.ok().and_then(|v| v["pid"].as_i64()).filter(|p| *p > 0) {
                    let pid = nix::unistd::Pid::from_raw(pid as i32);
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
    }
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// Run a command with stdout and stderr in files (a created container inherits them).
fn run_to_files(dir: &Path, cmd: &mut Command) -> Out {
    let n = unique("out");
    let (o, e) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
    let status = cmd
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("spawn");
    let out = Out(Output {
        status,
        stdout: std::fs::read(&o).unwrap(),
        stderr: std::fs::read(&e).unwrap(),
    });
    let _ = std::fs::remove_file(o);
    let _ = std::fs::remove_file(e);
    out
}

/// Lines with their whitespace runs collapsed (uid_map pads its columns).
fn norm(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A directory on the host owned by `uid:gid`, with one file in it.
fn host_dir(w: &World, uid: u32, gid: u32) -> PathBuf {
    let d = w.dir.join(unique("hostdir"));
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("old"), "x").unwrap();
    chown(&d, uid, gid);
    chown(&d.join("old"), uid, gid);
    d
}

fn bind(dest: &str, src: &Path, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": "bind", "source": src, "options": opts})
}

/// `Uid:` or `Gid:` of /proc/<pid>/status, whitespace collapsed.
fn status_line(pid: i32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap();
    line.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn rootless_spec_runs_as_is_and_is_root_inside() {
    let r = Rootless::new("rl-spec");
    let b = r.bundle(&[
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname",
    ]);
    let out = r.run_ok(&b);
    let (uid, gid) = (r.user.uid, r.user.gid);
    assert_eq!(
        norm(&out),
        [
            "0".to_string(),
            "0".into(),
            format!("0 {uid} 1"),
            format!("0 {gid} 1"),
            "deny".into(),
            "hako".into()
        ],
        "{out}"
    );
    // The state root was picked from XDG_RUNTIME_DIR and belongs to the user.
    let meta = std::fs::metadata(r.state_root()).expect("$XDG_RUNTIME_DIR/hako");
    assert!(meta.is_dir());
    assert_eq!(meta.uid(), uid);
}

#[test]
fn rootless_lifecycle_seen_from_the_host() {
    let r = Rootless::new("rl-life");
    let b = r.bundle(&["sleep", "100"]);
    let id = r.id("life");
    let pid = r.start(&id, &b);
    assert!(r.state_root().join(&id).join("state.json").is_file());
    let uid = r.user.uid;
    assert_eq!(status_line(pid, "Uid"), format!("{uid} {uid} {uid} {uid}"));
    let gid = r.user.gid;
    assert_eq!(status_line(pid, "Gid"), format!("{gid} {gid} {gid} {gid}"));
    let ps = Command::new("ps")
        .args(["-o", "uid=", "-p", &pid.to_string()])
        .output()
        .expect("ps (package procps)");
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), uid.to_string());
    let list = r.hako(&["list", "-q"]).ok().stdout();
    assert_eq!(list.trim(), id);
    let out = r.hako(&["exec", &id, "sh", "-c", "id -u; cat /proc/1/comm"]);
    assert_eq!(norm(&out.ok().stdout()), ["0", "sleep"]);
    let msg = r.hako(&["pause", &id]).fails().error_msg();
    assert!(msg.contains("has no cgroup"), "{msg}");
    r.hako(&["kill", &id, "KILL"]).ok();
    for _ in 0..500 {
        if std::fs::metadata(format!("/proc/{pid}")).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    r.hako(&["delete", &id]).ok();
    assert!(!r.state_root().join(&id).exists());
}

#[test]
fn rootless_files_in_a_bind_mounted_dir_belong_to_the_user() {
    let r = Rootless::new("rl-bind");
    let dir = host_dir(&r.w, r.user.uid, r.user.gid);
    let mut b = r.bundle(&[
        "sh",
        "-c",
        "stat -c %u:%g /data/old; touch /data/new; stat -c %u:%g /data/new",
    ]);
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(bind("/data", &dir, &["rbind", "rw"]))
    });
    assert_eq!(norm(&r.run_ok(&b)), ["0:0", "0:0"]);
    let meta = std::fs::metadata(dir.join("new")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (r.user.uid, r.user.gid));
}

#[test]
fn rootless_devices_are_the_hosts_and_sys_is_bound() {
    let r = Rootless::new("rl-dev");
    let mut b = r.bundle(&[
        "sh",
        "-c",
        "stat -c %t:%T /dev/null; echo x > /dev/null && echo written; \
         grep -c ' /dev/null ' /proc/self/mountinfo; test -d /sys/kernel && echo sys; \
         touch /sys/x 2>/dev/null || echo ro",
    ]);
    // A fresh sysfs (runc's default config) is refused in the user's namespaces: hako binds
    // the host's /sys instead, read-only as asked.
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                            "options": ["nosuid", "noexec", "nodev", "ro"]});
            }
        }
    });
    assert_eq!(norm(&r.run_ok(&b)), ["1:3", "written", "1", "sys", "ro"]);
}

#[test]
fn rootless_newuidmap_maps_the_delegated_ranges() {
    let r = Rootless::new("rl-subid");
    let (u, g) = (r.user, r.user); // uid and gid sides
    let mut b = r.bundle(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -G",
    ]);
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": u.uid, "size": 1},
            {"containerID": 1, "hostID": u.subuid.0, "size": 65536.min(u.subuid.1)}
        ]);
        c["linux"]["gidMappings"] = json!([
            {"containerID": 0, "hostID": g.gid, "size": 1},
            {"containerID": 1, "hostID": g.subgid.0, "size": 65536.min(g.subgid.1)}
        ]);
        c["process"]["user"]["additionalGids"] = json!([5]);
    });
    let out = r.run_ok(&b);
    assert_eq!(
        norm(&out),
        [
            format!("0 {} 1", u.uid),
            format!("1 {} {}", u.subuid.0, 65536.min(u.subuid.1)),
            format!("0 {} 1", g.gid),
            format!("1 {} {}", g.subgid.0, 65536.min(g.subgid.1)),
            "allow".into(),
            "0 5".into()
        ],
        "{out}"
    );
}

#[test]
fn rootless_refusals_name_what_and_why() {
    let r = Rootless::new("rl-refuse");
    let data = host_dir(&r.w, r.user.uid, r.user.gid);
    let subuid_end = r.user.subuid.0 + r.user.subuid.1;
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "user")
            }),
            "linux.namespaces: an unprivileged user",
        ),
        (
            Box::new(|c| c["linux"]["resources"] = json!({"memory": {"limit": 100_000_000}})),
            "linux.resources.memory: cannot be applied: an unprivileged user may not write cgroup",
        ),
        (
            Box::new(|c| c["linux"]["cgroupsPath"] = json!("/hako-rootless-test")),
            "linux.cgroupsPath: /hako-rootless-test: an unprivileged user may not write cgroup",
        ),
        (
            Box::new(move |c| {
                c["linux"]["uidMappings"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"containerID": 1, "hostID": subuid_end, "size": 10}))
            }),
            "linux.uidMappings[1]: host uids",
        ),
        (
            Box::new(|c| c["process"]["user"]["additionalGids"] = json!([5])),
            "process.user.additionalGids: setgroups(2) is denied",
        ),
        (
            Box::new(move |c| {
                let mut m = bind("/data", &data, &["rbind"]);
                m["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
                m["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
                c["mounts"].as_array_mut().unwrap().push(m);
            }),
            "idmapped mount of",
        ),
    ];
    for (edit, want) in cases {
        let mut b = r.bundle(&["true"]);
        b.edit(|c| edit(c));
        let id = r.id("refuse");
        let msg = r
            .hako(&["create", "--bundle", b.path(), &id])
            .fails()
            .error_msg();
        assert!(msg.contains(want), "want {want:?} in {msg:?}");
        assert!(!r.state_root().join(&id).exists(), "{want}: state left");
    }
    // No XDG_RUNTIME_DIR and no /run/user/<uid>: no state root, and the error says why.
    let mut cmd = r.cmd();
    cmd.env_remove("XDG_RUNTIME_DIR").arg("list");
    if !Path::new(&format!("/run/user/{}", r.user.uid)).exists() {
        let msg = run_to_files(&r.w.dir, &mut cmd).fails().error_msg();
        assert!(msg.contains("XDG_RUNTIME_DIR is not set"), "{msg}");
    }
}

#[test]
fn rootless_matches_runc() {
    let r = Rootless::new("rl-runc");
    let b = r.bundle(&[
        "sh",
        "-c",
        "id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname; \
         awk '{print $5, $6}' /proc/self/mountinfo | sort; ls -ln /dev | awk '{print $1, $3, $4, $NF}'",
    ]);
    let hako = r.run_ok(&b);
    // Same user, same environment, same bundle: Debian's runc in rootless mode.
    let runc_root = r.xdg.join("runc");
    let runc = |args: &[&str]| {
        let mut c = r.cmd_of("runc");
        run_to_files(&r.w.dir, c.arg("--root").arg(&runc_root).args(args))
    };
    let id = unique("runc");
    let out = runc(&["run", "--bundle", b.path(), &id]);
    let _ = runc(&["delete", "--force", &id]);
    assert_eq!(hako, out.ok().stdout(), "hako and runc differ");
}

#[test]
fn root_started_user_namespace_maps_to_100000() {
    let w = World::new("rl-rootns");
    let dir = host_dir(&w, 100_000, 100_000);
    let mut b = w.bundle(&["sleep", "100"]);
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(bind("/data", &dir, &["rbind", "rw"]));
    });
    let id = w.id("rootns");
    w.start(&id, &b);
    let pid = w.state(&id)["pid"].as_i64().unwrap() as i32;
    assert_eq!(status_line(pid, "Uid"), "100000 100000 100000 100000");
    let out = w
        .hako(&[
            "exec",
            &id,
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; stat -c %u /data/old; touch /data/new",
        ])
        .ok()
        .stdout();
    assert_eq!(norm(&out), ["0", "0 100000 65536", "0"]);
    assert_eq!(std::fs::metadata(dir.join("new")).unwrap().uid(), 100_000);
}

/// A root-started container in a user namespace (0 -> 100000) with the test user's directory
/// bound twice: idmapped (the user's uid -> 100000, so root inside) and plain (unmapped there).
#[test]
fn idmapped_bind_mount_shows_the_users_dir_as_root() {
    let user = common::rootless_user();
    let w = World::new("rl-idmap");
    let dir = host_dir(&w, user.uid, user.gid);
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "stat -c %u:%g /data /data/old /plain/old; touch /data/new; stat -c %u:%g /data/new",
    ]);
    for d in ["data", "plain"] {
        std::fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let mut m = bind("/data", &dir, &["rbind", "rw"]);
        m["uidMappings"] = json!([{"containerID": user.uid, "hostID": 100000, "size": 1}]);
        m["gidMappings"] = json!([{"containerID": user.gid, "hostID": 100000, "size": 1}]);
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(m);
        mounts.push(bind("/plain", &dir, &["rbind", "ro"]));
    });
    let id = w.id("idmap");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    assert_eq!(norm(&out), ["0:0", "0:0", "65534:65534", "0:0"], "{out}");
    let meta = std::fs::metadata(dir.join("new")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
}

/// `idmap` without mappings takes the container's: a root-owned host directory stays
/// root-owned inside a user-namespaced container.
#[test]
fn idmap_option_uses_the_container_mappings() {
    let w = World::new("rl-idmapopt");
    let dir = host_dir(&w, 0, 0);
    let mut b = w.bundle(&["stat", "-c", "%u:%g", "/data/old"]);
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(bind("/data", &dir, &["rbind", "idmap"]));
    });
    let id = w.id("idmapopt");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    assert_eq!(out.trim(), "0:0");
}

#[test]
fn idmapped_mount_refused_where_the_filesystem_cannot() {
    let w = World::new("rl-idmapfs");
    let mut b = w.bundle(&["true"]);
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        let mut m = bind("/data", Path::new("/sys/kernel"), &["rbind"]);
        m["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        m["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"].as_array_mut().unwrap().push(m);
    });
    let id = w.id("idmapfs");
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(
        msg.ends_with("idmapped mount of /sys/kernel: its filesystem (sysfs) does not support idmapped mounts"),
        "{msg}"
    );
    assert!(!w.state_dir(&id).exists());
    // Not a bind mount, and only one of the two mappings: config errors naming the mount.
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap().last_mut().unwrap();
        m["gidMappings"] = Value::Null;
    });
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(
        msg.contains("needs both uidMappings and gidMappings"),
        "{msg}"
    );
}

/// Rootless Podman and conmon run the runtime as root of a user namespace of their own, with a
/// config that has neither a user namespace nor `cgroupsPath` (issue 19.1): runc then runs the
/// container without a cgroup (root there may not write the host's cgroups), and so must hako,
/// where it failed with "creating cgroup ...: permission denied". `unshare -U -r -m` is that
/// caller: its own uid mapped to root, setgroups denied.
#[test]
fn root_of_the_callers_user_namespace_runs_without_a_cgroup_as_runc() {
    let r = Rootless::new("rl-unshare");
    let mut b = r.bundle(&[
        "sh",
        "-c",
        "id; cat /proc/self/uid_map /proc/self/setgroups /proc/self/cgroup",
    ]);
    b.edit(|c| {
        let linux = c["linux"].as_object_mut().unwrap();
        for k in ["uidMappings", "gidMappings", "cgroupsPath"] {
            linux.remove(k);
        }
        linux["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "user");
    });
    let run = |program: &Path, root: &Path, id: &str| {
        let mut c = r.cmd_of("unshare");
        c.args(["-U", "-r", "-m"])
            .arg(program)
            .arg("--root")
            .arg(root);
        run_to_files(&r.w.dir, c.args(["run", "--bundle", b.path(), id]))
    };
    let id = r.id("unshare");
    let hako = run(Path::new(hako_bin()), &r.state_root(), &id);
    // Nothing was made in any hierarchy, not even for a moment: the run is over.
    assert_eq!(common::cgroups_named(&id), Vec::<PathBuf>::new());
    let runc_root = r.xdg.join("runc");
    let runc_id = unique("unshare-runc");
    let runc = run(&common::runc_bin(), &runc_root, &runc_id);
    let _ = run_to_files(
        &r.w.dir,
        r.cmd_of("unshare")
            .args(["-U", "-r", "-m"])
            .arg(common::runc_bin())
            .arg("--root")
            .arg(&runc_root)
            .args(["delete", "--force", &runc_id]),
    );
    let runc = runc.ok().stdout();
    assert_eq!(hako.ok().stdout(), runc, "hako and runc differ");
    let uid = r.user.uid;
    assert!(
        norm(&runc).contains(&format!("0 {uid} 1")),
        "not in the caller's user namespace: {runc}"
    );
}
