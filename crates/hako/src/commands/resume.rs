//! `hako resume ID`: thaw a paused container.

use super::Ctx;

/// `resume` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Thaw.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    libhako::container::resume(&ctx.root, &a.id)?;
    Ok(0)
}
