//! `hako resume ID`: thaw a paused container.

use super::Ctx;
use crate::cli::{Matches, Verb};

/// `hako resume`.
pub const VERB: Verb = Verb::on_one_container(
    "resume",
    "resumes all processes that have been previously paused",
    "The resume command resumes all processes in the instance of the container.",
);

/// Thaw.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    libhako::container::resume(&ctx.root, &m.arg(0))?;
    Ok(0)
}
