//! One short file per verb. Each returns the process exit code or an error for `main` to log.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod help;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;
pub mod version;

use std::path::PathBuf;

use crate::cli::{Matches, Usage, Verb};
use crate::log::Logger;

/// What every verb gets.
pub struct Ctx<'a> {
    /// `--root`, or the default.
    pub root: PathBuf,
    /// Whether `--root` was given (`list` of a missing root: an error, of the default: empty).
    pub root_given: bool,
    /// The logger of the global flags.
    pub logger: &'a Logger,
    /// `--systemd-cgroup`: `create` and `run` make the cgroup as a systemd unit (later verbs
    /// follow what state.json recorded, as runc's).
    pub systemd_cgroup: bool,
}

/// The verbs, in the order of `hako help` (runc's).
pub const VERBS: &[Verb] = &[
    checkpoint::VERB,
    create::VERB,
    delete::VERB,
    events::VERB,
    exec::VERB,
    kill::VERB,
    list::VERB,
    pause::VERB,
    ps::VERB,
    restore::VERB,
    resume::VERB,
    run::VERB,
    spec::VERB,
    start::VERB,
    state::VERB,
    update::VERB,
    features::VERB,
    help::VERB,
];

/// The verb called `name` (or by that alias).
pub fn find(name: &str) -> Option<&'static Verb> {
    VERBS
        .iter()
        .find(|v| v.name == name || v.alias == Some(name))
}

/// A verb's arguments, or the usage error they make.
pub type Parsed<T> = Result<T, Usage>;

/// Run `verb` with its parsed command line.
pub fn dispatch(ctx: &Ctx<'_>, verb: &Verb, m: &Matches) -> anyhow::Result<i32> {
    let usage = |u: Usage| anyhow::Error::new(UsageError(u));
    match verb.name {
        "create" => create::run(ctx, create::Args::from(m).map_err(usage)?),
        "start" => start::run(ctx, m),
        "run" => run::run(ctx, run::Args::from(m).map_err(usage)?),
        "state" => state::run(ctx, m),
        "kill" => kill::run(ctx, m),
        "delete" => delete::run(ctx, m),
        "exec" => exec::run(ctx, exec::Args::from(m).map_err(usage)?),
        "list" => list::run(ctx, m),
        "spec" => spec::run(m),
        "pause" => pause::run(ctx, m),
        "resume" => resume::run(ctx, m),
        "ps" => ps::run(ctx, m),
        "update" => update::run(ctx, m),
        "events" => events::run(ctx, m),
        "features" => features::run(),
        "checkpoint" => checkpoint::run(ctx, m),
        "restore" => restore::run(ctx, m),
        _ => help::run(m),
    }
}

/// `--format` of `list` and `ps`: `table` (the default) or `json`, else runc's error.
pub fn table_or_json(m: &Matches) -> anyhow::Result<&str> {
    match m.value("format").unwrap_or("table") {
        f @ ("table" | "json") => Ok(f),
        _ => anyhow::bail!("invalid format option"),
    }
}

/// A usage error found after parsing (a flag's value that the flag table could not check).
#[derive(Debug)]
pub struct UsageError(pub Usage);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.msg)
    }
}

impl std::error::Error for UsageError {}

/// An error that exits with runc's status for it instead of 1 (`exec`: 255, an unknown help
/// topic: 3); `main` logs `msg` as any other error.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: i32,
    /// The error line.
    pub msg: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Failure {}
