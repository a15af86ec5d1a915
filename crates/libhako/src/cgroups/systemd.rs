//! The systemd cgroup driver (`--systemd-cgroup`), as runc's: the container's cgroup is a
//! transient unit that systemd makes, and the cgroup filesystem driver then writes the full
//! `linux.resources` into the unit's directory (systemd's properties alone cannot say all of
//! it, and the fs writes keep both in agreement).
//!
//! * `linux.cgroupsPath` is `slice:prefix:name` (empty: `:hako:<id>`). An empty slice is
//!   `system.slice`; `-.slice` is the root slice; `a-b.slice` is `a.slice/a-b.slice`. The unit
//!   is `prefix-name.scope` (`name.scope` with no prefix), or `name` itself when it ends in
//!   `.slice`, which makes a slice unit instead of a scope.
//! * `create`: `StartTransientUnit` with `PIDs=[init]`, `Delegate=yes` (scopes),
//!   `DefaultDependencies=no`, a `Description`, the `Slice` (a slice unit `Wants=` its parent),
//!   accounting on, and the resource properties systemd knows; then wait for the job's
//!   `JobRemoved` signal. The directory is `<mount>/<manager's ControlGroup>/<slice path>/<unit>`.
//! * `update`: `SetUnitProperties` (runtime) with the same resource properties, then the fs.
//! * `delete`: the fs driver kills what is left, then `StopUnit` (waited for) and
//!   `ResetFailedUnit`, then the directories are removed if systemd left any.
//!
//! * An unprivileged caller's unit is made by its own user instance (`systemd --user`, that
//!   is `user@<uid>.service`), as runc's rootless systemd driver: the default slice is then
//!   `user.slice` of that instance, the directory is below the instance's own cgroup
//!   (`/user.slice/user-<uid>.slice/user@<uid>.service/user.slice/hako-<id>.scope`), and
//!   the scope's `Delegate=yes` hands it to the user. Cgroup v2 only, as runc.
//! * `org.systemd.property.<Name>` annotations become properties of the new unit
//!   ([`super::unit_annotations`]).
//!
//! Talks to systemd over [`super::dbus`]: root uses systemd's private socket
//! (`/run/systemd/private`, no bus daemon needed), else the system bus; an unprivileged caller
//! its user instance's private socket (`$XDG_RUNTIME_DIR/systemd/private`), else its session
//! bus (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, where runc looks). Which
//! instance owns a unit is recorded in state.json. Runs in the runtime process only.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::dbus::{CallError, Conn, Target, Value};
use super::resources;
use crate::error::{Error, Result};

const MANAGER: Target<'static> = Target {
    dest: "org.freedesktop.systemd1",
    path: "/org/freedesktop/systemd1",
    interface: "org.freedesktop.systemd1.Manager",
};

/// How long a call or a job may take (runc waits 30 s for a unit).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The default scope prefix (runc's is `runc`).
pub const PREFIX: &str = "hako";

/// Which systemd instance owns a container's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// The system instance (PID 1): root's containers.
    System,
    /// The user instance (`user@<uid>.service`) of this uid: an unprivileged caller's.
    User(u32),
}

impl Manager {
    /// The instance that makes this caller's units: its own user instance when unprivileged.
    pub fn for_caller() -> Manager {
        match nix::unistd::geteuid().as_raw() {
            0 => Manager::System,
            uid => Manager::User(uid),
        }
    }

    /// From what state.json records (`systemd_user`: the user instance's uid, if any).
    pub fn from_user(uid: Option<u32>) -> Manager {
        uid.map_or(Manager::System, Manager::User)
    }

    /// What state.json records.
    pub fn user(self) -> Option<u32> {
        match self {
            Manager::System => None,
            Manager::User(uid) => Some(uid),
        }
    }
}

/// Where a container's unit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The parent slice unit (`system.slice`).
    pub slice: String,
    /// The container's unit (`hako-<id>.scope`, or a `.slice`).
    pub unit: String,
}

/// `linux.cgroupsPath` in systemd's form (runc's rules, see the module doc).
pub fn placement(cgroups_path: Option<&str>, id: &str, rootless: bool) -> Result<Placement> {
    let field = "linux.cgroupsPath";
    let given = cgroups_path.filter(|p| !p.is_empty());
    let (slice, prefix, name) = match given {
        None => ("", PREFIX, id),
        Some(p) => match p.split(':').collect::<Vec<_>>()[..] {
            [s, pre, n] => (s, pre, n),
            _ => {
                return Err(Error::config(
                    field,
                    format!(
                        "expected \"slice:prefix:name\" for systemd cgroups, got {p:?} instead"
                    ),
                ))
            }
        },
    };
    let slice = match slice {
        "" if rootless => "user.slice",
        "" => "system.slice",
        s => s,
    };
    expand_slice(slice).map_err(|e| Error::config(field, e))?;
    if name.is_empty() {
        return Err(Error::config(
            field,
            "the unit name (after the last ':') is empty",
        ));
    }
    let unit = match (name.ends_with(".slice"), prefix) {
        (true, _) => name.to_string(),
        (false, "") => format!("{name}.scope"),
        (false, pre) => format!("{pre}-{name}.scope"),
    };
    if name.ends_with(".slice") {
        expand_slice(&unit).map_err(|e| Error::config(field, e))?;
    }
    check_unit_name(&unit).map_err(|e| Error::config(field, e))?;
    Ok(Placement {
        slice: slice.into(),
        unit,
    })
}

/// systemd's unit name rules: at most 255 bytes of `[A-Za-z0-9:_.\-@]` (`\` escapes aside,
/// which hako never makes), and a type suffix.
fn check_unit_name(unit: &str) -> std::result::Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ":_.-@\\".contains(c);
    if unit.len() > 255 {
        return Err(format!(
            "systemd unit name {unit:?} is longer than 255 bytes"
        ));
    }
    if let Some(c) = unit.chars().find(|c| !ok(*c)) {
        return Err(format!(
            "systemd unit name {unit:?} may not contain {c:?} (only letters, digits and \":_.-@\")"
        ));
    }
    Ok(())
}

/// runc's `ExpandSlice`: `a-b-c.slice` -> `/a.slice/a-b.slice/a-b-c.slice`, `-.slice` -> `/`.
pub fn expand_slice(slice: &str) -> std::result::Result<String, String> {
    let invalid = || format!("invalid systemd slice name {slice:?}");
    let name = slice
        .strip_suffix(".slice")
        .filter(|n| !n.is_empty() && !slice.contains('/'))
        .ok_or_else(invalid)?;
    check_unit_name(slice)?;
    if name == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if part.is_empty() {
            return Err(invalid());
        }
        path.push_str(&format!("/{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// runc's `RangeToBits`: a cpuset list ("0-3,7") as systemd's byte mask (bit n of byte n/8).
pub fn cpuset_bits(list: &str) -> std::result::Result<Vec<u8>, String> {
    let num = |s: &str| {
        s.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n < 1 << 16)
            .ok_or_else(|| format!("invalid cpuset list {list:?}"))
    };
    let mut bits = Vec::new();
    for r in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (a, b) = match r.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(r)?, num(r)?),
        };
        if a > b {
            return Err(format!("invalid range {r:?} in cpuset list {list:?}"));
        }
        for i in a..=b {
            if bits.len() <= i / 8 {
                bits.resize(i / 8 + 1, 0u8);
            }
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    if bits.is_empty() {
        return Err(format!("empty cpuset list {list:?}"));
    }
    Ok(bits)
}

/// runc's CPU quota properties: `CPUQuotaPeriodUSec` (systemd >= 242) and
/// `CPUQuotaPerSecUSec`, rounded up to whole percents as systemd keeps them.
fn cpu_quota(props: &mut Vec<(String, Value)>, quota: i64, period: u64, version: u32) {
    if period != 0 && version >= 242 {
        props.push(("CPUQuotaPeriodUSec".into(), Value::U64(period)));
    }
    if quota == 0 && period == 0 {
        return;
    }
    let mut per_sec = u64::MAX;
    if quota > 0 {
        let period = if period == 0 { 100_000 } else { period };
        per_sec = (quota as u64).saturating_mul(1_000_000) / period;
        if per_sec % 10_000 != 0 {
            per_sec = (per_sec / 10_000 + 1) * 10_000;
        }
    }
    props.push(("CPUQuotaPerSecUSec".into(), Value::U64(per_sec)));
}

/// A limit as systemd takes it: negative = infinity.
fn limit(v: i64) -> Value {
    Value::U64(if v < 0 { u64::MAX } else { v as u64 })
}

/// The unit properties for `linux.resources` that systemd knows (runc's set); 0/unset fields
/// are left out. `v2`: the unified hierarchy's names; `version`: systemd's major version.
pub fn resource_properties(
    r: &LinuxResources,
    v2: bool,
    version: u32,
) -> Result<Vec<(String, Value)>> {
    let mut p: Vec<(String, Value)> = Vec::new();
    let mut add = |k: &str, v: Value| p.push((k.into(), v));
    if let Some(m) = r.memory() {
        let mem = m.limit().unwrap_or(0);
        if mem != 0 {
            add(if v2 { "MemoryMax" } else { "MemoryLimit" }, limit(mem));
        }
        if v2 {
            if let Some(low) = m.reservation().filter(|l| *l != 0) {
                add("MemoryLow", limit(low));
            }
            let swap = resources::swap_to_v2(m.swap().unwrap_or(0), mem)
                .map_err(|e| Error::config("linux.resources.memory.swap", e))?;
            if swap != 0 {
                add("MemorySwapMax", limit(swap));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            match v2 {
                true => add("CPUWeight", Value::U64(resources::shares_to_weight(s))),
                false => add("CPUShares", Value::U64(s)),
            }
        }
        let sets = [("AllowedCPUs", c.cpus()), ("AllowedMemoryNodes", c.mems())];
        for (key, list) in sets {
            let Some(list) = list.as_deref().filter(|l| !l.trim().is_empty()) else {
                continue;
            };
            let field = if key == "AllowedCPUs" { "cpus" } else { "mems" };
            let bits = cpuset_bits(list)
                .map_err(|e| Error::config(format!("linux.resources.cpu.{field}"), e))?;
            // Older systemd does not know these; the fs driver writes cpuset.* anyway.
            if version >= 244 {
                let bytes = bits.into_iter().map(Value::Byte).collect();
                add(key, Value::Array("y".into(), bytes));
            }
        }
    }
    if let Some(c) = r.cpu() {
        cpu_quota(
            &mut p,
            c.quota().unwrap_or(0),
            c.period().unwrap_or(0),
            version,
        );
    }
    if let Some(pids) = r.pids() {
        if pids.limit() > 0 || pids.limit() == -1 {
            p.push(("TasksMax".into(), limit(pids.limit())));
        }
    }
    if !v2 {
        if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
            p.push(("BlockIOWeight".into(), Value::U64(u64::from(w))));
        }
    }
    Ok(p)
}

/// The properties of a new unit: placement, delegation, accounting, then those of the
/// `org.systemd.property.*` annotations (which may override the ones before, as runc's come
/// after its own), then the resources.
pub fn unit_properties(
    place: &Placement,
    description: &str,
    pid: Option<i32>,
    v2: bool,
    [annotated, resources]: [Vec<(String, Value)>; 2],
) -> Vec<(String, Value)> {
    let mut p: Vec<(String, Value)> = vec![("Description".into(), Value::Str(description.into()))];
    if place.unit.ends_with(".slice") {
        // A slice's parent is given by Wants=; a slice holds no processes of its own.
        let wants = Value::Array("s".into(), vec![Value::Str(place.slice.clone())]);
        p.push(("Wants".into(), wants));
    } else {
        p.push(("Slice".into(), Value::Str(place.slice.clone())));
        p.push(("Delegate".into(), Value::Bool(true)));
        if let Some(pid) = pid {
            let pids = Value::Array("u".into(), vec![Value::U32(pid as u32)]);
            p.push(("PIDs".into(), pids));
        }
    }
    p.push(("DefaultDependencies".into(), Value::Bool(false)));
    let io = if v2 {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    for a in ["MemoryAccounting", "CPUAccounting", io, "TasksAccounting"] {
        p.push((a.into(), Value::Bool(true)));
    }
    p.extend(annotated);
    p.extend(resources);
    p
}

/// systemd's major version from its `Version` property ("252.39-1~deb12u2" -> 252).
pub fn major_version(v: &str) -> u32 {
    let v = v.trim_start_matches('v');
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Why `--systemd-cgroup` cannot work on this host for `manager`, if it cannot.
pub fn unavailable(manager: Manager, v2: bool) -> Option<String> {
    if !Path::new("/run/systemd/system").exists() {
        return Some(
            "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); \
             omit --systemd-cgroup to use the cgroup filesystem"
                .into(),
        );
    }
    if manager != Manager::System && !v2 {
        // runc's words: its rootless systemd driver is for the unified hierarchy only.
        return Some(
            "--systemd-cgroup: cannot use rootless systemd cgroups manager on cgroup v1".into(),
        );
    }
    None
}

/// Connect to the systemd instance `manager`.
fn connect(manager: Manager) -> Result<Conn> {
    match manager {
        Manager::System => connect_system(),
        Manager::User(uid) => connect_user(uid),
    }
}

/// The user instance of `uid`: its private socket (no bus daemon needed), else the session
/// bus, where runc's `DetectUserDbusSessionBusAddress` looks. The runtime dir is the caller's
/// `XDG_RUNTIME_DIR` when the unit is its own, else `/run/user/<uid>` (the environment is
/// another user's then).
fn connect_user(uid: u32) -> Result<Conn> {
    let own = nix::unistd::geteuid().as_raw() == uid;
    let env = |k: &str| std::env::var_os(k).filter(|v| own && !v.is_empty());
    let dir = env("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}")));
    let private = dir.join("systemd/private");
    let first = match Conn::open(&private, false, TIMEOUT) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let from_env = env("DBUS_SESSION_BUS_ADDRESS").and_then(|a| unix_path(&a.to_string_lossy()));
    let bus = from_env.unwrap_or_else(|| dir.join("bus"));
    Conn::open(&bus, true, TIMEOUT).map_err(|e| {
        Error::Lifecycle(format!(
            "--systemd-cgroup: cannot reach the systemd user instance of uid {uid} ({first}; \
             {e}): it runs (user@{uid}.service) while the user is logged in or lingering \
             (loginctl enable-linger); its session bus needs the dbus-user-session package"
        ))
    })
}

/// The path of the first `unix:path=` entry of a D-Bus address (`%xx` escapes decoded).
fn unix_path(address: &str) -> Option<PathBuf> {
    let raw = address.split(';').find_map(|entry| {
        let opts = entry.strip_prefix("unix:")?;
        opts.split(',').find_map(|kv| kv.strip_prefix("path="))
    })?;
    let mut out = Vec::new();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(PathBuf::from(
        <std::ffi::OsString as OsStringExt>::from_vec(out),
    ))
}

/// The system instance: its private socket (root, no bus daemon needed), else the system bus.
fn connect_system() -> Result<Conn> {
    let private = Path::new("/run/systemd/private");
    let first = match Conn::open(private, false, TIMEOUT) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .and_then(|a| {
            a.split(';')
                .find_map(|x| x.strip_prefix("unix:path=").map(PathBuf::from))
        })
        .unwrap_or_else(|| PathBuf::from("/run/dbus/system_bus_socket"));
    Conn::open(&bus, true, TIMEOUT).map_err(|e| {
        Error::Lifecycle(format!(
            "--systemd-cgroup: cannot reach systemd over D-Bus ({first}; {e})"
        ))
    })
}

/// A string property of the manager.
fn manager_property(c: &mut Conn, name: &str) -> std::result::Result<String, CallError> {
    let props = Target {
        interface: "org.freedesktop.DBus.Properties",
        ..MANAGER
    };
    let args = [
        Value::Str(MANAGER.interface.into()),
        Value::Str(name.into()),
    ];
    let reply = c.call(&props, "Get", &args)?;
    Ok(reply
        .first()
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// Ask for the manager's job signals (a bus also needs a match rule for them to reach us).
fn subscribe(c: &mut Conn) -> Result<()> {
    if c.is_bus {
        let dbus = Target {
            dest: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
        };
        let rule = "type='signal',sender='org.freedesktop.systemd1',\
                    interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
        c.call(&dbus, "AddMatch", &[Value::Str(rule.into())])
            .map_err(|e| e.context("D-Bus AddMatch for systemd's JobRemoved"))?;
    }
    c.call(&MANAGER, "Subscribe", &[])
        .map_err(|e| e.context("systemd Subscribe"))?;
    Ok(())
}

/// Wait until systemd is done with `job`: its `JobRemoved` signal gives the result ("done",
/// "failed", ...). As a fallback (a signal that never reaches us), the job object is looked
/// at whenever no message came for a while: once it is gone, the result is `None` and the
/// caller checks the unit's state itself.
fn wait_job(c: &mut Conn, job: &str, what: &str) -> Result<Option<String>> {
    let deadline = Instant::now() + TIMEOUT;
    let failed = |e: Error| Error::Lifecycle(format!("{what}: waiting for systemd job {job}: {e}"));
    loop {
        let found = c.signals.iter().find_map(|m| {
            let is_ours =
                m.member == "JobRemoved" && m.body.get(1) == Some(&Value::Path(job.to_string()));
            is_ours.then(|| m.body.get(3).and_then(Value::as_str).map(String::from))
        });
        c.signals.clear();
        if let Some(result) = found {
            return Ok(result);
        }
        if Instant::now() >= deadline {
            return Err(failed(Error::Lifecycle(format!(
                "no answer in {TIMEOUT:?}"
            ))));
        }
        let slice = (Instant::now() + Duration::from_millis(200)).min(deadline);
        if !c.readable_by(slice)? {
            if !job_exists(c, job).map_err(failed)? {
                return Ok(None);
            }
            continue;
        }
        let m = c.recv(deadline).map_err(failed)?;
        if m.member == "JobRemoved" {
            c.signals.push(m);
        }
    }
}

/// Whether the job object still exists.
fn job_exists(c: &mut Conn, job: &str) -> Result<bool> {
    let props = Target {
        path: job,
        interface: "org.freedesktop.DBus.Properties",
        ..MANAGER
    };
    let args = [
        Value::Str("org.freedesktop.systemd1.Job".into()),
        Value::Str("State".into()),
    ];
    match c.call(&props, "Get", &args) {
        Ok(_) => Ok(true),
        Err(super::dbus::CallError::Reply { .. }) => Ok(false),
        Err(e) => Err(e.context("reading the job's state")),
    }
}

/// The unit's `ActiveState` ("active", "failed", ...); `None` when systemd has no such unit.
fn active_state(c: &mut Conn, unit: &str) -> Result<Option<String>> {
    let what = format!("looking up systemd unit {unit}");
    let path = match c.call(&MANAGER, "GetUnit", &[Value::Str(unit.into())]) {
        Ok(r) => r
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => return Ok(None),
        Err(e) => return Err(e.context(&what)),
    };
    let props = Target {
        path: &path,
        interface: "org.freedesktop.DBus.Properties",
        ..MANAGER
    };
    let args = [
        Value::Str("org.freedesktop.systemd1.Unit".into()),
        Value::Str("ActiveState".into()),
    ];
    let state = c.call(&props, "Get", &args).map_err(|e| e.context(&what))?;
    Ok(state.first().and_then(Value::as_str).map(String::from))
}

/// A container's systemd unit.
#[derive(Debug)]
pub struct Unit {
    /// The unit's name and its slice.
    pub place: Placement,
    /// The systemd instance that owns it.
    pub manager: Manager,
    /// `Description=`.
    pub description: String,
    /// Whether the host is cgroup v2 (picks the property names).
    pub v2: bool,
    /// systemd's major version (0 if unknown).
    pub version: u32,
    /// The resource properties of `create`, computed with the rest of validation.
    props: RefCell<Vec<(String, Value)>>,
    /// The properties of the `org.systemd.property.*` annotations.
    annotated: Vec<(String, Value)>,
    started: Cell<bool>,
}

impl Unit {
    /// Plan the unit of a new container: its name and its cgroup directory relative to the
    /// hierarchy roots (asks systemd for its own cgroup: it may itself run in one, and a user
    /// instance always does). The annotations are read first, as runc does.
    pub fn plan(
        cgroups_path: Option<&Path>,
        id: &str,
        v2: bool,
        annotations: &HashMap<String, String>,
    ) -> Result<(Unit, PathBuf)> {
        let annotated = super::unit_annotations::properties(annotations)?;
        let manager = Manager::for_caller();
        if let Some(why) = unavailable(manager, v2) {
            return Err(Error::Lifecycle(why));
        }
        let text = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        let place = placement(text.as_deref(), id, manager != Manager::System)?;
        let slice_dir = expand_slice(&place.slice).map_err(Error::Lifecycle)?;
        let mut c = connect(manager)?;
        let root = manager_property(&mut c, "ControlGroup")
            .map_err(|e| e.context("reading systemd's ControlGroup"))?;
        let version = manager_property(&mut c, "Version")
            .map(|v| major_version(&v))
            .unwrap_or(0);
        let dir = Path::new("/")
            .join(root.trim_start_matches('/'))
            .join(slice_dir.trim_start_matches('/'))
            .join(&place.unit);
        let unit = Unit {
            place,
            manager,
            description: format!("hako container {id}"),
            v2,
            version,
            props: RefCell::new(Vec::new()),
            annotated,
            started: Cell::new(false),
        };
        Ok((unit, dir))
    }

    /// The unit of an existing container (from state.json).
    pub fn existing(unit: &str, v2: bool, manager: Manager) -> Unit {
        Unit {
            place: Placement {
                slice: String::new(),
                unit: unit.into(),
            },
            manager,
            description: String::new(),
            v2,
            version: 0,
            props: RefCell::new(Vec::new()),
            annotated: Vec::new(),
            started: Cell::new(true),
        }
    }

    /// Turn `linux.resources` into properties now, so that a bad value fails before anything
    /// is started.
    pub fn prepare(&self, r: Option<&LinuxResources>) -> Result<()> {
        let props = match r {
            Some(r) => resource_properties(r, self.v2, self.version)?,
            None => Vec::new(),
        };
        *self.props.borrow_mut() = props;
        Ok(())
    }

    /// Whether [`Unit::start`] succeeded (the unit must be stopped on failure).
    pub fn started(&self) -> bool {
        self.started.get()
    }

    /// Start the transient unit with `pid` in it and wait until systemd is done. A failed
    /// leftover unit of the same name is reset and the start retried once, as runc does.
    pub fn start(&self, pid: i32) -> Result<()> {
        let name = &self.place.unit;
        let mut what = format!("starting systemd unit {name} in {}", self.place.slice);
        if let Manager::User(uid) = self.manager {
            what.push_str(&format!(" of the user instance of uid {uid}"));
        }
        if !self.annotated.is_empty() {
            let names: Vec<&str> = self.annotated.iter().map(|(n, _)| n.as_str()).collect();
            let names = names.join(", ");
            what.push_str(&format!(
                " (with {names} from org.systemd.property.* annotations)"
            ));
        }
        let mut c = connect(self.manager)?;
        subscribe(&mut c)?;
        let props = unit_properties(
            &self.place,
            &self.description,
            Some(pid),
            self.v2,
            [self.annotated.clone(), self.props.borrow().clone()],
        );
        let args = [
            Value::Str(name.clone()),
            Value::Str("replace".into()),
            Value::props(props),
            Value::Array("(sa(sv))".into(), Vec::new()),
        ];
        let mut retried = false;
        let job = loop {
            match c.call(&MANAGER, "StartTransientUnit", &args) {
                Ok(reply) => {
                    break reply
                        .first()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                }
                Err(e) if e.name() == Some("org.freedesktop.systemd1.UnitExists") && !retried => {
                    retried = true;
                    let _ = c.call(&MANAGER, "ResetFailedUnit", &[Value::Str(name.clone())]);
                }
                Err(e) => return Err(e.context(&what)),
            }
        };
        self.started.set(true);
        let result = match wait_job(&mut c, &job, &what)? {
            Some(r) => r,
            None => match active_state(&mut c, name)?.as_deref() {
                Some("active") => "done".into(),
                other => format!("unit {}", other.unwrap_or("gone")),
            },
        };
        match result.as_str() {
            "done" => Ok(()),
            r => Err(Error::Lifecycle(format!(
                "{what}: the job ended with result {r:?} (see `systemctl status {name}`)"
            ))),
        }
    }

    /// Stop the unit and wait until it is gone; an unknown unit is already stopped.
    pub fn stop(&self) -> Result<()> {
        let name = &self.place.unit;
        let what = format!("stopping systemd unit {name}");
        let mut c = connect(self.manager)?;
        subscribe(&mut c)?;
        let args = [Value::Str(name.clone()), Value::Str("replace".into())];
        let job = match c.call(&MANAGER, "StopUnit", &args) {
            Ok(reply) => reply
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => return Ok(()),
            Err(e) => return Err(e.context(&what)),
        };
        let result = wait_job(&mut c, &job, &what)?.unwrap_or_else(|| "done".into());
        // A scope whose processes were killed ends "failed"; forget it so the name is free.
        let _ = c.call(&MANAGER, "ResetFailedUnit", &[Value::Str(name.clone())]);
        self.started.set(false);
        match result.as_str() {
            "done" | "canceled" => Ok(()),
            r => Err(Error::Lifecycle(format!(
                "{what}: the job ended with result {r:?}"
            ))),
        }
    }

    /// Move `pid` into the unit, or its sub-cgroup `sub` (`AttachProcessesToUnit`, systemd
    /// 238 and later): what an unprivileged caller's user instance may do where the caller
    /// may not.
    pub fn attach(&self, pid: i32, sub: &Path) -> Result<()> {
        let name = &self.place.unit;
        let mut c = connect(self.manager)?;
        let args = [
            Value::Str(name.clone()),
            Value::Str(sub.to_string_lossy().into_owned()),
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ];
        c.call(&MANAGER, "AttachProcessesToUnit", &args)
            .map_err(|e| e.context(&format!("moving process {pid} into systemd unit {name}")))?;
        Ok(())
    }

    /// `update`: set the resource properties at runtime (the fs driver writes them after).
    pub fn set(&self, r: &LinuxResources) -> Result<()> {
        let name = &self.place.unit;
        let what = format!("setting properties of systemd unit {name}");
        let mut c = connect(self.manager)?;
        let version = manager_property(&mut c, "Version")
            .map(|v| major_version(&v))
            .unwrap_or(0);
        let props = resource_properties(r, self.v2, version)?;
        if props.is_empty() {
            return Ok(());
        }
        let args = [
            Value::Str(name.clone()),
            Value::Bool(true),
            Value::props(props),
        ];
        c.call(&MANAGER, "SetUnitProperties", &args)
            .map_err(|e| e.context(&what))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn place(p: Option<&str>, id: &str) -> std::result::Result<(String, String), String> {
        placement(p, id, false)
            .map(|p| (p.slice, p.unit))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn runc_unit_names() {
        let ok = |s: &str, u: &str| Ok((s.to_string(), u.to_string()));
        assert_eq!(place(None, "abc"), ok("system.slice", "hako-abc.scope"));
        assert_eq!(place(Some(""), "abc"), ok("system.slice", "hako-abc.scope"));
        assert_eq!(
            place(Some("system.slice:docker:1234"), "x"),
            ok("system.slice", "docker-1234.scope")
        );
        assert_eq!(
            place(Some(":cri:c1"), "x"),
            ok("system.slice", "cri-c1.scope")
        );
        assert_eq!(
            place(Some("a-b.slice::c1"), "x"),
            ok("a-b.slice", "c1.scope")
        );
        assert_eq!(
            place(Some("machine.slice:ignored:pod1.slice"), "x"),
            ok("machine.slice", "pod1.slice")
        );
        assert_eq!(
            placement(Some(":p:n"), "x", true).unwrap().slice,
            "user.slice"
        );
        for bad in ["a:b", "a:b:c:d", "/abs/path", "system.slice:p:", "nope:p:n"] {
            let e = place(Some(bad), "x").unwrap_err();
            assert!(e.starts_with("linux.cgroupsPath: "), "{bad}: {e}");
        }
        let e = place(Some("system.slice:p:a+b"), "x").unwrap_err();
        assert!(e.contains("may not contain '+'"), "{e}");
        assert!(place(None, &"x".repeat(300)).is_err());
    }

    #[test]
    fn runc_expand_slice() {
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        for bad in [
            ".slice",
            "a",
            "a.scope",
            "a--b.slice",
            "-a.slice",
            "a/b.slice",
            "a-.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpuset_masks() {
        assert_eq!(cpuset_bits("0-3").unwrap(), [0x0f]);
        assert_eq!(cpuset_bits("1,9").unwrap(), [0x02, 0x02]);
        assert_eq!(cpuset_bits(" 0 , 2-3 ,").unwrap(), [0x0d]);
        assert!(cpuset_bits("").is_err());
        assert!(cpuset_bits("3-1").is_err());
        assert!(cpuset_bits("x").is_err());
        assert!(cpuset_bits("999999").is_err());
    }

    #[test]
    fn resource_conversions() {
        let r = res(
            r#"{"memory":{"limit":104857600,"reservation":1048576,"swap":209715200},
            "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1","mems":"0"},
            "pids":{"limit":32},"blockIO":{"weight":500}}"#,
        );
        let p = resource_properties(&r, true, 252).unwrap();
        let u = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(u("MemoryMax"), Some(Value::U64(104857600)));
        assert_eq!(u("MemoryLow"), Some(Value::U64(1048576)));
        assert_eq!(u("MemorySwapMax"), Some(Value::U64(104857600)));
        assert_eq!(u("CPUWeight"), Some(Value::U64(39)));
        assert_eq!(u("CPUQuotaPeriodUSec"), Some(Value::U64(100000)));
        assert_eq!(u("CPUQuotaPerSecUSec"), Some(Value::U64(500000)));
        assert_eq!(u("TasksMax"), Some(Value::U64(32)));
        assert_eq!(
            u("AllowedCPUs"),
            Some(Value::Array("y".into(), vec![Value::Byte(3)]))
        );
        assert_eq!(u("BlockIOWeight"), None);

        let v1 = resource_properties(&r, false, 219).unwrap();
        let names: Vec<&str> = v1.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "MemoryLimit",
                "CPUShares",
                "CPUQuotaPerSecUSec",
                "TasksMax",
                "BlockIOWeight"
            ]
        );

        // Unlimited is infinity; a fractional percent rounds up; 0 is "leave alone".
        let r = res(
            r#"{"memory":{"limit":-1},"cpu":{"quota":12345,"period":100000},
            "pids":{"limit":-1}}"#,
        );
        let p = resource_properties(&r, true, 252).unwrap();
        assert_eq!(p[0], ("MemoryMax".into(), Value::U64(u64::MAX)));
        assert!(p.contains(&("CPUQuotaPerSecUSec".into(), Value::U64(130000))));
        assert!(p.contains(&("TasksMax".into(), Value::U64(u64::MAX))));
        let r = res(r#"{"cpu":{"quota":-1}}"#);
        let max = ("CPUQuotaPerSecUSec".to_string(), Value::U64(u64::MAX));
        assert_eq!(resource_properties(&r, true, 252).unwrap(), [max]);
        assert_eq!(
            resource_properties(&res(r#"{"cpu":{}}"#), true, 252).unwrap(),
            []
        );
        let r = res(r#"{"cpu":{"quota":-1,"period":50000}}"#);
        assert!(resource_properties(&r, true, 252)
            .unwrap()
            .contains(&("CPUQuotaPerSecUSec".into(), Value::U64(u64::MAX))));

        let e = resource_properties(&res(r#"{"memory":{"swap":100}}"#), true, 252).unwrap_err();
        assert!(
            e.to_string().starts_with("linux.resources.memory.swap: "),
            "{e}"
        );
        let e = resource_properties(&res(r#"{"cpu":{"cpus":"2-1"}}"#), true, 252).unwrap_err();
        assert!(
            e.to_string().starts_with("linux.resources.cpu.cpus: "),
            "{e}"
        );
    }

    #[test]
    fn new_unit_properties() {
        let scope = Placement {
            slice: "system.slice".into(),
            unit: "hako-c1.scope".into(),
        };
        let none = || [Vec::new(), Vec::new()];
        let p = unit_properties(&scope, "hako container c1", Some(42), true, none());
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Description",
                "Slice",
                "Delegate",
                "PIDs",
                "DefaultDependencies",
                "MemoryAccounting",
                "CPUAccounting",
                "IOAccounting",
                "TasksAccounting"
            ]
        );
        assert_eq!(p[3].1, Value::Array("u".into(), vec![Value::U32(42)]));
        assert_eq!(p[4].1, Value::Bool(false));
        let slice = Placement {
            slice: "machine.slice".into(),
            unit: "pod1.slice".into(),
        };
        let p = unit_properties(&slice, "d", Some(42), false, none());
        assert!(p
            .iter()
            .all(|(n, _)| n != "PIDs" && n != "Delegate" && n != "Slice"));
        assert!(p.iter().any(|(n, _)| n == "Wants"));
        assert!(p.iter().any(|(n, _)| n == "BlockIOAccounting"));

        // Annotations after hako's own properties (so they may override them), resources last.
        let prop = |k: &str| vec![(k.to_string(), Value::Bool(false))];
        let p = unit_properties(&scope, "d", None, true, [prop("Delegate"), prop("X")]);
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[names.len() - 2..], ["Delegate", "X"]);
        assert_eq!(names.iter().filter(|n| **n == "Delegate").count(), 2);
    }

    #[test]
    fn session_bus_addresses() {
        let p = |a: &str| unix_path(a).map(|p| p.display().to_string());
        assert_eq!(
            p("unix:path=/run/user/1000/bus").as_deref(),
            Some("/run/user/1000/bus")
        );
        assert_eq!(
            p("unix:abstract=/x;unix:guid=1,path=/a%20b").as_deref(),
            Some("/a b")
        );
        assert_eq!(p("tcp:host=localhost,port=1"), None);
        assert_eq!(Manager::from_user(Some(7)).user(), Some(7));
        assert_eq!(Manager::from_user(None), Manager::System);
    }

    #[test]
    fn versions() {
        assert_eq!(major_version("252.39-1~deb12u2"), 252);
        assert_eq!(major_version("v256"), 256);
        assert_eq!(major_version("x"), 0);
    }
}
