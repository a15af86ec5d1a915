//! `delete [--force]`: remove a stopped (or, forced, a live) container and its state dir.

use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{StateDir, Status};

/// Delete the container. A created container is killed (as runc does); a running one only
/// with `force`. With `force`, an unknown id or an unreadable state succeeds.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let sd = match StateDir::open(root, id, true) {
        Ok(sd) => sd,
        Err(Error::Lifecycle(_)) if force && crate::state::validate_id(id).is_ok() => return Ok(()),
        Err(e) => return Err(e),
    };
    let stored = match sd.load() {
        Ok(s) => s,
        Err(_) if force => return sd.remove(),
        Err(e) => return Err(e),
    };
    match sd.status(&stored) {
        Status::Stopped => {}
        Status::Created => super::kill_and_wait(&stored)?,
        s if force => {
            let _ = s;
            super::kill_and_wait(&stored)?
        }
        s => {
            return Err(Error::Lifecycle(format!(
                "cannot delete container {id} that is not stopped: {}",
                s.as_str()
            )))
        }
    }
    // The init is gone: remove the cgroup (killing any process left in it) before the state.
    if let Some(cg) = crate::cgroups::Cgroup::from_paths(&stored.cgroup_paths) {
        cg.destroy()?;
    }
    sd.remove()
}
