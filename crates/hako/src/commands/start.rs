//! `hako start ID`

use super::Ctx;
use crate::cli::{Arity, Matches, Verb};

/// `hako start`.
pub const VERB: Verb = Verb {
    name: "start",
    alias: None,
    summary: "executes the user defined process in a created container",
    usage: "<container-id>",
    description: "The start command executes the user defined process in a created container.",
    flags: &[],
    arity: Arity::Exact(1),
    reorder: true,
};

/// Start the container.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    for w in libhako::container::start(&ctx.root, &m.arg(0))? {
        ctx.logger.warn(&w);
    }
    Ok(0)
}
