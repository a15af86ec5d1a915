//! Differential fuzzing against the reference runc (1.5.1, `../shared/reference/runc`): a
//! generator of valid but unusual configs (mount option mixes, namespace subsets, user,
//! capability and rlimit combinations, cgroup values at their bounds), each run under runc and
//! under hako. The outcomes must agree: both refuse, or both run and the container sees the
//! same credentials and capabilities (`/proc/self/status`), limits (`/proc/self/limits`),
//! mounts (`/proc/self/mountinfo`, numbers and order left out) and cgroup files. A difference
//! fails the test unless [`ALLOWED`] lists it with the reason.
//!
//! CI runs a bounded sample from a fixed seed. By hand, further:
//! `HAKO_FUZZ_DIFF_SEED=<n> HAKO_FUZZ_DIFF_CASES=<n> cargo test --test fuzz_diff -- --nocapture`
//! (each case prints its seed and config when it differs; `HAKO_FUZZ_DIFF_VERBOSE=1` prints
//! every case's last error line). Skipped, with one line, where
//! ../shared/reference/runc is absent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::World;
use serde_json::{json, Value};

/// Cases in CI's sample: each is two container runs; 200 take about 30 s here. The program is
/// one `grep -H '' <files>`: no fork, so a pids limit of 1 still runs it.
const DEFAULT_CASES: u64 = 200;
const DEFAULT_SEED: u64 = 0x6861_6b6f;

/// Differences hako keeps on purpose: `(name, why, whether it explains this differing line of
/// the case's outcome)`. A line is a normalised probe line, or `outcome` when one runtime ran
/// the container and the other refused it. A case differs only by what these explain, or fails.
type Allowed = (&'static str, &'static str, fn(&Value, &str) -> bool);
const ALLOWED: [Allowed; 3] = [
    (
        "pids.limit below the runtime's thread count",
        "runc's init is a multi-threaded Go process in the container's cgroup: with pids.max 1 \
         or 2 its exec fails with EAGAIN; hako's init is one thread and runs the program",
        tiny_pids_limit,
    ),
    (
        "RLIMIT_NPROC below the runtime's thread count",
        "runc's init is a multi-threaded Go process: its threads count against the user's \
         RLIMIT_NPROC when they switch uid, so its exec fails with EAGAIN; hako's init is one \
         thread and runs the program, as the limit allows",
        low_nproc_for_a_user,
    ),
    (
    "recursive attribute on a mount that is not a bind",
    "runc 1.5.1 ignores rro, rnosuid, rnosymfollow... unless the mount is a bind: accepted and \
     ignored; hako applies them to any mount (ARCHITECTURE.md, Invariants)",
    recursive_attr_on_non_bind,
    ),
];

fn tiny_pids_limit(config: &Value, line: &str) -> bool {
    let limit = config["linux"]["resources"]["pids"]["limit"].as_i64();
    line == "outcome" && limit.is_some_and(|l| (0..=2).contains(&l))
}

fn low_nproc_for_a_user(config: &Value, line: &str) -> bool {
    let low = config["process"]["rlimits"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["type"] == "RLIMIT_NPROC" && r["soft"].as_u64().is_some_and(|s| s < 64));
    line == "outcome" && low && config["process"]["user"]["uid"] != 0
}

fn recursive_attr_on_non_bind(config: &Value, line: &str) -> bool {
    let Some(dest) = line
        .strip_prefix("mount ")
        .and_then(|l| l.split(' ').next())
    else {
        return false;
    };
    let propagation = ["rbind", "rprivate", "rshared", "rslave", "runbindable"];
    config["mounts"].as_array().into_iter().flatten().any(|m| {
        let opts: Vec<&str> = m["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        m["destination"] == dest
            && !opts.contains(&"bind")
            && !opts.contains(&"rbind")
            && opts.iter().any(|o| {
                o.starts_with('r')
                    && o.len() > 2
                    && o != &"rw"
                    && !propagation.contains(o)
                    && !o.starts_with("relatime")
            })
    })
}

/// splitmix64: small, seedable, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())].clone()
    }
    fn subset<T: Clone>(&mut self, from: &[T]) -> Vec<T> {
        from.iter().filter(|_| self.chance(50)).cloned().collect()
    }
}

const MOUNT_FLAGS: [&str; 42] = [
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "noatime",
    "atime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "nodiratime",
    "diratime",
    "sync",
    "async",
    "dirsync",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnoatime",
    "rrelatime",
    "rstrictatime",
    "rnodiratime",
    "nosymfollow",
    "symfollow",
    "rnosymfollow",
];

const CAPS: [&str; 12] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_ADMIN",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_NET_RAW",
    "CAP_AUDIT_WRITE",
    "CAP_SYS_CHROOT",
    "CAP_BPF",
];

const RLIM_INFINITY: u64 = u64::MAX;

/// A bind source with a submount, so recursive options have something to act on.
fn bind_source(w: &World, n: usize) -> PathBuf {
    let src = w.dir.join(format!("fuzz-src-{n}"));
    let sub = src.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(src.join("file"), "x").unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "fuzzsub"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(mounted.success());
    src
}

fn mounts(rng: &mut Rng, sources: &[PathBuf]) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..rng.below(4) {
        let mut opts: Vec<String> = (0..rng.below(5))
            .map(|_| rng.pick(&MOUNT_FLAGS).to_string())
            .collect();
        if rng.chance(50) {
            opts.insert(0, rng.pick(&["bind", "rbind"]).to_string());
            out.push(json!({"destination": format!("/fz/b{i}"), "type": "bind",
                            "source": rng.pick(sources), "options": opts}));
        } else {
            if rng.chance(50) {
                opts.push(
                    rng.pick(&[
                        "size=1m",
                        "mode=0700",
                        "mode=1777",
                        "uid=1000",
                        "nr_inodes=64",
                    ])
                    .into(),
                );
            }
            out.push(json!({"destination": format!("/fz/t{i}"), "type": "tmpfs",
                            "source": "tmpfs", "options": opts}));
        }
    }
    out
}

/// This process's hard limit of `name` (a `/proc/self/limits` row): no runtime may raise a
/// hard limit without CAP_SYS_RESOURCE, which this machine's bounding set lacks.
fn hard_limit(name: &str) -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let row = limits.lines().find(|l| l.starts_with(name)).unwrap();
    let hard = row[name.len()..].split_whitespace().nth(1).unwrap();
    hard.parse().unwrap_or(RLIM_INFINITY)
}

fn rlimits(rng: &mut Rng) -> Vec<Value> {
    let kinds = [
        ("RLIMIT_NOFILE", "Max open files"),
        ("RLIMIT_CORE", "Max core file size"),
        ("RLIMIT_NPROC", "Max processes"),
        ("RLIMIT_MEMLOCK", "Max locked memory"),
        ("RLIMIT_MSGQUEUE", "Max msgqueue size"),
    ];
    let mut out = Vec::new();
    for (kind, row) in kinds {
        if !rng.chance(40) {
            continue;
        }
        let max = hard_limit(row);
        let values = [0, 1, 256, 1024, 4096, 65_536, max / 2, max];
        let (a, b) = (rng.pick(&values).min(max), rng.pick(&values).min(max));
        let (mut soft, mut hard) = (a.min(b), a.max(b));
        // Fewer than a few hundred fds leaves a runtime unable to set the container up.
        if kind == "RLIMIT_NOFILE" {
            (soft, hard) = (soft.max(256).min(max), hard.max(256).min(max));
        }
        // Now and then: soft above hard, or hard above what may be raised (both must refuse).
        if rng.chance(10) {
            (soft, hard) = (hard.saturating_add(1), hard);
        } else if rng.chance(10) && max != RLIM_INFINITY {
            hard = max + 1;
        }
        out.push(json!({"type": kind, "soft": soft, "hard": hard}));
    }
    out
}

/// Capability sets the kernel accepts (bounding ⊇ permitted ⊇ effective, bounding ⊇
/// inheritable, ambient ⊆ permitted ∩ inheritable); now and then any subsets at all.
fn capabilities(rng: &mut Rng) -> Value {
    if rng.chance(15) {
        let mut caps = json!({});
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            if rng.chance(80) {
                caps[set] = json!(rng.subset(&CAPS));
            }
        }
        return caps;
    }
    let bounding = rng.subset(&CAPS);
    let permitted = rng.subset(&bounding);
    let effective = rng.subset(&permitted);
    let inheritable = rng.subset(&bounding);
    let both: Vec<&str> = permitted
        .iter()
        .filter(|c| inheritable.contains(c))
        .copied()
        .collect();
    let ambient = rng.subset(&both);
    json!({"bounding": bounding, "permitted": permitted, "effective": effective,
           "inheritable": inheritable, "ambient": ambient})
}

fn resources(rng: &mut Rng) -> Value {
    let mut r = json!({});
    if rng.chance(50) {
        let limit = rng.pick(&[-1i64, 16 << 20, 64 << 20, 1 << 40]);
        r["memory"] = json!({"limit": limit});
        if rng.chance(30) {
            r["memory"]["swap"] = json!(rng.pick(&[-1i64, 0, limit.max(0), 128 << 20]));
        }
        if rng.chance(30) {
            r["memory"]["reservation"] = json!(rng.pick(&[-1i64, 0, 8 << 20]));
        }
    }
    if rng.chance(50) {
        r["pids"] = json!({"limit": rng.pick(&[-1i64, 0, 1, 2, 1 << 20])});
    }
    if rng.chance(60) {
        let mut cpu = json!({});
        if rng.chance(50) {
            cpu["shares"] = json!(rng.pick(&[1u64, 2, 2, 1024, 262_144, 262_144, 262_145]));
        }
        if rng.chance(50) {
            cpu["quota"] = json!(rng.pick(&[-1i64, 1000, 100_000]));
        }
        if rng.chance(50) {
            let period = [999u64, 1000, 1000, 100_000, 1_000_000, 1_000_000, 1_000_001];
            cpu["period"] = json!(rng.pick(&period));
        }
        if rng.chance(30) {
            cpu["cpus"] = json!(rng.pick(&["0", "0-1", "1"]));
        }
        r["cpu"] = cpu;
    }
    r
}

/// One generated config, applied to a `hako spec` bundle.
fn generate(rng: &mut Rng, config: &mut Value, sources: &[PathBuf]) {
    let mut ns = vec![json!({"type": "mount"})];
    for t in ["pid", "network", "ipc", "uts", "cgroup"] {
        if rng.chance(75) {
            ns.push(json!({"type": t}));
        }
    }
    let userns = rng.chance(20);
    if userns {
        ns.push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 100_000, "size": 65_536}]);
        config["linux"]["uidMappings"] = map.clone();
        config["linux"]["gidMappings"] = map;
    }
    if !ns.iter().any(|n| n["type"] == "uts") {
        config.as_object_mut().unwrap().remove("hostname");
    }
    config["linux"]["namespaces"] = Value::Array(ns);
    let extra = mounts(rng, sources);
    config["mounts"].as_array_mut().unwrap().extend(extra);
    let p = &mut config["process"];
    let ids = [0u32, 1, 1000, 65_534];
    p["user"] = json!({"uid": rng.pick(&ids), "gid": rng.pick(&ids)});
    if rng.chance(40) {
        p["user"]["additionalGids"] = json!(rng.subset(&[5u32, 1000, 65_534]));
    }
    if rng.chance(70) {
        p["capabilities"] = capabilities(rng);
    }
    p["noNewPrivileges"] = json!(rng.chance(50));
    p["rlimits"] = Value::Array(rlimits(rng));
    if rng.chance(30) {
        config["root"]["readonly"] = json!(rng.chance(50));
    }
    config["linux"]["resources"] = resources(rng);
}

/// What the container sees; the files that do not exist here are left out.
fn probe_files() -> Vec<String> {
    let mut files: Vec<String> = [
        "/proc/self/status",
        "/proc/self/limits",
        "/proc/self/mountinfo",
    ]
    .map(String::from)
    .into();
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    let cg = if v1 {
        &[
            "memory/memory.limit_in_bytes",
            "memory/memory.memsw.limit_in_bytes",
            "memory/memory.soft_limit_in_bytes",
            "pids/pids.max",
            "cpu/cpu.shares",
            "cpu/cpu.cfs_quota_us",
            "cpu/cpu.cfs_period_us",
            "cpuset/cpuset.cpus",
        ][..]
    } else {
        &[
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "pids.max",
            "cpu.weight",
            "cpu.max",
            "cpuset.cpus",
        ][..]
    };
    files.extend(cg.iter().map(|f| format!("/sys/fs/cgroup/{f}")));
    files
}

/// A run's outcome: whether the container ran (exit 0), and what it printed, made comparable.
#[derive(Debug, PartialEq)]
struct Outcome {
    ran: bool,
    seen: Vec<String>,
}

/// `grep -H` lines of the probe (`file:line`), with what legitimately differs between two
/// runs taken out: mount ids and device numbers, peer group numbers, the order of mounts, the
/// fields of /proc/self/status that are not credentials.
fn normalise(out: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in out.lines() {
        let Some((file, line)) = line.split_once(':') else {
            continue;
        };
        let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        match file {
            "/proc/self/mountinfo" => {
                let Some((pre, post)) = line.split_once(" - ") else {
                    continue;
                };
                let f: Vec<&str> = pre.split(' ').collect();
                if f.len() < 6 {
                    continue;
                }
                let tags: Vec<&str> = f[6..]
                    .iter()
                    .map(|t| t.split(':').next().unwrap_or(t))
                    .collect();
                let mut post = post.split(' ');
                let fstype = post.next().unwrap_or("");
                let _source = post.next();
                let sup = post.next().unwrap_or("");
                seen.push(format!(
                    "mount {} {} {} {fstype} {sup}",
                    f[4],
                    f[5],
                    tags.join(",")
                ));
            }
            "/proc/self/status" => {
                let key = line.split(':').next().unwrap_or("");
                let creds = [
                    "Uid",
                    "Gid",
                    "Groups",
                    "CapInh",
                    "CapPrm",
                    "CapEff",
                    "CapBnd",
                    "CapAmb",
                    "NoNewPrivs",
                    "Seccomp",
                    "Umask",
                ];
                if creds.contains(&key) {
                    seen.push(words(line));
                }
            }
            "/proc/self/limits" => {
                if line.starts_with("Max ") {
                    seen.push(words(line));
                }
            }
            _ => seen.push(format!("{file}: {}", words(line))),
        }
    }
    seen.sort();
    seen
}

/// Run `bundle` to completion under `runtime` with its own `root`, at most 30 s.
fn run(runtime: &Path, root: &Path, bundle: &Path, id: &str, dir: &Path) -> (Outcome, String) {
    let (out, err) = (dir.join(format!("{id}.out")), dir.join(format!("{id}.err")));
    let mut child = Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = common::wait_within(&mut child, Duration::from_secs(30));
    let _ = Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(["delete", "--force", id])
        .stderr(Stdio::null())
        .status();
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let ran = status.is_some_and(|s| s.success());
    let stderr = if status.is_none() {
        format!("timed out\n{stderr}")
    } else {
        stderr
    };
    (
        Outcome {
            ran,
            seen: if ran { normalise(&stdout) } else { Vec::new() },
        },
        stderr,
    )
}

/// Removes the bind sources' submounts and the cgroups the cases made, even on failure.
struct Cleanup {
    sources: Vec<PathBuf>,
    cgroups: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for s in &self.sources {
            let _ = Command::new("umount").arg(s.join("sub")).status();
        }
        for dir in common::cgroups_named(&self.cgroups) {
            let _ = remove_tree(&dir);
        }
    }
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        if e.file_type()?.is_dir() {
            remove_tree(&e.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn unusual_configs_behave_as_under_runc() {
    let Some(runc) = common::reference_runc() else {
        eprintln!("skipped: no ../shared/reference/runc (runc 1.5.1) to compare with");
        return;
    };
    let seed = env_u64("HAKO_FUZZ_DIFF_SEED", DEFAULT_SEED);
    let cases = env_u64("HAKO_FUZZ_DIFF_CASES", DEFAULT_CASES);
    let verbose = std::env::var_os("HAKO_FUZZ_DIFF_VERBOSE").is_some();
    let w = World::new("fuzz-diff");
    let parent = common::unique("fuzzdiff");
    let cleanup = Cleanup {
        sources: (0..2).map(|n| bind_source(&w, n)).collect(),
        cgroups: parent.clone(),
    };
    let probe = probe_files();
    let mut args = vec!["grep".to_string(), "-H".to_string(), String::new()];
    args.extend(probe);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut b = w.bundle(&args);
    // The mount points exist: a user namespace's root could not make them in the rootfs.
    for i in 0..4 {
        for kind in ["b", "t"] {
            std::fs::create_dir_all(b.rootfs().join(format!("fz/{kind}{i}"))).unwrap();
        }
    }
    let base: Value =
        serde_json::from_slice(&std::fs::read(Path::new(b.path()).join("config.json")).unwrap())
            .unwrap();
    let hako = PathBuf::from(common::hako_bin());
    let (runc_root, hako_root) = (w.dir.join("runc-root"), w.root.clone());
    let mut differences = Vec::new();
    // Cases where neither, one, or both runtimes ran the container.
    let mut tally = [0u64; 3];
    for case in 0..cases {
        let case_seed = seed.wrapping_add(case);
        let mut rng = Rng(case_seed);
        let mut config = base.clone();
        generate(&mut rng, &mut config, &cleanup.sources);
        let mut outcomes = Vec::new();
        for (name, runtime, root) in [("runc", &runc, &runc_root), ("hako", &hako, &hako_root)] {
            let id = format!("fz{case}-{name}");
            let mut c = config.clone();
            c["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}"));
            b.edit(|cfg| *cfg = c);
            outcomes.push(run(runtime, root, Path::new(b.path()), &id, &w.dir));
        }
        let ((r, r_err), (h, h_err)) = (&outcomes[0], &outcomes[1]);
        tally[usize::from(r.ran) + usize::from(h.ran)] += 1;
        if verbose {
            let last = |e: &str| e.lines().last().unwrap_or("").to_string();
            eprintln!(
                "case seed {case_seed}: runc {} / hako {}",
                last(r_err),
                last(h_err)
            );
        }
        if r == h {
            continue;
        }
        let only = |a: &Outcome, b: &Outcome| -> Vec<String> {
            a.seen
                .iter()
                .filter(|l| !b.seen.contains(l))
                .cloned()
                .collect()
        };
        // When only one ran, what it saw is not a difference of its own.
        let lines = if r.ran == h.ran {
            [only(r, h), only(h, r)].concat()
        } else {
            vec!["outcome".to_string()]
        };
        let explained = |l: &String| ALLOWED.iter().find(|a| (a.2)(&config, l));
        if lines.iter().all(|l| explained(l).is_some()) {
            let names: BTreeSet<&str> = lines.iter().filter_map(explained).map(|a| a.0).collect();
            eprintln!("case seed {case_seed}: differs, allowed: {names:?}");
            continue;
        }
        differences.push(format!(
            "case seed {case_seed}: runc ran={} hako ran={}\nonly runc: {:#?}\nonly hako: {:#?}\n\
             runc stderr: {r_err}\nhako stderr: {h_err}\nconfig: {}",
            r.ran,
            h.ran,
            only(r, h),
            only(h, r),
            serde_json::to_string(&json!({
                "namespaces": config["linux"]["namespaces"],
                "mounts": config["mounts"].as_array().unwrap()[base["mounts"].as_array().unwrap().len()..],
                "process": {"user": config["process"]["user"],
                            "capabilities": config["process"]["capabilities"],
                            "noNewPrivileges": config["process"]["noNewPrivileges"],
                            "rlimits": config["process"]["rlimits"]},
                "root": config["root"],
                "resources": config["linux"]["resources"],
            }))
            .unwrap()
        ));
    }
    drop(cleanup);
    eprintln!(
        "{cases} cases from seed {seed}: both ran {}, both refused {}, one of them {}; {} differences",
        tally[2],
        tally[0],
        tally[1],
        differences.len()
    );
    assert!(differences.is_empty(), "\n{}", differences.join("\n\n"));
}

/// Found by the fuzzer: v1 `cpu.shares` outside [2, 262144] was written, and the kernel
/// clamped it silently; runc 1.5.1 refuses it.
#[test]
fn cpu_shares_out_of_range_are_refused_as_runc() {
    if !Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        eprintln!("skipped: no cgroup v1 cpu controller here (v2 converts shares to a weight)");
        return;
    }
    let w = World::new("fuzz-shares");
    let parent = common::unique("fuzzshares");
    let _cleanup = Cleanup {
        sources: Vec::new(),
        cgroups: parent.clone(),
    };
    let runc = common::reference_runc();
    for (shares, words) in [
        (1, "the minimum allowed cpu-shares is 2"),
        (262_145, "the maximum allowed cpu-shares is 262144"),
    ] {
        let mut b = w.bundle(&["true"]);
        for (name, runtime) in [
            ("hako", Some(PathBuf::from(common::hako_bin()))),
            ("runc", runc.clone()),
        ] {
            let Some(runtime) = runtime else {
                continue;
            };
            let id = format!("shares{shares}-{name}");
            b.edit(|c| {
                c["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}"));
                c["linux"]["resources"] = json!({"cpu": {"shares": shares}});
            });
            let root = w.dir.join(format!("{name}-root"));
            let (out, err) = run(&runtime, &root, Path::new(b.path()), &id, &w.dir);
            assert!(!out.ran, "{name} ran with cpu.shares {shares}");
            assert!(err.contains(words), "{name}: {err}");
        }
    }
}

/// `edit`'s config run under hako, and under runc 1.5.1 where it is here, `grep -H`-ing
/// `files`, each on a rootfs made ready by `prepare`: the normalised lines, (hako, runc).
fn both_see(
    w: &World,
    tag: &str,
    files: &[&str],
    edit: impl FnOnce(&mut Value),
    prepare: impl Fn(&Path),
) -> (Vec<String>, Option<Vec<String>>) {
    let mut args = vec!["grep", "-H", ""];
    args.extend(files);
    let mut b = w.bundle(&args);
    b.edit(edit);
    let parent = common::unique(tag);
    let _cleanup = Cleanup {
        sources: Vec::new(),
        cgroups: parent.clone(),
    };
    let mut seen = |name: &str, runtime: &Path| {
        // Each runtime finds the rootfs as prepared, not as the other left it.
        let _ = std::fs::remove_dir_all(b.rootfs().join("fz"));
        prepare(&b.rootfs());
        let id = format!("{tag}-{name}");
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{parent}/{id}")));
        let root = w.dir.join(format!("{name}-root"));
        let (out, err) = run(runtime, &root, Path::new(b.path()), &id, &w.dir);
        assert!(out.ran, "{name}: {err}");
        out.seen
    };
    let hako = seen("hako", Path::new(common::hako_bin()));
    let runc = common::reference_runc().map(|r| seen("runc", &r));
    (hako, runc)
}

/// Found by the fuzzer: masked directories were an unsized tmpfs (runc 1.5.1: 4 KiB, one
/// inode), and a tmpfs without `mode=` over a directory that was already there had tmpfs's
/// 1777 where runc gives it that directory's mode (over one the runtime makes: 1777).
#[test]
fn masked_dirs_and_tmpfs_modes_as_runc() {
    let w = World::new("fuzz-tmpfs");
    let (hako, runc) = both_see(
        &w,
        "tmpfs",
        &["/proc/self/mountinfo"],
        |c| {
            for dest in ["/fz/t0", "/fz/new"] {
                let m = json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid"]});
                c["mounts"].as_array_mut().unwrap().push(m);
            }
        },
        |rootfs| {
            let dir = rootfs.join("fz/t0");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o750))
                .unwrap();
        },
    );
    let pick = |seen: &[String]| -> Vec<String> {
        seen.iter()
            .filter(|l| l.starts_with("mount /fz/") || l.starts_with("mount /proc/acpi "))
            .cloned()
            .collect()
    };
    assert_eq!(
        pick(&hako),
        [
            "mount /fz/new rw,nosuid,relatime  tmpfs rw",
            "mount /fz/t0 rw,nosuid,relatime  tmpfs rw,mode=750",
            "mount /proc/acpi ro,relatime  tmpfs ro,size=4k,nr_inodes=1",
        ]
    );
    if let Some(runc) = runc {
        assert_eq!(pick(&hako), pick(&runc));
    }
}

/// Found by the fuzzer: `pids.limit` 0 left pids.max at `max`; runc 1.5.1 (runtime-spec 1.3:
/// 0 is a limit) writes 1.
#[test]
fn pids_limit_zero_is_one_as_runc() {
    let file = if Path::new("/sys/fs/cgroup/pids").is_dir() {
        "/sys/fs/cgroup/pids/pids.max"
    } else {
        "/sys/fs/cgroup/pids.max"
    };
    let w = World::new("fuzz-pids");
    let (hako, runc) = both_see(
        &w,
        "pids",
        &[file],
        |c| {
            c["linux"]["resources"] = json!({"pids": {"limit": 0}});
        },
        |_| {},
    );
    assert_eq!(hako, [format!("{file}: 1")]);
    if let Some(runc) = runc {
        assert_eq!(hako, runc);
    }
}
