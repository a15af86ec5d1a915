//! `hako restore [runc's flags] ID`: a new container from the bundle and a checkpoint, with
//! CRIU (`libhako::container::restore`); in the foreground its exit status is the
//! container's, as `run`'s.

use std::path::PathBuf;

use libhako::container::{self, RestoreOptions};

use super::checkpoint::{criu_flags, shared_flags};
use super::Ctx;
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako restore`.
pub const VERB: Verb = Verb {
    name: "restore",
    alias: None,
    summary: "restore a container from a previous checkpoint",
    usage: "[command options] <container-id>",
    description: "Restores the saved state of the container instance that was previously saved \
using the checkpoint command.",
    flags: criu_flags!(
        Flag::value(
            "console-socket",
            None,
            Kind::Text,
            "path to an AF_UNIX socket which will receive a file descriptor referencing the \
master end of the console's pseudoterminal",
        ),
        Flag::value(
            "image-path",
            None,
            Kind::Text,
            "path to criu image files for restoring",
        ),
        Flag::value(
            "bundle",
            Some("b"),
            Kind::Text,
            "path to the root of the bundle directory",
        ),
        Flag::switch("detach", Some("d"), "detach from the container's process"),
        Flag::value(
            "pid-file",
            None,
            Kind::Text,
            "specify the file to write the process id to",
        ),
        Flag::switch(
            "no-subreaper",
            None,
            "disable the use of the subreaper used to reap reparented processes"
        ),
        Flag::switch(
            "no-pivot",
            None,
            "do not use pivot root (CRIU makes the restored root itself)"
        ),
        Flag::value(
            "lsm-profile",
            None,
            Kind::Text,
            "Specify an LSM profile to be used during restore in the form of TYPE:NAME.",
        ),
        Flag::value(
            "lsm-mount-context",
            None,
            Kind::Text,
            "Specify an LSM mount context to be used during restore.",
        ),
    ),
    arity: Arity::Exact(1),
    reorder: true,
};

/// Restore; the exit status is the container's when in the foreground.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let (code, warnings) = container::restore(&RestoreOptions {
        root: ctx.root.clone(),
        id: m.arg(0),
        bundle: PathBuf::from(m.value("bundle").unwrap_or(".")),
        criu: shared_flags(m),
        detach: m.on("detach"),
        pid_file: m.value("pid-file").map(PathBuf::from),
        console_socket: m.value("console-socket").map(PathBuf::from),
        no_subreaper: m.on("no-subreaper"),
        no_pivot: m.on("no-pivot"),
        lsm_profile: m.value("lsm-profile").map(String::from),
        lsm_mount_context: m.value("lsm-mount-context").map(String::from),
        systemd_cgroup: ctx.systemd_cgroup,
    })?;
    for w in &warnings {
        ctx.logger.warn(w);
    }
    Ok(code)
}
