//! Idmapped mounts: `mounts[].uidMappings`/`gidMappings` (runtime-spec 1.1+) and runc's `idmap`
//! and `ridmap` options (which take the container's own mappings). A file owned on disk by id
//! `containerID + n` is seen through the mount as owned by host id `hostID + n`, and so, in a
//! container whose user namespace maps that host id, by the matching id inside.
//!
//! Three steps in two processes:
//! 1. validation ([`crate::spec::idmap`]), with the rest of config.json;
//! 2. in the runtime parent, before the clone ([`prepare`]): a user namespace carrying the
//!    mapping ([`crate::userns::with_mappings`]), a detached copy of the source
//!    (`open_tree(OPEN_TREE_CLONE)`) and `mount_setattr(MOUNT_ATTR_IDMAP)` on it. This needs
//!    CAP_SYS_ADMIN over the user namespace owning the source's filesystem (the host's), which
//!    the init, inside its own user namespace, no longer has;
//! 3. in the init, in place of the bind mount ([`attach`]): `move_mount` of the detached mount
//!    (inherited through the clone) onto the destination fd resolved in the rootfs.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;

use crate::error::{Error, Result, SysContext};
use crate::spec::{MountPlan, Plan};

/// In the runtime parent, before the clone: make every idmapped mount as a detached mount
/// whose fd the init inherits. Mounts with the same mappings share one user namespace.
pub fn prepare(plan: &mut Plan) -> Result<()> {
    let mut userns: Vec<(String, OwnedFd)> = Vec::new();
    for m in plan.mounts.iter_mut() {
        let Some(idmap) = m.idmap.as_mut() else {
            continue;
        };
        let key = format!("{:?}{:?}", idmap.uid, idmap.gid);
        let ns = match userns.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                userns.push((key, crate::userns::with_mappings(&idmap.uid, &idmap.gid)?));
                userns.len() - 1
            }
        };
        let src = m.source.display();
        let field = format!("mounts[{}]", m.index);
        let mnt = crate::sys::open_tree_clone(&m.source, idmap.recursive)
            .ctx(|| format!("{field}: open_tree of {src}"))?;
        match crate::sys::mount_setattr_idmap(mnt.as_fd(), userns[ns].1.as_fd(), idmap.recursive) {
            Ok(()) => {}
            Err(Errno::EINVAL) => {
                return Err(Error::config(
                    field,
                    format!(
                        "idmapped mount of {src}: its filesystem ({}) does not support idmapped \
                         mounts",
                        fstype_of(&m.source)
                    ),
                ))
            }
            Err(Errno::EPERM) => {
                return Err(Error::config(
                    field,
                    format!(
                        "idmapped mount of {src}: not permitted (it needs CAP_SYS_ADMIN in the \
                         user namespace owning the filesystem, and no mount in the copy may be \
                         idmapped already)"
                    ),
                ))
            }
            Err(e) => {
                return Err(Error::sys(
                    format!("{field}: mount_setattr(MOUNT_ATTR_IDMAP) on a copy of {src}"),
                    e,
                ))
            }
        }
        idmap.detached = Some(Arc::new(mnt));
    }
    Ok(())
}

/// In the init: attach `m`'s detached idmapped mount on `target` (an `O_PATH` fd of the
/// destination). Returns false when `m` is not idmapped (the caller bind-mounts it).
pub fn attach(m: &MountPlan, target: &OwnedFd) -> Result<bool> {
    let Some(idmap) = &m.idmap else {
        return Ok(false);
    };
    let (src, dest) = (m.source.display(), m.destination.display());
    let Some(mnt) = &idmap.detached else {
        return Err(Error::Init(format!(
            "idmapped mount of {src} on {dest} was not prepared by the runtime"
        )));
    };
    crate::sys::move_mount_to(mnt.as_fd(), target.as_fd())
        .ctx(|| format!("attaching the idmapped mount of {src} on {dest}"))?;
    Ok(true)
}

/// The filesystem type of the mount holding `path` (the longest mount point above it in
/// /proc/self/mountinfo), for error messages.
fn fstype_of(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let info = crate::procfs::read_text("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = Path::new(pre.split(' ').nth(4)?);
            let fstype = post.split(' ').next()?.to_string();
            path.starts_with(point)
                .then_some((point.as_os_str().len(), fstype))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstype_of_root() {
        assert_ne!(fstype_of(Path::new("/")), "");
    }
}
