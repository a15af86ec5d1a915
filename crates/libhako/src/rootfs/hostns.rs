//! Containers without a mount namespace of their own (no `mount` in `linux.namespaces`; the
//! spec: the container then inherits the runtime's). Their mounts are made in the runtime's
//! mount namespace, under the rootfs, where runc leaves them after `delete`. hako marks such a
//! container in its state dir ([`MARKER`], written by `create` before the clone) and unmounts
//! every mount below its rootfs when it is deleted or its create fails. Runs in the runtime.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};

use crate::error::{Error, Result};

/// The state dir's file that says the container's mounts are in the runtime's namespace.
pub const MARKER: &str = "host-mounts";

/// Lazily unmount every mount of this mount namespace strictly below `rootfs`, deepest first
/// (the rootfs itself, which may be the engine's own mount, is kept).
pub fn unmount_below(rootfs: &Path) -> Result<()> {
    let rootfs = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf());
    let info = crate::procfs::read_text("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    let mut below: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(crate::cgroups::layout::unescape(p)))
        .filter(|p| p != &rootfs && p.starts_with(&rootfs))
        .collect();
    // Stacked mounts appear once each: each gets its own unmount.
    below.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in below {
        // EINVAL: no longer a mount point (gone with its parent, or unmounted twice).
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("unmounting {}", p.display()), e)),
        }
    }
    Ok(())
}
