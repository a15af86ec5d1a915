//! The phase trace: with `HAKO_TRACE=1` (stderr) or `HAKO_TRACE=/path/file` (appended), each
//! named step of create, the init and start prints how long it took since the previous step
//! of the same process and since the runtime started, so the slow step is visible without
//! strace. The init is a fork of the runtime and inherits its clock, so its lines continue the
//! runtime's timeline. The file is opened once, when the clock starts (close-on-exec): the
//! init writes through the fd it inherited, since after `pivot_root` the path is not in its
//! view any more (and it is non-dumpable until its execve, so nothing in the container can
//! reach that fd). Off (the default), a step costs one branch on a cached flag. With
//! `--debug`, each step's name is also logged at debug level ([`log_steps`]).

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

struct Trace {
    start: Instant,
    /// `HAKO_TRACE=/path`, opened for appending; stderr without one (or if it cannot be opened).
    sink: Option<std::fs::File>,
}

static TRACE: OnceLock<Option<Trace>> = OnceLock::new();

/// Where each step is also logged with `--debug` (set by the CLI, see [`log_steps`]).
type StepLog = Box<dyn Fn(&str) + Send + Sync>;

static DEBUG: OnceLock<StepLog> = OnceLock::new();

thread_local! {
    static LAST: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

fn get() -> Option<&'static Trace> {
    TRACE
        .get_or_init(|| {
            let v = std::env::var("HAKO_TRACE")
                .ok()
                .filter(|v| !v.is_empty() && v != "0")?;
            Some(Trace {
                start: Instant::now(),
                sink: (v != "1")
                    .then(|| {
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&v)
                            .ok()
                    })
                    .flatten(),
            })
        })
        .as_ref()
}

/// Start the clock (called first thing by the CLI so the total covers argument parsing).
pub fn start() {
    let _ = get();
}

/// `--debug`: also hand every step's name to `log` (the CLI's debug logger), in this process
/// and in the container init, a copy of it. Set once; later calls are ignored.
pub fn log_steps(log: StepLog) {
    let _ = DEBUG.set(log);
}

/// Record the end of step `name`.
pub fn step(name: &str) {
    if let Some(log) = DEBUG.get() {
        log(name);
    }
    let Some(t) = get() else { return };
    let now = Instant::now();
    let since = LAST.with(|l| l.replace(Some(now))).unwrap_or(t.start);
    let line = format!(
        "hako-trace pid={} {name:<20} +{:8.3} ms  total {:8.3} ms\n",
        std::process::id(),
        (now - since).as_secs_f64() * 1e3,
        (now - t.start).as_secs_f64() * 1e3,
    );
    let _ = match &t.sink {
        Some(f) => (&*f).write_all(line.as_bytes()),
        None => std::io::stderr().write_all(line.as_bytes()),
    };
}
