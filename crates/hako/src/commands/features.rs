//! `hako features`: what hako supports on this host, as the runtime-spec's Features JSON
//! (runc's layout: 4-space indent). Every entry is computed, see `libhako::features`.

use std::io::Write;

use super::version::{COMMIT, VERSION};

/// `features` takes no arguments.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Print the Features structure.
pub fn run(_: Args) -> anyhow::Result<i32> {
    let json = libhako::features::features(VERSION, COMMIT).to_json()?;
    std::io::stdout().write_all(json.as_bytes())?;
    Ok(0)
}
