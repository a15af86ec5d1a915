//! `hako checkpoint [runc's flags] ID`: runc's flags are accepted and the verb fails: hako has
//! no CRIU support yet. An unknown container is reported first, as runc does.

use super::Ctx;
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// The CRIU flags `checkpoint` and `restore` both take (runc's), then `$more`.
macro_rules! criu_flags {
    ($($more:expr),* $(,)?) => {
        &[
            $crate::cli::Flag::value(
                "work-path",
                None,
                $crate::cli::Kind::Text,
                "path for saving work files and logs",
            ),
            $crate::cli::Flag::switch(
                "tcp-established",
                None,
                "allow open tcp connections",
            ),
            $crate::cli::Flag::switch(
                "ext-unix-sk",
                None,
                "allow external unix sockets",
            ),
            $crate::cli::Flag::switch(
                "shell-job",
                None,
                "allow shell jobs",
            ),
            $crate::cli::Flag::switch(
                "lazy-pages",
                None,
                "use userfaultfd to lazily restore memory pages",
            ),
            $crate::cli::Flag::switch(
                "file-locks",
                None,
                "handle file locks",
            ),
            $crate::cli::Flag::value(
                "manage-cgroups-mode",
                None,
                $crate::cli::Kind::Text,
                "cgroups mode: soft, full or strict",
            ),
            $crate::cli::Flag::value(
                "empty-ns",
                None,
                $crate::cli::Kind::Text,
                "create a namespace, but don't restore its properties",
            ),
            $crate::cli::Flag::switch(
                "auto-dedup",
                None,
                "enable auto deduplication of memory images",
            ),
            $($more),*
        ]
    };
}
pub(crate) use criu_flags;

/// `hako checkpoint`: runc's flags, accepted so that callers get the real reason for the
/// failure.
pub const VERB: Verb = Verb {
    name: "checkpoint",
    alias: None,
    summary: "checkpoint a running container (not supported: fails)",
    usage: "[command options] <container-id>",
    description: "hako has no CRIU support: checkpoint fails once the container is found.",
    flags: criu_flags!(
        Flag::value(
            "image-path",
            None,
            Kind::Text,
            "path for saving criu image files",
        ),
        Flag::value(
            "parent-path",
            None,
            Kind::Text,
            "path for previous criu image files in pre-dump",
        ),
        Flag::switch(
            "leave-running",
            None,
            "leave the process running after checkpointing",
        ),
        Flag::value(
            "status-fd",
            None,
            Kind::Int,
            "criu writes \\0 to this fd once lazy-pages is ready",
        ),
        Flag::value(
            "page-server",
            None,
            Kind::Text,
            "ADDRESS:PORT of the page server",
        ),
        Flag::switch(
            "pre-dump",
            None,
            "dump the container's memory only, leave it running",
        ),
    ),
    arity: Arity::Exact(1),
    reorder: true,
};

/// Refuse, after checking that the container exists.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    libhako::container::state(&ctx.root, &m.arg(0))?;
    anyhow::bail!("checkpoint is not supported: hako has no CRIU support")
}
