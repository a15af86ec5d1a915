//! `hako help [VERB]` (alias `h`): the help of hako or of one verb, on stdout, as `runc help`.
//! An unknown verb is runc's error, with its exit status 3.

use std::io::Write;

use super::Failure;
use crate::cli::{Arity, Matches, Verb};

/// `hako help`.
pub const VERB: Verb = Verb {
    name: "help",
    alias: Some("h"),
    summary: "Shows a list of commands or help for one command",
    usage: "[command]",
    description: "",
    flags: &[],
    arity: Arity::Any,
    reorder: true,
};

/// Print the help of the verb named first, or hako's.
pub fn run(m: &Matches) -> anyhow::Result<i32> {
    let text = match m.args.first() {
        None => crate::main_help(),
        Some(v) => crate::cli::verb_help(super::find(v).ok_or_else(|| no_topic(v))?),
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}

/// runc's error for `help X` and for an unknown verb X (urfave/cli's wording, newline kept).
pub fn no_topic(verb: &str) -> Failure {
    Failure {
        code: 3,
        msg: format!("No help topic for '{verb}'\n"),
    }
}
