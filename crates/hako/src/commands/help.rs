//! `hako help [VERB]` (alias `h`): the help of hako or of one verb, on stdout, as `runc help`.
//! An unknown verb is runc's error, with its exit status 3.

use clap::CommandFactory;

use super::Failure;

/// `help` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The verb to show the help of.
    verb: Option<String>,
}

/// Print the help.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let mut cmd = crate::Cli::command();
    cmd.build();
    let target = match &a.verb {
        None => &mut cmd,
        Some(v) => cmd.find_subcommand_mut(v).ok_or_else(|| no_topic(v))?,
    };
    target.print_help()?;
    Ok(0)
}

/// runc's error for `help X` and for an unknown verb X (urfave/cli's wording, newline kept).
pub fn no_topic(verb: &str) -> Failure {
    Failure {
        code: 3,
        msg: format!("No help topic for '{verb}'\n"),
    }
}
