//! Entering namespaces from the init: joining the ones given by `path` (user first, so the
//! others are entered with its credentials), unsharing the new ones that could not be made at
//! clone time, and the time namespace's clock offsets.

use std::os::fd::AsFd;

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysContext};
use crate::spec::{Namespace, Plan};

/// `CLONE_NEWTIME`, which nix does not name.
pub const CLONE_NEWTIME: CloneFlags = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);

/// How the init's namespaces are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// Flags for clone3: namespaces the init is born into.
    pub at_clone: CloneFlags,
    /// Flags the init unshares itself as soon as it is born, before `Go`: their making (a
    /// network namespace is ~1 ms) then overlaps with the runtime's cgroup setup instead of
    /// lengthening clone3 in the runtime.
    pub early: CloneFlags,
    /// Flags the init unshares itself after joining paths.
    pub unshare: CloneFlags,
    /// Whether the init must fork once more (a PID or time namespace only applies to children).
    pub fork: bool,
}

/// Namespaces that mean the same made by the init's `unshare` as by clone3 (owned by the same
/// user namespace, entered by the init itself): those the fast path makes early.
const UNSHARED_EARLY: CloneFlags = CloneFlags::CLONE_NEWNET
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC);

/// Choose the strategy. With no namespace joined by path and no time namespace, one process
/// and no fork (the fast path): the user and PID namespaces are made by clone3, the network,
/// mount, UTS and IPC ones by the init at once ([`Strategy::early`]). Otherwise the init joins
/// the paths, unshares the rest and forks once if a PID or time namespace must be entered.
pub fn strategy(namespaces: &[Namespace]) -> Strategy {
    let new: CloneFlags = namespaces
        .iter()
        .filter(|n| n.path.is_none())
        .fold(CloneFlags::empty(), |a, n| a | n.flag);
    let joins = namespaces.iter().any(|n| n.path.is_some());
    if !joins && !new.contains(CLONE_NEWTIME) {
        return Strategy {
            at_clone: new - UNSHARED_EARLY,
            early: new & UNSHARED_EARLY,
            unshare: CloneFlags::empty(),
            fork: false,
        };
    }
    let user = new & CloneFlags::CLONE_NEWUSER;
    let pid_joined = namespaces
        .iter()
        .any(|n| n.flag == CloneFlags::CLONE_NEWPID && n.path.is_some());
    Strategy {
        at_clone: user,
        early: CloneFlags::empty(),
        unshare: new - user,
        fork: new.intersects(CloneFlags::CLONE_NEWPID | CLONE_NEWTIME) || pid_joined,
    }
}

/// Join every namespace that has a path, in plan order (user first).
pub fn join_paths(namespaces: &[Namespace]) -> Result<()> {
    for ns in namespaces {
        let Some(path) = &ns.path else { continue };
        let shown = path.display();
        let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .ctx(|| format!("opening namespace {shown}"))?;
        setns(fd.as_fd(), ns.flag).ctx(|| format!("joining namespace {shown}"))?;
    }
    Ok(())
}

/// Unshare `flags`; bring the loopback interface of a network namespace made here up (as
/// runc does) and write the time namespace's offsets if one was made.
pub fn unshare_new(plan: &Plan, flags: CloneFlags) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).ctx(|| format!("unsharing namespaces {flags:?}"))?;
    if flags.contains(CloneFlags::CLONE_NEWNET) {
        crate::sys::loopback_up().ctx(|| "bringing up the loopback interface".into())?;
    }
    if flags.contains(CLONE_NEWTIME) {
        write_time_offsets(plan)?;
    }
    Ok(())
}

fn write_time_offsets(plan: &Plan) -> Result<()> {
    let Some(offsets) = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
    else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in &offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::config(
                format!("linux.timeOffsets.{clock}"),
                "only monotonic and boottime have offsets",
            ));
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text)
        .map_err(|e| Error::io("writing", "/proc/self/timens_offsets", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(flag: CloneFlags, path: Option<&str>) -> Namespace {
        Namespace {
            flag,
            path: path.map(Into::into),
        }
    }

    #[test]
    fn fast_path_when_nothing_is_joined() {
        let s = strategy(&[
            ns(CloneFlags::CLONE_NEWPID, None),
            ns(CloneFlags::CLONE_NEWNS, None),
        ]);
        assert_eq!(s.at_clone, CloneFlags::CLONE_NEWPID);
        assert_eq!(s.early, CloneFlags::CLONE_NEWNS);
        assert!(!s.fork);
    }

    #[test]
    fn joined_network_means_unshare_and_fork_for_pid() {
        let s = strategy(&[
            ns(CloneFlags::CLONE_NEWUSER, None),
            ns(CloneFlags::CLONE_NEWPID, None),
            ns(CloneFlags::CLONE_NEWNS, None),
            ns(CloneFlags::CLONE_NEWNET, Some("/proc/1/ns/net")),
        ]);
        assert_eq!(s.at_clone, CloneFlags::CLONE_NEWUSER);
        assert!(s.early.is_empty());
        assert_eq!(
            s.unshare,
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
        assert!(s.fork);
    }

    #[test]
    fn time_namespace_forces_fork() {
        let s = strategy(&[ns(CloneFlags::CLONE_NEWNS, None), ns(CLONE_NEWTIME, None)]);
        assert!(s.fork);
        assert_eq!(s.unshare, CloneFlags::CLONE_NEWNS | CLONE_NEWTIME);
    }
}
