//! Container operations, one file each. They run in the runtime process (the `hako` command);
//! `create` is the one that also starts the container init (see [`crate::init`]).

mod checkpoint;
mod create;
mod criu_opts;
mod delete;
mod events;
mod exec;
mod foreground;
mod kill;
mod list;
mod pause;
mod pidfile;
mod ps;
mod restore;
mod run;
mod start;
mod update;

pub use checkpoint::{checkpoint, CheckpointOptions};
pub use create::{create, CreateOptions, Created};
pub use criu_opts::CriuFlags;
pub use delete::delete;
pub use events::{events, stats_event, Event};
pub use exec::{container_process, exec, ExecOptions};
pub use kill::kill;
pub use list::{list, state, Entry};
pub use pause::{pause, resume};
pub use ps::{processes, Process};
pub use restore::{restore, RestoreOptions};
pub use run::{run, RunOptions};
pub use start::start;
pub use update::update;

use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::state::{alive, StateDir, Status, Stored};

/// The container's status now, derived from its stored state, the live process, its cgroup
/// and its exec fifo; never stored (ARCHITECTURE.md, State directory).
pub fn status(sd: &StateDir, stored: &Stored) -> Status {
    if stored.creating {
        // `create` holds the lock until it is done: a lock nobody holds (or this process
        // holds) means it died half-way, and what it left is stopped, never created.
        return if sd.locked_by_another() {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if !alive(stored.pid, stored.pid_start) {
        return Status::Stopped;
    }
    if crate::cgroups::frozen(&stored.cgroup_paths) {
        return Status::Paused;
    }
    if sd.has_fifo() {
        Status::Created
    } else {
        Status::Running
    }
}

/// What `exec` reports when its process could not be started: the process's own message
/// under runc's "unable to start container process: ".
fn start_failure(message: &str) -> Error {
    Error::Init(format!("unable to start container process: {message}"))
}

/// What `create` and `run` report when the init failed to set the container up, or anything
/// it asked of the runtime on the way (hooks, devices, mount sources) failed: as runc's, under
/// "unable to start container process: error during container init: ".
fn init_failure(e: Error) -> Error {
    Error::Init(format!(
        "unable to start container process: error during container init: {e}"
    ))
}

/// A process of the container sent its seccomp listener fd: pass it to `listenerPath` with the
/// container's state (`status` "creating" for the init, "running" for `exec`) and the
/// process's host `pid`.
fn relay_seccomp_listener(
    filter: Option<&crate::seccomp::Filter>,
    stored: &Stored,
    status: &str,
    pid: Pid,
    fd: std::os::fd::OwnedFd,
) -> Result<()> {
    let Some(listener) = filter.and_then(|f| f.listener.as_ref()) else {
        return Err(Error::Init(
            "the init sent a seccomp listener fd the config has no listenerPath for".into(),
        ));
    };
    let state = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": stored.id,
        "status": status,
        "pid": pid.as_raw(),
        "bundle": stored.bundle,
        "annotations": stored.annotations,
    });
    crate::seccomp::send_listener(listener, pid.as_raw(), state, std::os::fd::AsFd::as_fd(&fd))
}

/// SIGKILL the init (and so its PID namespace) and wait until it is gone.
fn kill_and_wait(stored: &Stored) -> Result<()> {
    if !alive(stored.pid, stored.pid_start) {
        return Ok(());
    }
    let pid = Pid::from_raw(stored.pid);
    // A frozen (paused) v1 cgroup holds even SIGKILL until thawed: kill through the cgroup,
    // which thaws it afterwards.
    if let Some(cg) = crate::cgroups::Cgroup::from_paths(&stored.cgroup_paths) {
        let _ = cg.kill_all(libc::SIGKILL);
    }
    // Open the pidfd first: after the kill the PID could be reused before we look.
    let pidfd = crate::sys::pidfd_open(pid).ok();
    if !alive(stored.pid, stored.pid_start) {
        return Ok(());
    }
    let sigkill = nix::sys::signal::Signal::SIGKILL;
    let sent = match &pidfd {
        Some(fd) => crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(fd), sigkill as i32),
        None => nix::sys::signal::kill(pid, sigkill),
    };
    match sent {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(Error::sys(format!("killing init pid {pid}"), e)),
    }
    wait_gone(stored, pidfd, Duration::from_secs(10))
}

fn wait_gone(stored: &Stored, pidfd: Option<std::os::fd::OwnedFd>, limit: Duration) -> Result<()> {
    if let Some(fd) = pidfd {
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLIN,
        )];
        let ms = PollTimeout::try_from(limit.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut fds, ms);
    }
    let deadline = std::time::Instant::now() + limit;
    while alive(stored.pid, stored.pid_start) {
        if std::time::Instant::now() > deadline {
            return Err(Error::Lifecycle(format!(
                "container init {} did not exit after SIGKILL",
                stored.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Reap a child that was sent SIGKILL (or is exiting), waiting at most `limit`: one the kernel
/// still holds then (a cgroup v1 freezer does not let even SIGKILL through until it thaws) is
/// left to be reaped by whoever inherits it, rather than waited for forever.
fn reap_within(child: Pid, limit: Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    if let Ok(fd) = crate::sys::pidfd_open(child) {
        let deadline = std::time::Instant::now() + limit;
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLIN,
        )];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let ms = PollTimeout::try_from(left.as_millis() as i32).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, ms) {
                Err(nix::errno::Errno::EINTR) if !left.is_zero() => {}
                _ => break,
            }
        }
    }
    let _ = waitpid(child, Some(WaitPidFlag::WNOHANG));
}

/// How long a failed `create` or `exec` waits for the process it killed.
const REAP_LIMIT: Duration = Duration::from_secs(2);

/// Reap a child that hung up early and say how it ended, for "exited before it was ready".
fn reap_reason(child: Pid) -> String {
    use nix::sys::wait::{waitpid, WaitStatus};
    match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
        Ok(WaitStatus::Signaled(_, s, _)) => format!("signal {s}"),
        _ => "no status".into(),
    }
}
