//! `hako kill [--all] ID [SIGNAL]` (default SIGTERM; names or numbers, with or without SIG).

use super::Ctx;
use crate::cli::{Arity, Flag, Matches, Verb};

/// `hako kill`.
pub const VERB: Verb = Verb {
    name: "kill",
    alias: None,
    summary: "kill sends the specified signal (default: SIGTERM) to the container's init process",
    usage: "<container-id> [signal]",
    description: "The kill command sends the signal (a name, with or without SIG, or a number) to \
the container's init process.",
    // Hidden, as runc 1.5.1's: it sends the signal to every process of the container.
    flags: &[Flag::switch("all", Some("a"), "")],
    arity: Arity::Range(1, 2),
    reorder: true,
};

/// Send the signal.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let id = m.arg(0);
    let signal = m.args.get(1).map_or("SIGTERM", String::as_str);
    let sig = match libhako::signal::parse(signal) {
        Ok(sig) => sig,
        // As runc: an unknown container is reported before a bad signal.
        Err(e) => {
            libhako::container::state(&ctx.root, &id)?;
            return Err(e.into());
        }
    };
    libhako::container::kill(&ctx.root, &id, sig, m.on("all"))?;
    Ok(0)
}
