//! `hako ps [--format table|json] ID [-- PS ARGS]`: the container's processes. `json` is runc's
//! list of host PIDs; `table` runs `ps` (default `-ef`) and keeps the container's lines, as
//! runc does, with one column added after runc's (before the command): `NSPID`, the PID
//! inside the container.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;

use super::Ctx;
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako ps`.
pub const VERB: Verb = Verb {
    name: "ps",
    alias: None,
    summary: "ps displays the processes running inside a container",
    usage: "[command options] <container-id> [ps options]",
    description: "The ps command runs ps(1) (default: ps -ef) and keeps the lines of the \
container's processes, adding NSPID, the PID inside the container.",
    flags: &[Flag::value(
        "format",
        Some("f"),
        Kind::Text,
        "select one of: table or json (default: \"table\")",
    )],
    arity: Arity::Min(1),
    reorder: false,
};

/// List the processes.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let procs = libhako::container::processes(&ctx.root, &m.arg(0))?;
    let format = super::table_or_json(m)?;
    let mut out = std::io::stdout().lock();
    if format == "json" {
        let pids: Vec<i32> = procs.iter().map(|p| p.host).collect();
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
        return Ok(0);
    }
    // As runc: `ps ID -- ARGS` passes ARGS.
    let mut args = m.args_from(1);
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        args.push("-ef".to_string());
    }
    let output = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    // runc's words: Go's "exit status N" and what ps wrote to stderr.
    if !output.status.success() {
        let how = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => format!("ps: {}", output.status),
        };
        anyhow::bail!("{how}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let inner: HashMap<i32, Option<i32>> = procs.iter().map(|p| (p.host, p.inner)).collect();
    write!(
        out,
        "{}",
        filter(&String::from_utf8_lossy(&output.stdout), &inner)?
    )?;
    Ok(0)
}

/// Keep the header and the lines whose PID column is one of `pids`, with `NSPID` added after
/// ps's columns: before the last when that is the command (which may hold spaces), else at
/// the end. runc's columns keep their order, for the tools that parse them.
fn filter(ps: &str, pids: &HashMap<i32, Option<i32>>) -> anyhow::Result<String> {
    let mut lines = ps.lines();
    let header = lines.next().unwrap_or_default();
    let names: Vec<&str> = header.split_whitespace().collect();
    let col = names
        .iter()
        .position(|h| *h == "PID")
        .context("couldn't find PID field in ps output")?;
    let at = match names.last() {
        Some(&("CMD" | "COMMAND" | "ARGS")) => names.len() - 1,
        _ => names.len(),
    };
    let mut out = insert_at(header, at, "NSPID");
    for line in lines {
        let Some(pid) = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok())
        else {
            continue;
        };
        if let Some(inner) = pids.get(&pid) {
            let shown = inner.map_or("-".to_string(), |p| p.to_string());
            out.push_str(&insert_at(line, at, &shown));
        }
    }
    Ok(out)
}

/// `line` with `value` (right-aligned in 5) as a new field before its `col`-th
/// whitespace-separated field, or at the end when it has no such field.
fn insert_at(line: &str, col: usize, value: &str) -> String {
    let mut seen = 0;
    let mut in_field = false;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), in_field) {
            (false, false) => {
                if seen == col {
                    return format!("{}{value:>5} {}\n", &line[..i], &line[i..]);
                }
                in_field = true;
                seen += 1;
            }
            (true, true) => in_field = false,
            _ => {}
        }
    }
    format!("{line} {value:>5}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_container_lines_and_adds_nspid() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                  root        4242    4200  0 10:01 ?        00:00:00 sleep 100\n";
        let pids = HashMap::from([(4242, Some(1))]);
        let out = filter(ps, &pids).unwrap();
        assert_eq!(
            out,
            "UID          PID    PPID  C STIME TTY          TIME NSPID CMD\n\
             root        4242    4200  0 10:01 ?        00:00:00     1 sleep 100\n"
        );
        let ps = "USER PID\nroot 4242\n";
        assert_eq!(
            filter(ps, &pids).unwrap(),
            "USER PID NSPID\nroot 4242     1\n"
        );
        assert!(filter("USER CMD\n", &pids).is_err());
    }
}
