//! `hako spec [--bundle DIR] [--rootless]`: write a starter config.json like `runc spec`'s.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako spec`.
pub const VERB: Verb = Verb {
    name: "spec",
    alias: None,
    summary: "create a new specification file",
    usage: "[command options]",
    description: "The spec command creates the new specification file named \"config.json\" for \
the bundle: a starter configuration (runc's) to edit.",
    flags: &[
        Flag::value(
            "bundle",
            Some("b"),
            Kind::Text,
            "path to the root of the bundle directory",
        ),
        Flag::switch(
            "rootless",
            None,
            "generate a configuration for a rootless container",
        ),
    ],
    arity: Arity::Exact(0),
    reorder: true,
};

/// Write the config; refuses to overwrite one, as runc does.
pub fn run(m: &Matches) -> anyhow::Result<i32> {
    let path = PathBuf::from(m.value("bundle").unwrap_or(".")).join("config.json");
    let spec = if m.on("rootless") {
        rootless(
            base(),
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        base()
    };
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // runc's words: it names the file relative to the bundle it changed into.
            anyhow::bail!("File config.json exists. Remove it first")
        }
        Err(e) => return Err(anyhow::anyhow!("creating {}: {e}", path.display())),
    };
    f.write_all(serde_json::to_string_pretty(&spec)?.as_bytes())?;
    Ok(0)
}

const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// runc's default config (terminal on, read-only root, the default mounts, masked paths).
pub fn base() -> Value {
    json!({
        "ociVersion": libhako::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            // No ambient set, as runc 1.5.1 (runc 1.1's, without an inheritable set, could
            // not be raised).
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "hako",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// runc's rootless changes: a user namespace mapping the caller to root, no network
/// namespace, /sys bound from the host, no devpts gid, no device rules.
pub fn rootless(mut spec: Value, uid: u32, gid: u32) -> Value {
    let linux = &mut spec["linux"];
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
    }
    if let Some(res) = linux.as_object_mut() {
        res.remove("resources");
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) {
                opts.retain(|o| o != "gid=5");
            }
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_parses_as_a_valid_oci_spec() {
        let bytes = serde_json::to_vec(&base()).expect("json");
        let s = libhako::spec::parse(&bytes).expect("valid spec");
        assert_eq!(s.version(), libhako::OCI_VERSION);
        let bytes = serde_json::to_vec(&rootless(base(), 1000, 1000)).expect("json");
        assert!(libhako::spec::parse(&bytes).is_ok());
    }

    #[test]
    fn rootless_maps_the_caller() {
        let s = rootless(base(), 1000, 1001);
        assert_eq!(s["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(s["linux"]["gidMappings"][0]["hostID"], 1001);
        let ns = s["linux"]["namespaces"].as_array().expect("namespaces");
        assert!(ns.iter().any(|n| n["type"] == "user"));
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        let mounts = s["mounts"].as_array().expect("mounts");
        assert!(mounts.iter().any(|m| m["type"] == "cgroup"));
        assert!(mounts[0].get("options").is_none(), "{}", mounts[0]);
    }
}
