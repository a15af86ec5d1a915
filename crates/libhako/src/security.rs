//! Init-side privilege settings: rlimits, capability sets, no_new_privs. Runs in the container
//! init; the order relative to the uid switch is fixed by [`crate::init`].

use std::str::FromStr;

use caps::{CapSet, CapsHashSet};
use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result, SysContext};

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Apply `process.rlimits`.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        setrlimit(resource(r.typ()), r.soft(), r.hard())
            .ctx(|| format!("setting rlimit {:?} to {}/{}", r.typ(), r.soft(), r.hard()))?;
    }
    Ok(())
}

fn to_caps(set: &Option<Capabilities>) -> CapsHashSet {
    set.iter()
        .flatten()
        .filter_map(|c| {
            let name = serde_json::to_value(c).ok()?;
            caps::Capability::from_str(name.as_str()?).ok()
        })
        .collect()
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Init(format!("setting {what} capabilities: {e}"))
}

/// Drop from the bounding set every capability not asked for. Needs CAP_SETPCAP, so it runs
/// before the uid switch. Capabilities this kernel does not know are skipped.
pub fn limit_bounding(c: &LinuxCapabilities) -> Result<()> {
    let keep = to_caps(c.bounding());
    for cap in caps::all() {
        if keep.contains(&cap) {
            continue;
        }
        match caps::drop(None, CapSet::Bounding, cap) {
            Ok(()) => {}
            Err(_) if !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(true) => {}
            Err(e) => return Err(caps_err("bounding", e)),
        }
    }
    Ok(())
}

/// Set the inheritable, effective and permitted sets (in that order, each a subset of what is
/// still held), then raise the ambient set. Runs after the uid switch, with keep-caps on.
pub fn set_capabilities(c: &LinuxCapabilities) -> Result<()> {
    let inheritable = to_caps(c.inheritable());
    let effective = to_caps(c.effective());
    let permitted = to_caps(c.permitted());
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(|e| caps_err("inheritable", e))?;
    caps::set(None, CapSet::Effective, &effective).map_err(|e| caps_err("effective", e))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| caps_err("permitted", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| caps_err("ambient", e))?;
    for cap in to_caps(c.ambient()) {
        // As runc: an ambient capability that is not also permitted and inheritable cannot be
        // raised, and is left out rather than failing the container.
        if inheritable.contains(&cap) && permitted.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap).map_err(|e| caps_err("ambient", e))?;
        }
    }
    Ok(())
}

/// `prctl(PR_SET_NO_NEW_PRIVS)`.
pub fn no_new_privs() -> Result<()> {
    crate::sys::set_no_new_privs().map_err(|e: Errno| Error::sys("setting no_new_privs", e))
}
