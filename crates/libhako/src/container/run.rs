//! `run`: create + start, then (unless detached) stay in the foreground: forward signals to
//! the init, reap orphans as a subreaper, relay the terminal, and return the container's exit
//! code (128+N when killed by signal N); the container is deleted afterwards unless `--keep`.

use nix::sys::signal::SigmaskHow;

use super::{create, delete, foreground, start, CreateOptions};
use crate::error::Result;

/// Options of `run` beyond those of `create`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--detach`: return once the container is started.
    pub detach: bool,
    /// `--keep`: do not delete the container after it exits.
    pub keep: bool,
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
    let created = create(&opts)?;
    let mut warnings = created.warnings;
    match start(&opts.root, &opts.id) {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            let _ = delete(&opts.root, &opts.id, true);
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
    crate::trace::step("run: container exited");
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    if !run.keep {
        warnings.extend(delete(&opts.root, &opts.id, true)?);
        crate::trace::step("run: deleted");
    }
    Ok((code?, warnings))
}
