//! Mounts on `/proc` and below it, refused as runc refuses them (its `checkProcMount`), before
//! anything is made: a file mounted over `/proc/sys/kernel/core_pattern` or `/proc/self/attr`
//! would redirect what the kernel or the runtime reads and writes there. Allowed: a procfs on
//! `/proc` (a new one, or a bind of one), and over the few files lxcfs emulates.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The files below `/proc` a mount may cover (runc 1.5.1's list).
const ALLOWED: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// `destination` without `.` components or repeated slashes (it is absolute and has no `..`:
/// checked before).
fn clean(destination: &Path) -> PathBuf {
    destination
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// Check the mount `field` (`mounts[i]`) onto `destination`: `fstype`, and `source` when it is
/// a bind mount (`bind`).
pub fn check(
    field: &str,
    destination: &Path,
    fstype: &str,
    source: &Path,
    bind: bool,
) -> Result<()> {
    let dest = clean(destination);
    let Ok(rest) = dest.strip_prefix("/proc") else {
        return Ok(());
    };
    let refuse = |why: &str| {
        Err(Error::config(
            format!("{field}.destination"),
            format!(
                "{:?} cannot be mounted because it is {why}",
                dest.display().to_string()
            ),
        ))
    };
    if rest.as_os_str().is_empty() {
        let procfs = if bind {
            nix::sys::statfs::statfs(source)
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        } else {
            fstype == "proc"
        };
        return if procfs {
            Ok(())
        } else {
            refuse("not of type proc")
        };
    }
    if ALLOWED.iter().any(|a| Path::new(a) == dest) {
        return Ok(());
    }
    refuse("inside /proc")
}

/// Whether a mount onto `destination` may cover a file of a procfs: only the allowed ones
/// (for the check made when the destination is resolved, which follows symlinks).
pub fn may_cover_procfs(destination: &Path) -> bool {
    let dest = clean(destination);
    dest == Path::new("/proc") || ALLOWED.iter().any(|a| Path::new(a) == dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(
        dest: &str,
        fstype: &str,
        source: &str,
        bind: bool,
    ) -> std::result::Result<(), String> {
        check(
            "mounts[0]",
            Path::new(dest),
            fstype,
            Path::new(source),
            bind,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn runc_rules() {
        assert_eq!(verdict("/proc", "proc", "proc", false), Ok(()));
        assert_eq!(verdict("/proc", "none", "/proc", true), Ok(()));
        assert_eq!(
            verdict("/proc/cpuinfo", "none", "/etc/hostname", true),
            Ok(())
        );
        assert_eq!(
            verdict("/proc/./uptime", "none", "/etc/hostname", true),
            Ok(())
        );
        assert_eq!(verdict("/procfoo", "tmpfs", "tmpfs", false), Ok(()));
        assert_eq!(
            verdict("/proc", "tmpfs", "tmpfs", false),
            Err(
                "mounts[0].destination: \"/proc\" cannot be mounted because it is not of type proc"
                    .into()
            )
        );
        assert_eq!(
            verdict("/proc", "none", "/etc", true),
            Err(
                "mounts[0].destination: \"/proc\" cannot be mounted because it is not of type proc"
                    .into()
            )
        );
        assert_eq!(
            verdict("//proc/sys/kernel/core_pattern", "none", "/etc/hostname", true),
            Err("mounts[0].destination: \"/proc/sys/kernel/core_pattern\" cannot be mounted because it is inside /proc".into())
        );
        assert!(may_cover_procfs(Path::new("/proc/meminfo")));
        assert!(!may_cover_procfs(Path::new("/x")));
    }
}
