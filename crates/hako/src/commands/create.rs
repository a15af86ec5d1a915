//! `hako create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot]
//! [--no-new-keyring] [--preserve-fds N] ID`

use std::path::PathBuf;

use libhako::container::{self, CreateOptions};

use super::Ctx;

/// Options shared by `create` and `run`.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Container id.
    pub id: String,
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the container's init PID to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS) when process.terminal is set.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead).
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring: the container keeps the caller's.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

impl Common {
    /// The library's options.
    pub fn options(&self, ctx: &Ctx<'_>) -> CreateOptions {
        CreateOptions {
            root: ctx.root.clone(),
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            listen_fds: listen_fds(),
            console_socket: self.console_socket.clone(),
            detach: true,
            systemd_cgroup: ctx.systemd_cgroup,
        }
    }
}

/// Socket activation (sd_listen_fds): `LISTEN_FDS` counts fds from 3 meant for this process
/// when `LISTEN_PID` is our pid.
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok());
    match (ours, n) {
        (true, Some(n)) => n,
        _ => 0,
    }
}

/// `create` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
}

/// Create the container.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    let created = container::create(&a.common.options(ctx))?;
    for w in &created.warnings {
        ctx.logger.warn(w);
    }
    ctx.logger.debug(&format!(
        "created container {} with init pid {}",
        a.common.id, created.pid
    ));
    Ok(0)
}
