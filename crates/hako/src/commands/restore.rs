//! `hako restore [runc's flags] ID`: runc's flags are accepted and the verb fails: hako has no
//! CRIU support yet, so there is no checkpoint to restore from.

use super::checkpoint::criu_flags;
use crate::cli::{Arity, Flag, Kind, Verb};

/// `hako restore`: runc's flags, accepted so that callers get the real reason for the failure.
pub const VERB: Verb = Verb {
    name: "restore",
    alias: None,
    summary: "restore a container from a previous checkpoint (not supported: fails)",
    usage: "[command options] <container-id>",
    description: "hako has no CRIU support: restore fails.",
    flags: criu_flags!(
        Flag::value(
            "console-socket",
            None,
            Kind::Text,
            "unix socket that would receive the pty master",
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
            "path to the bundle directory",
        ),
        Flag::switch("detach", Some("d"), "detach from the container's process"),
        Flag::value(
            "pid-file",
            None,
            Kind::Text,
            "file to write the process id to",
        ),
        Flag::switch("no-subreaper", None, "do not become a subreaper"),
        Flag::switch("no-pivot", None, "do not use pivot_root"),
        Flag::value(
            "lsm-profile",
            None,
            Kind::Text,
            "lSM profile to use during restore (TYPE:NAME)",
        ),
        Flag::value(
            "lsm-mount-context",
            None,
            Kind::Text,
            "lSM mount context to use during restore",
        ),
    ),
    arity: Arity::Exact(1),
    reorder: true,
};

/// Refuse.
pub fn run() -> anyhow::Result<i32> {
    anyhow::bail!("restore is not supported: hako has no CRIU support")
}
