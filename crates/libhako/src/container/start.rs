//! `start`: release a created container's init by writing its exec fifo, then remove the fifo
//! (its absence is what makes the container "running").

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{StateDir, Status};

/// Start a created container.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let sd = StateDir::open(root, id, true)?;
    let stored = sd.load()?;
    match sd.status(&stored) {
        Status::Created => {}
        Status::Running => {
            return Err(Error::Lifecycle(
                "cannot start an already running container".into(),
            ))
        }
        Status::Stopped => {
            return Err(Error::Lifecycle(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Creating => {
            return Err(Error::Lifecycle(
                "cannot start a container that is still being created".into(),
            ))
        }
        Status::Paused => {
            return Err(Error::Lifecycle(
                "cannot start a container in the paused state".into(),
            ))
        }
    }
    let fifo = sd.fifo();
    // Non-blocking: with no reader (the init died) this fails at once instead of hanging.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => Error::Lifecycle("container not running".into()),
            _ => Error::io("opening exec fifo", &fifo, e),
        })?;
    f.write_all(b"0")
        .map_err(|e| Error::io("writing exec fifo", &fifo, e))?;
    std::fs::remove_file(&fifo).map_err(|e| Error::io("removing exec fifo", &fifo, e))
}
