//! `hako pause ID`: freeze every process of the container.

use super::Ctx;
use crate::cli::{Arity, Matches, Verb};

/// `hako pause`.
pub const VERB: Verb = Verb {
    name: "pause",
    alias: None,
    summary: "pause suspends all processes inside the container",
    usage: "<container-id>",
    description: "The pause command suspends all processes in the instance of the container \
(it freezes the container's cgroup).",
    flags: &[],
    arity: Arity::Exact(1),
    reorder: true,
};

/// Freeze.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    libhako::container::pause(&ctx.root, &m.arg(0))?;
    Ok(0)
}
