//! `update`: write new `linux.resources` into a live container's cgroup. Only the fields given
//! are written (runc's update treats unset as unchanged); device rules are never rewritten.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::state::{StateDir, Status};

/// Apply `r` to the container's cgroup.
pub fn update(root: &Path, id: &str, r: &LinuxResources) -> Result<()> {
    let sd = StateDir::open(root, id, true)?;
    let stored = sd.load()?;
    if matches!(
        super::status(&sd, &stored),
        Status::Stopped | Status::Creating
    ) {
        return Err(Error::Lifecycle("container not running".into()));
    }
    let cg = super::pause::cgroup(&stored)?;
    cg.check_memory_update(r, check_before_update(&sd, r))?;
    cg.update(r)
}

/// `memory.checkBeforeUpdate` of the update, else the one config.json set at create: a
/// container made with it keeps its limits checked (runc resets it to false on each update
/// that does not repeat it, which leaves the config's field without effect).
fn check_before_update(sd: &StateDir, r: &LinuxResources) -> bool {
    let of = |r: &LinuxResources| r.memory().as_ref().and_then(|m| m.check_before_update());
    of(r)
        .or_else(|| {
            let spec = sd.load_config().ok()?;
            of(spec.linux().as_ref()?.resources().as_ref()?)
        })
        .unwrap_or(false)
}
