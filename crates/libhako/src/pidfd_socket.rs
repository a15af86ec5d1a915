//! `--pidfd-socket` (runc 1.2+, for `create`, `run` and `exec`): a pidfd of the container's
//! process, sent over an AF_UNIX socket the caller listens on (SCM_RIGHTS), so that a manager
//! can signal and wait for exactly that process however its PID is reused. Runtime side: the
//! socket is connected before anything is made (a bad path fails early, in runc's words), and
//! the pidfd is opened by the runtime on the process's host PID once it reported Ready (runc
//! has the process open its own: the same file), before `create` or `exec` returns.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::unistd::Pid;

use crate::error::{Error, Result};

/// The payload with the pidfd: runc's name of the kind of process.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// The container's init (`create`, `run`).
    Init,
    /// A process `exec`'d into the container.
    Exec,
}

/// Connect to the socket at `path`.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    std::os::unix::net::UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|e| {
            let shown = path.display();
            let why = crate::error::io_text(&e);
            // runc's words, its spelling included.
            Error::Lifecycle(format!(
                "failed to dail {shown}: dial unix {shown}: connect: {why}"
            ))
        })
}

/// Send a pidfd of `pid` over the connected `socket`.
pub fn send(socket: BorrowedFd<'_>, pid: Pid, kind: Kind) -> Result<()> {
    let pidfd = crate::sys::pidfd_open(pid)
        .map_err(|e| Error::sys("failed to setup pidfd: failed to pidfd_open", e))?;
    let payload: &[u8] = match kind {
        Kind::Init => b"standard",
        Kind::Exec => b"setns",
    };
    crate::sync::send_fds(socket, payload, &[pidfd.as_fd()])
        .map_err(|e| Error::sys("failed to setup pidfd: failed to send pidfd on socket", e))
}
