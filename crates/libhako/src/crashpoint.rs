//! Test-only fault injection: with `HAKO_TEST_CRASH_AT=<step>` in its environment, `hako
//! create` dies by SIGKILL at that step, so the integration tests (`tests/robustness.rs`) can
//! check that what a killed `create` leaves behind is never shown as `created` and is removed
//! in full by `delete --force`.
//!
//! Compiled in only with the `crash-points` cargo feature, which the `hako` crate's
//! dev-dependency on libhako turns on for its own tests (`cargo test`); a normal or release
//! build has no such feature, every function here is an empty inline function, and the
//! variable is never read.
//!
//! The steps run in the runtime, except [`Step::Mounts`], which the container init reaches.
//! The init cannot signal the runtime (the runtime is outside its PID namespace), so it asks
//! over the sync channel ([`crate::sync::Msg::CrashPoint`]), waits until the runtime is gone,
//! and then carries on alone, as it would if the runtime had been killed from outside.

/// The environment variable naming the step.
pub const ENV: &str = "HAKO_TEST_CRASH_AT";

/// A point of `create` at which the runtime can be made to die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The state dir exists (and is locked); nothing else does.
    StateDir,
    /// The init is cloned and waits for `Go` (in its v2 cgroup, if any); its PID is not
    /// recorded yet.
    Clone,
    /// As `Clone`, and state.json names the cgroup, which exists with its resources written.
    Cgroup,
    /// The init has made its mounts but not pivoted into the rootfs.
    Mounts,
    /// The init waits while the runtime runs the prestart and createRuntime hooks.
    Hooks,
    /// The init is Ready and blocks on the exec fifo; state.json still says "creating".
    ExecFifo,
}

impl Step {
    /// Every step, in the order `create` reaches them.
    pub const ALL: [Step; 6] = [
        Step::StateDir,
        Step::Clone,
        Step::Cgroup,
        Step::Mounts,
        Step::Hooks,
        Step::ExecFifo,
    ];

    /// The step's name, as `HAKO_TEST_CRASH_AT` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Step::StateDir => "state-dir",
            Step::Cgroup => "cgroup",
            Step::Clone => "clone",
            Step::Mounts => "mounts",
            Step::Hooks => "hooks",
            Step::ExecFifo => "exec-fifo",
        }
    }
}

/// In the runtime: die here if `HAKO_TEST_CRASH_AT` names `step`.
#[cfg(feature = "crash-points")]
pub fn at(step: Step) {
    if armed(step) {
        die()
    }
}

/// In the runtime: die here if `HAKO_TEST_CRASH_AT` names `step` (no-op in this build).
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn at(_step: Step) {}

/// In the init: if `HAKO_TEST_CRASH_AT` names `step`, have the runtime killed and wait until it
/// is gone (EOF on the channel); then return, and the init goes on without it.
#[cfg(feature = "crash-points")]
pub fn in_init(step: Step, chan: &crate::sync::Channel) {
    if armed(step) && chan.send(&crate::sync::Msg::CrashPoint).is_ok() {
        while let Ok(Some(_)) = chan.recv() {}
    }
}

/// In the init: have the runtime killed at `step` (no-op in this build).
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn in_init(_step: Step, _chan: &crate::sync::Channel) {}

/// SIGKILL this process: no destructor, no cleanup guard, no message to anyone.
#[cfg(feature = "crash-points")]
pub fn die() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    // Only a PID namespace's init can outlive its own SIGKILL.
    std::process::abort()
}

#[cfg(feature = "crash-points")]
fn armed(step: Step) -> bool {
    std::env::var_os(ENV).is_some_and(|v| v == step.name())
}
