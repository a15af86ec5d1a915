//! `run`: create + start, then (unless detached) stay in the foreground: forward signals to
//! the init, reap orphans as a subreaper, and return the container's exit code (128+N when
//! killed by signal N); the container is deleted afterwards unless `--keep`.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{create, delete, start, CreateOptions};
use crate::error::{Error, Result, SysContext};

/// Options of `run` beyond those of `create`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--detach`: return once the container is started.
    pub detach: bool,
    /// `--keep`: do not delete the container after it exits.
    pub keep: bool,
}

/// Signals a foreground `run` passes on to the container.
const FORWARDED: [Signal; 10] = [
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

/// Run the container; returns the exit code `hako run` should exit with, and the warnings.
pub fn run(opts: &CreateOptions, run: &RunOptions) -> Result<(i32, Vec<String>)> {
    let mut set = SigSet::empty();
    if !run.detach {
        for s in FORWARDED {
            set.add(s);
        }
        set.add(Signal::SIGCHLD);
        // Blocked before the clone so no signal is lost; the init clears its mask first thing.
        set.thread_block().ctx(|| "blocking signals".into())?;
        crate::sys::set_child_subreaper().ctx(|| "becoming a child subreaper".into())?;
    }
    let created = create(opts)?;
    if let Err(e) = start(&opts.root, &opts.id) {
        let _ = delete(&opts.root, &opts.id, true);
        return Err(e);
    }
    if run.detach {
        return Ok((0, created.warnings));
    }
    let code = wait_forwarding(created.pid, &set);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    if !run.keep {
        delete(&opts.root, &opts.id, true)?;
    }
    Ok((code?, created.warnings))
}

fn wait_forwarding(init: Pid, set: &SigSet) -> Result<i32> {
    loop {
        let sig = set.wait().ctx(|| "waiting for signals".into())?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(init, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == init => return Ok(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => break,
                Ok(_) => continue,
                Err(e) => return Err(Error::sys("waiting for the container", e)),
            }
        }
    }
}
