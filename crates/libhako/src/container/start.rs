//! `start`: release a created container's init by writing its exec fifo, then remove the fifo
//! (its absence is what makes the container "running").

use std::io::Write;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{StateDir, Status, Stored};
use crate::trace;

/// Wait (at most `EXEC_WAIT`) until the init has exec'd the program (or died): its read end
/// of the fifo is close-on-exec, and a fifo writer sees POLLERR once no reader is left. So
/// `start` returns, and poststart hooks run, only once the user program runs.
fn wait_for_exec(f: &std::fs::File) {
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(f.as_fd(), PollFlags::empty())];
    let deadline = std::time::Instant::now() + EXEC_WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = PollTimeout::from(left.as_millis().min(10_000) as u16);
        match poll(&mut fds, ms) {
            Err(nix::errno::Errno::EINTR) if !left.is_zero() => continue,
            _ => return,
        }
    }
}

/// How long `start` waits for the program to be exec'd.
const EXEC_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Start a created container. Returns the failures of poststart hooks, which are warnings.
pub fn start(root: &Path, id: &str) -> Result<Vec<String>> {
    let sd = StateDir::open(root, id, true)?;
    let stored = sd.load()?;
    match super::status(&sd, &stored) {
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
    let spec = sd.load_config().ok();
    // The spec: start MUST generate an error if `process` was not set (create allows it).
    if spec.as_ref().is_some_and(|s| s.process().is_none()) {
        return Err(Error::config(
            "process",
            "not set in config.json: nothing to start",
        ));
    }
    let hooks = spec.and_then(|s| s.hooks().clone());
    let f = write_fifo(&sd)?;
    running(&sd, f, stored, hooks.as_ref())
}

/// Release the init of a created container (whose state dir `sd` the caller holds locked):
/// write its exec fifo. Returns the fifo, for [`running`].
pub(crate) fn write_fifo(sd: &StateDir) -> Result<std::fs::File> {
    let fifo = sd.fifo();
    // Non-blocking: with no reader (the init died) this fails at once instead of hanging.
    let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK;
    let mut f = std::fs::File::from(sd.open_fifo(flags).map_err(|e| match e {
        nix::errno::Errno::ENXIO => Error::Lifecycle("container not running".into()),
        e => Error::sys(format!("opening exec fifo {}", fifo.display()), e),
    })?);
    f.write_all(b"0")
        .map_err(|e| Error::io("writing exec fifo", &fifo, e))?;
    trace::step("start: fifo written");
    Ok(f)
}

/// After [`write_fifo`]: remove the fifo (the container is now "running"), wait until the
/// program runs, then run the poststart `hooks` with the state `stored`. Returns the failures
/// of those hooks, which are warnings.
pub(crate) fn running(
    sd: &StateDir,
    f: std::fs::File,
    stored: Stored,
    hooks: Option<&oci_spec::runtime::Hooks>,
) -> Result<Vec<String>> {
    sd.remove_fifo()?;
    wait_for_exec(&f);
    crate::exeguard::past_trampoline(nix::unistd::Pid::from_raw(stored.pid));
    trace::step("start: program exec'd");
    Ok(poststart(stored, hooks))
}

/// Run the poststart `hooks` of the running container `stored`; returns their failures.
pub(crate) fn poststart(stored: Stored, hooks: Option<&oci_spec::runtime::Hooks>) -> Vec<String> {
    if hooks.is_none() {
        return Vec::new();
    }
    let entry = super::Entry {
        stored,
        status: Status::Running,
        owner: String::new(),
    };
    let state = serde_json::to_vec(&entry.oci("")).unwrap_or_default();
    // runc runs them from `create`, in the bundle directory.
    let ctx = hooks::Context {
        cwd: Some(&entry.stored.bundle),
        env: None,
    };
    hooks::run_all(hooks::Kind::Poststart, &hooks.cloned(), &state, &ctx)
}
