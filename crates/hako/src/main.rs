//! `hako`: the runc-compatible command line. Parses arguments, runs one verb, and is the only
//! place that prints or logs an error: one line on stderr and, with `--log`, in runc's text or
//! JSON log format, then exit status 1.

mod cli;
mod commands;
mod log;

use std::io::Write;
use std::path::PathBuf;

use cli::{Flag, Kind, Parsed, Usage, Verb};

/// The global flags; the first [`AFTER_VERB`] are also taken after the verb.
const GLOBALS: &[Flag] = &[
    Flag::switch("debug", None, "enable debug logging"),
    Flag::value(
        "log",
        None,
        Kind::Text,
        "set the log file to write hako logs to (default is '/dev/stderr')",
    ),
    Flag::value(
        "log-format",
        None,
        Kind::Text,
        "set the log format ('text' (default), or 'json') (default: \"text\")",
    ),
    Flag::value(
        "root",
        None,
        Kind::Text,
        "root directory for storage of container state (default: \"/run/hako\", or \
         $XDG_RUNTIME_DIR/hako for an unprivileged user)",
    ),
    Flag::value(
        "criu",
        None,
        Kind::Text,
        "path to the criu binary used for checkpoint and restore (default: criu on PATH)",
    ),
    Flag::switch(
        "systemd-cgroup",
        None,
        "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\"",
    ),
    Flag::value(
        "rootless",
        None,
        Kind::Text,
        "ignore cgroup permission errors ('true', 'false', or 'auto'; detection is automatic)",
    ),
    Flag::switch("help", Some("h"), "show help"),
    Flag::switch("version", Some("v"), "print the version"),
];

/// How many of [`GLOBALS`] hako also takes after the verb (runc takes none there).
const AFTER_VERB: usize = 6;

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// logrus text: `time="..." level=error msg="..."`.
    Text,
    /// One JSON object per line: `{"level":"error","msg":"...","time":"..."}`.
    Json,
}

/// `hako help`.
pub fn main_help() -> String {
    cli::main_help(
        "an OCI container runtime (runc-compatible)",
        &commands::version::help_section(),
        commands::VERBS,
        GLOBALS,
    )
}

fn main() {
    libhako::trace::start();
    std::process::exit(run());
}

/// Print to stdout; a closed stdout is not worth a second error.
fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// runc's report of a usage error: `Incorrect Usage` and the help on stdout, the error logged.
fn usage_error(logger: &log::Logger, u: &Usage, verb: Option<&Verb>) -> i32 {
    let help = verb.map_or_else(main_help, cli::verb_help);
    let sep = if verb.is_some() { ":" } else { "." };
    match u.shown {
        true => print(&format!("Incorrect Usage{sep} {}\n\n{help}", u.msg)),
        false => print(&format!("Incorrect Usage.\n\n{help}")),
    }
    logger.error(&u.msg);
    1
}

/// Parse the command line and run the verb; the exit status.
fn run() -> i32 {
    let plain = log::Logger::plain();
    let mut args = Vec::new();
    for a in std::env::args_os() {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(a) => {
                plain.error(&format!("argument {a:?} is not valid UTF-8"));
                return 1;
            }
        }
    }
    let Some((prog, args)) = args.split_first() else {
        return 1;
    };
    let g = match cli::parse_flags(GLOBALS, &[], args) {
        Ok(Parsed::Flags(g)) => g,
        Ok(Parsed::Help) => {
            print(&main_help());
            return 0;
        }
        Err(u) => return usage_error(&plain, &u, None),
    };
    if g.on("version") {
        print(&commands::version::flag_text());
        return 0;
    }
    let Some(name) = g.args.first() else {
        print(&main_help());
        return 0;
    };
    let Some(verb) = commands::find(name) else {
        let f = commands::help::no_topic(name);
        plain.error(&f.msg);
        return f.code;
    };
    let log_format = |value: Option<&str>| match value {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(f) => Err(format!("invalid log-format: {f}")),
    };
    let make_logger = |m: &cli::Matches| -> Result<log::Logger, String> {
        let value = |k: &str| m.value(k).or(g.value(k));
        log::Logger::new(
            value("log").map(std::path::Path::new),
            log_format(value("log-format"))?,
            m.on("debug") || g.on("debug"),
        )
    };
    // The global flags alone, for a usage error of the verb's.
    let logger_before = match make_logger(&cli::Matches::default()) {
        Ok(l) => l,
        Err(e) => {
            plain.error(&e);
            return 1;
        }
    };
    let m = match cli::parse_verb(prog, verb, &GLOBALS[..AFTER_VERB], &g.args[1..]) {
        Ok(Some(m)) => m,
        Ok(None) => {
            print(&cli::verb_help(verb));
            return 0;
        }
        Err(u) => return usage_error(&logger_before, &u, Some(verb)),
    };
    // Global flags given after the verb win.
    let logger = match make_logger(&m) {
        Ok(l) => l,
        Err(e) => {
            plain.error(&e);
            return 1;
        }
    };
    if logger.debugging() {
        // Each step of the library (create, the init, start...) at debug level.
        let steps = logger.clone();
        libhako::trace::log_steps(Box::new(move |step| steps.debug(step)));
        logger.debug(&format!("hako {}: {}", verb.name, m.args.join(" ")));
    }
    // runc's rule for the default; `spec` needs no state root.
    let root = match m.value("root").or(g.value("root")).map(PathBuf::from) {
        Some(root) => root,
        None => match libhako::rootless::default_root() {
            Ok(root) => root,
            Err(_) if verb.name == "spec" => PathBuf::new(),
            Err(e) => {
                logger.error(&e.to_string());
                return 1;
            }
        },
    };
    let ctx = commands::Ctx {
        root,
        logger: &logger,
        systemd_cgroup: g.on("systemd-cgroup") || m.on("systemd-cgroup"),
        criu: m.value("criu").or(g.value("criu")).map(PathBuf::from),
    };
    match commands::dispatch(&ctx, verb, &m) {
        Ok(code) => code,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<commands::UsageError>() {
                return usage_error(&logger, &u.0, Some(verb));
            }
            logger.error(&e.to_string());
            e.downcast_ref::<commands::Failure>().map_or(1, |f| f.code)
        }
    }
}
