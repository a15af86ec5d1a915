//! `pause` and `resume`: freeze and thaw the container's cgroup (v1 `freezer.state`, v2
//! `cgroup.freeze`). A frozen cgroup is what makes the status `paused`.

use std::path::Path;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::state::{StateDir, Status, Stored};

/// Freeze every process of a created or running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (sd, stored) = open(root, id)?;
    match super::status(&sd, &stored) {
        Status::Running | Status::Created => cgroup(&stored)?.driver().set_frozen(true),
        _ => Err(Error::Lifecycle("container not running".into())),
    }
}

/// Thaw a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (sd, stored) = open(root, id)?;
    match super::status(&sd, &stored) {
        Status::Paused => cgroup(&stored)?.driver().set_frozen(false),
        _ => Err(Error::Lifecycle("container not paused".into())),
    }
}

fn open(root: &Path, id: &str) -> Result<(StateDir, Stored)> {
    let sd = StateDir::open(root, id, true)?;
    let stored = sd.load()?;
    Ok((sd, stored))
}

/// The container's cgroup, or an error when it has none (a rootless container without a
/// delegated cgroup, or one made by an older hako).
pub(crate) fn cgroup(stored: &Stored) -> Result<Cgroup> {
    let unit = stored.systemd_unit.as_deref();
    Cgroup::from_state(&stored.cgroup_paths, unit, stored.systemd_user).ok_or_else(|| {
        Error::Lifecycle(format!(
            "container {} has no cgroup (an unprivileged user's container gets one only in a \
             delegated, writable cgroup)",
            stored.id
        ))
    })
}
