//! Idmapped mounts, validation: `mounts[].uidMappings`/`gidMappings` (runtime-spec 1.1+) and
//! runc's `idmap`/`ridmap` options, read from the raw config.json and attached to their
//! [`MountPlan`]s. Making them is [`crate::idmap`]'s job, which works from the plan.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use super::{MountPlan, Namespace};
use crate::error::{Error, Result};

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
    /// The detached idmapped mount, made by [`crate::idmap::prepare`] in the runtime before the clone; the
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
}
