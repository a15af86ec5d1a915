//! `hako resume ID`: thaw a paused container.

use super::Ctx;
use crate::cli::{Arity, Matches, Verb};

/// `hako resume`.
pub const VERB: Verb = Verb {
    name: "resume",
    alias: None,
    summary: "resumes all processes that have been previously paused",
    usage: "<container-id>",
    description: "The resume command resumes all processes in the instance of the container.",
    flags: &[],
    arity: Arity::Exact(1),
    reorder: true,
};

/// Thaw.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    libhako::container::resume(&ctx.root, &m.arg(0))?;
    Ok(0)
}
