//! `ps`: the container's processes, from its cgroup, each with its host PID and (hako's
//! addition) its PID inside the container's PID namespace (the last `NSpid` field).

use std::path::Path;

use crate::error::Result;
use crate::state::StateDir;

/// One process of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// PID in the runtime's PID namespace.
    pub host: i32,
    /// PID in the container's innermost PID namespace, when the kernel says.
    pub inner: Option<i32>,
}

/// The container's processes, sorted by host PID.
pub fn processes(root: &Path, id: &str) -> Result<Vec<Process>> {
    let sd = StateDir::open(root, id, false)?;
    let stored = sd.load()?;
    let mut pids = super::pause::cgroup(&stored)?.driver().pids()?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids
        .into_iter()
        .map(|host| Process {
            host,
            inner: std::fs::read_to_string(format!("/proc/{host}/status"))
                .ok()
                .and_then(|s| nspid(&s)),
        })
        .collect())
}

/// The innermost PID of a `/proc/<pid>/status` text.
pub fn nspid(status: &str) -> Option<i32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn nspid_is_the_innermost() {
        assert_eq!(
            super::nspid("Name:\tsh\nNSpid:\t4242\t7\nNStgid:\t4242\t7\n"),
            Some(7)
        );
        assert_eq!(super::nspid("NSpid:\t99\n"), Some(99));
        assert_eq!(super::nspid("Name:\tsh\n"), None);
    }
}
