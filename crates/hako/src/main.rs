//! `hako`: the runc-compatible command line. Parses arguments, runs one verb, and is the only
//! place that prints or logs an error: one line on stderr and, with `--log`, in runc's text or
//! JSON log format, then exit status 1.

mod commands;
mod log;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Global options, accepted before or after the verb.
#[derive(Debug, Parser)]
#[command(
    name = "hako",
    about = "hako: an OCI container runtime (runc-compatible)",
    version = commands::version::flag_text(),
    disable_version_flag = true,
    disable_help_subcommand = true,
    arg_required_else_help = true,
    after_help = commands::version::help_section(),
)]
struct Cli {
    /// Print the version.
    #[arg(short = 'v', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Root directory for container state [default: /run/hako, or $XDG_RUNTIME_DIR/hako for an
    /// unprivileged user]
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Write errors (and debug messages) to this file as well.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    debug: bool,
    /// Make the container's cgroup a transient systemd unit (linux.cgroupsPath is
    /// "slice:prefix:name").
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Path to criu (accepted for compatibility; checkpoint is not supported).
    #[arg(long, global = true)]
    criu: Option<PathBuf>,
    /// Rootless mode: auto, true or false (accepted; detection is automatic).
    #[arg(long)]
    rootless: Option<String>,
    #[command(subcommand)]
    verb: commands::Verb,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// logrus text: `time="..." level=error msg="..."`.
    Text,
    /// One JSON object per line: `{"level":"error","msg":"...","time":"..."}`.
    Json,
}

fn main() {
    libhako::trace::start();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => std::process::exit(usage_error(e)),
    };
    let logger = log::Logger::new(cli.log.clone(), cli.log_format, cli.debug);
    // runc's rule for the default; `spec` needs no state root.
    let root = match cli
        .root
        .clone()
        .map_or_else(libhako::rootless::default_root, Ok)
    {
        Ok(root) => root,
        Err(_) if matches!(cli.verb, commands::Verb::Spec(_)) => PathBuf::new(),
        Err(e) => {
            logger.error(&e.to_string());
            std::process::exit(1);
        }
    };
    let ctx = commands::Ctx {
        root,
        logger: &logger,
        systemd_cgroup: cli.systemd_cgroup,
    };
    let result = commands::dispatch(&ctx, cli.verb);
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger.error(&e.to_string());
            let code = e.downcast_ref::<commands::Failure>().map_or(1, |f| f.code);
            std::process::exit(code);
        }
    }
}

/// Report a command line clap refused, with runc's exit status: no verb at all shows the help
/// (status 0), an unknown verb is runc's "No help topic" (3), any other usage error 1.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            0
        }
        ErrorKind::InvalidSubcommand => {
            let verb = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(v)) => v.clone(),
                _ => String::new(),
            };
            let f = commands::help::no_topic(&verb);
            log::Logger::new(None, LogFormat::Text, false).error(&f.msg);
            f.code
        }
        _ => {
            let _ = e.print();
            if e.use_stderr() {
                1
            } else {
                0
            }
        }
    }
}
