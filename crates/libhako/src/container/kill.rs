//! `kill [--all] ID SIGNAL`.

use std::path::Path;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status, Stored};

/// Send `sig` to the container's init, or with `all` to every process of the container.
///
/// As runc 1.5.1: SIGKILL to a container without a PID namespace of its own kills every
/// process of its cgroup (its init's death would leave the others running), even once the
/// init is gone; and SIGKILL thaws a paused container, whose frozen v1 cgroup would hold it.
/// runc 1.5.1 ignores `--all` (but for not failing on a stopped container); hako keeps it,
/// as runc 1.1 and crun do, since Podman stops a container sharing the host's PID namespace
/// with `kill --all` and expects each of its processes to get the signal.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let sd = StateDir::open(root, id, false)?;
    let stored = sd.load()?;
    let status = super::status(&sd, &stored);
    if status == Status::Creating {
        return Err(not_running());
    }
    let cgroup = Cgroup::from_paths(&stored.cgroup_paths);
    if sig == libc::SIGKILL && !own_pid_namespace(&sd) {
        if let Some(cg) = &cgroup {
            return cg.kill_all(sig).or_else(|e| gone(e, status));
        }
    }
    if status == Status::Stopped {
        // Its PID may belong to another process by now. With --all, what is left in its
        // cgroup, as runc 1.1 (1.5.1: nothing); never an error.
        return match (all, &cgroup) {
            (false, _) => Err(not_running()),
            (true, Some(cg)) => cg.kill_all(sig).or(Ok(())),
            (true, None) => Ok(()),
        };
    }
    if all {
        return signal_all(&stored, cgroup.as_ref(), sig);
    }
    state::signal(&stored, sig)?;
    match (&cgroup, status, sig) {
        (Some(cg), Status::Paused, libc::SIGKILL) => cg.thaw(),
        _ => Ok(()),
    }
}

fn not_running() -> Error {
    Error::Lifecycle("container not running".into())
}

/// A cgroup removed by a concurrent delete after the state was read: its files are gone
/// (ENOENT), or the kernel refuses writes to a dying one (ENODEV).
fn gone(e: Error, status: Status) -> Result<()> {
    match e.errno() {
        _ if status == Status::Stopped => Ok(()),
        Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ENODEV) => Err(not_running()),
        _ => Err(e),
    }
}

/// Whether the container was made with a PID namespace of its own (not joined by path, not
/// the host's), from the config saved at create.
fn own_pid_namespace(sd: &StateDir) -> bool {
    let Ok(spec) = sd.load_config() else {
        return true;
    };
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    namespaces
        .unwrap_or_default()
        .iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none())
}

/// `--all` of a live container: every process of its cgroup, else of its PID namespace.
/// The signal is checked first as the kernel would for the init alone, so that a number
/// that is no signal fails in runc's words rather than reaching nobody.
fn signal_all(stored: &Stored, cgroup: Option<&Cgroup>, sig: i32) -> Result<()> {
    if !(0..=libc::SIGRTMAX()).contains(&sig) {
        return Err(Error::sys(
            "unable to signal init",
            nix::errno::Errno::EINVAL,
        ));
    }
    if let Some(cg) = cgroup {
        return cg.kill_all(sig).or_else(|e| gone(e, Status::Running));
    }
    for pid in pidns_members(stored.pid) {
        let _ = crate::sys::kill(pid, sig);
    }
    Ok(())
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
