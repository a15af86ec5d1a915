//! The phase trace: with `HAKO_TRACE=1` (stderr) or `HAKO_TRACE=/path/file` (appended), each
//! named step of create, the init and start prints how long it took since the previous step
//! of the same process and since the runtime started, so the slow step is visible without
//! strace. The init is a fork of the runtime and inherits its clock, so its lines continue the
//! runtime's timeline. Off (the default), a step costs one branch on a cached flag.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

struct Trace {
    start: Instant,
    sink: Option<String>,
}

static TRACE: OnceLock<Option<Trace>> = OnceLock::new();

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
                sink: (v != "1").then_some(v),
            })
        })
        .as_ref()
}

/// Start the clock (called first thing by the CLI so the total covers argument parsing).
pub fn start() {
    let _ = get();
}

/// Record the end of step `name`.
pub fn step(name: &str) {
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
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes())),
        None => std::io::stderr().write_all(line.as_bytes()),
    };
}
