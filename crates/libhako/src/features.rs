//! `hako features`: the runtime-spec's Features structure (features.md, features-linux.md).
//! Runs in the runtime process; creates nothing.
//!
//! No list here is a hand-kept claim of what hako supports. Each is asked of the code that
//! implements the feature:
//!
//! * `mountOptions`: the option table of [`crate::mountopts`];
//! * `hooks`: [`crate::hooks::Kind`] (an exhaustive match stops the build when a kind is added
//!   and not listed);
//! * `linux.namespaces`: every namespace type of the typed spec, all of which
//!   [`crate::spec`] turns into clone flags, kept when this kernel has it (`/proc/self/ns`);
//! * `linux.capabilities`: [`crate::capabilities::known`], the names a config may use here;
//! * `linux.seccomp`: every name the runtime-spec defines for actions, operators,
//!   architectures and flags, kept when [`crate::seccomp::compile`] accepts a profile using
//!   it: the same check a config.json goes through (hako's name tables, the linked libseccomp,
//!   and the kernel's action and flag probes), so each listed name loads on this host;
//! * `linux.cgroup.rdma`: whether the v1 and v2 translations of `linux.resources` write the
//!   rdma controller;
//! * `linux.intelRdt`: whether [`crate::intelrdt::from_raw`] reads the section, its
//!   `schemata` and its `enableMonitoring`;
//! * `linux.memoryPolicy`: the mode and flag tables of [`crate::mempolicy`];
//! * `linux.mountExtensions.idmap`: whether the config parse reads `mounts[].uidMappings`;
//! * `linux.netDevices`: whether [`crate::netdevices::check`] reads `linux.netDevices`;
//! * `potentiallyUnsafeConfigAnnotations`: [`UNSAFE_ANNOTATIONS`], runc 1.5.1's list, each
//!   with what reads it.
//!
//! features.md says the structure SHOULD describe the build, not the host. hako deliberately
//! narrows namespaces, capabilities and seccomp names to what works on this kernel with this
//! libseccomp: a caller asking what it may put in a config gets only names that run here.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, LinuxResources};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cgroups::resources;
use crate::hooks::Kind;

/// Seccomp action names of the runtime-spec (config-linux.md, "Seccomp").
const SPEC_ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// Seccomp argument operators of the runtime-spec.
const SPEC_OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// Seccomp architectures of the runtime-spec.
const SPEC_ARCHS: [&str; 23] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// Seccomp filter flags of the runtime-spec.
const SPEC_FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Annotations a caller should not take from an untrusted user, as runc 1.5.1 lists them (a
/// trailing `.` is a prefix): `(name, what reads it)`.
pub const UNSAFE_ANNOTATIONS: [(&str, &str); 3] = [
    // runc keeps the bundle path as a `bundle=` label next to the annotations; hako records
    // it apart, but callers filter by runc's list.
    ("bundle", "runc's bundle label"),
    (
        "org.systemd.property.",
        "systemd unit properties with --systemd-cgroup",
    ),
    (
        "org.criu.config",
        "the CRIU configuration file of checkpoint and restore",
    ),
];

/// The oldest `ociVersion` hako accepts (major 1; see `spec::check_version`).
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The Features structure, fields in the spec's order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// The oldest spec version accepted.
    pub oci_version_min: String,
    /// The newest spec version known.
    pub oci_version_max: String,
    /// Hook kinds run.
    pub hooks: Vec<String>,
    /// Mount option names understood (anything else is passed as filesystem data).
    pub mount_options: Vec<String>,
    /// The Linux section.
    pub linux: Linux,
    /// Runtime metadata: versions.
    pub annotations: BTreeMap<String, String>,
    /// Annotations that change what the runtime does ([`UNSAFE_ANNOTATIONS`]).
    pub potentially_unsafe_config_annotations: Vec<String>,
}

/// `linux` of the Features structure.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    /// Namespace types (config.json names).
    pub namespaces: Vec<String>,
    /// Capability names.
    pub capabilities: Vec<String>,
    /// cgroup managers.
    pub cgroup: Cgroup,
    /// seccomp names.
    pub seccomp: Seccomp,
    /// AppArmor.
    pub apparmor: Enabled,
    /// SELinux.
    pub selinux: Enabled,
    /// Intel RDT.
    pub intel_rdt: IntelRdt,
    /// NUMA memory policy.
    pub memory_policy: MemoryPolicy,
    /// Mount extensions.
    pub mount_extensions: MountExtensions,
    /// `linux.netDevices`.
    pub net_devices: Enabled,
}

/// `linux.intelRdt`.
#[derive(Debug, Clone, Serialize)]
pub struct IntelRdt {
    /// The section is read and applied.
    pub enabled: bool,
    /// `schemata` is.
    pub schemata: bool,
    /// `enableMonitoring` is.
    pub monitoring: bool,
}

/// `linux.memoryPolicy`.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryPolicy {
    /// Mode names.
    pub modes: Vec<String>,
    /// Mode flag names.
    pub flags: Vec<String>,
}

/// `linux.cgroup`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cgroup {
    /// The v1 filesystem driver (also used in the hybrid layout).
    pub v1: bool,
    /// The v2 filesystem driver.
    pub v2: bool,
    /// Cgroups through systemd (`--systemd-cgroup`).
    pub systemd: bool,
    /// Cgroups through the user's systemd.
    pub systemd_user: bool,
    /// The rdma controller.
    pub rdma: bool,
}

/// `linux.seccomp`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    /// seccomp support is built in.
    pub enabled: bool,
    /// Actions that load here.
    pub actions: Vec<String>,
    /// Argument operators.
    pub operators: Vec<String>,
    /// Architectures the linked libseccomp can filter.
    pub archs: Vec<String>,
    /// Flag names hako recognises.
    pub known_flags: Vec<String>,
    /// Flag names this kernel supports as well.
    pub supported_flags: Vec<String>,
}

/// `{"enabled": bool}`.
#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
    /// Whether hako implements the feature.
    pub enabled: bool,
}

/// `linux.mountExtensions`.
#[derive(Debug, Clone, Serialize)]
pub struct MountExtensions {
    /// Id-mapped mounts (`mounts[].uidMappings`).
    pub idmap: Enabled,
}

impl Features {
    /// The JSON as runc prints it: 4-space indent, a final newline.
    pub fn to_json(&self) -> serde_json::Result<String> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        self.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt))?;
        out.push(b'\n');
        // serde_json writes UTF-8 only.
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The Features structure for this build, kernel and libseccomp. `runtime_version` and
/// `commit` are the binary's, reported as annotations with the libseccomp version.
pub fn features(runtime_version: &str, commit: &str) -> Features {
    let mut annotations = BTreeMap::from([
        ("org.hako.version".to_string(), runtime_version.to_string()),
        ("org.hako.commit".to_string(), commit.to_string()),
        // As runc's `org.opencontainers.runc.checkpoint.enabled`, but asked of this host:
        // true only where `criu` (on PATH) is installed and its check passes.
        (
            "org.hako.checkpoint.enabled".to_string(),
            crate::criu::Criu::new(None).works().to_string(),
        ),
    ]);
    if let Some(v) = libseccomp_version() {
        annotations.insert("io.github.seccomp.libseccomp.version".into(), v);
    }
    Features {
        oci_version_min: OCI_VERSION_MIN.into(),
        oci_version_max: format!("1.{}.0", crate::spec::MAX_KNOWN_MINOR),
        hooks: hooks(),
        mount_options: sorted(crate::mountopts::names().map(String::from).collect()),
        linux: Linux {
            namespaces: namespaces(Path::new("/proc/self/ns")),
            capabilities: crate::capabilities::known(),
            cgroup: Cgroup {
                v1: true,
                v2: true,
                systemd: true,
                systemd_user: true,
                rdma: rdma(),
            },
            seccomp: seccomp(),
            // hako applies `process.apparmorProfile`, `process.selinuxLabel` and
            // `linux.mountLabel` (lsm.rs). As the spec defines the fields (and runc reports
            // them), unrelated to whether this host has AppArmor or SELinux enabled.
            apparmor: Enabled { enabled: true },
            selinux: Enabled { enabled: true },
            intel_rdt: intel_rdt(),
            memory_policy: MemoryPolicy {
                modes: sorted(crate::mempolicy::mode_names().map(String::from).collect()),
                flags: sorted(crate::mempolicy::flag_names().map(String::from).collect()),
            },
            mount_extensions: MountExtensions {
                idmap: Enabled { enabled: idmap() },
            },
            net_devices: Enabled {
                enabled: net_devices(),
            },
        },
        annotations,
        potentially_unsafe_config_annotations: UNSAFE_ANNOTATIONS
            .iter()
            .map(|a| a.0.to_string())
            .collect(),
    }
}

/// The linked libseccomp's version, `major.minor.micro`.
pub fn libseccomp_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Every hook kind, in lifecycle order.
fn hooks() -> Vec<String> {
    use Kind as K;
    // A kind added to `Kind` fails to compile here until it is listed below.
    let _every_kind_listed = |k: K| match k {
        K::Prestart
        | K::CreateRuntime
        | K::CreateContainer
        | K::StartContainer
        | K::Poststart
        | K::Poststop => (),
    };
    [
        K::Prestart,
        K::CreateRuntime,
        K::CreateContainer,
        K::StartContainer,
        K::Poststart,
        K::Poststop,
    ]
    .map(|k| k.name().to_string())
    .to_vec()
}

/// The namespace types whose `/proc/self/ns` entry exists under `ns_dir`, by config.json name.
fn namespaces(ns_dir: &Path) -> Vec<String> {
    use LinuxNamespaceType as T;
    // Every type of the typed spec (a new one fails to compile here until listed); the spec
    // module maps each to its clone flag, so hako creates and joins them all.
    let _every_type_listed = |t: T| match t {
        T::Mount | T::Cgroup | T::Uts | T::Ipc | T::User | T::Pid | T::Network | T::Time => (),
    };
    let all = [
        T::Mount,
        T::Cgroup,
        T::Uts,
        T::Ipc,
        T::User,
        T::Pid,
        T::Network,
        T::Time,
    ];
    sorted(
        all.into_iter()
            // Display is the /proc/self/ns name (`mnt`, `net`), serde the config.json name.
            .filter(|t| ns_dir.join(t.to_string()).exists())
            .filter_map(|t| match serde_json::to_value(t) {
                Ok(Value::String(s)) => Some(s),
                _ => None,
            })
            .collect(),
    )
}

/// Whether the v1 and v2 translations of `linux.resources` both write the rdma controller.
fn rdma() -> bool {
    let Ok(r) = serde_json::from_value::<LinuxResources>(json!({
        "rdma": {"probe": {"hcaHandles": 1, "hcaObjects": 1}}
    })) else {
        return false;
    };
    let writes_rdma = |s: &[resources::Setting]| s.iter().any(|s| s.controller == "rdma");
    let host = resources::V1Host {
        mem_limit: 0,
        exists: &|_| true,
    };
    resources::v2(&r, &|_| true).is_ok_and(|s| writes_rdma(&s))
        && resources::v1(&r, &host, true).is_ok_and(|s| writes_rdma(&s))
}

/// Whether config.json's `mounts[].uidMappings` is read (and so id-mapped mounts attempted):
/// a malformed one must fail the parse that accepts the same mount without it.
fn idmap() -> bool {
    let mount = json!({"destination": "/x", "type": "bind", "source": "/x", "options": ["bind"]});
    let mut bad = mount.clone();
    bad["uidMappings"] = json!("not a list of mappings");
    let parses = |m: Value| {
        let config = json!({"ociVersion": OCI_VERSION_MIN, "mounts": [m]});
        serde_json::to_vec(&config).is_ok_and(|b| crate::spec::parse_config(&b).is_ok())
    };
    parses(mount) && !parses(bad)
}

/// What [`crate::intelrdt::from_raw`] reads of a `linux.intelRdt` using every field.
fn intel_rdt() -> IntelRdt {
    let raw = json!({"linux": {"intelRdt": {
        "closID": "probe", "schemata": ["L3:0=f"], "enableMonitoring": true
    }}});
    let cfg = crate::intelrdt::from_raw(&raw).ok().flatten();
    IntelRdt {
        enabled: cfg.as_ref().is_some_and(|c| c.clos_id == "probe"),
        schemata: cfg.as_ref().is_some_and(|c| !c.schemata.is_empty()),
        monitoring: cfg.is_some_and(|c| c.enable_monitoring),
    }
}

/// Whether `linux.netDevices` is read: a device in a container without a network namespace
/// is refused.
fn net_devices() -> bool {
    let Ok(linux) = serde_json::from_value::<oci_spec::runtime::Linux>(json!({
        "netDevices": {"probe0": {}}
    })) else {
        return false;
    };
    crate::netdevices::check(Some(&linux), false, false).is_err()
}

/// Whether hako compiles this `linux.seccomp` profile here.
fn compiles(profile: Value) -> bool {
    matches!(crate::seccomp::compile(Some(&profile), None), Ok(Some(_)))
}

/// A profile with one rule on `getpid` (plus whatever `extra` sets).
fn probe(default: &str, rule: Value, extra: Value) -> Value {
    let mut rule_obj = json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO"});
    merge(&mut rule_obj, rule);
    let mut p = json!({
        "defaultAction": default,
        // Only read when a rule notifies; never connected to while compiling.
        "listenerPath": "/run/hako-features-probe.sock",
        "syscalls": [rule_obj],
    });
    merge(&mut p, extra);
    p
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn seccomp() -> Seccomp {
    let keep = |names: &[&str], ok: &dyn Fn(&str) -> bool| {
        sorted(
            names
                .iter()
                .filter(|n| ok(n))
                .map(|n| n.to_string())
                .collect(),
        )
    };
    let action_loads = |a: &str| {
        // As a rule's action, under a default it differs from (equal ones are dropped).
        let default = if a == "SCMP_ACT_ALLOW" {
            "SCMP_ACT_ERRNO"
        } else {
            "SCMP_ACT_ALLOW"
        };
        compiles(probe(default, json!({"action": a}), json!({})))
    };
    let operator_loads = |op: &str| {
        let arg = json!([{"index": 0, "value": 1, "valueTwo": 1, "op": op}]);
        compiles(probe("SCMP_ACT_ALLOW", json!({"args": arg}), json!({})))
    };
    let arch_loads = |a: &str| {
        compiles(probe(
            "SCMP_ACT_ALLOW",
            json!({}),
            json!({"architectures": [a]}),
        ))
    };
    let flag_loads = |f: &str| compiles(probe("SCMP_ACT_ALLOW", json!({}), json!({"flags": [f]})));
    Seccomp {
        enabled: true,
        actions: keep(&SPEC_ACTIONS, &action_loads),
        operators: keep(&SPEC_OPERATORS, &operator_loads),
        archs: keep(&SPEC_ARCHS, &arch_loads),
        known_flags: keep(&SPEC_FLAGS, &|f| crate::seccomp::flag(f).is_some()),
        supported_flags: keep(&SPEC_FLAGS, &flag_loads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hako_does_not_know_are_left_out() {
        let f = features("0.0.0", "x");
        let s = &f.linux.seccomp;
        // libseccomp has no SuperH; hako's name table neither.
        assert!(!s.archs.iter().any(|a| a.starts_with("SCMP_ARCH_SH")));
        assert!(s.archs.contains(&"SCMP_ARCH_X86_64".to_string()));
        assert!(s.actions.contains(&"SCMP_ACT_ERRNO".to_string()));
        assert_eq!(s.operators.len(), 7);
        assert!(s.supported_flags.iter().all(|f| s.known_flags.contains(f)));
        assert_eq!(f.hooks.len(), 6);
        assert!(f.mount_options.contains(&"rslave".to_string()));
    }

    #[test]
    fn namespaces_follow_proc_self_ns() {
        let dir = std::env::temp_dir().join(format!("hako-features-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in ["mnt", "net", "pid", "pid_for_children"] {
            std::fs::write(dir.join(n), "").unwrap();
        }
        assert_eq!(namespaces(&dir), ["mount", "network", "pid"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn serialises_with_the_spec_keys() {
        let v = serde_json::to_value(features("1.2.3", "abc")).unwrap();
        for key in [
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "annotations",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["linux"]["cgroup"]["systemdUser"], true);
        assert_eq!(
            v["linux"]["intelRdt"],
            json!({"enabled": true, "schemata": true, "monitoring": true})
        );
        assert_eq!(v["linux"]["netDevices"]["enabled"], true);
        assert_eq!(
            v["linux"]["memoryPolicy"]["modes"].as_array().map(Vec::len),
            Some(7)
        );
        assert_eq!(
            v["potentiallyUnsafeConfigAnnotations"],
            json!(["bundle", "org.systemd.property.", "org.criu.config"])
        );
        assert_eq!(v["linux"]["mountExtensions"]["idmap"]["enabled"], true);
        assert!(v["linux"]["seccomp"]["knownFlags"].is_array());
        assert_eq!(v["annotations"]["org.hako.version"], "1.2.3");
    }
}
