//! config.json -> a validated [`Plan`]. Runs in the runtime parent before anything is created:
//! every check that can be made from the config and the host happens here, so a bad config
//! never leaves a state dir, a mount or a process behind.

use std::collections::HashSet;
use std::ffi::CString;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::mountopts::{self, MountOptions};

pub mod idmap;
pub mod proc_mounts;
pub mod refused;
pub mod sysctl;

/// Spec versions accepted: major 1, minor up to this one without a warning.
pub const MAX_KNOWN_MINOR: u64 = 3;

/// One namespace: made anew, or joined through `path`.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The `CLONE_NEW*` flag of its type.
    pub flag: CloneFlags,
    /// The file to `setns` into, when joining.
    pub path: Option<PathBuf>,
}

/// A mount of `config.json`, with its options parsed and its source made absolute.
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// Index in `mounts`, for error messages.
    pub index: usize,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Filesystem type (`none` for binds).
    pub fstype: String,
    /// Source: a host path for binds, a name otherwise.
    pub source: PathBuf,
    /// Parsed options.
    pub options: MountOptions,
    /// `uidMappings`/`gidMappings` (or `idmap`): an idmapped bind mount ([`crate::idmap`]).
    pub idmap: Option<idmap::MountIdmap>,
    /// A bind's source as a detached mount the runtime made, where the init cannot reach the
    /// source itself (see `rootfs::needs_runtime_source`); attached in place of the bind.
    pub detached_source: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// A device node to create in the container's /dev.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: nix::sys::stat::SFlag,
    /// Major and minor numbers.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The validated, ready-to-run form of a bundle.
#[derive(Debug)]
pub struct Plan {
    /// The parsed config, for fields used as they are.
    pub spec: Spec,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute root filesystem directory.
    pub rootfs: PathBuf,
    /// Namespaces in the order they are entered (user first).
    pub namespaces: Vec<Namespace>,
    /// Mounts in config order.
    pub mounts: Vec<MountPlan>,
    /// Devices: the defaults plus `linux.devices`.
    pub devices: Vec<DevicePlan>,
    /// `linux.rootfsPropagation`, applied to the new root.
    pub rootfs_propagation: Option<MsFlags>,
    /// `process.args` as C strings.
    pub args: Vec<CString>,
    /// `process.env` as C strings.
    pub env: Vec<CString>,
    /// Non-fatal findings (a newer spec minor version) the CLI prints as warnings.
    pub warnings: Vec<String>,
    /// `linux.seccomp`, compiled; loaded by the init (see [`crate::seccomp`]).
    pub seccomp: Option<crate::seccomp::Filter>,
    /// `linux.mountLabel`, checked; added to the container's mounts (see [`crate::lsm`]).
    pub mount_label: Option<String>,
    /// `linux.netDevices`, checked, with their host indexes and addresses (see
    /// [`crate::netdevices`]).
    pub net_devices: Vec<crate::netdevices::Device>,
    /// `linux.intelRdt`, checked against this host's resctrl (see [`crate::intelrdt`]).
    pub intel_rdt: Option<(crate::intelrdt::Resctrl, crate::intelrdt::Config)>,
}

impl Plan {
    /// Whether a namespace of this type is made anew (not joined).
    pub fn creates(&self, flag: CloneFlags) -> bool {
        self.namespaces
            .iter()
            .any(|n| n.flag == flag && n.path.is_none())
    }

    /// Whether the container has a namespace of this type at all.
    pub fn has(&self, flag: CloneFlags) -> bool {
        self.namespaces.iter().any(|n| n.flag == flag)
    }
}

/// config.json as read: the typed spec, plus what hako reads from the raw JSON itself because
/// oci-spec's enums refuse names runc accepts ([`crate::seccomp`], [`crate::capabilities`]).
#[derive(Debug)]
pub struct Config {
    /// The typed spec, without `linux.seccomp` and without the capability names this kernel
    /// does not know.
    pub spec: Spec,
    /// `linux.seccomp` as written.
    pub seccomp: Option<serde_json::Value>,
    /// Capability names skipped because this kernel does not know them (a warning).
    pub ignored_capabilities: Vec<String>,
    /// Each mount's `uidMappings`/`gidMappings`, which oci-spec's `Mount` lacks.
    pub mount_idmaps: Vec<idmap::Requested>,
    /// `linux.intelRdt`, whose `schemata` and `enableMonitoring` oci-spec lacks.
    pub intel_rdt: Option<crate::intelrdt::Config>,
}

/// Read and parse `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Config> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    parse_config(&bytes)
}

/// Parse config.json bytes; the error names the line and column.
pub fn parse(bytes: &[u8]) -> Result<Spec> {
    parse_config(bytes).map(|c| c.spec)
}

/// Parse config.json bytes into the typed spec and the sections read raw.
pub fn parse_config(bytes: &[u8]) -> Result<Config> {
    let syntax = |e: serde_json::Error| Error::config("config.json", e.to_string());
    let mut raw: serde_json::Value = serde_json::from_slice(bytes).map_err(syntax)?;
    let seccomp = raw
        .get_mut("linux")
        .and_then(serde_json::Value::as_object_mut)
        .and_then(|l| l.remove("seccomp"));
    let ignored_capabilities = crate::capabilities::sanitize(&mut raw)?;
    refused::check(&raw)?;
    drop_pids_without_limit(&mut raw);
    check_namespace_types(&raw)?;
    crate::procattrs::sanitize(&mut raw)?;
    let mount_idmaps = idmap::from_raw(&raw)?;
    let intel_rdt = crate::intelrdt::from_raw(&raw)?;
    let spec = serde_json::from_value(raw).map_err(|e| {
        // A typed error from the bytes names the line and column; the value's cannot.
        serde_json::from_slice::<Spec>(bytes)
            .err()
            .map_or_else(|| syntax(e), syntax)
    })?;
    Ok(Config {
        spec,
        seccomp,
        ignored_capabilities,
        mount_idmaps,
        intel_rdt,
    })
}

/// A `linux.resources.pids` without `limit` (or with a null one) asks for nothing: removed from
/// the raw config, since the typed spec would read it as a limit of 0.
fn drop_pids_without_limit(raw: &mut serde_json::Value) {
    let Some(res) = raw
        .pointer_mut("/linux/resources")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    if res
        .get("pids")
        .is_some_and(|p| p.get("limit").is_none_or(serde_json::Value::is_null))
    {
        res.remove("pids");
    }
}

/// A clearer error than serde's "unknown variant" for a bad `linux.namespaces[i].type`.
fn check_namespace_types(raw: &serde_json::Value) -> Result<()> {
    const KNOWN: [&str; 8] = [
        "mount", "cgroup", "uts", "ipc", "user", "pid", "network", "time",
    ];
    let Some(list) = raw
        .pointer("/linux/namespaces")
        .and_then(serde_json::Value::as_array)
    else {
        return Ok(());
    };
    for (i, ns) in list.iter().enumerate() {
        match ns.get("type") {
            Some(t) if !t.as_str().is_some_and(|t| KNOWN.contains(&t)) => {
                return Err(Error::config(
                    format!("linux.namespaces[{i}].type"),
                    format!("{t}: unknown namespace type"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validate a parsed config against the bundle and the host. `seccomp_cache` is where
/// compiled seccomp programs are kept (the state root, see seccomp/cache.rs), if anywhere.
pub fn validate(
    config: Config,
    bundle: &Path,
    seccomp_cache: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<Plan> {
    let Config {
        spec,
        seccomp,
        ignored_capabilities,
        mount_idmaps,
        intel_rdt,
    } = config;
    let mut warnings: Vec<String> = crate::capabilities::warning(&ignored_capabilities)
        .into_iter()
        .collect();
    check_version(spec.version(), &mut warnings)?;
    let rootfs = check_root(&spec, bundle)?;
    let (args, env) = check_process(&spec)?;
    let namespaces = check_namespaces(&spec)?;
    let mut mounts = check_mounts(&spec, bundle)?;
    idmap::check(&mut mounts, &mount_idmaps, &spec, &namespaces)?;
    let devices = check_devices(&spec)?;
    crate::hooks::check(spec.hooks())?;
    let rootfs_propagation = check_linux(&spec, &namespaces)?;
    crate::procattrs::check_linux(&spec)?;
    let mount_label = crate::lsm::check_mount_label(&spec)?;
    let intel_rdt = match intel_rdt {
        Some(cfg) => {
            let resctrl = crate::intelrdt::Resctrl::find();
            crate::intelrdt::check(&cfg, resctrl.as_ref())?;
            resctrl.map(|r| (r, cfg))
        }
        None => None,
    };
    let net_devices = crate::netdevices::check(
        spec.linux().as_ref(),
        namespaces
            .iter()
            .any(|n| n.flag == CloneFlags::CLONE_NEWNET),
        namespaces
            .iter()
            .any(|n| n.flag == CloneFlags::CLONE_NEWNET && n.path.is_none()),
    )?;
    let seccomp = crate::seccomp::compile(seccomp.as_ref(), seccomp_cache)?;
    Ok(Plan {
        spec,
        bundle: bundle.to_path_buf(),
        rootfs,
        namespaces,
        mounts,
        devices,
        rootfs_propagation,
        args,
        env,
        warnings,
        seccomp,
        mount_label,
        net_devices,
        intel_rdt,
    })
}

fn check_version(version: &str, warnings: &mut Vec<String>) -> Result<()> {
    let bad = |why: &str| Error::config("ociVersion", format!("{version:?}: {why}"));
    if version.is_empty() {
        return Err(Error::config("ociVersion", "missing"));
    }
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let mut parts = core.split('.').map(str::parse::<u64>);
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return Err(bad("not a semantic version"));
    };
    if major != 1 {
        return Err(bad("unsupported major version (hako supports 1.x)"));
    }
    if minor > MAX_KNOWN_MINOR {
        warnings.push(format!(
            "ociVersion {version} is newer than 1.{MAX_KNOWN_MINOR}: unknown fields are ignored"
        ));
    }
    Ok(())
}

fn check_root(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "missing"))?;
    let path = bundle.join(root.path());
    match std::fs::metadata(&path) {
        // As runc: the path must be the rootfs itself, with no symlink on the way (a rootfs
        // that is a link could be pointed elsewhere between this check and its use).
        Ok(m) if m.is_dir() && !is_real(&path) => Err(Error::config(
            "root.path",
            format!(
                "{}: invalid rootfs: not an absolute path, or a symlink",
                path.display()
            ),
        )),
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(Error::config(
            "root.path",
            format!("{}: not a directory", path.display()),
        )),
        Err(e) => Err(Error::config(
            "root.path",
            format!(
                "{}: {}",
                path.display(),
                crate::error::errno_text(nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(0)
                ))
            ),
        )),
    }
}

/// Whether `path`, made lexically clean, is its own canonical form: absolute, no symlink in
/// any component.
fn is_real(path: &Path) -> bool {
    let clean: PathBuf = path.components().fold(PathBuf::new(), |mut p, c| {
        match c {
            Component::ParentDir => {
                p.pop();
            }
            Component::CurDir => {}
            c => p.push(c),
        }
        p
    });
    std::fs::canonicalize(path).is_ok_and(|real| real == clean)
}

fn cstrings(field: &str, items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::config(format!("{field}[{i}]"), "contains a NUL byte"))
        })
        .collect()
}

/// `process` is optional in config.json (the spec requires it only when `start` is called):
/// without it the plan has no args and the container can be created, not started.
fn check_process(spec: &Spec) -> Result<(Vec<CString>, Vec<CString>)> {
    match spec.process() {
        Some(process) => check_process_fields(process),
        None => Ok((Vec::new(), Vec::new())),
    }
}

/// Validate a `process` object (of config.json, or of `exec --process`); returns its args and
/// env as C strings.
pub fn check_process_fields(
    process: &oci_spec::runtime::Process,
) -> Result<(Vec<CString>, Vec<CString>)> {
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(Error::config("process.args", "must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::config(
            "process.cwd",
            format!("{:?}: must be an absolute path", process.cwd()),
        ));
    }
    if let Some(rlimits) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rlimits.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(Error::config(
                    format!("process.rlimits[{i}]"),
                    format!("duplicate {:?}", r.typ()),
                ));
            }
            if r.soft() > r.hard() {
                return Err(Error::config(
                    format!("process.rlimits[{i}]"),
                    "soft limit is above the hard limit",
                ));
            }
        }
    }
    let env = process.env().clone().unwrap_or_default();
    for (i, e) in env.iter().enumerate() {
        if !e.contains('=') {
            return Err(Error::config(
                format!("process.env[{i}]"),
                format!("{e:?}: not of the form KEY=value"),
            ));
        }
    }
    check_user(process.user())?;
    crate::lsm::check_process(process)?;
    crate::procattrs::check_process(process)?;
    Ok((
        cstrings("process.args", &args)?,
        cstrings("process.env", &env)?,
    ))
}

/// Refuse `(uid_t)-1` as a uid or gid (`kind`): `setresuid(-1, -1, -1)` leaves every id
/// unchanged, so a process asked to run as 4294967295 would stay root. The one value of a
/// `u32` that is not an id; the kernel refuses the others when they are not mapped.
pub fn check_id(field: &str, kind: &str, id: u32) -> Result<()> {
    if id == u32::MAX {
        return Err(Error::config(
            field,
            format!("{id} is not a valid {kind} (({kind}_t)-1 leaves the {kind} unchanged)"),
        ));
    }
    Ok(())
}

fn check_user(user: &oci_spec::runtime::User) -> Result<()> {
    check_id("process.user.uid", "uid", user.uid())?;
    check_id("process.user.gid", "gid", user.gid())?;
    for (i, g) in user.additional_gids().iter().flatten().enumerate() {
        check_id(&format!("process.user.additionalGids[{i}]"), "gid", *g)?;
    }
    Ok(())
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

fn check_namespaces(spec: &Spec) -> Result<Vec<Namespace>> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut out: Vec<Namespace> = Vec::new();
    for (i, ns) in list.iter().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        let flag = ns_flag(ns.typ());
        if out.iter().any(|n| n.flag == flag) {
            return Err(Error::config(
                field,
                format!("duplicate {:?} namespace", ns.typ()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.exists() {
                return Err(Error::config(
                    format!("{field}.path"),
                    format!("{}: no such file or directory", path.display()),
                ));
            }
        }
        out.push(Namespace {
            flag,
            path: ns.path().clone(),
        });
    }
    // The user namespace is entered first: the others are then owned by it.
    out.sort_by_key(|n| n.flag != CloneFlags::CLONE_NEWUSER);
    let userns_new = out
        .iter()
        .any(|n| n.flag == CloneFlags::CLONE_NEWUSER && n.path.is_none());
    let linux = spec.linux().as_ref();
    let has_maps = linux.is_some_and(|l| {
        l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            && l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty())
    });
    if userns_new && !has_maps {
        return Err(Error::config(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    Ok(out)
}

fn check_abs(field: &str, p: &Path) -> Result<()> {
    if !p.is_absolute() {
        return Err(Error::config(
            field,
            format!("{}: must be an absolute path", p.display()),
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(Error::config(
            field,
            format!("{}: must not contain \"..\"", p.display()),
        ));
    }
    Ok(())
}

fn check_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<MountPlan>> {
    let mut out = Vec::new();
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let field = format!("mounts[{index}]");
        check_abs(&format!("{field}.destination"), m.destination())?;
        let options = mountopts::parse(&m.options().clone().unwrap_or_default());
        let fstype = m.typ().clone().unwrap_or_else(|| "none".into());
        let bind = options.is_bind() || fstype == "bind";
        let mut source = m.source().clone().unwrap_or_else(|| PathBuf::from(&fstype));
        if bind {
            if source.is_relative() {
                source = bundle.join(source);
            }
            if let Err(e) = std::fs::metadata(&source) {
                return Err(Error::config(
                    format!("{field}.source"),
                    format!(
                        "{}: {}",
                        source.display(),
                        crate::error::errno_text(nix::errno::Errno::from_raw(
                            e.raw_os_error().unwrap_or(0)
                        ))
                    ),
                ));
            }
        }
        proc_mounts::check(&field, m.destination(), &fstype, &source, bind)?;
        let mut options = options;
        if fstype == "bind" {
            options.flags.insert(MsFlags::MS_BIND);
        }
        if !options.is_bind() {
            options.fold_read_only();
        }
        out.push(MountPlan {
            index,
            destination: m.destination().clone(),
            fstype,
            source,
            options,
            idmap: None,
            detached_source: None,
        });
    }
    Ok(out)
}

/// The devices every container gets (runc's list).
fn default_devices() -> Vec<DevicePlan> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(path, major, minor)| DevicePlan {
        path: PathBuf::from(path),
        kind: nix::sys::stat::SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

fn check_devices(spec: &Spec) -> Result<Vec<DevicePlan>> {
    use nix::sys::stat::SFlag;
    let mut out = default_devices();
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for (i, d) in list.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        check_abs(&format!("{field}.path"), d.path())?;
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::config(
                    format!("{field}.type"),
                    "\"a\" is not a device type",
                ))
            }
        };
        // The kernel's dev_t holds a 12-bit major and a 20-bit minor; a larger number would
        // not name the device asked for.
        let num = |v: i64, what: &str, max: u64| {
            u64::try_from(v)
                .map_err(|_| Error::config(format!("{field}.{what}"), "negative"))
                .and_then(|n| match n <= max {
                    true => Ok(n),
                    false => Err(Error::config(
                        format!("{field}.{what}"),
                        format!("{n} is out of range (at most {max})"),
                    )),
                })
        };
        let plan = DevicePlan {
            path: d.path().clone(),
            kind,
            major: num(d.major(), "major", 0xfff)?,
            minor: num(d.minor(), "minor", 0xf_ffff)?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        check_id(&format!("{field}.uid"), "uid", plan.uid)?;
        check_id(&format!("{field}.gid"), "gid", plan.gid)?;
        out.retain(|o| o.path != plan.path);
        out.push(plan);
    }
    Ok(out)
}

/// Without a mount namespace the container shares the runtime's (the spec: it inherits it):
/// its mounts are made there, under the rootfs, and it is only chrooted. What would change
/// the runtime's own mounts is refused, as runc refuses masked and readonly paths
/// (`root.readonly` and `rootfsPropagation`, which runc then ignores, too).
fn check_without_mountns(spec: &Spec) -> Result<()> {
    const WHY: &str =
        "cannot be applied without a private mount namespace (no \"mount\" in linux.namespaces)";
    let linux = spec.linux().as_ref();
    for (field, set) in [
        (
            "linux.maskedPaths",
            linux.is_some_and(|l| l.masked_paths().as_ref().is_some_and(|p| !p.is_empty())),
        ),
        (
            "linux.readonlyPaths",
            linux.is_some_and(|l| l.readonly_paths().as_ref().is_some_and(|p| !p.is_empty())),
        ),
        (
            "linux.rootfsPropagation",
            linux.is_some_and(|l| {
                l.rootfs_propagation()
                    .as_ref()
                    .is_some_and(|p| !p.is_empty())
            }),
        ),
        (
            "root.readonly",
            spec.root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
        ),
    ] {
        if set {
            return Err(Error::config(field, WHY));
        }
    }
    Ok(())
}

fn check_linux(spec: &Spec, namespaces: &[Namespace]) -> Result<Option<MsFlags>> {
    let has = |f: CloneFlags| namespaces.iter().any(|n| n.flag == f);
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(CloneFlags::CLONE_NEWUTS) {
        return Err(Error::config(
            "hostname",
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(CloneFlags::CLONE_NEWUTS) {
        return Err(Error::config(
            "domainname",
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if !has(CloneFlags::CLONE_NEWNS) {
        check_without_mountns(spec)?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(None);
    };
    for (field, paths) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in paths.iter().flatten().enumerate() {
            check_abs(&format!("{field}[{i}]"), Path::new(p))?;
        }
    }
    sysctl::check(linux.sysctl().iter().flat_map(|m| m.keys()), namespaces)?;
    match linux.rootfs_propagation().as_deref() {
        None | Some("") => Ok(None),
        Some(p) => mountopts::propagation(p).map(Some).ok_or_else(|| {
            Error::config(
                "linux.rootfsPropagation",
                format!("{p:?}: unknown propagation"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_ok(v: &str) -> std::result::Result<Vec<String>, String> {
        let mut w = Vec::new();
        check_version(v, &mut w)
            .map(|_| w)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn versions() {
        for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0", "1.0.2+dev"] {
            assert_eq!(version_ok(v), Ok(vec![]), "{v}");
        }
        assert_eq!(version_ok("1.4.0").map(|w| w.len()), Ok(1));
        assert!(version_ok("2.0.0").is_err_and(|e| e.contains("major")));
        assert!(version_ok("").is_err_and(|e| e == "ociVersion: missing"));
        assert!(version_ok("x").is_err());
    }

    fn spec_from(json: &str) -> Spec {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("test json: {e}"))
    }

    #[test]
    fn namespaces_user_first_and_no_duplicates() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"user"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}"#,
        );
        let ns = check_namespaces(&s).unwrap_or_default();
        assert_eq!(ns[0].flag, CloneFlags::CLONE_NEWUSER);
        let dup = spec_from(
            r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"pid"},{"type":"mount"}]}}"#,
        );
        assert!(check_namespaces(&dup).is_err_and(|e| e.to_string().contains("duplicate")));
    }

    #[test]
    fn userns_needs_mappings_and_mount_ns_is_optional() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"user"},{"type":"mount"}]}}"#,
        );
        assert!(check_namespaces(&s).is_err_and(|e| e.to_string().starts_with("linux.uidMappings")));
        // No mount namespace: the runtime's is inherited, without what would change it.
        let s = spec_from(r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"}]}}"#);
        assert!(check_namespaces(&s).is_ok());
        let s = spec_from(r#"{"ociVersion":"1.0.0","linux":{"maskedPaths":["/proc/kcore"]}}"#);
        assert!(
            check_linux(&s, &[]).is_err_and(|e| e.to_string().starts_with(
                "linux.maskedPaths: cannot be applied without a private mount namespace"
            ))
        );
    }

    #[test]
    fn hostname_needs_uts() {
        let s = spec_from(r#"{"ociVersion":"1.0.0","hostname":"x"}"#);
        let ns = vec![];
        assert!(check_linux(&s, &ns).is_err_and(|e| e.to_string().starts_with("hostname:")));
    }

    #[test]
    fn relative_mount_destination_refused() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","mounts":[{"destination":"proc","type":"proc","source":"proc"}]}"#,
        );
        let err = check_mounts(&s, Path::new("/"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("mounts[0].destination: proc: must be an absolute path")
        );
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","mounts":[{"destination":"/a/../../etc","type":"tmpfs"}]}"#,
        );
        assert!(check_mounts(&s, Path::new("/")).is_err_and(|e| e.to_string().contains("..")));
    }

    #[test]
    fn process_checks() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}}"#,
        );
        assert!(check_process(&s).is_err_and(|e| e.to_string().starts_with("process.args")));
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0},"cwd":"rel","args":["sh"]}}"#,
        );
        assert!(check_process(&s).is_err_and(|e| e.to_string().starts_with("process.cwd")));
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
            "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]}}"#,
        );
        assert!(check_process(&s).is_err_and(|e| e.to_string().contains("soft limit")));
        let s = spec_from(
            r#"{"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["NOEQ"]}}"#,
        );
        assert!(check_process(&s).is_err_and(|e| e.to_string().starts_with("process.env[0]")));
    }

    #[test]
    fn rootfs_propagation_values() {
        let mnt = [Namespace {
            flag: CloneFlags::CLONE_NEWNS,
            path: None,
        }];
        let s = spec_from(r#"{"ociVersion":"1.0.0","linux":{"rootfsPropagation":"rslave"}}"#);
        assert_eq!(
            check_linux(&s, &mnt).ok().flatten(),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        let s = spec_from(r#"{"ociVersion":"1.0.0","linux":{"rootfsPropagation":"bogus"}}"#);
        assert!(check_linux(&s, &mnt).is_err());
    }
}
