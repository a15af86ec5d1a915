//! `hako run [--detach] [--keep] [create options] ID`

use libhako::container::{self, RunOptions};

use super::create::{create_flags, Common};
use super::{Ctx, Parsed};
use crate::cli::{Arity, Flag, Matches, Verb};

/// `hako run`.
pub const VERB: Verb = Verb {
    name: "run",
    alias: None,
    summary: "create and run a container",
    usage: "[command options] <container-id>",
    description: "The run command creates an instance of a container for a bundle and starts it; \
its exit status is the container's.",
    flags: create_flags!(
        Flag::switch("detach", Some("d"), "detach from the container's process"),
        Flag::switch("keep", None, "do not delete the container after it exits"),
        Flag::switch(
            "no-subreaper",
            None,
            "disable the use of the subreaper used to reap reparented processes"
        ),
    ),
    arity: Arity::Exact(1),
    reorder: true,
};

/// `run` arguments.
#[derive(Debug)]
pub struct Args {
    common: Common,
    /// Return once the container has started.
    detach: bool,
    /// Keep the container's state after it exits.
    keep: bool,
}

impl Args {
    /// From the command line (`--no-subreaper` is accepted and has no effect).
    pub fn from(m: &Matches) -> Parsed<Args> {
        Ok(Args {
            common: Common::from(m)?,
            detach: m.on("detach"),
            keep: m.on("keep"),
        })
    }
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
