//! `delete [--force]`: remove a stopped (or, forced, a live) container and its state dir.

use std::path::Path;

use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{StateDir, Status};

/// Delete the container. A created container is killed (as runc does); a running one only
/// with `force`. With `force`, an unknown id or an unreadable state succeeds. Returns the
/// failures of poststop hooks, which are warnings only.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<Vec<String>> {
    delete_with(root, id, force, None, |sd| {
        sd.load_config().ok().and_then(|spec| spec.hooks().clone())
    })
}

/// [`delete`], with the poststop hooks from `hooks` (given the state dir) instead of the saved
/// config: `run` has them in memory, and runs them in the bundle (`hooks_cwd`), as runc's.
pub(crate) fn delete_with(
    root: &Path,
    id: &str,
    force: bool,
    hooks_cwd: Option<&Path>,
    hooks: impl FnOnce(&StateDir) -> Option<oci_spec::runtime::Hooks>,
) -> Result<Vec<String>> {
    let sd = match StateDir::open(root, id, true) {
        Ok(sd) => sd,
        Err(e) if crate::state::is_not_exist(&e) => {
            // As runc: an entry that is no state dir (a symlink, a file) is removed; a link
            // goes, never what it points to.
            StateDir::remove_non_dir(root, id)?;
            return if force { Ok(Vec::new()) } else { Err(e) };
        }
        Err(e) => return Err(e),
    };
    let stored = match sd.load() {
        Ok(s) => s,
        // Garbage of ours goes with --force; another runtime's container stays its own.
        Err(_) if force && !sd.is_foreign() => return sd.remove().map(|_| Vec::new()),
        Err(e) => return Err(e),
    };
    match super::status(&sd, &stored) {
        // Stopped includes a create that died half-way, whose init may still wait on the fifo.
        Status::Stopped | Status::Created => super::kill_and_wait(&stored)?,
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
    let unit = stored.systemd_unit.as_deref();
    let cgroup =
        crate::cgroups::Cgroup::from_state(&stored.cgroup_paths, unit, stored.systemd_user);
    if let Some(cg) = cgroup {
        cg.destroy()?;
    }
    if sd.has(crate::rootfs::hostns::MARKER) {
        crate::rootfs::hostns::unmount_below(&stored.rootfs)?;
    }
    crate::intelrdt::destroy_saved(sd.read(crate::intelrdt::SAVED)?)?;
    let warnings = match hooks(&sd) {
        Some(h) => {
            let entry = super::Entry {
                stored,
                status: Status::Stopped,
                owner: String::new(),
            };
            let state = serde_json::to_vec(&entry.oci("")).unwrap_or_default();
            let ctx = hooks::Context {
                cwd: hooks_cwd,
                env: None,
            };
            hooks::run_all(hooks::Kind::Poststop, &Some(h), &state, &ctx)
        }
        None => Vec::new(),
    };
    sd.remove()?;
    Ok(warnings)
}
