//! Container statistics in the shape `runc events` prints (runc's `types/events.go`, including
//! Go's `omitempty` rules), read from v1 or v2 cgroup files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::fs::{read, read_keyed, read_u64};

fn zero(v: &u64) -> bool {
    *v == 0
}

/// `data` of a `stats` event.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: Cpu,
    /// CPU and memory nodes: the v1 cpuset's (as runc 1.5.1), else an empty object.
    #[serde(serialize_with = "cpuset_or_empty")]
    pub cpuset: Option<Cpuset>,
    /// Memory usage.
    pub memory: Memory,
    /// Process counts.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Per page size.
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (not supported: empty).
    pub intel_rdt: serde_json::Map<String, serde_json::Value>,
    /// The container's network interfaces (from its network namespace), `null` when none.
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

/// The v1 cpuset's files, as runc 1.5.1's `CPUSetStats`.
#[derive(Debug, Default, Serialize)]
pub struct Cpuset {
    /// `cpuset.cpus`, expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// `cpuset.cpu_exclusive`.
    pub cpu_exclusive: u64,
    /// `cpuset.mems`, expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// `cpuset.mem_hardwall`.
    pub mem_hardwall: u64,
    /// `cpuset.mem_exclusive`.
    pub mem_exclusive: u64,
    /// `cpuset.memory_migrate`.
    pub memory_migrate: u64,
    /// `cpuset.memory_spread_page`.
    pub memory_spread_page: u64,
    /// `cpuset.memory_spread_slab`.
    pub memory_spread_slab: u64,
    /// `cpuset.memory_pressure`.
    pub memory_pressure: u64,
    /// `cpuset.sched_load_balance`.
    pub sched_load_balance: u64,
    /// `cpuset.sched_relax_domain_level` (-1: the system default).
    pub sched_relax_domain_level: i64,
}

fn cpuset_or_empty<S: serde::Serializer>(c: &Option<Cpuset>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => c.serialize(s),
        None => serde::ser::SerializeMap::end(s.serialize_map(Some(0))?),
    }
}

/// A cpuset list ("0-3,7") expanded; what does not parse is left out.
fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for r in text.trim().split(',').filter(|r| !r.is_empty()) {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// CPU statistics.
#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    /// Usage in nanoseconds.
    pub usage: CpuUsage,
    /// CFS throttling (left out when nothing was throttled, as runc 1.5.1).
    #[serde(skip_serializing_if = "Throttling::is_zero")]
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    /// Per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, kernel mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, user mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel mode.
    pub kernel: u64,
    /// User mode.
    pub user: u64,
}

/// CFS throttling counters.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Throttling {
    /// Periods.
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    /// Throttled periods.
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Throttled time, ns.
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

impl Throttling {
    fn is_zero(&self) -> bool {
        *self == Throttling::default()
    }
}

/// Memory statistics.
#[derive(Debug, Default, Serialize)]
pub struct Memory {
    /// Page cache.
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap.
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP memory (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat` as is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter.
#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    /// Limit (`u64::MAX` = unlimited).
    pub limit: u64,
    /// Usage.
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Process counts.
#[derive(Debug, Default, Serialize)]
pub struct Pids {
    /// Processes now.
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    /// Limit (0 = none).
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

/// Block I/O counters.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes by device and operation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations by device and operation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One block I/O counter.
#[derive(Debug, Default, Serialize)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    /// `Read`, `Write`, ...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// Value.
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

/// Huge page usage.
#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    /// Usage.
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Counters of one network interface.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Received packets.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Dropped on receive.
    pub rx_dropped: u64,
    /// Sent bytes.
    pub tx_bytes: u64,
    /// Sent packets.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Dropped on send.
    pub tx_dropped: u64,
}

/// Interfaces (but `lo`) of a `/proc/<pid>/net/dev` text.
pub fn parse_net_dev(text: &str) -> Vec<NetworkInterface> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let n: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let name = name.trim();
            (name != "lo" && n.len() >= 12).then(|| NetworkInterface {
                name: name.to_string(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            })
        })
        .collect()
}

/// Huge page sizes the kernel offers (`/sys/kernel/mm/hugepages/hugepages-2048kB` -> `2MB`).
fn hugepage_sizes() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let kb: u64 = n
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
                kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            })
        })
        .collect()
}

/// Fill the v1 parts present in `dirs` (controller -> directory).
pub fn v1(dirs: &BTreeMap<String, std::path::PathBuf>, s: &mut Stats) {
    let d = |c: &str| dirs.get(c).map(std::path::PathBuf::as_path);
    if let Some(dir) = d("cpuacct") {
        let u = &mut s.cpu.usage;
        u.total = read_u64(dir, "cpuacct.usage");
        let list = |f| {
            read(dir, f)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect::<Vec<u64>>()
        };
        u.percpu = list("cpuacct.usage_percpu");
        u.percpu_kernel = list("cpuacct.usage_percpu_sys");
        u.percpu_user = list("cpuacct.usage_percpu_user");
        let st = read_keyed(dir, "cpuacct.stat");
        let tick = 1_000_000_000 / clock_ticks();
        u.user = st.get("user").copied().unwrap_or(0) * tick;
        u.kernel = st.get("system").copied().unwrap_or(0) * tick;
    }
    if let Some(dir) = d("cpu") {
        let st = read_keyed(dir, "cpu.stat");
        throttling(&mut s.cpu.throttling, &st, "throttled_time", 1);
    }
    if let Some(dir) = d("cpuset") {
        s.cpuset = Some(cpuset_v1(dir));
    }
    if let Some(dir) = d("memory") {
        let m = &mut s.memory;
        m.raw = read_keyed(dir, "memory.stat");
        m.cache = m
            .raw
            .get("total_cache")
            .or(m.raw.get("cache"))
            .copied()
            .unwrap_or(0);
        for (e, prefix) in [
            (&mut m.usage, "memory"),
            (&mut m.swap, "memory.memsw"),
            (&mut m.kernel, "memory.kmem"),
            (&mut m.kernel_tcp, "memory.kmem.tcp"),
        ] {
            e.usage = read_u64(dir, &format!("{prefix}.usage_in_bytes"));
            e.max = read_u64(dir, &format!("{prefix}.max_usage_in_bytes"));
            e.failcnt = read_u64(dir, &format!("{prefix}.failcnt"));
            e.limit = read_u64(dir, &format!("{prefix}.limit_in_bytes"));
        }
    }
    if let Some(dir) = d("pids") {
        pids(dir, s);
    }
    if let Some(dir) = d("blkio") {
        let entries = |f| blkio_v1(&read(dir, f).unwrap_or_default());
        s.blkio.io_service_bytes_recursive = entries("blkio.throttle.io_service_bytes_recursive");
        s.blkio.io_serviced_recursive = entries("blkio.throttle.io_serviced_recursive");
    }
    if let Some(dir) = d("hugetlb") {
        for size in hugepage_sizes() {
            let f = |x: &str| read_u64(dir, &format!("hugetlb.{size}.{x}"));
            let h = Hugetlb {
                usage: f("usage_in_bytes"),
                max: f("max_usage_in_bytes"),
                failcnt: f("failcnt"),
            };
            s.hugetlb.insert(size, h);
        }
    }
}

fn cpuset_v1(dir: &Path) -> Cpuset {
    let n = |f: &str| read_u64(dir, &format!("cpuset.{f}"));
    let list = |f: &str| cpu_list(&read(dir, &format!("cpuset.{f}")).unwrap_or_default());
    Cpuset {
        cpus: list("cpus"),
        cpu_exclusive: n("cpu_exclusive"),
        mems: list("mems"),
        mem_hardwall: n("mem_hardwall"),
        mem_exclusive: n("mem_exclusive"),
        memory_migrate: n("memory_migrate"),
        memory_spread_page: n("memory_spread_page"),
        memory_spread_slab: n("memory_spread_slab"),
        memory_pressure: n("memory_pressure"),
        sched_load_balance: n("sched_load_balance"),
        sched_relax_domain_level: read(dir, "cpuset.sched_relax_domain_level")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    }
}

/// Fill from a v2 directory.
pub fn v2(dir: &Path, s: &mut Stats) {
    let st = read_keyed(dir, "cpu.stat");
    let u = &mut s.cpu.usage;
    u.total = st.get("usage_usec").copied().unwrap_or(0) * 1000;
    u.user = st.get("user_usec").copied().unwrap_or(0) * 1000;
    u.kernel = st.get("system_usec").copied().unwrap_or(0) * 1000;
    throttling(&mut s.cpu.throttling, &st, "throttled_usec", 1000);
    let m = &mut s.memory;
    m.raw = read_keyed(dir, "memory.stat");
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = read_keyed(dir, "memory.events");
    m.usage = MemoryEntry {
        limit: read_u64(dir, "memory.max"),
        usage: read_u64(dir, "memory.current"),
        max: read_u64(dir, "memory.peak"),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // runc reports memory+swap as "swap", as v1's memsw.
    let swap_max = read_u64(dir, "memory.swap.max");
    m.swap = MemoryEntry {
        limit: swap_max.saturating_add(m.usage.limit),
        usage: read_u64(dir, "memory.swap.current") + m.usage.usage,
        ..Default::default()
    };
    pids(dir, s);
    for line in read(dir, "io.stat").unwrap_or_default().lines() {
        let mut parts = line.split_whitespace();
        let Some((major, minor)) = parts.next().and_then(dev_numbers) else {
            continue;
        };
        for kv in parts {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    for size in hugepage_sizes() {
        if !dir.join(format!("hugetlb.{size}.current")).exists() {
            continue;
        }
        let ev = read_keyed(dir, &format!("hugetlb.{size}.events"));
        let h = Hugetlb {
            usage: read_u64(dir, &format!("hugetlb.{size}.current")),
            max: 0,
            failcnt: ev.get("max").copied().unwrap_or(0),
        };
        s.hugetlb.insert(size, h);
    }
}

fn throttling(t: &mut Throttling, st: &BTreeMap<String, u64>, time_key: &str, scale: u64) {
    t.periods = st.get("nr_periods").copied().unwrap_or(0);
    t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
    t.throttled_time = st.get(time_key).copied().unwrap_or(0) * scale;
}

fn pids(dir: &Path, s: &mut Stats) {
    s.pids.current = read_u64(dir, "pids.current");
    let max = read_u64(dir, "pids.max");
    s.pids.limit = if max == u64::MAX { 0 } else { max };
}

fn dev_numbers(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// v1 blkio lines: `8:0 Read 4096` (the `Total` lines carry no device).
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f[..] else { return None };
            let (major, minor) = dev_numbers(dev)?;
            Some(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_json_shape() {
        let mut s = Stats::default();
        s.memory.usage.limit = 5;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["cpu"],
            serde_json::json!({"usage": {"kernel": 0, "user": 0}})
        );
        assert_eq!(
            v["memory"]["usage"],
            serde_json::json!({"limit": 5, "failcnt": 0})
        );
        assert_eq!(v["pids"], serde_json::json!({}));
        assert_eq!(v["cpuset"], serde_json::json!({}));
        assert_eq!(v["network_interfaces"], serde_json::Value::Null);
        assert!(v["memory"].get("kernelTCP").is_some());
    }

    #[test]
    fn v1_cpuset_as_runc() {
        assert_eq!(cpu_list("0-2,5\n"), [0, 1, 2, 5]);
        assert!(cpu_list("").is_empty());
        let d = crate::cgroups::testing::tempdir("stats-cpuset");
        for (f, c) in [
            ("cpuset.cpus", "0-1\n"),
            ("cpuset.mems", "0\n"),
            ("cpuset.sched_load_balance", "1\n"),
            ("cpuset.sched_relax_domain_level", "-1\n"),
        ] {
            std::fs::write(d.join(f), c).unwrap();
        }
        let mut s = Stats::default();
        v1(&BTreeMap::from([("cpuset".to_string(), d)]), &mut s);
        let v = serde_json::to_string(&serde_json::to_value(&s).unwrap()["cpuset"]).unwrap();
        assert_eq!(
            v,
            "{\"cpu_exclusive\":0,\"cpus\":[0,1],\"mem_exclusive\":0,\"mem_hardwall\":0,\
             \"memory_migrate\":0,\"memory_pressure\":0,\"memory_spread_page\":0,\
             \"memory_spread_slab\":0,\"mems\":[0],\"sched_load_balance\":1,\
             \"sched_relax_domain_level\":-1}"
        );
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains("\"cpuset\":{\"cpus\":[0,1],\"cpu_exclusive\":0,\"mems\":[0],"),
            "{text}"
        );
    }

    #[test]
    fn v2_from_fake_files() {
        let d = crate::cgroups::testing::tempdir("stats");
        for (f, c) in [
            ("cpu.stat", "usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 4\nnr_throttled 1\nthrottled_usec 3\n"),
            ("memory.current", "4096\n"),
            ("memory.max", "max\n"),
            ("memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            ("io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"),
        ] {
            std::fs::write(d.join(f), c).unwrap();
        }
        let mut s = Stats::default();
        v2(&d, &mut s);
        assert_eq!(
            (
                s.cpu.usage.total,
                s.cpu.usage.user,
                s.cpu.throttling.throttled_time
            ),
            (7000, 5000, 3000)
        );
        assert_eq!(
            (
                s.memory.usage.usage,
                s.memory.usage.limit,
                s.memory.usage.failcnt
            ),
            (4096, u64::MAX, 2)
        );
        assert_eq!((s.pids.current, s.pids.limit), (3, 0));
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_serviced_recursive[1].op, "Write");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 100 2 0 1 0 0 0 0 300 4 0 0 0 0 0 0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 1);
        assert_eq!(
            (
                n[0].name.as_str(),
                n[0].rx_bytes,
                n[0].rx_dropped,
                n[0].tx_packets
            ),
            ("eth0", 100, 1, 4)
        );
    }
}
