//! Idmapped mounts: `mounts[].uidMappings`/`gidMappings` (runtime-spec 1.1+) and runc's `idmap`
//! and `ridmap` options (which take the container's own mappings). A file owned on disk by id
//! `containerID + n` is seen through the mount as owned by host id `hostID + n`, and so, in a
//! container whose user namespace maps that host id, by the matching id inside.
//!
//! Three steps in two processes:
//! 1. validation ([`from_raw`], [`check`]), with the rest of config.json;
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
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Error, Result, SysContext};
use crate::spec::{MountPlan, Namespace, Plan};

/// The mappings a mount entry asks for, as read from the raw config.json (oci-spec's `Mount`
/// has no such fields).
#[derive(Debug, Clone, Default)]
pub struct Requested {
    uid: Option<Vec<LinuxIdMapping>>,
    gid: Option<Vec<LinuxIdMapping>>,
}

/// An idmapped bind mount, validated.
#[derive(Debug, Clone)]
pub struct MountIdmap {
    /// The uid mapping of the user namespace the mount is idmapped through.
    pub uid: Vec<LinuxIdMapping>,
    /// The gid mapping.
    pub gid: Vec<LinuxIdMapping>,
    /// Whether submounts are copied and idmapped too (`rbind`, `ridmap`).
    pub recursive: bool,
    /// The detached idmapped mount, made by [`prepare`] in the runtime before the clone; the
    /// init inherits the fd.
    pub detached: Option<Arc<OwnedFd>>,
}

/// Each mount's `uidMappings`/`gidMappings`, indexed as `mounts`.
pub fn from_raw(raw: &serde_json::Value) -> Result<Vec<Requested>> {
    let Some(mounts) = raw.get("mounts").and_then(serde_json::Value::as_array) else {
        return Ok(Vec::new());
    };
    let read = |i: usize, m: &serde_json::Value, key: &str| {
        m.get(key)
            .filter(|v| !v.is_null())
            .map(|v| {
                serde_json::from_value::<Vec<LinuxIdMapping>>(v.clone())
                    .map_err(|e| Error::config(format!("mounts[{i}].{key}"), e.to_string()))
            })
            .transpose()
    };
    mounts
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(Requested {
                uid: read(i, m, "uidMappings")?,
                gid: read(i, m, "gidMappings")?,
            })
        })
        .collect()
}

/// Validate the idmapped mounts and attach them to their [`MountPlan`]s; the `idmap`/`ridmap`
/// options are taken out of the filesystem data.
pub fn check(
    mounts: &mut [MountPlan],
    requested: &[Requested],
    spec: &Spec,
    namespaces: &[Namespace],
) -> Result<()> {
    for m in mounts.iter_mut() {
        let field = format!("mounts[{}]", m.index);
        let opt = |o: &str| m.options.data.iter().any(|d| d == o);
        let (idmap_opt, ridmap_opt) = (opt("idmap"), opt("ridmap"));
        m.options.data.retain(|d| d != "idmap" && d != "ridmap");
        let req = requested.get(m.index).cloned().unwrap_or_default();
        let (uid, gid) = match (req.uid, req.gid) {
            (None, None) if !idmap_opt && !ridmap_opt => continue,
            (None, None) => container_maps(&field, spec, namespaces)?,
            (Some(u), Some(g)) => (u, g),
            _ => {
                return Err(Error::config(
                    field,
                    "an idmapped mount needs both uidMappings and gidMappings",
                ))
            }
        };
        if !m.options.is_bind() {
            return Err(Error::config(
                field,
                format!(
                    "idmapped mounts are supported for bind mounts only (type {:?})",
                    m.fstype
                ),
            ));
        }
        for (key, maps) in [("uidMappings", &uid), ("gidMappings", &gid)] {
            if maps.is_empty() {
                return Err(Error::config(format!("{field}.{key}"), "must not be empty"));
            }
            if let Some(j) = maps.iter().position(|x| x.size() == 0) {
                return Err(Error::config(
                    format!("{field}.{key}[{j}].size"),
                    "must not be 0",
                ));
            }
        }
        m.idmap = Some(MountIdmap {
            uid,
            gid,
            recursive: ridmap_opt || m.options.flags.contains(MsFlags::MS_REC),
            detached: None,
        });
    }
    Ok(())
}

/// `idmap` without mappings: the container's own, which needs a new user namespace.
fn container_maps(
    field: &str,
    spec: &Spec,
    namespaces: &[Namespace],
) -> Result<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>)> {
    let linux = spec.linux().as_ref();
    let userns = namespaces
        .iter()
        .any(|n| n.flag == CloneFlags::CLONE_NEWUSER && n.path.is_none());
    match (
        linux.and_then(|l| l.uid_mappings().clone()),
        linux.and_then(|l| l.gid_mappings().clone()),
    ) {
        (Some(u), Some(g)) if userns => Ok((u, g)),
        _ => Err(Error::config(
            format!("{field}.options"),
            "idmap without uidMappings/gidMappings takes the container's user namespace \
             mappings, and the container makes no user namespace",
        )),
    }
}

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
    fn reads_mount_mappings() {
        let raw = serde_json::json!({"mounts": [
            {"destination": "/a", "type": "bind", "source": "/x"},
            {"destination": "/b", "type": "bind", "source": "/y",
             "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
             "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}
        ]});
        let r = from_raw(&raw).unwrap_or_default();
        assert_eq!(r.len(), 2);
        assert!(r[0].uid.is_none());
        assert_eq!(r[1].gid.as_ref().map(|g| g[0].host_id()), Some(1000));
        let bad = serde_json::json!({"mounts": [{"destination": "/a", "uidMappings": 3}]});
        assert!(from_raw(&bad).is_err_and(|e| e.to_string().starts_with("mounts[0].uidMappings")));
    }

    #[test]
    fn fstype_of_root() {
        assert_ne!(fstype_of(Path::new("/")), "");
    }
}
