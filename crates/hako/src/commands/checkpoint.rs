//! `hako checkpoint [runc's flags] ID`: dump the container with CRIU (`libhako::container::
//! checkpoint`); unless `--leave-running` or `--pre-dump`, the container is then gone, as with
//! runc.

use std::path::PathBuf;

use libhako::container::{self, CheckpointOptions, CriuFlags};

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
                "handle file locks, for safety",
            ),
            $crate::cli::Flag::value(
                "manage-cgroups-mode",
                None,
                $crate::cli::Kind::Text,
                "cgroups mode: soft|full|strict|ignore (default: soft)",
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

/// `hako checkpoint`.
pub const VERB: Verb = Verb {
    name: "checkpoint",
    alias: None,
    summary: "checkpoint a running container",
    usage: "[command options] <container-id>",
    description: "The checkpoint command saves the state of the container instance (with CRIU).",
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
        Flag::switch("tcp-skip-in-flight", None, "skip in-flight tcp connections",),
        Flag::switch(
            "link-remap",
            None,
            "allow one to link unlinked files back when possible",
        ),
        Flag::value(
            "status-fd",
            None,
            Kind::Int,
            "criu writes \\0 to this FD once lazy-pages is ready (default: -1)",
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
            "dump container's memory information only, leave the container running after this",
        ),
    ),
    arity: Arity::Exact(1),
    reorder: true,
};

/// The shared CRIU flags of `checkpoint` and `restore`.
pub(crate) fn shared_flags(m: &Matches) -> CriuFlags {
    CriuFlags {
        // `criu` from PATH, as runc 1.5.1 (which removed `--criu`).
        criu: None,
        image_path: m.value("image-path").map(PathBuf::from),
        work_path: m.value("work-path").map(PathBuf::from),
        tcp_established: m.on("tcp-established"),
        ext_unix_sk: m.on("ext-unix-sk"),
        shell_job: m.on("shell-job"),
        lazy_pages: m.on("lazy-pages"),
        file_locks: m.on("file-locks"),
        manage_cgroups_mode: m.value("manage-cgroups-mode").map(String::from),
        empty_ns: m.values("empty-ns"),
        auto_dedup: m.on("auto-dedup"),
    }
}

/// Checkpoint the container.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let status_fd = match m.value("status-fd") {
        Some(v) => v.parse::<i32>().ok().filter(|n| *n >= 0),
        None => None,
    };
    let warnings = container::checkpoint(&CheckpointOptions {
        root: ctx.root.clone(),
        id: m.arg(0),
        criu: shared_flags(m),
        parent_path: m.value("parent-path").map(PathBuf::from),
        leave_running: m.on("leave-running"),
        pre_dump: m.on("pre-dump"),
        tcp_skip_in_flight: m.on("tcp-skip-in-flight"),
        link_remap: m.on("link-remap"),
        status_fd,
        page_server: m.value("page-server").map(String::from),
    })?;
    for w in &warnings {
        ctx.logger.warn(w);
    }
    Ok(0)
}
