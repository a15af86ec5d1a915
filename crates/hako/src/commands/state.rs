//! `hako state ID`: the OCI state as runc prints it (indented JSON, no trailing newline).

use std::io::Write;

use super::Ctx;
use crate::cli::{Matches, Verb};

/// `hako state`.
pub const VERB: Verb = Verb::on_one_container(
    "state",
    "output the state of a container",
    "The state command outputs current state information for the instance of a \
container.",
);

/// Print the state.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let entry = libhako::container::state(&ctx.root, &m.arg(0))?;
    let json = serde_json::to_string_pretty(&entry.oci(""))?;
    std::io::stdout().write_all(json.as_bytes())?;
    Ok(0)
}
