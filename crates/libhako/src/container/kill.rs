//! `kill [--all] ID SIGNAL`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status};

/// Send `sig` to the container's init, or with `all` to every process of its PID namespace.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let sd = StateDir::open(root, id, false)?;
    let stored = sd.load()?;
    let status = super::status(&sd, &stored);
    // runc: `--all` of a stopped container signals what is left in its cgroup, not an error.
    if status == Status::Creating || (status == Status::Stopped && !all) {
        return Err(Error::Lifecycle("container not running".into()));
    }
    if all {
        // The cgroup holds every process of the container, whatever its PID namespace.
        let cgroup = crate::cgroups::Cgroup::from_paths(&stored.cgroup_paths);
        if let (Some(cg), Ok(signal)) = (cgroup, nix::sys::signal::Signal::try_from(sig)) {
            return match cg.kill_all(signal) {
                _ if status == Status::Stopped => Ok(()),
                // A concurrent delete removed the cgroup after we read the state: its files
                // are gone (ENOENT), or the kernel refuses writes to a dying one (ENODEV).
                Err(e)
                    if matches!(
                        e.errno(),
                        Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ENODEV)
                    ) =>
                {
                    Err(Error::Lifecycle("container not running".into()))
                }
                r => r,
            };
        }
        if status == Status::Stopped {
            // Its PID may belong to another process by now: nothing to signal.
            return Ok(());
        }
        for pid in pidns_members(stored.pid) {
            let _ = crate::sys::kill(pid, sig);
        }
        return Ok(());
    }
    state::signal(&stored, sig)
}

/// Every host PID in the PID namespace of `init`, when that namespace is not ours (so a
/// container sharing the host's PID namespace never turns `--all` into a host-wide kill).
fn pidns_members(init: i32) -> Vec<i32> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let (Some(target), Some(own)) = (ns(&init.to_string()), ns("self")) else {
        return vec![init];
    };
    if target == own {
        return vec![init];
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![init];
    };
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let pid: i32 = name.parse().ok()?;
            (ns(&name).as_ref() == Some(&target)).then_some(pid)
        })
        .collect()
}
