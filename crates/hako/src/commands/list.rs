//! `hako list [--format table|json] [--quiet]`, with runc's table layout (Go's tabwriter:
//! min width 12, padding 3) and JSON (`null` when there is no container).

use std::io::Write;

use super::Ctx;
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako list`.
pub const VERB: Verb = Verb {
    name: "list",
    alias: Some("ps-list"),
    summary: "lists containers started by hako with the given root",
    usage: "[command options]",
    description: "The list command lists the containers whose state is under the global option \
\"--root\" (default: /run/hako).",
    flags: &[
        Flag::value(
            "format",
            Some("f"),
            Kind::Text,
            "select one of: table or json (default: \"table\")",
        ),
        Flag::switch("quiet", Some("q"), "display only container IDs"),
    ],
    arity: Arity::Exact(0),
    reorder: true,
};

/// Print the list.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let format = super::table_or_json(m)?;
    let entries = libhako::container::list(&ctx.root, !ctx.root_given)?;
    let mut out = std::io::stdout().lock();
    if m.on("quiet") {
        for e in &entries {
            writeln!(out, "{}", e.stored.id)?;
        }
        return Ok(0);
    }
    if format == "json" {
        let states: Vec<_> = entries.iter().map(|e| e.oci(&e.owner)).collect();
        if states.is_empty() {
            writeln!(out, "null")?;
        } else {
            writeln!(out, "{}", serde_json::to_string(&states)?)?;
        }
        return Ok(0);
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for e in &entries {
        let s = e.oci(&e.owner);
        rows.push([
            s.id.to_string(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.to_string(),
            s.owner.to_string(),
        ]);
    }
    write!(out, "{}", table(&rows))?;
    Ok(0)
}

/// Go tabwriter layout: each column but the last padded to max(12, widest + 3).
pub fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count() + 3).max(12);
        }
    }
    let mut s = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_runc_layout() {
        let h = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
        assert_eq!(
            table(std::slice::from_ref(&h)),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
        let r = [
            "x1",
            "0",
            "stopped",
            "/tmp/rb",
            "2026-11-29T13:21:34.305016962Z",
            "root",
        ]
        .map(String::from);
        assert_eq!(
            table(&[h, r]).lines().nth(1),
            Some("x1          0           stopped     /tmp/rb     2026-11-29T13:21:34.305016962Z   root")
        );
    }
}
