//! `hako checkpoint [runc's flags] ID`: runc's flags are accepted and the verb fails: hako has
//! no CRIU support yet. An unknown container is reported first, as runc does.

use super::Ctx;

/// runc's `checkpoint` flags, accepted so that callers get the real reason for the failure.
#[derive(Debug, clap::Args)]
#[allow(dead_code)] // Parsed, never read: checkpointing is refused.
pub struct Args {
    /// Path for saving criu image files.
    #[arg(long)]
    image_path: Option<String>,
    /// Path for saving work files and logs.
    #[arg(long)]
    work_path: Option<String>,
    /// Path for previous criu image files in pre-dump.
    #[arg(long)]
    parent_path: Option<String>,
    /// Leave the process running after checkpointing.
    #[arg(long)]
    leave_running: bool,
    /// Allow open tcp connections.
    #[arg(long)]
    tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long)]
    shell_job: bool,
    /// Use userfaultfd to lazily restore memory pages.
    #[arg(long)]
    lazy_pages: bool,
    /// criu writes \0 to this fd once lazy-pages is ready.
    #[arg(long, allow_hyphen_values = true)]
    status_fd: Option<i32>,
    /// ADDRESS:PORT of the page server.
    #[arg(long)]
    page_server: Option<String>,
    /// Handle file locks.
    #[arg(long)]
    file_locks: bool,
    /// Dump the container's memory only, leave it running.
    #[arg(long)]
    pre_dump: bool,
    /// cgroups mode: soft, full or strict.
    #[arg(long)]
    manage_cgroups_mode: Option<String>,
    /// Create a namespace, but don't restore its properties.
    #[arg(long)]
    empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images.
    #[arg(long)]
    auto_dedup: bool,
    /// Container id.
    id: String,
}

/// Refuse, after checking that the container exists.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    libhako::container::state(&ctx.root, &a.id)?;
    anyhow::bail!("checkpoint is not supported: hako has no CRIU support")
}
