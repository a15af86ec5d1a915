//! Namespaces seen from inside the container and from the host: pid, uts, ipc, network,
//! mount, cgroup, time (with `linux.timeOffsets`), user (with id mappings), and namespaces
//! joined through `path` from another running container. Where runc supports the same config
//! its output is compared with hako's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Bundle, World};
use serde_json::json;

/// `hako run` the bundle, assert success, return stdout.
fn run_ok(w: &World, b: &Bundle) -> String {
    let id = w.id("ns");
    w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout()
}

/// `runc run` the bundle with a private `--root`, assert success, return stdout.
fn runc_ok(w: &World, b: &Bundle) -> String {
    w.runc_run(Path::new("runc"), &[], b).ok().stdout()
}

/// `create` (container stdio to a log file, so nothing waits on a pipe the container holds)
/// and `start`; returns the init's host pid and the log path.
fn start_bg(w: &World, id: &str, b: &Bundle) -> (i32, PathBuf) {
    let log = w.dir.join(format!("{id}.log"));
    let f = std::fs::File::create(&log).unwrap();
    let status = w
        .cmd()
        .args(["create", "--bundle", b.path(), id])
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .status()
        .expect("spawn hako create");
    assert!(
        status.success(),
        "create failed: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    w.hako(&["start", id]).ok();
    let pid = w.state(id)["pid"].as_i64().expect("pid in state") as i32;
    assert!(pid > 0);
    (pid, log)
}

/// Wait until the log contains `needle`; return the whole log.
fn wait_log(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "{needle:?} never in log: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The `Key:` line of /proc/<pid>/status, whitespace-normalised.
fn status_line(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in status"));
    line.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

fn add_ns(b: &mut Bundle, ns: serde_json::Value) {
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(ns.clone())
    });
}

#[test]
fn pid_namespace_inside_sees_only_itself() {
    let w = World::new("ns-pid");
    let b = w.bundle(&[
        "sh",
        "-c",
        "echo pid=$$; sleep 30 & sleep 0.2; ps -o pid,comm; true",
    ]);
    let out = run_ok(&w, &b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("pid=1"), "{out}");
    assert_eq!(
        lines
            .next()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec!["PID", "COMMAND"])
    );
    let procs: Vec<(u32, String)> = lines
        .map(|l| {
            let mut f = l.split_whitespace();
            (f.next().unwrap().parse().unwrap(), f.next().unwrap().into())
        })
        .collect();
    let comms: Vec<&str> = procs.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(comms, ["sh", "sleep", "ps"], "{out}");
    assert_eq!(procs[0].0, 1);
    assert!(procs.iter().all(|(p, _)| *p < 10), "{out}");
    let runc = runc_ok(&w, &b);
    let runc_comms: Vec<&str> = runc
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(comms, runc_comms, "hako and runc differ: {runc}");
}

#[test]
fn pid_namespace_seen_from_the_host() {
    let w = World::new("ns-pidhost");
    let b = w.bundle(&["sleep", "100"]);
    let id = w.id("pidhost");
    let (pid, _) = start_bg(&w, &id, &b);
    assert_ne!(pid, 1);
    // The init has a host pid and is PID 1 in its own namespace.
    assert_eq!(status_line(pid, "NSpid"), format!("{pid} 1"));
    assert_ne!(ns_link(&pid.to_string(), "pid"), ns_link("self", "pid"));
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(),
        "sleep\n"
    );
}

#[test]
fn uts_namespace_hostname_and_domainname() {
    let w = World::new("ns-uts");
    let host_name = nix::unistd::gethostname().unwrap();
    let host_domain = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname",
    ]);
    b.edit(|c| {
        c["hostname"] = json!("box-one");
        c["domainname"] = json!("example.test");
    });
    let out = run_ok(&w, &b);
    assert_eq!(out, "box-one\nbox-one\nexample.test\n");
    // runc 1.1 predates `domainname`: compare the hostname only.
    assert_eq!(
        out.lines().next(),
        runc_ok(&w, &b).lines().next(),
        "hako and runc differ"
    );
    assert_eq!(nix::unistd::gethostname().unwrap(), host_name);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_domain
    );
}

#[test]
fn ipc_namespace_differs_from_host() {
    let w = World::new("ns-ipc");
    let mut b = w.bundle(&["readlink", "/proc/self/ns/ipc"]);
    let host = ns_link("self", "ipc");
    let inside = run_ok(&w, &b);
    assert!(inside.starts_with("ipc:["), "{inside}");
    assert_ne!(inside.trim(), host);
    // Without an ipc namespace in the config, the host's is shared: the check can tell.
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "ipc")
    });
    assert_eq!(run_ok(&w, &b).trim(), host);
}

#[test]
fn network_namespace_has_only_lo() {
    let w = World::new("ns-net");
    let b = w.bundle(&[
        "sh",
        "-c",
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ls /sys/class/net",
    ]);
    let out = run_ok(&w, &b);
    assert_eq!(out, "lo\nlo\n");
    assert_eq!(out, runc_ok(&w, &b), "hako and runc differ");
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert!(host_ifaces > 1, "the host should have more than lo");
}

#[test]
fn mount_namespace_hides_container_mounts_from_host() {
    let w = World::new("ns-mnt");
    let marker = common::unique("hakomarker");
    let mut b = w.bundle(&[
        "sh",
        "-c",
        &format!("mount -t tmpfs {marker} /tmp && echo mounted; sleep 100"),
    ]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
    });
    let id = w.id("mnt");
    let (pid, log) = start_bg(&w, &id, &b);
    wait_log(&log, "mounted");
    let inside = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(inside.contains(&marker), "{inside}");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(&marker),
        "container mount leaked to the host"
    );
    // Nor do the runtime's own mounts (the rootfs bind, /proc, /dev ...).
    assert!(
        !host.contains(b.rootfs().to_str().unwrap()),
        "rootfs mount leaked to the host"
    );
    assert_ne!(ns_link(&pid.to_string(), "mnt"), ns_link("self", "mnt"));
}

#[test]
fn cgroup_namespace_root_is_slash() {
    let w = World::new("ns-cgroup");
    let mut b = w.bundle(&["cat", "/proc/self/cgroup"]);
    add_ns(&mut b, json!({"type": "cgroup"}));
    let out = run_ok(&w, &b);
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(line.ends_with(":/"), "not at the cgroupns root: {out}");
    }
    // Without the cgroup namespace, the test's own (non-root) cgroup shows through somewhere.
    let host = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(host.lines().any(|l| !l.ends_with(":/")), "{host}");
    assert_eq!(
        out.lines().count(),
        host.lines().count(),
        "one line per hierarchy"
    );
}

#[test]
fn time_namespace_offsets() {
    let w = World::new("ns-time");
    let mut b = w.bundle(&["sh", "-c", "cat /proc/uptime /proc/self/timens_offsets"]);
    add_ns(&mut b, json!({"type": "time"}));
    b.edit(|c| {
        c["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": 100000, "nanosecs": 0},
            "monotonic": {"secs": 200000, "nanosecs": 500}
        })
    });
    let host_uptime = uptime(&std::fs::read_to_string("/proc/uptime").unwrap());
    let out = run_ok(&w, &b);
    let inside = uptime(&out);
    let delta = inside - host_uptime;
    assert!(
        (100_000.0 - 1.0..100_000.0 + 60.0).contains(&delta),
        "boottime offset not applied: inside {inside}, host {host_uptime}"
    );
    let mut offsets: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    offsets.sort();
    assert_eq!(
        offsets,
        ["boottime 100000 0", "monotonic 200000 500"],
        "{out}"
    );
}

fn uptime(text: &str) -> f64 {
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn userns_bundle(w: &World, args: &[&str]) -> Bundle {
    let mut b = w.bundle(args);
    add_ns(&mut b, json!({"type": "user"}));
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    b
}

#[test]
fn user_namespace_mappings_inside() {
    let w = World::new("ns-user");
    let b = userns_bundle(
        &w,
        &["sh", "-c", "id; cat /proc/self/uid_map /proc/self/gid_map"],
    );
    let out = run_ok(&w, &b);
    let norm: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        norm,
        [
            "uid=0(root) gid=0(root)",
            "0 100000 65536",
            "0 200000 65536"
        ],
        "{out}"
    );
    assert_eq!(out, runc_ok(&w, &b), "hako and runc differ");
}

#[test]
fn user_namespace_seen_from_the_host() {
    let w = World::new("ns-userhost");
    let b = userns_bundle(&w, &["sleep", "100"]);
    let id = w.id("userhost");
    let (pid, _) = start_bg(&w, &id, &b);
    assert_eq!(status_line(pid, "Uid"), "100000 100000 100000 100000");
    assert_eq!(status_line(pid, "Gid"), "200000 200000 200000 200000");
    assert_ne!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
}

#[test]
fn join_network_and_uts_by_path() {
    let w = World::new("ns-join");
    let mut a = w.bundle(&["sleep", "100"]);
    a.edit(|c| c["hostname"] = json!("container-a"));
    let ida = w.id("join-a");
    let (apid, _) = start_bg(&w, &ida, &a);

    let mut b = w.bundle(&[
        "sh",
        "-c",
        "hostname; for n in net uts ipc; do readlink /proc/self/ns/$n; done",
    ]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            match n["type"].as_str().unwrap() {
                "network" => n["path"] = json!(format!("/proc/{apid}/ns/net")),
                "uts" => n["path"] = json!(format!("/proc/{apid}/ns/uts")),
                _ => {}
            }
        }
    });
    let out = run_ok(&w, &b);
    let a = apid.to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "container-a", "{out}");
    assert_eq!(lines[1], ns_link(&a, "net"));
    assert_eq!(lines[2], ns_link(&a, "uts"));
    // The ipc namespace was not joined: B has its own.
    assert_ne!(lines[3], ns_link(&a, "ipc"));
    assert_ne!(lines[3], ns_link("self", "ipc"));
    let runc = runc_ok(&w, &b);
    assert_eq!(
        lines[..3],
        runc.lines().collect::<Vec<_>>()[..3],
        "hako and runc differ"
    );
}

#[test]
fn join_pid_namespace_by_path() {
    let w = World::new("ns-joinpid");
    let a = w.bundle(&["sleep", "100"]);
    let ida = w.id("joinpid-a");
    let (apid, _) = start_bg(&w, &ida, &a);

    let mut b = w.bundle(&[
        "sh",
        "-c",
        "echo pid=$$; echo one=$(cat /proc/1/comm); echo ready; sleep 100",
    ]);
    b.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "pid" {
                n["path"] = json!(format!("/proc/{apid}/ns/pid"));
            }
        }
    });
    let idb = w.id("joinpid-b");
    let (bpid, log) = start_bg(&w, &idb, &b);
    let text = wait_log(&log, "ready");
    // B is not PID 1 there: A's init is, and B sees it.
    let nspid: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(nspid > 1, "{text}");
    assert!(text.contains("one=sleep\n"), "{text}");
    assert_eq!(
        ns_link(&bpid.to_string(), "pid"),
        ns_link(&apid.to_string(), "pid")
    );
    assert_eq!(status_line(bpid, "NSpid"), format!("{bpid} {nspid}"));
    // And A sees B: through A's own /proc, B's process is there under its namespace pid.
    // "ready" is echoed just before the exec of sleep: wait for it, boundedly.
    let comm_of_b = || std::fs::read_to_string(format!("/proc/{apid}/root/proc/{nspid}/comm"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while comm_of_b().unwrap() != "sleep\n" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        comm_of_b().unwrap(),
        "sleep\n",
        "B's shell execs its last command"
    );
    let cmdline = std::fs::read(format!("/proc/{apid}/root/proc/{nspid}/cmdline")).unwrap();
    assert_eq!(
        cmdline,
        std::fs::read(format!("/proc/{bpid}/cmdline")).unwrap()
    );
}
