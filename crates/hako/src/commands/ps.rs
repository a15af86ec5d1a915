//! `hako ps [--format table|json] ID [-- PS ARGS]`: the container's processes. `json` is runc's
//! list of host PIDs; `table` runs `ps` (default `-ef`) and keeps the container's lines, as
//! runc does, with one column added after `PID`: `NSPID`, the PID inside the container.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;

use super::Ctx;

/// `ps` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Container id.
    id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// List the processes.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    let procs = libhako::container::processes(&ctx.root, &a.id)?;
    let mut out = std::io::stdout().lock();
    if a.format == "json" {
        let pids: Vec<i32> = procs.iter().map(|p| p.host).collect();
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let output = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !output.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let inner: HashMap<i32, Option<i32>> = procs.iter().map(|p| (p.host, p.inner)).collect();
    write!(
        out,
        "{}",
        filter(&String::from_utf8_lossy(&output.stdout), &inner)?
    )?;
    Ok(0)
}

/// Keep the header and the lines whose PID column is one of `pids`, inserting `NSPID`.
fn filter(ps: &str, pids: &HashMap<i32, Option<i32>>) -> anyhow::Result<String> {
    let mut lines = ps.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("couldn't find PID field in ps output")?;
    let mut out = insert_after(header, col, "NSPID");
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
            out.push_str(&insert_after(line, col, &shown));
        }
    }
    Ok(out)
}

/// `line` with ` {value:>5}` inserted right after its `col`-th whitespace-separated field.
fn insert_after(line: &str, col: usize, value: &str) -> String {
    let mut seen = 0;
    let mut in_field = false;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), in_field) {
            (false, false) => in_field = true,
            (true, true) => {
                in_field = false;
                if seen == col {
                    return format!("{} {value:>5}{}\n", &line[..i], &line[i..]);
                }
                seen += 1;
            }
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
            "UID          PID NSPID    PPID  C STIME TTY          TIME CMD\n\
             root        4242     1    4200  0 10:01 ?        00:00:00 sleep 100\n"
        );
        assert!(filter("USER CMD\n", &pids).is_err());
    }
}
