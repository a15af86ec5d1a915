//! Process attributes beyond credentials: `linux.personality`, `process.scheduler`,
//! `process.ioPriority`, `process.execCPUAffinity` and `linux.memoryPolicy` (through
//! [`crate::mempolicy`]).
//!
//! Checked in the runtime parent during validation ([`check_process`], [`check_linux`]);
//! applied by the init and by exec'd processes ([`apply`]) after the rootfs is done and before
//! seccomp and the capability drop, so that neither the filter nor the dropped capabilities
//! (`CAP_SYS_NICE` for a real-time policy, `CAP_SYS_ADMIN` for the real-time I/O class) stand
//! in the way, as in runc. `execCPUAffinity` applies to exec'd processes only (the runtime
//! spec says it does not apply to the init): `initial` before the process joins the
//! container's cgroup, `final` right after.

use nix::sched::CpuSet;
use oci_spec::runtime::{
    IOPriorityClass, Linux, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    Process, Spec,
};

use crate::error::{Error, Result, SysContext};
use crate::sys::{self, SchedAttr};

/// The runtime spec's scheduler flag names that oci-spec spells differently, with its name.
const FLAG_NAMES: [(&str, &str); 7] = [
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_RECLAIM", "SCHED_FLAG_RECLAIM"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
    ("SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_POLICY"),
    ("SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_KEEP_PARAMS"),
    ("SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MIN"),
    ("SCHED_FLAG_UTIL_CLAMP_MAX", "SCHED_FLAG_UTIL_CLAMP_MAX"),
];

/// Rewrite `process.scheduler.flags` of the raw config from the runtime spec's names to the
/// ones oci-spec parses (it would refuse the whole config otherwise); an unknown name is a
/// config error naming the field.
pub fn sanitize(raw: &mut serde_json::Value) -> Result<()> {
    crate::mempolicy::check_raw(raw)?;
    let Some(flags) = raw
        .pointer_mut("/process/scheduler/flags")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Ok(());
    };
    for (i, f) in flags.iter_mut().enumerate() {
        let name = f.as_str().unwrap_or_default();
        let Some((_, ours)) = FLAG_NAMES.iter().find(|(s, o)| *s == name || *o == name) else {
            return Err(Error::config(
                format!("process.scheduler.flags[{i}]"),
                format!("{f}: unknown scheduler flag"),
            ));
        };
        *f = serde_json::Value::from(*ours);
    }
    Ok(())
}

/// Validate the scheduler, I/O priority and CPU affinity of a `process`.
pub fn check_process(p: &Process) -> Result<()> {
    if p.scheduler().is_some() {
        sched_attr(p)?;
    }
    if let Some(io) = p.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            return Err(Error::config(
                "process.ioPriority.priority",
                format!("{}: must be between 0 and 7", io.priority()),
            ));
        }
    }
    if let Some(a) = p.exec_cpu_affinity() {
        for (field, list) in [("initial", a.initial()), ("final", a.cpu_affinity_final())] {
            if let Some(list) = list {
                cpu_set(&format!("process.execCPUAffinity.{field}"), list)?;
            }
        }
    }
    Ok(())
}

/// Validate `linux.personality` and `linux.memoryPolicy`. The runtime-spec defines no
/// personality flag, so any is refused (runc ignores them with a warning: a config that asks
/// for one would run without it).
pub fn check_linux(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(flags) = linux
        .personality()
        .as_ref()
        .and_then(|p| p.flags().as_ref())
        .filter(|f| !f.is_empty())
    {
        return Err(Error::config(
            "linux.personality.flags",
            format!("{flags:?}: no personality flag is supported, only the domain"),
        ));
    }
    crate::mempolicy::Policy::from_spec(Some(linux))?;
    Ok(())
}

fn policy_number(p: LinuxSchedulerPolicy) -> Result<u32> {
    use LinuxSchedulerPolicy as P;
    Ok(match p {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
        P::SchedIso => {
            return Err(Error::config(
                "process.scheduler.policy",
                "SCHED_ISO: not implemented by Linux",
            ))
        }
    })
}

fn flag_bit(f: LinuxSchedulerFlag) -> Result<u64> {
    use LinuxSchedulerFlag as F;
    Ok(match f {
        F::SchedResetOnFork => 0x01,
        F::SchedFlagReclaim => 0x02,
        F::SchedFlagDLOverrun => 0x04,
        F::SchedFlagKeepPolicy => 0x08,
        F::SchedFlagKeepParams => 0x10,
        F::SchedFlagUtilClampMin | F::SchedFlagUtilClampMax => {
            return Err(Error::config(
                "process.scheduler.flags",
                "SCHED_FLAG_UTIL_CLAMP_*: not supported (the spec has no clamp values)",
            ))
        }
    })
}

/// `process.scheduler` as a `sched_attr`, with runc's checks.
fn sched_attr(p: &Process) -> Result<Option<SchedAttr>> {
    let Some(s) = p.scheduler() else {
        return Ok(None);
    };
    let policy = policy_number(*s.policy())?;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::config(
            "process.scheduler.nice",
            format!("{nice}: must be between -20 and 19"),
        ));
    }
    let realtime = matches!(
        s.policy(),
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    let priority = s.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        return Err(Error::config(
            "process.scheduler.priority",
            format!("{priority}: SCHED_FIFO and SCHED_RR need a priority between 1 and 99"),
        ));
    }
    if !realtime && priority != 0 {
        return Err(Error::config(
            "process.scheduler.priority",
            "can only be specified for SCHED_FIFO or SCHED_RR",
        ));
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if *s.policy() != LinuxSchedulerPolicy::SchedDeadline && dl.iter().any(|v| v.unwrap_or(0) != 0)
    {
        return Err(Error::config(
            "process.scheduler",
            "runtime, deadline and period can only be specified for SCHED_DEADLINE",
        ));
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= flag_bit(*f)?;
    }
    Ok(Some(SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    }))
}

/// A CPU list ("0-3,7") as a `CpuSet`.
fn cpu_set(field: &str, list: &str) -> Result<CpuSet> {
    let bad = |why: String| Error::config(field, format!("{list:?}: {why}"));
    let mut set = CpuSet::new();
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("{part:?} is not a CPU number or range")))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(bad(format!("{part:?}: range is backwards")));
        }
        for cpu in lo..=hi {
            set.set(cpu)
                .map_err(|_| bad(format!("CPU {cpu} is above {}", CpuSet::count() - 1)))?;
        }
    }
    Ok(set)
}

/// Apply personality, scheduler and I/O priority to the calling process (init or exec'd).
pub fn apply(p: &Process, linux: Option<&Linux>) -> Result<()> {
    if let Some(pers) = linux.and_then(|l| l.personality().as_ref()) {
        let (value, name) = match pers.domain() {
            LinuxPersonalityDomain::PerLinux => (0x0000, "LINUX"),
            LinuxPersonalityDomain::PerLinux32 => (0x0008, "LINUX32"),
        };
        sys::set_personality(value).ctx(|| format!("setting personality {name}"))?;
    }
    if let Some(attr) = sched_attr(p)? {
        let shown = p.scheduler().as_ref().map(|s| format!("{:?}", s.policy()));
        sys::sched_setattr(&attr).ctx(|| {
            format!(
                "sched_setattr to {} (nice {}, priority {}; process.scheduler)",
                shown.unwrap_or_default(),
                attr.nice,
                attr.priority
            )
        })?;
    }
    if let Some(io) = p.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let level = u32::try_from(io.priority()).unwrap_or(0);
        sys::ioprio_set_self(class, level)
            .ctx(|| format!("ioprio_set (process.ioPriority {:?} {level})", io.class()))?;
    }
    if let Some(policy) = crate::mempolicy::Policy::from_spec(linux)? {
        policy.apply()?;
    }
    Ok(())
}

/// `execCPUAffinity.initial` (`initial`) or `.final` of an exec'd process, applied to itself.
pub fn exec_affinity(p: &Process, initial: bool) -> Result<()> {
    let Some(a) = p.exec_cpu_affinity() else {
        return Ok(());
    };
    let (field, list) = if initial {
        ("initial", a.initial())
    } else {
        ("final", a.cpu_affinity_final())
    };
    let Some(list) = list.as_deref().filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let set = cpu_set(&format!("process.execCPUAffinity.{field}"), list)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .ctx(|| format!("sched_setaffinity to {list:?} (process.execCPUAffinity.{field})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(extra: &str) -> std::result::Result<Process, String> {
        let mut raw: serde_json::Value = serde_json::from_str(&format!(
            r#"{{"process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","args":["sh"]{extra}}}}}"#
        ))
        .unwrap();
        sanitize(&mut raw).map_err(|e| e.to_string())?;
        serde_json::from_value(raw["process"].clone()).map_err(|e| e.to_string())
    }

    fn check(extra: &str) -> std::result::Result<(), String> {
        check_process(&process(extra)?).map_err(|e| e.to_string())
    }

    #[test]
    fn scheduler_checks() {
        assert_eq!(
            check(r#","scheduler":{"policy":"SCHED_OTHER","nice":5}"#),
            Ok(())
        );
        assert_eq!(
            check(
                r#","scheduler":{"policy":"SCHED_FIFO","priority":10,"flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN"]}"#
            ),
            Ok(())
        );
        let e = check(r#","scheduler":{"policy":"SCHED_OTHER","nice":25}"#).unwrap_err();
        assert!(e.starts_with("process.scheduler.nice: 25"), "{e}");
        let e = check(r#","scheduler":{"policy":"SCHED_OTHER","priority":3}"#).unwrap_err();
        assert!(e.starts_with("process.scheduler.priority"), "{e}");
        let e = check(r#","scheduler":{"policy":"SCHED_RR","runtime":5}"#).unwrap_err();
        assert!(e.starts_with("process.scheduler"), "{e}");
        let e = check(r#","scheduler":{"policy":"SCHED_OTHER","flags":["BOGUS"]}"#).unwrap_err();
        assert!(e.starts_with("process.scheduler.flags[0]"), "{e}");
        let e = check(r#","scheduler":{"policy":"SCHED_ISO"}"#).unwrap_err();
        assert!(e.contains("SCHED_ISO"), "{e}");
        let p = process(r#","scheduler":{"policy":"SCHED_FIFO","priority":10,"flags":["SCHED_FLAG_RESET_ON_FORK"]}"#).unwrap();
        let attr = sched_attr(&p).unwrap().unwrap();
        assert_eq!((attr.policy, attr.priority, attr.flags), (1, 10, 1));
    }

    #[test]
    fn io_priority_and_affinity_checks() {
        assert_eq!(
            check(r#","ioPriority":{"class":"IOPRIO_CLASS_BE","priority":7}"#),
            Ok(())
        );
        let e = check(r#","ioPriority":{"class":"IOPRIO_CLASS_BE","priority":8}"#).unwrap_err();
        assert!(e.starts_with("process.ioPriority.priority: 8"), "{e}");
        assert_eq!(
            check(r#","execCPUAffinity":{"initial":"0-1,3","final":"0"}"#),
            Ok(())
        );
        let set = cpu_set("f", "0-1,3").unwrap();
        assert!(set.is_set(0).unwrap() && set.is_set(1).unwrap() && set.is_set(3).unwrap());
        assert!(!set.is_set(2).unwrap());
        assert!(cpu_set("f", "3-1").is_err());
        assert!(cpu_set("f", "99999").is_err());
    }
}
