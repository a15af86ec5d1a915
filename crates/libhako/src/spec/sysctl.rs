//! `linux.sysctl`: only the sysctls that belong to a namespace of the container's own, checked
//! before anything is made (runc's `validate.sysctl`, word for word). `/proc/sys` is not
//! namespaced as a whole: `vm.*`, `kernel.core_pattern` and the like written from a container
//! would change the host. Allowed:
//!
//! * `kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`: with an IPC namespace;
//! * `net.*`: with a network namespace that is not the runtime's own (a new one, or one joined
//!   by a path that is another namespace than the runtime's);
//! * `kernel.domainname`: with a UTS namespace (`kernel.hostname` is refused there: the
//!   `hostname` field owns it).
//!
//! Keys may use `/` as the separator (`net/ipv4/ip_forward`), as sysctl(8) accepts; they are
//! read in the dotted form for these checks.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sched::CloneFlags;

use super::Namespace;
use crate::error::{Error, Result};

/// The IPC sysctls runc allows besides `fs.mqueue.*`.
const IPC: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A key in the dotted form: a key whose first separator is `/` has its `.` and `/` swapped
/// (`net/ipv4/conf/eth0.100/rp_filter` -> `net.ipv4.conf.eth0/100.rp_filter`).
pub fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => swap(key),
        _ => key.to_string(),
    }
}

/// `key` with every `.` and `/` swapped.
fn swap(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// Check every key of `sysctl` against the container's `namespaces`.
pub fn check<'a>(keys: impl Iterator<Item = &'a String>, namespaces: &[Namespace]) -> Result<()> {
    let has = |f: CloneFlags| namespaces.iter().any(|n| n.flag == f);
    let mut hostnet: Option<bool> = None;
    for key in keys {
        check_form(key)?;
        let s = dotted(key);
        let refuse = |why: String| Err(Error::config(format!("linux.sysctl.{key}"), why));
        if IPC.contains(&s.as_str()) || s.starts_with("fs.mqueue.") {
            if has(CloneFlags::CLONE_NEWIPC) {
                continue;
            }
            return refuse(format!(
                "sysctl {s:?} is not allowed in the hosts ipc namespace"
            ));
        }
        if s.starts_with("net.") {
            let host = match hostnet {
                Some(h) => h,
                None => *hostnet.insert(host_network(namespaces)?),
            };
            if host {
                return refuse(format!(
                    "sysctl {s:?} not allowed in host network namespace"
                ));
            }
            continue;
        }
        if has(CloneFlags::CLONE_NEWUTS) {
            match s.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return refuse(format!(
                    "sysctl {s:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                ))
                }
                _ => {}
            }
        }
        return refuse(format!(
            "sysctl {s:?} is not in a separate kernel namespace"
        ));
    }
    Ok(())
}

/// A key names a file below `/proc/sys`: no empty component, no `.` or `..`.
fn check_form(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.contains('\0')
        || key
            .split(['.', '/'])
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(Error::config(format!("linux.sysctl.{key}"), "invalid key"));
    }
    Ok(())
}

/// Whether the container's network namespace is the runtime's own ("host" means "current",
/// as in runc): none of its own, or one joined by a path that is the runtime's.
fn host_network(namespaces: &[Namespace]) -> Result<bool> {
    let Some(net) = namespaces
        .iter()
        .find(|n| n.flag == CloneFlags::CLONE_NEWNET)
    else {
        return Ok(true);
    };
    let Some(path) = &net.path else {
        return Ok(false);
    };
    let id = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| Error::io("invalid netns path: stat", p, e))
    };
    Ok(id(Path::new("/proc/self/ns/net"))? == id(path)?)
}

/// The path below `/proc/sys` of a sysctl key, in either form (a `.` inside a component of
/// the `/` form, as in an interface name, stays a `.`).
pub fn proc_path(key: &str) -> String {
    swap(&dotted(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(flags: &[CloneFlags]) -> Vec<Namespace> {
        flags
            .iter()
            .map(|&flag| Namespace { flag, path: None })
            .collect()
    }

    fn verdict(key: &str, namespaces: &[Namespace]) -> std::result::Result<(), String> {
        let k = key.to_string();
        check(std::iter::once(&k), namespaces).map_err(|e| e.to_string())
    }

    #[test]
    fn runc_rules() {
        let all = ns(&[
            CloneFlags::CLONE_NEWIPC,
            CloneFlags::CLONE_NEWNET,
            CloneFlags::CLONE_NEWUTS,
        ]);
        for ok in [
            "kernel.shmmax",
            "kernel.sem",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
            "kernel.domainname",
        ] {
            assert_eq!(verdict(ok, &all), Ok(()), "{ok}");
        }
        for (key, why) in [
            ("vm.swappiness", "is not in a separate kernel namespace"),
            (
                "kernel.core_pattern",
                "is not in a separate kernel namespace",
            ),
            (
                "kernel.hostname",
                "conflicts with the OCI \"hostname\" field",
            ),
        ] {
            assert!(verdict(key, &all).is_err_and(|e| e.contains(why)), "{key}");
        }
        let none = ns(&[CloneFlags::CLONE_NEWNS]);
        assert!(verdict("kernel.shmmax", &none).is_err_and(|e| e.contains("hosts ipc")));
        assert!(verdict("net.ipv4.ip_forward", &none).is_err_and(|e| e.contains("host network")));
        assert!(verdict("kernel.domainname", &none).is_err_and(|e| e.contains("separate kernel")));
        let host = vec![Namespace {
            flag: CloneFlags::CLONE_NEWNET,
            path: Some("/proc/self/ns/net".into()),
        }];
        assert!(verdict("net.core.somaxconn", &host).is_err_and(|e| e.contains("host network")));
        for bad in ["", "net..x", "net/../x", "net.ipv4/..", "kernel."] {
            assert!(
                verdict(bad, &all).is_err_and(|e| e.contains("invalid key")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn slash_form() {
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(dotted("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(proc_path("net.ipv4.ip_forward"), "net/ipv4/ip_forward");
        assert_eq!(
            proc_path("net/ipv4/conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
    }
}
