//! `hako run [--detach] [--keep] [create options] ID`

use libhako::container::{self, RunOptions};

use super::create::Common;
use super::Ctx;

/// `run` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Return once the container has started.
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    keep: bool,
    /// Do not become a subreaper (accepted for compatibility).
    #[arg(long)]
    no_subreaper: bool,
}

/// Run the container; the exit code is the container's.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    let (code, warnings) = container::run(
        &a.common.options(ctx),
        &RunOptions {
            detach: a.detach,
            keep: a.keep,
        },
    )?;
    for w in &warnings {
        ctx.logger.warn(w);
    }
    Ok(code)
}
