//! `hako kill [--all] ID [SIGNAL]` (default SIGTERM; names or numbers, with or without SIG).

use super::Ctx;
use crate::cli::{Arity, Flag, Matches, Verb};

/// `hako kill`.
pub const VERB: Verb = Verb {
    name: "kill",
    alias: None,
    summary: "kill sends the specified signal (default: SIGTERM) to the container's init process",
    usage: "[command options] <container-id> [signal]",
    description: "The kill command sends the signal (a name, with or without SIG, or a number) to \
the container's init process, or with --all to all of its processes.",
    flags: &[Flag::switch(
        "all",
        Some("a"),
        "send the specified signal to all processes inside the container",
    )],
    arity: Arity::Range(1, 2),
    reorder: true,
};

/// Send the signal.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let signal = m.args.get(1).map_or("SIGTERM", String::as_str);
    let sig = libhako::signal::parse(signal)?;
    libhako::container::kill(&ctx.root, &m.arg(0), sig, m.on("all"))?;
    Ok(0)
}
