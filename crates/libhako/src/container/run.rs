//! `run`: create + start, then (unless detached) stay in the foreground: forward signals to
//! the init, reap orphans as a subreaper, relay the terminal, and return the container's exit
//! code (128+N when killed by signal N); the container is deleted afterwards unless `--keep`.

use nix::sys::signal::SigmaskHow;

use super::create::create_held;
use super::delete::delete_with;
use super::start::{poststart, running, write_fifo};
use super::{foreground, CreateOptions};
use crate::error::Result;
use crate::trace;

/// Options of `run` beyond those of `create`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--detach`: return once the container is started.
    pub detach: bool,
    /// `--keep`: do not delete the container after it exits.
    pub keep: bool,
}

/// Wait until the init that execs right after Ready has done so (or died): its end of the
/// channel is close-on-exec, so the channel reads as closed. A failed exec is reported by the
/// init itself, on its stderr and in its exit status. Anything that arrives instead is out of
/// turn (only a failed startContainer hook sends one, and the init says so on its stderr): it
/// ends the wait, and its text is not repeated. An init frozen before its exec (its cgroup
/// frozen by someone else) execs when thawed: not waited for.
fn wait_for_exec(chan: &crate::sync::Channel, cgroup: Option<&crate::cgroups::Cgroup>) {
    let mut check = || cgroup.map_or(Ok(()), crate::cgroups::Cgroup::refuse_frozen);
    let _ = chan.recv_watched(&mut check);
}

/// Run the container; returns the exit code `hako run` should exit with, and the warnings.
pub fn run(opts: &CreateOptions, run: &RunOptions) -> Result<(i32, Vec<String>)> {
    let set = if run.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    let opts = CreateOptions {
        detach: run.detach,
        ..opts.clone()
    };
    // Started and deleted from what create recorded, without reading it back; the state dir
    // stays locked until the program runs, so nothing sees the steps in between.
    let mut held = create_held(&opts, false, true)?;
    let hooks = held.hooks.take();
    let bundle = held.stored.bundle.clone();
    let delete = |force| {
        delete_with(&opts.root, &opts.id, force, Some(&bundle), |_| {
            hooks.clone()
        })
    };
    // While the init execs (it needs no `start`, or got it from the exec fifo): state.json's
    // "created" record (`finish` removes everything if it cannot be written).
    let started = match held.chan.take() {
        Some(chan) => held.finish().map(|()| {
            // Only poststart hooks and a detached run need to know the program runs.
            if hooks.is_some() || run.detach {
                wait_for_exec(&chan, held.cgroup.as_ref());
                crate::exeguard::past_trampoline(held.created.pid);
                trace::step("run: program exec'd");
            }
            poststart(held.stored.clone(), hooks.as_ref())
        }),
        None => write_fifo(&held.sd).and_then(|f| {
            held.finish()
                .and_then(|()| running(&held.sd, f, held.stored.clone(), hooks.as_ref()))
        }),
    };
    let created = held.created;
    let mut warnings = created.warnings;
    // Unlocked once started: other commands may act on the running container.
    drop(held.sd);
    match started {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            let _ = delete(true);
            return Err(e);
        }
    }
    let Some(set) = set else {
        return Ok((0, warnings));
    };
    if let Some(m) = &created.pty {
        foreground::nonblocking(m)?;
    }
    let code = foreground::wait(created.pid, &set, created.pty);
    trace::step("run: container exited");
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    if !run.keep {
        warnings.extend(delete(true)?);
        trace::step("run: deleted");
    }
    Ok((code?, warnings))
}
