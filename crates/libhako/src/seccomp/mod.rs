//! `linux.seccomp` -> a BPF program, its installation, and the `SCMP_ACT_NOTIFY` listener.
//!
//! Three steps in two processes:
//! * **runtime parent, during [`crate::spec::validate`]**: [`compile`] reads the profile from the
//!   raw config.json (oci-spec's enums would refuse names runc accepts, and have no
//!   `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`), checks every name, and has libseccomp compile it
//!   to a BPF program. A bad profile fails `create` before anything exists.
//! * **container init**: [`install`] hands that program to `seccomp(2)`. The init is a copy of
//!   the parent's memory, so it calls nothing of libseccomp. Where it runs is fixed by
//!   [`crate::init`]: with `noNewPrivileges` as the last setup step, so that as few syscalls as
//!   possible run under the filter; without it before the uid switch and the capability drop,
//!   since loading a filter without no_new_privs needs CAP_SYS_ADMIN (runc's order).
//! * **runtime parent again**, when a rule uses `SCMP_ACT_NOTIFY`: the init sends the listener
//!   fd back over the sync channel and [`send_listener`] passes it on to `listenerPath` with the
//!   container process state (runtime-spec, config-linux.md "seccomp").
//!
//! runc's rules are kept: `SCMP_ACT_KILL` is KILL_THREAD; ERRNO and TRACE without `errnoRet`
//! return EPERM; a rule whose action is the default action is dropped; syscall names libseccomp
//! does not know are skipped; the conditions of one rule are ANDed, except when two of them
//! test the same argument, when each condition becomes a rule of its own; with `flags` absent,
//! SPEC_ALLOW is set where the kernel has it.

use std::io::{IoSlice, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result, SysContext};

mod cache;
mod enosys;
pub use cache::PREFIX as CACHE_PREFIX;

/// `SECCOMP_FILTER_FLAG_TSYNC`.
pub const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`.
pub const FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`.
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// The largest program the kernel accepts (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// A compiled profile, ready to load.
pub struct Filter {
    /// The BPF program libseccomp generated.
    program: Vec<libc::sock_filter>,
    /// The `seccomp(2)` flags (`FLAG_*`).
    flags: u32,
    /// Where the listener fd goes, when a rule uses `SCMP_ACT_NOTIFY`.
    pub listener: Option<Listener>,
    /// The profile as written, kept in the state dir for `exec` ([`save`]).
    raw: Value,
    /// The same, parsed (for [`Filter::plainly_allows`]).
    profile: RawProfile,
    /// Its entry in the compiled-program cache, when one is used.
    cached: Option<cache::Entry>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("listener", &self.listener)
            .field("cached", &self.cached)
            .finish()
    }
}

impl Filter {
    /// The `seccomp(2)` flags the filter is loaded with.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Whether the program is empty (never, for a compiled profile).
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Whether the program was read from the cache instead of compiled.
    pub fn from_cache(&self) -> bool {
        self.cached.as_ref().is_some_and(|c| c.hit)
    }

    /// Whether each of `names` is plainly allowed: named only by rules that allow it with no
    /// argument condition, or not named and allowed by the default action. Anything else
    /// (an errno, a notification, a log entry, a condition) is not plain.
    pub fn plainly_allows(&self, names: &[&str]) -> bool {
        let p = &self.profile;
        let allow = |a: &str| a == "SCMP_ACT_ALLOW";
        names.iter().all(|name| {
            let mut rules = p
                .syscalls
                .iter()
                .flatten()
                .filter(|r| r.names.iter().any(|n| n == name))
                .peekable();
            if rules.peek().is_none() {
                return allow(&p.default_action);
            }
            rules.all(|r| allow(&r.action) && r.args.iter().flatten().next().is_none())
        })
    }
}

/// `listenerPath` and `listenerMetadata`.
#[derive(Debug, Clone)]
pub struct Listener {
    /// The unix socket the listener fd is sent to.
    pub path: PathBuf,
    /// Opaque data passed on as the state's `metadata`.
    pub metadata: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    #[serde(default)]
    default_action: String,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<String>>,
    flags: Option<Vec<String>>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<RawSyscall>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    args: Option<Vec<RawArg>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// An action name with its `errnoRet`, as runc maps them. `None` for an unknown name.
pub fn action(name: &str, errno_ret: Option<u16>) -> Option<ScmpAction> {
    let errno = errno_ret.unwrap_or(libc::EPERM as u16);
    Some(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(i32::from(errno)),
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno),
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_NOTIFY" => ScmpAction::Notify,
        _ => return None,
    })
}

/// An architecture name of the runtime spec. `None` for an unknown name.
pub fn arch(name: &str) -> Option<ScmpArch> {
    Some(match name {
        "SCMP_ARCH_X86" => ScmpArch::X86,
        "SCMP_ARCH_X86_64" => ScmpArch::X8664,
        "SCMP_ARCH_X32" => ScmpArch::X32,
        "SCMP_ARCH_ARM" => ScmpArch::Arm,
        "SCMP_ARCH_AARCH64" => ScmpArch::Aarch64,
        "SCMP_ARCH_MIPS" => ScmpArch::Mips,
        "SCMP_ARCH_MIPS64" => ScmpArch::Mips64,
        "SCMP_ARCH_MIPS64N32" => ScmpArch::Mips64N32,
        "SCMP_ARCH_MIPSEL" => ScmpArch::Mipsel,
        "SCMP_ARCH_MIPSEL64" => ScmpArch::Mipsel64,
        "SCMP_ARCH_MIPSEL64N32" => ScmpArch::Mipsel64N32,
        "SCMP_ARCH_PPC" => ScmpArch::Ppc,
        "SCMP_ARCH_PPC64" => ScmpArch::Ppc64,
        "SCMP_ARCH_PPC64LE" => ScmpArch::Ppc64Le,
        "SCMP_ARCH_S390" => ScmpArch::S390,
        "SCMP_ARCH_S390X" => ScmpArch::S390X,
        "SCMP_ARCH_PARISC" => ScmpArch::Parisc,
        "SCMP_ARCH_PARISC64" => ScmpArch::Parisc64,
        "SCMP_ARCH_RISCV64" => ScmpArch::Riscv64,
        "SCMP_ARCH_LOONGARCH64" => ScmpArch::Loongarch64,
        "SCMP_ARCH_M68K" => ScmpArch::M68k,
        _ => return None,
    })
}

/// An argument condition: operator name, `value` and `valueTwo`. For `SCMP_CMP_MASKED_EQ`
/// `value` is the mask and `valueTwo` the datum (runc's and libseccomp's reading).
pub fn condition(index: u32, op: &str, value: u64, value_two: u64) -> Option<ScmpArgCompare> {
    let op = match op {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        "SCMP_CMP_MASKED_EQ" => {
            return Some(ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(value),
                value_two,
            ))
        }
        _ => return None,
    };
    Some(ScmpArgCompare::new(index, op, value))
}

/// A filter flag name of the runtime spec. `None` for an unknown name.
pub fn flag(name: &str) -> Option<u32> {
    Some(match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => FLAG_TSYNC,
        "SECCOMP_FILTER_FLAG_LOG" => FLAG_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => FLAG_SPEC_ALLOW,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => FLAG_WAIT_KILLABLE_RECV,
        _ => return None,
    })
}

/// The conditions of one rule as libseccomp rules, by runc's rule: one rule with all of them
/// ANDed, unless two test the same argument, when each becomes a rule of its own.
pub fn rule_groups(conds: Vec<(u32, ScmpArgCompare)>) -> Vec<Vec<ScmpArgCompare>> {
    let mut seen = [0u8; 6];
    let mut repeated = false;
    for (index, _) in &conds {
        if let Some(n) = seen.get_mut(*index as usize) {
            *n += 1;
            repeated |= *n > 1;
        }
    }
    if repeated {
        conds.into_iter().map(|(_, c)| vec![c]).collect()
    } else {
        vec![conds.into_iter().map(|(_, c)| c).collect()]
    }
}

fn errno_ret(field: &str, v: Option<u32>) -> Result<Option<u16>> {
    v.map(|n| {
        u16::try_from(n)
            .map_err(|_| Error::config(field, format!("{n} is out of range (0 to 65535)")))
    })
    .transpose()
}

fn lib_err(field: impl Into<String>, what: &str, e: libseccomp::error::SeccompError) -> Error {
    Error::config(field, format!("{what}: {e}"))
}

/// Check and compile `linux.seccomp` (the raw JSON value). `None` when there is nothing to
/// load: no section, or neither a default action nor syscalls (runc's reading). With a
/// `cache` directory (the state root's fd), a program compiled before for the same profile is
/// read from it instead (see cache.rs; [`remember`] stores a new one).
pub fn compile(raw: Option<&Value>, cache: Option<BorrowedFd<'_>>) -> Result<Option<Filter>> {
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let mut p: RawProfile = serde_json::from_value(raw.clone())
        .map_err(|e| Error::config("linux.seccomp", e.to_string()))?;
    if p.default_action.is_empty() && p.syscalls.as_deref().unwrap_or_default().is_empty() {
        return Ok(None);
    }
    let mut cached = cache::Entry::new(raw);
    let loaded = cached.as_mut().zip(cache).and_then(|(entry, dir)| {
        let found = entry.load(dir);
        entry.hit = found.is_some();
        found
    });
    let (program, flags, notify) = match loaded {
        // The same profile compiled: it was valid, and notified when NEW_LISTENER is set.
        Some((program, flags)) => (program, flags, flags & FLAG_NEW_LISTENER != 0),
        None => build(&p)?,
    };
    let listener = listener(&mut p, notify)?;
    Ok(Some(Filter {
        program,
        flags,
        listener,
        raw: raw.clone(),
        profile: p,
        cached,
    }))
}

/// Keep the program of `filter` in the cache `dir` (the state root's fd), if it was compiled
/// rather than read from there.
pub fn remember(filter: Option<&Filter>, dir: BorrowedFd<'_>) {
    if let Some(f) = filter {
        if let Some(entry) = f.cached.as_ref().filter(|c| !c.hit) {
            entry.store(dir, &f.program, f.flags);
        }
    }
}

/// `listenerPath` and `listenerMetadata` when a rule notifies (then the path is required).
fn listener(p: &mut RawProfile, notify: bool) -> Result<Option<Listener>> {
    match (notify, p.listener_path.take()) {
        (false, _) => Ok(None),
        (true, Some(path)) if !path.as_os_str().is_empty() => Ok(Some(Listener {
            path,
            metadata: p.listener_metadata.take().unwrap_or_default(),
        })),
        (true, _) => Err(Error::config(
            "linux.seccomp.listenerPath",
            "required when a rule uses SCMP_ACT_NOTIFY",
        )),
    }
}

/// Check every name of the profile and have libseccomp compile it: the program, the
/// `seccomp(2)` flags, and whether a rule notifies.
fn build(p: &RawProfile) -> Result<(Vec<libc::sock_filter>, u32, bool)> {
    let syscalls = p.syscalls.as_deref().unwrap_or_default();
    let default_errno = errno_ret("linux.seccomp.defaultErrnoRet", p.default_errno_ret)?;
    let default = action(&p.default_action, default_errno).ok_or_else(|| {
        Error::config(
            "linux.seccomp.defaultAction",
            format!("unknown action {:?}", p.default_action),
        )
    })?;
    if default == ScmpAction::Notify {
        return Err(Error::config(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| lib_err("linux.seccomp.defaultAction", "creating the filter", e))?;
    let mut arches = Vec::new();
    for (i, name) in p.architectures.iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let a = arch(name)
            .ok_or_else(|| Error::config(&field, format!("unknown architecture {name:?}")))?;
        arches.push(a);
        let present = ctx
            .is_arch_present(a)
            .map_err(|e| lib_err(&field, name, e))?;
        if !present {
            ctx.add_arch(a)
                .map_err(|e| lib_err(&field, &format!("{name} is not supported here"), e))?;
        }
    }
    let mut notify = false;
    for (i, call) in syscalls.iter().enumerate() {
        notify |= add_rules(&mut ctx, i, call, default)?;
    }
    let flags = flags(p.flags.as_deref(), notify)?;
    // runc's -ENOSYS stub goes in front when the default refuses (see enosys.rs).
    let refuses = !matches!(
        default,
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_)
    );
    let mut program = if refuses && p.default_errno_ret != Some(libc::ENOSYS as u32) {
        let names: Vec<&str> = syscalls
            .iter()
            .flat_map(|c| c.names.iter().map(String::as_str))
            .collect();
        enosys::stub(&arches, &names)?
    } else {
        Vec::new()
    };
    program.extend(export(&ctx)?);
    if program.len() > MAX_INSNS {
        return Err(Error::config(
            "linux.seccomp",
            format!(
                "the filter has {} instructions, more than the kernel's limit of {MAX_INSNS}",
                program.len()
            ),
        ));
    }
    Ok((program, flags, notify))
}

/// Add the rules of `syscalls[i]`; returns whether its action is NOTIFY.
fn add_rules(
    ctx: &mut ScmpFilterContext,
    i: usize,
    call: &RawSyscall,
    default: ScmpAction,
) -> Result<bool> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    let errno = errno_ret(&format!("{field}.errnoRet"), call.errno_ret)?;
    let act = action(&call.action, errno).ok_or_else(|| {
        Error::config(
            format!("{field}.action"),
            format!("unknown action {:?}", call.action),
        )
    })?;
    let mut conds = Vec::new();
    for (j, a) in call.args.iter().flatten().enumerate() {
        let afield = format!("{field}.args[{j}]");
        if a.index > 5 {
            return Err(Error::config(
                format!("{afield}.index"),
                format!(
                    "{} is out of range (a syscall has arguments 0 to 5)",
                    a.index
                ),
            ));
        }
        let c = condition(a.index, &a.op, a.value, a.value_two).ok_or_else(|| {
            Error::config(
                format!("{afield}.op"),
                format!("unknown operator {:?}", a.op),
            )
        })?;
        conds.push((a.index, c));
    }
    for (j, name) in call.names.iter().enumerate() {
        if name.is_empty() {
            return Err(Error::config(
                format!("{field}.names[{j}]"),
                "empty syscall name",
            ));
        }
        if act == ScmpAction::Notify && name == "sendmsg" {
            // The init passes the listener fd to the runtime with sendmsg(2) after the filter
            // is loaded: notifying it would wait for an agent that never gets the fd.
            return Err(Error::config(
                format!("{field}.names[{j}]"),
                "SCMP_ACT_NOTIFY cannot be used for sendmsg",
            ));
        }
    }
    if act == default {
        // Redundant with the default action; libseccomp would refuse it (runc skips it too).
        return Ok(act == ScmpAction::Notify);
    }
    let groups = rule_groups(conds);
    for name in &call.names {
        // A name this libseccomp does not know is a syscall this kernel may not have: skipped,
        // as runc does.
        let Ok(sys) = ScmpSyscall::from_name(name) else {
            continue;
        };
        for group in &groups {
            let added = if group.is_empty() {
                ctx.add_rule(act, sys)
            } else {
                ctx.add_rule_conditional(act, sys, group)
            };
            added.map_err(|e| lib_err(&field, &format!("adding the rule for {name}"), e))?;
        }
    }
    Ok(act == ScmpAction::Notify)
}

/// The `seccomp(2)` flags: the configured ones the kernel has, SPEC_ALLOW by default (runc),
/// NEW_LISTENER when a rule notifies. WAIT_KILLABLE_RECV only means something with a listener
/// and is dropped without one (libseccomp does the same); TSYNC with a listener needs
/// TSYNC_ESRCH, which the kernel wants for the pair.
fn flags(configured: Option<&[String]>, notify: bool) -> Result<u32> {
    let mut flags = 0;
    match configured {
        None => {
            if crate::sys::seccomp_flag_supported(FLAG_SPEC_ALLOW) {
                flags |= FLAG_SPEC_ALLOW;
            }
        }
        Some(names) => {
            for (i, name) in names.iter().enumerate() {
                let field = format!("linux.seccomp.flags[{i}]");
                let f = flag(name)
                    .ok_or_else(|| Error::config(&field, format!("unknown flag {name:?}")))?;
                let probe = if f == FLAG_WAIT_KILLABLE_RECV {
                    f | FLAG_NEW_LISTENER
                } else {
                    f
                };
                if !crate::sys::seccomp_flag_supported(probe) {
                    return Err(Error::config(
                        field,
                        format!("{name} is not supported by this kernel"),
                    ));
                }
                flags |= f;
            }
        }
    }
    if notify {
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    } else {
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(flags)
}

/// The BPF program of `ctx`, read back through a memfd (libseccomp 2.5 exports to an fd only).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let fd = nix::sys::memfd::memfd_create(c"hako-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .ctx(|| "creating a memfd for the seccomp program".into())?;
    ctx.export_bpf(&fd)
        .map_err(|e| Error::config("linux.seccomp", format!("exporting the BPF program: {e}")))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| {
            Error::io(
                "reading the exported seccomp program",
                "memfd:hako-seccomp",
                e,
            )
        })?;
    Ok(parse_program(&bytes))
}

/// Native-endian `struct sock_filter`s, as `seccomp_export_bpf` writes them.
pub fn parse_program(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(8)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

/// Load the filter into the calling process (the container init). Returns the listener fd
/// when a rule notifies.
pub fn install(filter: &Filter) -> Result<Option<OwnedFd>> {
    crate::sys::seccomp_set_mode_filter(filter.flags, &filter.program).ctx(|| {
        format!(
            "loading the seccomp filter ({} instructions, flags {:#x})",
            filter.program.len(),
            filter.flags
        )
    })
}

/// The file in the state dir that keeps the profile for `exec`.
pub const SAVED: &str = "seccomp.json";

/// What to keep in the container's state dir as [`SAVED`]: `exec` puts its processes under
/// the same filter, as runc does (they join the namespaces, they do not inherit the init's
/// filter). `None` when the container has none.
pub fn saved_form(filter: Option<&Filter>) -> Result<Option<Vec<u8>>> {
    filter
        .map(|f| {
            serde_json::to_vec(&f.raw)
                .map_err(|e| Error::Lifecycle(format!("encoding the seccomp profile: {e}")))
        })
        .transpose()
}

/// The profile kept by [`saved_form`] (read from `shown`), compiled again or read from the
/// `cache` of the state root; `None` when the container has none.
pub fn load_saved(
    bytes: Option<Vec<u8>>,
    shown: &Path,
    cache: Option<BorrowedFd<'_>>,
) -> Result<Option<Filter>> {
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Lifecycle(format!("{}: corrupt profile: {e}", shown.display())))?;
    let filter = compile(Some(&raw), cache)?;
    if let Some(dir) = cache {
        remember(filter.as_ref(), dir);
    }
    Ok(filter)
}

/// Send the listener fd to `listenerPath` with the container process state (runtime-spec
/// config-linux.md, "Container Process State"): one `SOCK_STREAM` connection, one message
/// with the fd as SCM_RIGHTS, then close. Runs in the runtime parent; `state` is the OCI state.
pub fn send_listener(
    listener: &Listener,
    pid: i32,
    state: Value,
    fd: BorrowedFd<'_>,
) -> Result<()> {
    let msg = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": listener.metadata,
        "state": state,
    });
    let bytes = serde_json::to_vec(&msg)
        .map_err(|e| Error::Lifecycle(format!("encoding the seccomp state: {e}")))?;
    let path = &listener.path;
    let sock = UnixStream::connect(path)
        .map_err(|e| Error::io("connecting to seccomp listenerPath", path, e))?;
    let fds = [fd.as_raw_fd()];
    let mut sent = 0;
    while sent < bytes.len() {
        let iov = [IoSlice::new(&bytes[sent..])];
        // The fd goes with the first bytes only.
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage<'_>] = if sent == 0 { &cmsg } else { &[] };
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::sys(
                    format!("sending the seccomp listener fd to {}", path.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_as_runc() {
        assert_eq!(action("SCMP_ACT_KILL", None), Some(ScmpAction::KillThread));
        assert_eq!(
            action("SCMP_ACT_KILL_THREAD", None),
            Some(ScmpAction::KillThread)
        );
        assert_eq!(
            action("SCMP_ACT_KILL_PROCESS", None),
            Some(ScmpAction::KillProcess)
        );
        assert_eq!(action("SCMP_ACT_TRAP", None), Some(ScmpAction::Trap));
        assert_eq!(action("SCMP_ACT_ERRNO", None), Some(ScmpAction::Errno(1)));
        assert_eq!(
            action("SCMP_ACT_ERRNO", Some(38)),
            Some(ScmpAction::Errno(38))
        );
        assert_eq!(action("SCMP_ACT_TRACE", None), Some(ScmpAction::Trace(1)));
        assert_eq!(
            action("SCMP_ACT_TRACE", Some(7)),
            Some(ScmpAction::Trace(7))
        );
        assert_eq!(action("SCMP_ACT_ALLOW", Some(3)), Some(ScmpAction::Allow));
        assert_eq!(action("SCMP_ACT_LOG", None), Some(ScmpAction::Log));
        assert_eq!(action("SCMP_ACT_NOTIFY", None), Some(ScmpAction::Notify));
        assert_eq!(action("SCMP_ACT_BOGUS", None), None);
        assert_eq!(action("scmp_act_allow", None), None);
    }

    #[test]
    fn plainly_allowed_syscalls() {
        let f = |v: Value| compile(Some(&v), None).unwrap().unwrap();
        let deny_default = f(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["execve", "execveat"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}
        ]}));
        assert!(deny_default.plainly_allows(&["execve", "execveat"]));
        assert!(
            !deny_default.plainly_allows(&["execve", "fcntl"]),
            "a condition"
        );
        assert!(
            !deny_default.plainly_allows(&["write"]),
            "unnamed, default errno"
        );
        let allow_default = f(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_NOTIFY"}],
            "listenerPath": "/run/x.sock"}));
        assert!(allow_default.plainly_allows(&["execve", "fcntl"]));
        assert!(
            !allow_default.plainly_allows(&["execveat"]),
            "a notification"
        );
        let logged = f(serde_json::json!({"defaultAction": "SCMP_ACT_LOG"}));
        assert!(!logged.plainly_allows(&["execve"]));
    }

    #[test]
    fn arch_and_flag_names() {
        assert_eq!(arch("SCMP_ARCH_X86_64"), Some(ScmpArch::X8664));
        assert_eq!(arch("SCMP_ARCH_X32"), Some(ScmpArch::X32));
        assert_eq!(arch("SCMP_ARCH_AARCH64"), Some(ScmpArch::Aarch64));
        assert_eq!(arch("SCMP_ARCH_NATIVE"), None);
        assert_eq!(arch("x86_64"), None);
        assert_eq!(flag("SECCOMP_FILTER_FLAG_LOG"), Some(2));
        assert_eq!(flag("SECCOMP_FILTER_FLAG_SPEC_ALLOW"), Some(4));
        assert_eq!(flag("SECCOMP_FILTER_FLAG_TSYNC"), Some(1));
        assert_eq!(flag("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"), Some(32));
        assert_eq!(flag("SECCOMP_FILTER_FLAG_NEW_LISTENER"), None);
    }

    #[test]
    fn operators_map_to_libseccomp() {
        let cases = [
            ("SCMP_CMP_NE", ScmpCompareOp::NotEqual),
            ("SCMP_CMP_LT", ScmpCompareOp::Less),
            ("SCMP_CMP_LE", ScmpCompareOp::LessOrEqual),
            ("SCMP_CMP_EQ", ScmpCompareOp::Equal),
            ("SCMP_CMP_GE", ScmpCompareOp::GreaterEqual),
            ("SCMP_CMP_GT", ScmpCompareOp::Greater),
        ];
        for (name, op) in cases {
            assert_eq!(
                condition(2, name, 9, 0),
                Some(ScmpArgCompare::new(2, op, 9)),
                "{name}"
            );
        }
        // value is the mask, valueTwo the datum.
        assert_eq!(
            condition(0, "SCMP_CMP_MASKED_EQ", 0x7e02_0000, 0),
            Some(ScmpArgCompare::new(
                0,
                ScmpCompareOp::MaskedEqual(0x7e02_0000),
                0
            ))
        );
        assert_eq!(condition(0, "SCMP_CMP_BOGUS", 0, 0), None);
    }

    #[test]
    fn same_argument_twice_splits_the_rule() {
        let c = |i, v| (i, ScmpArgCompare::new(i, ScmpCompareOp::Equal, v));
        assert_eq!(rule_groups(vec![c(0, 1), c(1, 2)]).len(), 1);
        assert_eq!(rule_groups(vec![c(0, 1), c(1, 2)])[0].len(), 2);
        let split = rule_groups(vec![c(0, 1), c(0, 2), c(1, 3)]);
        assert_eq!(split.len(), 3);
        assert!(split.iter().all(|g| g.len() == 1));
        assert_eq!(rule_groups(vec![]), vec![Vec::<ScmpArgCompare>::new()]);
    }

    fn compile_json(json: &str) -> std::result::Result<Option<Filter>, String> {
        let v: Value = serde_json::from_str(json).unwrap();
        compile(Some(&v), None).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_names_are_config_errors_naming_the_field() {
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#).unwrap_err();
        assert_eq!(
            e,
            r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#
        );
        let e = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpid"],"action":"SCMP_ACT_ERRNO"},
                {"names":["mkdir"],"action":"X"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e, r#"linux.seccomp.syscalls[1].action: unknown action "X""#);
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_Z80"]}"#)
            .unwrap_err();
        assert_eq!(
            e,
            r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80""#
        );
        let e = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE""#
        );
        let e = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_APPROX"}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            r#"linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_APPROX""#
        );
        let e = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].args[0].index: 6 is out of range"),
            "{e}"
        );
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#)
            .unwrap_err();
        assert!(e.starts_with("linux.seccomp.defaultErrnoRet: 70000"), "{e}");
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[""],"action":"SCMP_ACT_ERRNO"}]}"#)
            .unwrap_err();
        assert_eq!(e, "linux.seccomp.syscalls[0].names[0]: empty syscall name");
        let e =
            compile_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":"nope"}"#).unwrap_err();
        assert!(e.starts_with("linux.seccomp: invalid type"), "{e}");
    }

    #[test]
    fn notify_needs_a_listener_and_is_no_default() {
        let e = compile_json(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap_err();
        assert!(
            e.starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY"),
            "{e}"
        );
        let e = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap_err();
        assert!(e.starts_with("linux.seccomp.listenerPath: required"), "{e}");
        let f = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","listenerMetadata":"m",
            "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            f.flags(),
            FLAG_TSYNC | FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH
        );
        assert_eq!(f.listener.as_ref().map(|l| l.metadata.as_str()), Some("m"));
    }

    #[test]
    fn empty_profile_is_no_filter_and_unknown_syscalls_are_skipped() {
        assert!(compile(None, None).unwrap().is_none());
        assert!(compile_json("{}").unwrap().is_none());
        let f = compile_json(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"flags":[],
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["read","no_such_syscall_hako","chown32"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        )
        .unwrap()
        .unwrap();
        assert!(!f.is_empty());
        assert_eq!(f.flags(), 0);
    }

    #[test]
    fn program_bytes_roundtrip() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0x20u16.to_ne_bytes());
        bytes.extend_from_slice(&[1, 2]);
        bytes.extend_from_slice(&4u32.to_ne_bytes());
        let p = parse_program(&bytes);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].code, p[0].jt, p[0].jf, p[0].k), (0x20, 1, 2, 4));
    }
}
