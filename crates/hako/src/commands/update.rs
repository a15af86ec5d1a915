//! `hako update [flags] ID`: change a running container's cgroup limits, with runc's flags or
//! `--resources FILE` (`-` = stdin, as Docker sends it) holding an OCI `LinuxResources` JSON.
//! Flags override the file. Memory sizes accept runc's units (`512m`, `1g`; `-1` unlimited).

use std::io::Read;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako update`.
pub const VERB: Verb = Verb {
    name: "update",
    alias: None,
    summary: "update container resource constraints",
    usage: "[command options] <container-id>",
    description: "The update command changes the container's cgroup limits, from the flags or \
from --resources (an OCI LinuxResources JSON); the flags override the file.",
    flags: &[
        Flag::value("resources", Some("r"), Kind::Text,
            "path to the file containing the resources to update or '-' to read from the standard input"),
        Flag::value("blkio-weight", None, Kind::Uint,
            "Specifies per cgroup weight, range is from 10 to 1000 (default: 0)"),
        Flag::value("cpu-period", None, Kind::Text,
            "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"),
        Flag::value("cpu-quota", None, Kind::Text,
            "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
        Flag::value("cpu-burst", None, Kind::Text,
            "CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period"),
        Flag::value("cpu-share", None, Kind::Text, "CPU shares (relative weight vs. other containers)"),
        Flag::value("cpu-rt-period", None, Kind::Text,
            "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"),
        Flag::value("cpu-rt-runtime", None, Kind::Text,
            "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"),
        Flag::value("cpuset-cpus", None, Kind::Text, "CPU(s) to use"),
        Flag::value("cpuset-mems", None, Kind::Text, "Memory node(s) to use"),
        // Hidden and ignored with runc 1.5.1's warning.
        Flag::value("kernel-memory", None, Kind::Text, ""),
        Flag::value("kernel-memory-tcp", None, Kind::Text, ""),
        Flag::value("memory", None, Kind::Text, "Memory limit (in bytes)"),
        Flag::value("cpu-idle", None, Kind::Text, "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE"),
        Flag::value("memory-reservation", None, Kind::Text, "Memory reservation or soft_limit (in bytes)"),
        Flag::value("memory-swap", None, Kind::Text,
            "Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
        Flag::value("pids-limit", None, Kind::Int, "Maximum number of pids allowed in the container (default: 0)"),
        Flag::value("l3-cache-schema", None, Kind::Text, "The string of Intel RDT/CAT L3 cache schema (not supported)"),
        Flag::value("mem-bw-schema", None, Kind::Text, "The string of Intel RDT/MBA memory bandwidth schema (not supported)"),
    ],
    arity: Arity::Exact(1),
    reorder: true,
};

/// Apply the update. As runc, an unknown container is reported before a bad value.
pub fn run(ctx: &Ctx<'_>, m: &Matches) -> anyhow::Result<i32> {
    let id = m.arg(0);
    libhako::container::state(&ctx.root, &id)?;
    if m.value("l3-cache-schema").is_some() || m.value("mem-bw-schema").is_some() {
        bail!("Intel RDT is not supported by hako");
    }
    if m.value("kernel-memory").is_some() || m.value("kernel-memory-tcp").is_some() {
        ctx.logger
            .warn("Kernel memory settings are ignored and will be removed");
    }
    let mut r: Value = match m.value("resources") {
        None => json!({}),
        Some(path) => {
            let mut text = String::new();
            if path == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading resources from stdin")?;
            } else {
                text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            }
            serde_json::from_str(&text).context("decoding resources JSON")?
        }
    };
    let mut put = |section: &str, key: &str, v: Value| {
        if !r[section].is_object() {
            r[section] = json!({});
        }
        r[section][key] = v;
    };
    let bad = |u: crate::cli::Usage| anyhow::anyhow!(u.msg);
    if let Some(w) = m.parsed::<u16>("blkio-weight").map_err(bad)? {
        put("blockIO", "weight", json!(w));
    }
    let unsigned = |flag: &str| -> anyhow::Result<Option<Value>> {
        Ok(m.parsed::<u64>(flag).map_err(bad)?.map(|v| json!(v)))
    };
    let signed = |flag: &str| -> anyhow::Result<Option<Value>> {
        Ok(m.parsed::<i64>(flag).map_err(bad)?.map(|v| json!(v)))
    };
    let text = |flag: &str| m.value(flag).map(|v| json!(v));
    let numbers = [
        ("cpu", "period", unsigned("cpu-period")?),
        ("cpu", "quota", signed("cpu-quota")?),
        ("cpu", "burst", unsigned("cpu-burst")?),
        ("cpu", "shares", unsigned("cpu-share")?),
        ("cpu", "realtimePeriod", unsigned("cpu-rt-period")?),
        ("cpu", "realtimeRuntime", signed("cpu-rt-runtime")?),
        ("cpu", "idle", signed("cpu-idle")?),
        ("cpu", "cpus", text("cpuset-cpus")),
        ("cpu", "mems", text("cpuset-mems")),
        ("pids", "limit", signed("pids-limit")?),
    ];
    for (section, key, v) in numbers {
        if let Some(v) = v {
            put(section, key, v);
        }
    }
    for (key, flag) in [
        ("limit", "memory"),
        ("reservation", "memory-reservation"),
        ("swap", "memory-swap"),
    ] {
        if let Some(v) = m.value(flag) {
            put("memory", key, json!(parse_size(v)?));
        }
    }
    let r: oci_spec::runtime::LinuxResources =
        serde_json::from_value(r).context("decoding resources JSON")?;
    libhako::container::update(&ctx.root, &id, &r)?;
    Ok(0)
}

/// runc's `units.RAMInBytes`: a number with an optional binary suffix (k, m, g, t, p, with or
/// without `b`/`ib`, any case); `-1` means unlimited.
fn parse_size(s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid size: {s:?}"))?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => bail!("invalid size: {s:?}"),
    };
    Ok((n * (1u64 << shift) as f64) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        use super::parse_size as p;
        assert_eq!(p("1024").unwrap(), 1024);
        assert_eq!(p("512m").unwrap(), 512 << 20);
        assert_eq!(p("1G").unwrap(), 1 << 30);
        assert_eq!(p("2kb").unwrap(), 2048);
        assert_eq!(p("1.5k").unwrap(), 1536);
        assert_eq!(p("-1").unwrap(), -1);
        assert!(p("12q").is_err() && p("").is_err());
    }
}
