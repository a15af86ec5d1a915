//! `hako features`: what hako supports on this host, as the runtime-spec's Features JSON
//! (runc's layout: 4-space indent). Every entry is computed, see `libhako::features`.

use std::io::Write;

use super::version::{COMMIT, VERSION};
use crate::cli::{Arity, Verb};

/// `hako features`.
pub const VERB: Verb = Verb {
    name: "features",
    alias: None,
    summary: "show the enabled features",
    usage: "",
    description: "Show the enabled features, as the runtime-spec's Features structure (JSON).",
    flags: &[],
    arity: Arity::Exact(0),
    reorder: true,
};

/// Print the Features structure.
pub fn run() -> anyhow::Result<i32> {
    let json = libhako::features::features(VERSION, COMMIT).to_json()?;
    std::io::stdout().write_all(json.as_bytes())?;
    Ok(0)
}
