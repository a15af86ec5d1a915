//! `hako delete [--force] ID`

use super::Ctx;

/// `delete` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kill the container first if it is still running.
    #[arg(short, long)]
    force: bool,
    /// Container id.
    id: String,
}

/// Delete the container.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    for w in libhako::container::delete(&ctx.root, &a.id, a.force)? {
        ctx.logger.warn(&w);
    }
    Ok(0)
}
