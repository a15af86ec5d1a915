//! `hako restore [runc's flags] ID`: runc's flags are accepted and the verb fails: hako has no
//! CRIU support yet, so there is no checkpoint to restore from.

/// runc's `restore` flags, accepted so that callers get the real reason for the failure.
#[derive(Debug, clap::Args)]
#[allow(dead_code)] // Parsed, never read: restoring is refused.
pub struct Args {
    /// Unix socket that would receive the pty master.
    #[arg(long)]
    console_socket: Option<String>,
    /// Path to criu image files for restoring.
    #[arg(long)]
    image_path: Option<String>,
    /// Path for saving work files and logs.
    #[arg(long)]
    work_path: Option<String>,
    /// Allow open tcp connections.
    #[arg(long)]
    tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long)]
    shell_job: bool,
    /// Handle file locks.
    #[arg(long)]
    file_locks: bool,
    /// cgroups mode: soft, full or strict.
    #[arg(long)]
    manage_cgroups_mode: Option<String>,
    /// Path to the bundle directory.
    #[arg(short, long)]
    bundle: Option<String>,
    /// Detach from the container's process.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process id to.
    #[arg(long)]
    pid_file: Option<String>,
    /// Do not become a subreaper.
    #[arg(long)]
    no_subreaper: bool,
    /// Do not use pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Create a namespace, but don't restore its properties.
    #[arg(long)]
    empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images.
    #[arg(long)]
    auto_dedup: bool,
    /// Use userfaultfd to lazily restore memory pages.
    #[arg(long)]
    lazy_pages: bool,
    /// LSM profile to use during restore (TYPE:NAME).
    #[arg(long)]
    lsm_profile: Option<String>,
    /// LSM mount context to use during restore.
    #[arg(long)]
    lsm_mount_context: Option<String>,
    /// Container id.
    id: String,
}

/// Refuse.
pub fn run(_: Args) -> anyhow::Result<i32> {
    anyhow::bail!("restore is not supported: hako has no CRIU support")
}
