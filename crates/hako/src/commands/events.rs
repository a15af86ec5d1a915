//! `hako events [--stats] [--interval 5s] ID`: runc's JSON event stream, one object per line.

use std::io::Write;
use std::time::Duration;

use super::Ctx;
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako events`.
pub const VERB: Verb = Verb {
    name: "events",
    alias: None,
    summary:
        "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
    usage: "[command options] <container-id>",
    description: "The events command displays information about the container, one JSON object \
per line. By default stats are displayed every 5 seconds.",
    flags: &[
        Flag::value(
            "interval",
            None,
            Kind::Check(|s| parse_duration(s).is_ok()),
            "set the stats collection interval (default: 5s)",
        ),
        Flag::switch("stats", None, "display the container's stats then exit"),
    ],
    arity: Arity::Exact(1),
    reorder: true,
};

/// Print events.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let id = m.arg(0);
    let interval =
        parse_duration(m.value("interval").unwrap_or("5s")).map_err(anyhow::Error::msg)?;
    if m.on("stats") {
        let e = libhako::container::stats_event(&ctx.root, &id)?;
        writeln!(std::io::stdout(), "{}", serde_json::to_string(&e)?)?;
        return Ok(0);
    }
    let mut out = std::io::stdout();
    libhako::container::events(&ctx.root, &id, interval, |e| {
        let line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
        out.flush()
    })?;
    Ok(0)
}

/// A Go duration: a sequence of `<number><unit>` with units ns, us, ms, s, m, h.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}");
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = tail;
    }
    if total <= 0.0 {
        return Err("duration interval must be greater than 0".into());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_durations() {
        use super::parse_duration as p;
        assert_eq!(p("5s"), Ok(std::time::Duration::from_secs(5)));
        assert_eq!(p("1m30s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(p("250ms"), Ok(std::time::Duration::from_millis(250)));
        assert!(p("5").is_err() && p("0s").is_err() && p("x").is_err());
    }
}
