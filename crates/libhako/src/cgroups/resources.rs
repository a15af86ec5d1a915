//! `linux.resources` -> the cgroup files to write, in order, for v1 and for v2. Pure: the
//! drivers look up the directories and write; everything here is value conversion with runc's
//! semantics (v1 shares <-> v2 weight, memory+swap on v2, `max` for unlimited, ...), so it is
//! unit-tested without a cgroupfs.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use crate::error::{Error, Result};

/// One file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The controller that owns the file (`""` for core `cgroup.*` files).
    pub controller: &'static str,
    /// File name in the cgroup directory.
    pub file: String,
    /// What to write.
    pub value: String,
    /// The config field it comes from, for errors (`linux.resources.memory.limit`).
    pub field: String,
}

fn set(controller: &'static str, file: &str, value: impl ToString, field: &str) -> Setting {
    Setting {
        controller,
        file: file.to_string(),
        value: value.to_string(),
        field: format!("linux.resources.{field}"),
    }
}

/// The v1 file of `linux.resources.memory.kernelTCP`.
pub const KMEM_TCP: &str = "memory.kmem.tcp.limit_in_bytes";

/// What the v1 conversion needs to know about the host.
pub struct V1Host<'a> {
    /// The current `memory.limit_in_bytes` (decides the memory/memsw write order).
    pub mem_limit: u64,
    /// Whether a file exists in its controller's directory (`blkio.weight` vs `blkio.bfq.weight`).
    pub exists: &'a dyn Fn(&str) -> bool,
}

/// runc's `ConvertCPUSharesToCgroupV2Value`: v1 shares [2, 262144] -> v2 weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// runc's `ConvertBlkIOToIOWeightValue`: blkio weight [10, 1000] -> io.weight [1, 10000].
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10) * 9999) / 990
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: the spec's swap is memory+swap (v1 memsw);
/// v2's `memory.swap.max` is swap alone. 0 = unchanged, -1 = unlimited.
pub fn swap_to_v2(swap: i64, memory: i64) -> std::result::Result<i64, String> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err("unable to set swap limit without memory limit".into());
    }
    if memory < 0 {
        return Err(format!("invalid memory value: {memory}"));
    }
    if swap < memory {
        return Err("memory+swap limit should be >= memory limit".into());
    }
    Ok(swap - memory)
}

/// A v2 number: 0 means "leave alone" (`None`), -1 (or any negative) `max`.
fn v2_num(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// `pids.max` for `linux.resources.pids.limit`, as runc 1.5.1: negative is `max`, and 0 (a
/// limit since runtime-spec 1.3; a `pids` without `limit` is dropped at parse) is 1, as
/// systemd's `TasksMax` cannot be 0.
fn pids_max(limit: i64) -> String {
    match limit {
        l if l < 0 => "max".into(),
        0 => "1".into(),
        l => l.to_string(),
    }
}

/// Settings for a v2 cgroup.
pub fn v2(r: &LinuxResources, exists: &dyn Fn(&str) -> bool) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    if let Some(p) = r.pids() {
        out.push(set("pids", "pids.max", pids_max(p.limit()), "pids.limit"));
    }
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        let swap = swap_to_v2(m.swap().unwrap_or(0), limit)
            .map_err(|e| Error::config("linux.resources.memory.swap", e))?;
        if let Some(v) = v2_num(swap) {
            out.push(set("memory", "memory.swap.max", v, "memory.swap"));
        }
        if let Some(v) = v2_num(limit) {
            out.push(set("memory", "memory.max", v, "memory.limit"));
        }
        if let Some(v) = v2_num(m.reservation().unwrap_or(0)) {
            out.push(set("memory", "memory.low", v, "memory.reservation"));
        }
        if m.swappiness().is_some() {
            return Err(unsupported(
                "memory.swappiness",
                "cgroup v2 has no swappiness",
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(unsupported(
                "memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            ));
        }
        if m.use_hierarchy() == Some(false) {
            return Err(unsupported(
                "memory.useHierarchy",
                "cgroup v2 memory accounting is always hierarchical",
            ));
        }
    }
    if let Some(b) = r.block_io() {
        let device_leaf = b
            .weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
        if b.leaf_weight().is_some() || device_leaf {
            let field = if device_leaf {
                "blockIO.weightDevice.leafWeight"
            } else {
                "blockIO.leafWeight"
            };
            return Err(unsupported(field, "cgroup v2 has no leaf weight"));
        }
        let bfq = exists("io.bfq.weight");
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            out.push(if bfq {
                set("io", "io.bfq.weight", w, "blockIO.weight")
            } else {
                let v = format!("default {}", blkio_to_io_weight(u64::from(w)));
                set("io", "io.weight", v, "blockIO.weight")
            });
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                let (maj, min) = (wd.major(), wd.minor());
                out.push(if bfq {
                    set(
                        "io",
                        "io.bfq.weight",
                        format!("{maj}:{min} {w}"),
                        "blockIO.weightDevice",
                    )
                } else {
                    let v = format!("{maj}:{min} {}", blkio_to_io_weight(u64::from(w)));
                    set("io", "io.weight", v, "blockIO.weightDevice")
                });
            }
        }
        for (list, key, field) in [
            (
                b.throttle_read_bps_device(),
                "rbps",
                "blockIO.throttleReadBpsDevice",
            ),
            (
                b.throttle_write_bps_device(),
                "wbps",
                "blockIO.throttleWriteBpsDevice",
            ),
            (
                b.throttle_read_iops_device(),
                "riops",
                "blockIO.throttleReadIOPSDevice",
            ),
            (
                b.throttle_write_iops_device(),
                "wiops",
                "blockIO.throttleWriteIOPSDevice",
            ),
        ] {
            for t in list.iter().flatten() {
                let rate = if t.rate() == 0 {
                    "max".to_string()
                } else {
                    t.rate().to_string()
                };
                let v = format!("{}:{} {key}={rate}", t.major(), t.minor());
                out.push(set("io", "io.max", v, field));
            }
        }
    }
    if let Some(c) = r.cpu() {
        let w = shares_to_weight(c.shares().unwrap_or(0));
        if w != 0 {
            out.push(set("cpu", "cpu.weight", w, "cpu.shares"));
        }
        let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
        if quota != 0 || period != 0 {
            let mut v = if quota > 0 {
                quota.to_string()
            } else {
                "max".into()
            };
            if period != 0 {
                v.push_str(&format!(" {period}"));
            }
            let field = if quota != 0 {
                "cpu.quota"
            } else {
                "cpu.period"
            };
            out.push(set("cpu", "cpu.max", v, field));
        }
        if let Some(b) = c.burst() {
            out.push(set("cpu", "cpu.max.burst", b, "cpu.burst"));
        }
        if let Some(i) = c.idle() {
            out.push(set("cpu", "cpu.idle", i, "cpu.idle"));
        }
        for (v, field) in [
            (
                c.realtime_runtime().unwrap_or(0) != 0,
                "cpu.realtimeRuntime",
            ),
            (c.realtime_period().unwrap_or(0) != 0, "cpu.realtimePeriod"),
        ] {
            if v {
                return Err(unsupported(field, "cgroup v2 has no realtime CPU limits"));
            }
        }
        cpuset(&mut out, c.cpus().as_deref(), c.mems().as_deref());
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        out.push(set(
            "hugetlb",
            &format!("hugetlb.{size}.max"),
            h.limit(),
            "hugepageLimits",
        ));
        if exists(&format!("hugetlb.{size}.rsvd.max")) {
            out.push(set(
                "hugetlb",
                &format!("hugetlb.{size}.rsvd.max"),
                h.limit(),
                "hugepageLimits",
            ));
        }
    }
    if r.network().is_some() {
        return Err(unsupported(
            "network",
            "net_cls and net_prio are cgroup v1 controllers",
        ));
    }
    rdma(&mut out, r);
    let mut unified: Vec<_> = r.unified().iter().flatten().collect();
    unified.sort();
    for (key, value) in unified {
        if key.contains('/') || key.starts_with('.') || key.is_empty() {
            return Err(Error::config(
                format!("linux.resources.unified.{key}"),
                "not a cgroup file name",
            ));
        }
        let controller = match key.split_once('.') {
            Some(("cgroup", _)) | None => "",
            Some((c, _)) => known_controller(c),
        };
        out.push(set(controller, key, value, &format!("unified.{key}")));
    }
    Ok(out)
}

/// The controller a `unified` key belongs to; `""` (no availability check, the write itself
/// fails on a missing file) for core files and prefixes that are not controllers.
fn known_controller(c: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "cpu", "cpuset", "io", "memory", "hugetlb", "pids", "rdma", "misc",
    ];
    KNOWN.iter().find(|k| **k == c).copied().unwrap_or("")
}

fn cpuset(out: &mut Vec<Setting>, cpus: Option<&str>, mems: Option<&str>) {
    if let Some(c) = cpus.filter(|c| !c.is_empty()) {
        out.push(set("cpuset", "cpuset.cpus", c, "cpu.cpus"));
    }
    if let Some(m) = mems.filter(|m| !m.is_empty()) {
        out.push(set("cpuset", "cpuset.mems", m, "cpu.mems"));
    }
}

fn rdma(out: &mut Vec<Setting>, r: &LinuxResources) {
    let mut devs: Vec<_> = r.rdma().iter().flatten().collect();
    devs.sort_by_key(|(k, _)| *k);
    for (dev, l) in devs {
        let mut v = dev.clone();
        if let Some(h) = l.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        out.push(set("rdma", "rdma.max", v, "rdma"));
    }
}

fn unsupported(field: &str, why: &str) -> Error {
    Error::config(
        format!("linux.resources.{field}"),
        format!("the host cannot honour it: {why}"),
    )
}

/// Settings for v1 hierarchies, device rules included unless `skip_devices` (updates).
pub fn v1(r: &LinuxResources, host: &V1Host<'_>, skip_devices: bool) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    if let Some(c) = r.cpu() {
        cpuset(&mut out, c.cpus().as_deref(), c.mems().as_deref());
    }
    if !skip_devices {
        out.extend(device_settings(r.devices().as_deref().unwrap_or_default()));
    }
    if let Some(m) = r.memory() {
        v1_memory(&mut out, m, host)?;
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            // The kernel clamps out-of-range shares silently; runc refuses them (in these words).
            let why = match s {
                s if s < 2 => Some("the minimum allowed cpu-shares is 2"),
                s if s > 262_144 => Some("the maximum allowed cpu-shares is 262144"),
                _ => None,
            };
            if let Some(why) = why {
                return Err(Error::config("linux.resources.cpu.shares", why));
            }
            out.push(set("cpu", "cpu.shares", s, "cpu.shares"));
        }
        if let Some(p) = c.period().filter(|p| *p != 0) {
            out.push(set("cpu", "cpu.cfs_period_us", p, "cpu.period"));
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            out.push(set("cpu", "cpu.cfs_quota_us", q, "cpu.quota"));
        }
        if let Some(b) = c.burst() {
            out.push(set("cpu", "cpu.cfs_burst_us", b, "cpu.burst"));
        }
        if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
            out.push(set("cpu", "cpu.rt_period_us", p, "cpu.realtimePeriod"));
        }
        if let Some(rt) = c.realtime_runtime().filter(|r| *r != 0) {
            out.push(set("cpu", "cpu.rt_runtime_us", rt, "cpu.realtimeRuntime"));
        }
        if let Some(i) = c.idle() {
            out.push(set("cpu", "cpu.idle", i, "cpu.idle"));
        }
    }
    if let Some(p) = r.pids() {
        out.push(set("pids", "pids.max", pids_max(p.limit()), "pids.limit"));
    }
    if let Some(b) = r.block_io() {
        let bfq = !(host.exists)("blkio.weight") && (host.exists)("blkio.bfq.weight");
        let (wfile, wdfile) = if bfq {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        } else {
            ("blkio.weight", "blkio.weight_device")
        };
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            out.push(set("blkio", wfile, w, "blockIO.weight"));
        }
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            out.push(set("blkio", "blkio.leaf_weight", w, "blockIO.leafWeight"));
        }
        for wd in b.weight_device().iter().flatten() {
            let (maj, min) = (wd.major(), wd.minor());
            if let Some(w) = wd.weight() {
                out.push(set(
                    "blkio",
                    wdfile,
                    format!("{maj}:{min} {w}"),
                    "blockIO.weightDevice",
                ));
            }
            if let Some(w) = wd.leaf_weight() {
                let v = format!("{maj}:{min} {w}");
                out.push(set(
                    "blkio",
                    "blkio.leaf_weight_device",
                    v,
                    "blockIO.weightDevice",
                ));
            }
        }
        for (list, file, field) in [
            (
                b.throttle_read_bps_device(),
                "read_bps_device",
                "blockIO.throttleReadBpsDevice",
            ),
            (
                b.throttle_write_bps_device(),
                "write_bps_device",
                "blockIO.throttleWriteBpsDevice",
            ),
            (
                b.throttle_read_iops_device(),
                "read_iops_device",
                "blockIO.throttleReadIOPSDevice",
            ),
            (
                b.throttle_write_iops_device(),
                "write_iops_device",
                "blockIO.throttleWriteIOPSDevice",
            ),
        ] {
            for t in list.iter().flatten() {
                let v = format!("{}:{} {}", t.major(), t.minor(), t.rate());
                out.push(set("blkio", &format!("blkio.throttle.{file}"), v, field));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        let file = format!("hugetlb.{size}.limit_in_bytes");
        out.push(set("hugetlb", &file, h.limit(), "hugepageLimits"));
        let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
        if (host.exists)(&rsvd) {
            out.push(set("hugetlb", &rsvd, h.limit(), "hugepageLimits"));
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            out.push(set("net_cls", "net_cls.classid", id, "network.classID"));
        }
        for p in n.priorities().iter().flatten() {
            let v = format!("{} {}", p.name(), p.priority());
            out.push(set(
                "net_prio",
                "net_prio.ifpriomap",
                v,
                "network.priorities",
            ));
        }
    }
    rdma(&mut out, r);
    if has_unified(r) {
        return Err(unified_on_v1());
    }
    Ok(out)
}

/// Whether `linux.resources.unified` asks for anything.
pub fn has_unified(r: &LinuxResources) -> bool {
    r.unified().as_ref().is_some_and(|u| !u.is_empty())
}

/// `linux.resources.unified` on a v1 (or hybrid) host: refused as runc's validation does, in
/// its words first.
pub fn unified_on_v1() -> Error {
    Error::Lifecycle(
        "invalid configuration: cannot use unified on cgroup v1 (linux.resources.unified: \
         cgroup v2 files, and this host runs cgroup v1 controllers)"
            .into(),
    )
}

fn v1_memory(
    out: &mut Vec<Setting>,
    m: &oci_spec::runtime::LinuxMemory,
    host: &V1Host<'_>,
) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // runc: unlimited memory without an explicit swap means unlimited swap too.
    if limit == -1 && swap == 0 {
        swap = -1;
    }
    let mem = set("memory", "memory.limit_in_bytes", limit, "memory.limit");
    let memsw = set("memory", "memory.memsw.limit_in_bytes", swap, "memory.swap");
    if limit != 0 && swap != 0 {
        // The kernel wants memory <= memsw at every step: raise memsw first when growing.
        if swap == -1 || (swap > 0 && host.mem_limit < swap as u64) {
            out.extend([memsw, mem]);
        } else {
            out.extend([mem, memsw]);
        }
    } else if limit != 0 {
        out.push(mem);
    } else if swap != 0 {
        out.push(memsw);
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        out.push(set(
            "memory",
            "memory.soft_limit_in_bytes",
            r,
            "memory.reservation",
        ));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::config(
                "linux.resources.memory.swappiness",
                format!("invalid value:{s}. valid memory swappiness range is 0-100"),
            ));
        }
        out.push(set("memory", "memory.swappiness", s, "memory.swappiness"));
    }
    // Written where the host has it; Cgroup::kernel_memory_warnings warns where it has not.
    if let Some(t) = m.kernel_tcp().filter(|_| (host.exists)(KMEM_TCP)) {
        out.push(set("memory", KMEM_TCP, t, "memory.kernelTCP"));
    }
    if m.disable_oom_killer() == Some(true) {
        out.push(set(
            "memory",
            "memory.oom_control",
            1,
            "memory.disableOOMKiller",
        ));
    }
    if let Some(h) = m.use_hierarchy() {
        // Linux 5.16+ refuses 0 (EINVAL): create then fails naming the field.
        let v = u8::from(h);
        out.push(set(
            "memory",
            "memory.use_hierarchy",
            v,
            "memory.useHierarchy",
        ));
    }
    Ok(())
}

/// runc's default device allow-list (`specconv.AllowedDevices`), appended after the spec's
/// rules: mknod of anything, the standard character devices, ptys and tun.
pub const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

/// One device rule in the kernel's `type major:minor access` form; `None` for a rule that
/// names no access at all. As runc, the access string keeps only what the kernel knows (`r`,
/// `w`, `m`, in that order; anything else, such as the `a` of "rwa", the kernel would refuse
/// with EINVAL and runc drops); an absent or empty one is `rwm`.
pub fn device_rule(d: &LinuxDeviceCgroup) -> Option<String> {
    let typ = d
        .typ()
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "a".into());
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let access: String = match d.access().as_deref().filter(|a| !a.is_empty()) {
        None => "rwm".into(),
        Some(a) => "rwm".chars().filter(|c| a.contains(*c)).collect(),
    };
    if typ == "a" {
        return Some("a".into());
    }
    (!access.is_empty()).then(|| format!("{typ} {}:{} {access}", num(d.major()), num(d.minor())))
}

/// v1 device settings: start from deny-all (so the result does not depend on what the cgroup
/// inherited), then the spec's rules in order, then runc's default allow-list. A deny rule
/// before any allow rule changes nothing (all is denied already) and is not written, as runc
/// writes only the rules that change the cgroup's state.
fn device_settings(rules: &[LinuxDeviceCgroup]) -> Vec<Setting> {
    let mut out = vec![set("devices", "devices.deny", "a", "devices")];
    let mut allowed = false;
    for (i, d) in rules.iter().enumerate() {
        allowed |= d.allow();
        let Some(rule) = device_rule(d).filter(|_| allowed) else {
            continue;
        };
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(set("devices", file, rule, &format!("devices[{i}]")));
    }
    for r in DEFAULT_DEVICE_RULES {
        out.push(set("devices", "devices.allow", r, "devices"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn files(s: &[Setting]) -> Vec<(String, String)> {
        s.iter()
            .map(|s| (s.file.clone(), s.value.clone()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const NONE: &dyn Fn(&str) -> bool = &|_| false;

    #[test]
    fn runc_conversions() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(swap_to_v2(0, -1), Ok(-1));
        assert_eq!(swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(swap_to_v2(0, 100), Ok(0));
        assert_eq!(swap_to_v2(300, 100), Ok(200));
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn v2_files() {
        let r = res(
            r#"{"memory":{"limit":104857600,"swap":209715200,"reservation":-1},
            "cpu":{"shares":1024,"quota":50000,"period":100000,"burst":1000,"cpus":"0","mems":"0"},
            "pids":{"limit":-1},"hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
            "blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]},
            "rdma":{"mlx5_1":{"hcaHandles":3}},
            "unified":{"memory.high":"90000000","cgroup.max.depth":"4"}}"#,
        );
        let s = v2(&r, NONE).unwrap();
        assert_eq!(
            files(&s),
            pairs(&[
                ("pids.max", "max"),
                ("memory.swap.max", "104857600"),
                ("memory.max", "104857600"),
                ("memory.low", "max"),
                ("io.weight", "default 4950"),
                ("io.max", "8:0 rbps=1048576"),
                ("cpu.weight", "39"),
                ("cpu.max", "50000 100000"),
                ("cpu.max.burst", "1000"),
                ("cpuset.cpus", "0"),
                ("cpuset.mems", "0"),
                ("hugetlb.2MB.max", "4194304"),
                ("rdma.max", "mlx5_1 hca_handle=3"),
                ("cgroup.max.depth", "4"),
                ("memory.high", "90000000"),
            ])
        );
        assert_eq!(s.last().map(|s| s.controller), Some("memory"));
        assert_eq!(s[13].controller, "");
        // Quota without period keeps the kernel's period; -1 is "max".
        let q = v2(&res(r#"{"cpu":{"quota":-1}}"#), NONE).unwrap();
        assert_eq!(files(&q), pairs(&[("cpu.max", "max")]));
        // bfq present: the weight is written as is.
        let b = v2(&res(r#"{"blockIO":{"weight":300}}"#), &|f| {
            f == "io.bfq.weight"
        })
        .unwrap();
        assert_eq!(files(&b), pairs(&[("io.bfq.weight", "300")]));
    }

    #[test]
    fn v2_refuses_what_it_cannot_do() {
        for (json, field) in [
            (r#"{"memory":{"swappiness":10}}"#, "memory.swappiness"),
            (r#"{"memory":{"swap":100}}"#, "memory.swap"),
            (r#"{"network":{"classID":1}}"#, "network"),
            (r#"{"cpu":{"realtimeRuntime":100}}"#, "cpu.realtimeRuntime"),
            (r#"{"unified":{"../x":"1"}}"#, "unified"),
        ] {
            let e = v2(&res(json), NONE).unwrap_err().to_string();
            assert!(
                e.contains(&format!("linux.resources.{field}")),
                "{json}: {e}"
            );
        }
    }

    #[test]
    fn v1_files() {
        let r = res(
            r#"{"memory":{"limit":104857600,"swap":209715200,"swappiness":0,
            "disableOOMKiller":true},"cpu":{"shares":512,"quota":20000,"period":50000,
            "realtimeRuntime":0,"cpus":"0-1"},"pids":{"limit":10},
            "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]},
            "blockIO":{"weight":100,"weightDevice":[{"major":8,"minor":0,"weight":200}]}}"#,
        );
        let host = V1Host {
            mem_limit: u64::MAX,
            exists: &|_| true,
        };
        let s = v1(&r, &host, true).unwrap();
        assert_eq!(
            files(&s),
            pairs(&[
                ("cpuset.cpus", "0-1"),
                ("memory.limit_in_bytes", "104857600"),
                ("memory.memsw.limit_in_bytes", "209715200"),
                ("memory.swappiness", "0"),
                ("memory.oom_control", "1"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "50000"),
                ("cpu.cfs_quota_us", "20000"),
                ("pids.max", "10"),
                ("blkio.weight", "100"),
                ("blkio.weight_device", "8:0 200"),
                ("net_cls.classid", "1048577"),
                ("net_prio.ifpriomap", "eth0 5"),
            ])
        );
        // Growing past the current limit: memsw first.
        let grow = V1Host {
            mem_limit: 100,
            exists: &|_| true,
        };
        let s = v1(
            &res(r#"{"memory":{"limit":1000,"swap":2000}}"#),
            &grow,
            true,
        )
        .unwrap();
        assert_eq!(s[0].file, "memory.memsw.limit_in_bytes");
        let e = v1(&res(r#"{"unified":{"a.b":"1"}}"#), &host, false).unwrap_err();
        assert!(e.to_string().contains("linux.resources.unified"), "{e}");
    }

    #[test]
    fn v1_device_rules() {
        let r = res(r#"{"devices":[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
            {"allow":true,"type":"b","major":8,"access":"r"}]}"#);
        let host = V1Host {
            mem_limit: 0,
            exists: &|_| true,
        };
        let s = v1(&r, &host, false).unwrap();
        let got = files(&s);
        // The spec's deny-all comes before any allow: nothing to write for it.
        assert_eq!(got[0], ("devices.deny".into(), "a".into()));
        assert_eq!(got[1], ("devices.allow".into(), "c 1:3 rw".into()));
        assert_eq!(got[2], ("devices.allow".into(), "b 8:* r".into()));
        assert_eq!(got.len(), 3 + DEFAULT_DEVICE_RULES.len());
        assert!(
            v1(&r, &host, true).unwrap().is_empty(),
            "updates skip devices"
        );
        // Access strings keep what the kernel knows (runc's reading of "rwa"); a rule naming
        // none is dropped; a deny after an allow is written.
        let r = res(
            r#"{"devices":[{"allow":false,"type":"c","major":1,"minor":11,"access":"rwa"},
            {"allow":true,"type":"c","major":1,"minor":11,"access":"awr"},
            {"allow":false,"type":"c","major":1,"minor":11,"access":"xa"},
            {"allow":false,"type":"c","major":1,"minor":11,"access":"mw"}]}"#,
        );
        let got = files(&v1(&r, &host, false).unwrap());
        assert_eq!(got[1], ("devices.allow".into(), "c 1:11 rw".into()));
        assert_eq!(got[2], ("devices.deny".into(), "c 1:11 wm".into()));
        assert_eq!(got.len(), 3 + DEFAULT_DEVICE_RULES.len());
    }
}
