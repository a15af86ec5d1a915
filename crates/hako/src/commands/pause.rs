//! `hako pause ID`: freeze every process of the container.

use super::Ctx;
use crate::cli::{Matches, Verb};

/// `hako pause`.
pub const VERB: Verb = Verb::on_one_container(
    "pause",
    "pause suspends all processes inside the container",
    "The pause command suspends all processes in the instance of the container \
(it freezes the container's cgroup).",
);

/// Freeze.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    libhako::container::pause(&ctx.root, &m.arg(0))?;
    Ok(0)
}
