//! `hako kill [--all] ID [SIGNAL]` (default SIGTERM; names or numbers, with or without SIG).

use super::Ctx;

/// `kill` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal every process of the container.
    #[arg(short, long)]
    all: bool,
    /// Container id.
    id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

/// Send the signal.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    let sig = libhako::signal::parse(&a.signal)?;
    libhako::container::kill(&ctx.root, &a.id, sig, a.all)?;
    Ok(0)
}
