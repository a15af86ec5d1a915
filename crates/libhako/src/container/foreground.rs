//! The foreground side of `run` and `exec`: wait for the container process while forwarding
//! signals to it, reaping every child (the runtime is a subreaper), and, when the process has a
//! terminal and no console socket, relaying between the caller's terminal and the pty master
//! (raw mode, window size). Runs in the runtime process, single-threaded, on one poll loop.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};
use crate::sys;

/// Signals a foreground `run`/`exec` passes on to the container (SIGWINCH resizes the pty
/// instead when there is one).
pub const FORWARDED: [Signal; 10] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGWINCH,
    Signal::SIGTSTP,
];

/// The forwarded signals plus SIGCHLD, blocked before the clone so none is lost; the new
/// process clears its mask first thing.
pub fn block_signals() -> Result<SigSet> {
    block_signals_with(true)
}

/// [`block_signals`], becoming a child subreaper only with `subreaper` (`--no-subreaper`).
pub fn block_signals_with(subreaper: bool) -> Result<SigSet> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    set.thread_block().ctx(|| "blocking signals".into())?;
    if subreaper {
        sys::set_child_subreaper().ctx(|| "becoming a child subreaper".into())?;
    }
    Ok(set)
}

/// Puts the caller's terminal in raw mode while alive.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Wait for `pid` to exit and return its exit code (128+N when killed by signal N).
pub fn wait(pid: Pid, set: &SigSet, pty: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "creating a signalfd".into())?;
    let _raw = pty.as_ref().map(|_| RawMode::enter());
    if let Some(m) = &pty {
        copy_winsize(m);
    }
    let mut stdin_open = pty.is_some();
    let mut master_open = pty.is_some();
    loop {
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let (Some(m), true) = (&pty, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.ctx(|| "polling".into())?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut i = 1;
        if let (Some(m), true) = (&pty, master_open) {
            if ready[i] && !pump(m, &mut std::io::stdout()) {
                master_open = false;
            }
            i += 1;
        }
        if stdin_open && ready.get(i).copied().unwrap_or(false) {
            if let Some(m) = &pty {
                stdin_open = pump(&std::io::stdin(), &mut FdWriter(m));
            }
        }
        if !ready[0] {
            continue;
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == Signal::SIGCHLD as i32 {
                if let Some(code) = reap(pid)? {
                    if let (Some(m), true) = (&pty, master_open) {
                        drain(m);
                    }
                    return Ok(code);
                }
            } else if signo == Signal::SIGWINCH as i32 && pty.is_some() {
                if let Some(m) = &pty {
                    copy_winsize(m);
                }
            } else if let Ok(sig) = Signal::try_from(signo) {
                let _ = nix::sys::signal::kill(pid, sig);
            }
        }
    }
}

/// Reap every exited child; the exit code of `pid` once it is among them.
fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, s, _)) if p == pid => return Ok(Some(128 + s as i32)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(e) => return Err(Error::sys("waiting for the container", e)),
        }
    }
}

/// Copy what is left in the (non-blocking) master to stdout once the process is gone.
fn drain(master: &OwnedFd) {
    let mut buf = [0u8; 16 * 1024];
    let mut out = std::io::stdout();
    while let Ok(n @ 1..) = nix::unistd::read(master.as_fd(), &mut buf) {
        if std::io::Write::write_all(&mut out, &buf[..n]).is_err() {
            break;
        }
    }
    let _ = std::io::Write::flush(&mut out);
}

fn copy_winsize(master: &OwnedFd) {
    // A caller without a sized terminal keeps the size the config asked for.
    match sys::get_winsize(std::io::stdin().as_fd()) {
        Ok(size) if size.rows > 0 && size.cols > 0 => {
            let _ = sys::set_winsize(master.as_fd(), size);
        }
        _ => {}
    }
}

/// Move what is readable now from `from` to `to`; false at EOF or a hard error.
fn pump(from: &impl AsFd, to: &mut impl std::io::Write) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match nix::unistd::read(from.as_fd(), &mut buf) {
        Ok(0) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|_| to.flush()).is_ok(),
        Err(Errno::EINTR) | Err(Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// `io::Write` over a borrowed fd.
struct FdWriter<'a>(&'a OwnedFd);

impl std::io::Write for FdWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        nix::unistd::write(self.0, buf).map_err(|e| std::io::Error::from_raw_os_error(e as i32))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Make a pty master non-blocking so the drain at exit cannot hang.
pub fn nonblocking(fd: &OwnedFd) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).ctx(|| format!("F_GETFL on fd {}", fd.as_raw_fd()))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags))
        .ctx(|| "F_SETFL".into())
        .map(drop)
}
