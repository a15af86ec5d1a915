//! `hako update [flags] ID`: change a running container's cgroup limits, with runc's flags or
//! `--resources FILE` (`-` = stdin, as Docker sends it) holding an OCI `LinuxResources` JSON.
//! Flags override the file. Memory sizes accept runc's units (`512m`, `1g`; `-1` unlimited).

use std::io::Read;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::Ctx;

/// `update` arguments (runc's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Path to a JSON file with the resources to update, or '-' to read stdin.
    #[arg(short, long)]
    resources: Option<String>,
    /// Block IO weight, 10 to 1000.
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// CPU CFS period (µs).
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPU CFS quota (µs per period).
    #[arg(long, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares.
    #[arg(long)]
    cpu_share: Option<u64>,
    /// CPU realtime period (µs).
    #[arg(long)]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (µs per period).
    #[arg(long, allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs to use.
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Obsolete; accepted and ignored.
    #[arg(long, hide = true)]
    kernel_memory: Option<String>,
    /// Obsolete; accepted and ignored.
    #[arg(long, hide = true)]
    kernel_memory_tcp: Option<String>,
    /// Memory limit.
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// SCHED_IDLE for the cgroup: 0 or 1.
    #[arg(long)]
    cpu_idle: Option<i64>,
    /// Memory reservation (soft limit).
    #[arg(long, allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory + swap limit; -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of processes.
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long)]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long)]
    mem_bw_schema: Option<String>,
    /// Container id.
    id: String,
}

/// Apply the update.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("Intel RDT is not supported by hako");
    }
    let mut r: Value = match a.resources.as_deref() {
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
    if let Some(w) = a.blkio_weight {
        put("blockIO", "weight", json!(w));
    }
    let numbers = [
        ("cpu", "period", a.cpu_period.map(|v| json!(v))),
        ("cpu", "quota", a.cpu_quota.map(|v| json!(v))),
        ("cpu", "shares", a.cpu_share.map(|v| json!(v))),
        ("cpu", "realtimePeriod", a.cpu_rt_period.map(|v| json!(v))),
        ("cpu", "realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v))),
        ("cpu", "idle", a.cpu_idle.map(|v| json!(v))),
        ("cpu", "cpus", a.cpuset_cpus.map(|v| json!(v))),
        ("cpu", "mems", a.cpuset_mems.map(|v| json!(v))),
        ("pids", "limit", a.pids_limit.map(|v| json!(v))),
    ];
    for (section, key, v) in numbers {
        if let Some(v) = v {
            put(section, key, v);
        }
    }
    for (key, v) in [
        ("limit", a.memory),
        ("reservation", a.memory_reservation),
        ("swap", a.memory_swap),
    ] {
        if let Some(v) = v {
            put("memory", key, json!(parse_size(&v)?));
        }
    }
    let r: oci_spec::runtime::LinuxResources =
        serde_json::from_value(r).context("decoding resources JSON")?;
    libhako::container::update(&ctx.root, &a.id, &r)?;
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
