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
    cg.check_memory_update(r)?;
    cg.update(r)
}
