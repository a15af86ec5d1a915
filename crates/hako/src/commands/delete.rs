//! `hako delete [--force] ID`

use super::Ctx;
use crate::cli::{Arity, Flag, Matches, Verb};

/// `hako delete`.
pub const VERB: Verb = Verb {
    name: "delete",
    alias: None,
    summary: "delete any resources held by the container often used with detached container",
    usage: "[command options] <container-id>",
    description: "The delete command deletes any resources held by the container: its processes \
(with --force), its cgroup and its state.",
    flags: &[Flag::switch(
        "force",
        Some("f"),
        "Forcibly deletes the container if it is still running (uses SIGKILL)",
    )],
    arity: Arity::Exact(1),
    reorder: true,
};

/// Delete the container.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    for w in libhako::container::delete(&ctx.root, &m.arg(0), m.on("force"))? {
        ctx.logger.warn(&w);
    }
    Ok(0)
}
