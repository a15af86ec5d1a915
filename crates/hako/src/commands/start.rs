//! `hako start ID`

use super::Ctx;

/// `start` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Start the container.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    for w in libhako::container::start(&ctx.root, &a.id)? {
        ctx.logger.warn(&w);
    }
    Ok(0)
}
