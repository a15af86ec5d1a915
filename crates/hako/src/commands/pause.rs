//! `hako pause ID`: freeze every process of the container.

use super::Ctx;

/// `pause` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Freeze.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    libhako::container::pause(&ctx.root, &a.id)?;
    Ok(0)
}
