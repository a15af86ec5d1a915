//! `hako start ID`

use super::Ctx;
use crate::cli::{Matches, Verb};

/// `hako start`.
pub const VERB: Verb = Verb::on_one_container(
    "start",
    "executes the user defined process in a created container",
    "The start command executes the user defined process in a created container.",
);

/// Start the container.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    for w in libhako::container::start(&ctx.root, &m.arg(0))? {
        ctx.logger.warn(&w);
    }
    Ok(0)
}
