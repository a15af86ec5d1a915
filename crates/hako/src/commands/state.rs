//! `hako state ID`: the OCI state as runc prints it (indented JSON, no trailing newline).

use std::io::Write;

use super::Ctx;

/// `state` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Print the state.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    let entry = libhako::container::state(&ctx.root, &a.id)?;
    let json = serde_json::to_string_pretty(&entry.oci(""))?;
    std::io::stdout().write_all(json.as_bytes())?;
    Ok(0)
}
