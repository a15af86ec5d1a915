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

use clap::Subcommand;

use crate::log::Logger;

/// What every verb gets.
pub struct Ctx<'a> {
    /// `--root`.
    pub root: PathBuf,
    /// The logger of the global flags.
    pub logger: &'a Logger,
    /// `--systemd-cgroup`: `create` and `run` make the cgroup as a systemd unit (later verbs
    /// follow what state.json recorded, as runc's).
    pub systemd_cgroup: bool,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Create a container (its process waits for `start`).
    Create(create::Args),
    /// Start a created container.
    Start(start::Args),
    /// Create and start a container.
    Run(run::Args),
    /// Output the state of a container.
    State(state::Args),
    /// Send a signal to the container's init process.
    Kill(kill::Args),
    /// Run a new process inside a running container.
    Exec(Box<exec::Args>),
    /// Delete a container and the resources it holds.
    Delete(delete::Args),
    /// List containers.
    #[command(visible_alias = "ps-list")]
    List(list::Args),
    /// Create a new specification file (config.json).
    Spec(spec::Args),
    /// Suspend all processes of the container (freeze its cgroup).
    Pause(pause::Args),
    /// Resume all processes of a paused container.
    Resume(resume::Args),
    /// List the container's processes (host PID and PID inside the container).
    Ps(ps::Args),
    /// Update the container's cgroup resource limits.
    Update(Box<update::Args>),
    /// Print the container's events and resource statistics.
    Events(events::Args),
    /// Show what hako supports here (runtime-spec Features JSON).
    Features(features::Args),
    /// Checkpoint a running container (not supported: fails).
    Checkpoint(Box<checkpoint::Args>),
    /// Restore a container from a checkpoint (not supported: fails).
    Restore(Box<restore::Args>),
    /// Show the help of hako or of one verb.
    #[command(visible_alias = "h")]
    Help(help::Args),
}

/// Run one verb.
pub fn dispatch(ctx: &Ctx<'_>, verb: Verb) -> anyhow::Result<i32> {
    match verb {
        Verb::Create(a) => create::run(ctx, a),
        Verb::Start(a) => start::run(ctx, a),
        Verb::Run(a) => run::run(ctx, a),
        Verb::State(a) => state::run(ctx, a),
        Verb::Kill(a) => kill::run(ctx, a),
        Verb::Delete(a) => delete::run(ctx, a),
        Verb::Exec(a) => exec::run(ctx, *a),
        Verb::List(a) => list::run(ctx, a),
        Verb::Spec(a) => spec::run(a),
        Verb::Pause(a) => pause::run(ctx, a),
        Verb::Resume(a) => resume::run(ctx, a),
        Verb::Ps(a) => ps::run(ctx, a),
        Verb::Update(a) => update::run(ctx, *a),
        Verb::Events(a) => events::run(ctx, a),
        Verb::Features(a) => features::run(a),
        Verb::Checkpoint(a) => checkpoint::run(ctx, *a),
        Verb::Restore(a) => restore::run(*a),
        Verb::Help(a) => help::run(a),
    }
}

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
