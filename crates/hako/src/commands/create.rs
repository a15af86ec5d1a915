//! `hako create [--bundle DIR] [--pid-file F] [--console-socket S] [--pidfd-socket S]
//! [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID`

use std::path::PathBuf;

use libhako::container::{self, CreateOptions};

use super::{Ctx, Parsed};
use crate::cli::{Arity, Matches, Verb};

/// The flags of `create`, which `run` has too.
macro_rules! create_flags {
    ($($more:expr),* $(,)?) => {
        &[
            $crate::cli::Flag::value("bundle", Some("b"), $crate::cli::Kind::Text,
                "path to the root of the bundle directory, defaults to the current directory"),
            $crate::cli::Flag::value("console-socket", None, $crate::cli::Kind::Text,
                "path to an AF_UNIX socket which will receive the master end of the console's pseudoterminal"),
            $crate::cli::Flag::value("pidfd-socket", None, $crate::cli::Kind::Text,
                "path to an AF_UNIX socket which will receive a file descriptor referencing the init process"),
            $crate::cli::Flag::value("pid-file", None, $crate::cli::Kind::Text,
                "specify the file to write the process id to"),
            $crate::cli::Flag::switch("no-pivot", None,
                "do not use pivot root to jail process inside rootfs (MS_MOVE and chroot instead)"),
            $crate::cli::Flag::switch("no-new-keyring", None,
                "do not create a new session keyring for the container (it keeps the caller's)"),
            $crate::cli::Flag::value("preserve-fds", None, $crate::cli::Kind::Uint,
                "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)"),
            $($more),*
        ]
    };
}
pub(crate) use create_flags;

/// `hako create`.
pub const VERB: Verb = Verb {
    name: "create",
    alias: None,
    summary: "create a container",
    usage: "[command options] <container-id>",
    description: "The create command creates an instance of a container for a bundle: a directory \
with a specification file named \"config.json\" and a root filesystem. Its process waits for \
\"hako start\".",
    flags: create_flags!(),
    arity: Arity::Exact(1),
    reorder: true,
};

/// Options shared by `create` and `run`.
#[derive(Debug)]
pub struct Common {
    /// Container id.
    pub id: String,
    /// Path to the bundle directory.
    pub bundle: PathBuf,
    /// File to write the container's init PID to.
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS) when process.terminal is set.
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the init.
    pub pidfd_socket: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead).
    pub no_pivot: bool,
    /// Do not create a new session keyring: the container keeps the caller's.
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    pub preserve_fds: u32,
}

impl Common {
    /// From `create`'s (or `run`'s) command line.
    pub fn from(m: &Matches) -> Parsed<Common> {
        Ok(Common {
            id: m.arg(0),
            bundle: PathBuf::from(m.value("bundle").unwrap_or(".")),
            pid_file: m.value("pid-file").map(PathBuf::from),
            console_socket: m.value("console-socket").map(PathBuf::from),
            pidfd_socket: m.value("pidfd-socket").map(PathBuf::from),
            no_pivot: m.on("no-pivot"),
            no_new_keyring: m.on("no-new-keyring"),
            preserve_fds: m.parsed("preserve-fds")?.unwrap_or(0),
        })
    }

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
            pidfd_socket: self.pidfd_socket.clone(),
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
#[derive(Debug)]
pub struct Args {
    common: Common,
}

impl Args {
    /// From the command line.
    pub fn from(m: &Matches) -> Parsed<Args> {
        Ok(Args {
            common: Common::from(m)?,
        })
    }
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
