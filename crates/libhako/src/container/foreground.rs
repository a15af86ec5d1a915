//! The foreground side of `run` and `exec`: wait for the container process while forwarding
//! signals to it, reaping every child (the runtime is a subreaper), and, when the process has a
//! terminal and no console socket, relaying between the caller's terminal and the pty master
//! (raw mode, window size). Runs in the runtime process, single-threaded, on one poll loop.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

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
///
/// Signals and the terminal share one poll loop that never blocks on a write: output read from
/// the pty goes to stdout only once stdout takes it (at most `PIPE_BUF` per ready write, which
/// a pipe takes whole), and the pty is not read meanwhile, so a caller that stops reading its
/// stdout holds up the container's output, never the forwarding of signals; the same for
/// stdin to the pty.
pub fn wait(pid: Pid, set: &SigSet, pty: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "creating a signalfd".into())?;
    let _raw = pty.as_ref().map(|_| RawMode::enter());
    if let Some(m) = &pty {
        copy_winsize(m);
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut output = pty.as_ref().map(|m| Relay::new(m.as_fd(), stdout.as_fd()));
    let mut input = pty.as_ref().map(|m| Relay::new(stdin.as_fd(), m.as_fd()));
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let relays = [output.as_mut(), input.as_mut()];
        let at: Vec<Option<usize>> = relays
            .iter()
            .map(|r| {
                let (fd, ev) = r.as_ref()?.wants()?;
                fds.push(PollFd::new(fd, ev));
                Some(fds.len() - 1)
            })
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.ctx(|| "polling".into())?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (relay, i) in [output.as_mut(), input.as_mut()].into_iter().zip(at) {
            if let (Some(r), Some(i)) = (relay, i) {
                if ready[i] {
                    r.step();
                }
            }
        }
        if !ready[0] {
            continue;
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == Signal::SIGCHLD as i32 {
                if let Some(code) = reap(pid)? {
                    if let Some(o) = output.as_mut() {
                        o.finish(DRAIN_LIMIT);
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

/// How long the output left in the pty may take to reach a stdout that is slow to take it
/// once the process is gone.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What a pipe takes whole in one write once poll says it is writable.
const PIPE_BUF: usize = 4096;

/// One direction of the terminal relay: bytes read from `from` wait in `buf` until `to` takes
/// them. A write error (the reader is gone) discards what follows; EOF or a read error on
/// `from` ends it.
struct Relay<'a> {
    from: BorrowedFd<'a>,
    to: BorrowedFd<'a>,
    buf: Vec<u8>,
    done: bool,
    discard: bool,
}

impl<'a> Relay<'a> {
    fn new(from: BorrowedFd<'a>, to: BorrowedFd<'a>) -> Relay<'a> {
        Relay {
            from,
            to,
            buf: Vec::new(),
            done: false,
            discard: false,
        }
    }

    /// What to poll for next: `to` writable while bytes wait, else `from` readable.
    fn wants(&self) -> Option<(BorrowedFd<'a>, PollFlags)> {
        match (self.done, self.buf.is_empty()) {
            (true, true) => None,
            (_, false) => Some((self.to, PollFlags::POLLOUT)),
            (false, true) => Some((self.from, PollFlags::POLLIN)),
        }
    }

    /// Move what is ready: write waiting bytes (one `PIPE_BUF` at most), or read more.
    fn step(&mut self) {
        if !self.buf.is_empty() {
            let n = self.buf.len().min(PIPE_BUF);
            match nix::unistd::write(self.to, &self.buf[..n]) {
                Ok(w) => drop(self.buf.drain(..w)),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => {
                    self.discard = true;
                    self.buf.clear();
                }
            }
            return;
        }
        let mut chunk = [0u8; 16 * 1024];
        match nix::unistd::read(self.from, &mut chunk) {
            Ok(0) => self.done = true,
            Ok(n) if !self.discard => self.buf.extend_from_slice(&chunk[..n]),
            Ok(_) | Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => self.done = true,
        }
    }

    /// Once the process is gone: pass on what is left in `from` (non-blocking: a pty master)
    /// and `buf`, for at most `limit`.
    fn finish(&mut self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        while let Some((fd, ev)) = self.wants() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let ms = PollTimeout::try_from(left.as_millis() as i32).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(fd, ev)];
            if left.is_zero() || matches!(poll(&mut fds, ms), Ok(0) | Err(_)) {
                return;
            }
            let waiting = self.buf.len();
            self.step();
            if ev == PollFlags::POLLIN && self.buf.len() == waiting {
                return;
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

fn copy_winsize(master: &OwnedFd) {
    // A caller without a sized terminal keeps the size the config asked for.
    match sys::get_winsize(std::io::stdin().as_fd()) {
        Ok(size) if size.rows > 0 && size.cols > 0 => {
            let _ = sys::set_winsize(master.as_fd(), size);
        }
        _ => {}
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
