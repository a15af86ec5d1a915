//! Terminals. Container side (init or exec process): a pty made in the container's own devpts
//! instance, its peer opened with `TIOCGPTPEER` and checked to be a pty before it becomes the
//! process's stdio and controlling terminal (and, for the init, `/dev/console`); the master goes
//! to the `--console-socket` (SCM_RIGHTS, as runc sends it) or back to the runtime. Runtime
//! side: the relay between the caller's terminal and the master for a foreground `run`/`exec`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::fstat;

use crate::error::{Error, Result, SysContext};
use crate::paths::open_in_root;
use crate::sys::{self, WinSize};

/// A new pty: the master and its peer.
pub struct Pty {
    /// The master side (the runtime's or the console socket's end).
    pub master: OwnedFd,
    /// The peer, the container process's terminal.
    pub slave: OwnedFd,
    /// N of `/dev/pts/N`.
    pub number: u32,
}

/// Major numbers of Unix98 pty peers (`UNIX98_PTY_SLAVE_MAJOR` and the 7 after it).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u64> = 136..=143;

/// Open a pty in the devpts instance that `/dev/ptmx` of the root `root` leads to.
pub fn open_pty(root: BorrowedFd<'_>) -> Result<Pty> {
    let master = open_in_root(
        root,
        Path::new("/dev/ptmx"),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
    )
    .ctx(|| "opening /dev/ptmx in the container".into())?;
    sys::pty_unlock(master.as_fd()).ctx(|| "unlocking the pty".into())?;
    let number = sys::pty_number(master.as_fd()).ctx(|| "reading the pty number".into())?;
    let slave = sys::pty_peer(master.as_fd()).ctx(|| "opening the pty peer".into())?;
    let st = fstat(slave.as_fd()).ctx(|| "stat of the pty peer".into())?;
    let is_chr = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if !is_chr || !PTY_SLAVE_MAJORS.contains(&u64::from(libc::major(st.st_rdev))) {
        return Err(Error::Init(format!(
            "/dev/pts/{number} is not a pty (mode {:o}, rdev {:x})",
            st.st_mode, st.st_rdev
        )));
    }
    Ok(Pty {
        master,
        slave,
        number,
    })
}

/// Set the size asked for in `process.consoleSize`.
pub fn set_size(pty: &Pty, size: Option<WinSize>) -> Result<()> {
    match size {
        Some(s) if s.rows > 0 && s.cols > 0 => {
            sys::set_winsize(pty.master.as_fd(), s).ctx(|| "setting the console size".into())
        }
        _ => Ok(()),
    }
}

/// Hand the pty peer to `uid`, the process's user, as runc does: the terminal is made by root
/// (of the container), and a process of another user could not otherwise reopen or `chmod` it.
/// The group stays devpts's (tty). As runc, where the kernel refuses (a uid the user namespace
/// does not map, EINVAL; an owner it may not change, EPERM; a read-only /dev, EROFS) the
/// terminal is left as it is.
pub fn give_to(slave: &OwnedFd, uid: u32) -> Result<()> {
    if uid == 0 {
        return Ok(());
    }
    match nix::unistd::fchown(slave, Some(nix::unistd::Uid::from_raw(uid)), None) {
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS) => {
            Ok(())
        }
        r => r.ctx(|| format!("chown of the terminal to uid {uid}")),
    }
}

/// Make the pty peer this process's stdin, stdout, stderr and controlling terminal. The
/// process must be a session leader (the init calls setsid first).
pub fn attach(slave: &OwnedFd) -> Result<()> {
    nix::unistd::dup2_stdin(slave).ctx(|| "dup2 of the pty to stdin".into())?;
    nix::unistd::dup2_stdout(slave).ctx(|| "dup2 of the pty to stdout".into())?;
    nix::unistd::dup2_stderr(slave).ctx(|| "dup2 of the pty to stderr".into())?;
    let stdin = std::io::stdin();
    sys::set_controlling_tty(stdin.as_fd()).ctx(|| "making the pty the controlling terminal".into())
}

/// Send the master to a connected console socket, as runc does (payload: the master's name).
pub fn send_master(socket: BorrowedFd<'_>, master: &OwnedFd) -> Result<()> {
    crate::sync::send_fds(socket, b"/dev/ptmx", &[master.as_fd()])
        .ctx(|| "sending the pty master to the console socket".into())
}

/// Connect to the `--console-socket` path (in the runtime, before the clone).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| Error::io("connecting to console socket", path, e))?;
    Ok(OwnedFd::from(s))
}
