//! The runtime binary, out of the container's reach (the CVE-2019-5736 class).
//!
//! hako does not re-exec itself to make a container process: the init and every exec'd process
//! are copies of the runtime process until they `execve` the user program. Two things follow.
//!
//! * Until that `execve`, their `/proc/<pid>/exe` and `/proc/<pid>/fd/*` would lead a process
//!   of the container to the runtime binary and to the runtime's fds (the exec fifo, the state
//!   dir, the cgroup directory: all host files). [`non_dumpable`] makes them non-dumpable before
//!   they can be seen from any container namespace; the kernel then refuses those links (and
//!   ptrace) to every process without `CAP_SYS_PTRACE` in the initial user namespace. `execve`
//!   makes the user program dumpable again, as it is under runc.
//! * The `execve` itself runs inside the container: a program that is, or whose `#!`
//!   interpreter or ELF interpreter is, `/proc/self/exe` makes the kernel run the runtime
//!   binary in the container, as a fresh and dumpable process whose `/proc/<pid>/exe` any
//!   container process may reopen (and write once no hako runs). No check of the program can
//!   close this (the container can rewrite a script between a check and the exec). What the
//!   kernel finds as `/proc/self/exe` during that `execve` is the binary of the process that
//!   calls it, so [`exec`] makes that a harmless one: the **exec trampoline**, a freestanding
//!   program of about 2 KiB (`trampoline/trampoline.c`, built by `build.rs`) that the runtime
//!   writes into a sealed, read-only memfd ([`prepare`], before any process is made). The
//!   container process `execveat`s the memfd, which `execve`s the user program; a container
//!   that points anything at `/proc/self/exe` reaches the sealed memfd, never the host binary.
//!   The cost per create/exec is a memfd of 2 KiB and one `execve` of a program with no
//!   dynamic loader and no libc (runc >= 1.2 briefly shipped the same idea as runc-dmz).
//!
//!   From its `execveat` until the program's `execve` the process is dumpable again (it runs
//!   a new binary), so it must hold nothing of the runtime's: every runtime fd is close-on-exec
//!   and gone at that `execveat`, the channel included. A program that cannot be exec'd is
//!   reported by the trampoline on the container's stderr and by its exit status, as runc's
//!   init reports it ([`Report`]), never to the runtime.
//!
//! The trampoline adds an `execve` under the container's seccomp filter, so it is used only
//! when the profile plainly allows `execve` and `execveat` (Docker's and Podman's do); a
//! profile that denies, logs, traces or notifies them keeps its exact semantics through the
//! older defence, as do targets the trampoline is not built for and hosts that refuse
//! executable memfds (`vm.memfd_noexec=2`): [`ensure_sealed`] re-executes the
//! runtime once, before anything is created, from a read-only view of its binary, a private
//! overlayfs mount made with `fsopen`/`fsmount` and attached to no mount namespace (so nobody
//! can remount it read-write; runc >= 1.2 does the same), or, where that is not possible (no
//! overlayfs, an unprivileged caller), from a sealed memfd copy (runc 1.0, crun). A runtime
//! binary that is already read-only (installed on a read-only mount) needs neither.
//! A process given an AppArmor profile takes that path too: the profile applies at the next
//! `execve`, which must be the program's (runc's semantics), not the trampoline's.

use std::ffi::{CStr, CString, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::fcntl::{fcntl, open, openat, AtFlags, FcntlArg, OFlag, SealFlag};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysContext};

/// Set in the re-executed runtime's environment: a second pass that still finds a writable
/// binary is an error, never a loop. Removed again at once.
const REEXEC_MARK: &str = "_HAKO_SEALED_EXE";

/// The seals of a memfd copy that make it immutable.
fn base_seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// Make the calling process non-dumpable: `/proc/<pid>/{exe,fd,cwd,root,environ,mem}` and
/// ptrace are then refused to processes without `CAP_SYS_PTRACE` in the initial user
/// namespace. Lasts until `execve`.
pub fn non_dumpable() -> Result<()> {
    nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE, 0)".into())
}

/// Whether the running binary is already read-only to everyone: on a read-only mount (our
/// overlayfs, or a read-only installation) or a sealed memfd.
pub fn is_sealed() -> Result<bool> {
    let exe = open(
        "/proc/self/exe",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /proc/self/exe".into())?;
    Ok(sealed_fd(exe.as_fd()))
}

fn sealed_fd(fd: BorrowedFd<'_>) -> bool {
    let ro = nix::sys::statvfs::fstatvfs(fd)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    let sealed = fcntl(fd, FcntlArg::F_GET_SEALS)
        .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(base_seals()));
    ro || sealed
}

/// The exec trampoline for this target, built from `trampoline/trampoline.c`; empty where it
/// could not be built.
static TRAMPOLINE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trampoline"));

/// `MFD_EXEC` (Linux 6.3): an executable memfd, asked for explicitly where
/// `vm.memfd_noexec` makes the default non-executable.
const MFD_EXEC: u32 = 0x0010;

/// Choose how the container's program is exec'd, before anything is created. `Some(fd)`: the
/// sealed trampoline, pass it to [`exec`]. `None`: a direct `execve` is safe, because the
/// running binary is already read-only, or has just been made so by [`ensure_sealed`] (which
/// may re-execute the runtime). `seccomp` is the filter the container's processes run under;
/// `lsm_transition`: the process enters an AppArmor profile or a SELinux label at its next
/// `execve` (see [`crate::lsm`]), which must be the program's, so the trampoline is not used.
pub fn prepare(
    seccomp: Option<&crate::seccomp::Filter>,
    lsm_transition: bool,
) -> Result<Option<OwnedFd>> {
    let fits = !lsm_transition
        && match seccomp {
            Some(f) => f.plainly_allows(&["execve", "execveat"]),
            None => true,
        };
    if fits && std::env::var_os(REEXEC_MARK).is_none() && !is_sealed()? {
        if let Some(fd) = trampoline() {
            return Ok(Some(fd));
        }
    }
    ensure_sealed()?;
    Ok(None)
}

/// The trampoline in a sealed, executable memfd; `None` where there is none for this target
/// or the kernel refuses an executable memfd.
fn trampoline() -> Option<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    if TRAMPOLINE.is_empty() {
        return None;
    }
    let name = c"hako:exec-trampoline";
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let fd = memfd_create(name, flags | MFdFlags::from_bits_retain(MFD_EXEC))
        .or_else(|_| memfd_create(name, flags))
        .ok()?;
    let mut rest = TRAMPOLINE;
    while !rest.is_empty() {
        match nix::unistd::write(&fd, rest) {
            Ok(n) if n > 0 => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            _ => return None,
        }
    }
    nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o555)).ok()?;
    // F_SEAL_EXEC (Linux 6.3) also freezes the mode; older kernels seal without it.
    let exec_seal = SealFlag::from_bits_retain(libc::F_SEAL_EXEC);
    fcntl(fd.as_fd(), FcntlArg::F_ADD_SEALS(base_seals() | exec_seal))
        .or_else(|_| fcntl(fd.as_fd(), FcntlArg::F_ADD_SEALS(base_seals())))
        .ok()?;
    Some(fd)
}

/// How a failed `execve` of the program is reported: only on the container's stderr and in the
/// exit status, as runc's init reports it. Not on the runtime's channel: through the trampoline
/// the process is dumpable from the trampoline's execveat on, and any fd it held then could be
/// taken by a process of the container (the channel is close-on-exec and gone by then). So the
/// runtime knows the exec happened, not whether the program's own execve succeeded; neither
/// does runc (`exec -d` of a program that cannot run succeeds under both).
pub struct Report {
    /// The exit status of the process after a failure (runc's: 255).
    pub status: u8,
}

/// The message of a failed exec of `program`, without the error text (runc's words).
fn failure_prefix(program: &CStr) -> String {
    format!("exec {}: ", program.to_string_lossy())
}

/// Exec `program` with `args` and `env`: through `trampoline` (see [`prepare`]) or directly.
/// Returns only if the exec failed, after reporting it as `report` says: on stderr, then exit.
/// Through the trampoline, a failure of the program's own `execve` is reported by the
/// trampoline itself, in the same words.
pub fn exec(
    program: &CStr,
    args: &[CString],
    env: &[CString],
    trampoline: Option<BorrowedFd<'_>>,
    report: &Report,
) -> ! {
    let err = match trampoline {
        Some(t) => via_trampoline(t, program, args, env, report),
        None => nix::unistd::execve(program, args, env).map_or_else(|e| e, |n| match n {}),
    };
    eprintln!(
        "{}{}",
        failure_prefix(program),
        crate::error::errno_text(err)
    );
    std::process::exit(i32::from(report.status))
}

/// `execveat` the trampoline with its arguments (see `trampoline/trampoline.c`). Every fd of
/// the runtime is close-on-exec: none reaches the trampoline. Returns the errno if the
/// trampoline itself could not be exec'd.
fn via_trampoline(
    t: BorrowedFd<'_>,
    program: &CStr,
    args: &[CString],
    env: &[CString],
    report: &Report,
) -> nix::errno::Errno {
    let head = [
        "hako-exec".to_string(),
        failure_prefix(program),
        report.status.to_string(),
    ];
    let mut argv = Vec::with_capacity(head.len() + 1 + args.len());
    for h in head {
        match CString::new(h) {
            Ok(c) => argv.push(c),
            Err(_) => return nix::errno::Errno::EINVAL,
        }
    }
    argv.push(program.to_owned());
    argv.extend(args.iter().cloned());
    nix::unistd::execveat(t, c"", &argv, env, AtFlags::AT_EMPTY_PATH)
        .map_or_else(|e| e, |n| match n {})
}

/// The name the kernel shows for the trampoline's memfd (`/proc/<pid>/exe`).
const TRAMPOLINE_EXE: &str = "/memfd:hako:exec-trampoline";

/// How long [`past_trampoline`] waits at most: the trampoline runs for well under a
/// millisecond; a process held in it (stopped by the container) is not waited for longer.
const PAST_TRAMPOLINE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// After the runtime saw `pid` exec (its close-on-exec fds closed): wait until it runs the
/// program rather than the trampoline, which holds no fd of the runtime to say so, so that
/// `start` and `exec -d` return once the program runs, as under runc. One readlink when the
/// trampoline is not used or already gone; bounded.
pub fn past_trampoline(pid: nix::unistd::Pid) {
    let exe = format!("/proc/{pid}/exe");
    let deadline = std::time::Instant::now() + PAST_TRAMPOLINE_WAIT;
    while std::fs::read_link(&exe).is_ok_and(|p| {
        p.as_os_str()
            .as_bytes()
            .starts_with(TRAMPOLINE_EXE.as_bytes())
    }) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// Make sure the running binary cannot be written through `/proc/<pid>/exe`: return if it is
/// already sealed, else re-execute the runtime (same argv and environment) from a sealed view
/// of its binary. Call before anything is created; single-threaded.
pub fn ensure_sealed() -> Result<()> {
    let again = std::env::var_os(REEXEC_MARK).is_some();
    if again {
        std::env::remove_var(REEXEC_MARK);
    }
    if is_sealed()? {
        name_after_argv0();
        return Ok(());
    }
    if again {
        return Err(Error::Init(
            "re-executed from a sealed copy, but /proc/self/exe is still writable".into(),
        ));
    }
    let exe = sealed_overlay().or_else(|overlay| {
        sealed_memfd().map_err(|memfd| {
            Error::Init(format!(
                "sealing the runtime binary (CVE-2019-5736): overlayfs: {overlay}; memfd: {memfd}"
            ))
        })
    })?;
    let argv = cstrings(std::env::args_os())?;
    let mut env = cstrings(
        std::env::vars_os().map(|(k, v)| [k, OsString::from("="), v].into_iter().collect()),
    )?;
    env.push(CString::new(format!("{REEXEC_MARK}=1")).map_err(|_| Error::Init("env".into()))?);
    let err = nix::unistd::execveat(exe.as_fd(), c"", &argv, &env, AtFlags::AT_EMPTY_PATH)
        .map_or_else(|e| e, |never| match never {});
    Err(Error::sys("re-executing the sealed runtime binary", err))
}

fn cstrings(items: impl Iterator<Item = OsString>) -> Result<Vec<CString>> {
    items
        .map(|s| {
            CString::new(s.into_vec())
                .map_err(|_| Error::Init("an argument or variable holds a NUL byte".into()))
        })
        .collect()
}

/// `execveat(fd, "")` names the process after the fd number ("3"); give it its own name back.
fn name_after_argv0() {
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    if !comm.trim().chars().all(|c| c.is_ascii_digit()) {
        return;
    }
    let name = std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n.as_bytes().to_vec()))
        .unwrap_or_else(|| b"hako".to_vec());
    if let Ok(c) = CString::new(name) {
        let _ = nix::sys::prctl::set_name(&c);
    }
}

/// The overlayfs escape of a lowerdir path (`\` and `:` are special in `lowerdir`).
fn escape_lowerdir(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if b == b'\\' || b == b':' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// An `O_PATH` handle on the binary through a private read-only overlayfs of its directory.
/// overlayfs needs two lower layers to be mounted without an upper one: the binary's
/// directory on top, `/dev` (any directory that always exists) below it.
fn sealed_overlay() -> Result<OwnedFd> {
    let real = std::fs::read_link("/proc/self/exe")
        .map_err(|e| Error::io("reading link", "/proc/self/exe", e))?;
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(Error::Init(format!("{}: no directory", real.display())));
    };
    let mut lower = escape_lowerdir(dir);
    lower.extend_from_slice(b":/dev");
    let lower = CString::new(lower).map_err(|_| Error::Init("binary path".into()))?;
    let ctx = crate::sys::fsopen(c"overlay").ctx(|| "fsopen(overlay)".into())?;
    crate::sys::fsconfig_set_string(ctx.as_fd(), c"lowerdir", &lower)
        .ctx(|| format!("fsconfig(lowerdir={})", lower.to_string_lossy()))?;
    // xino only matters for inode numbers we never look at; it logs when it cannot be used.
    let _ = crate::sys::fsconfig_set_string(ctx.as_fd(), c"xino", c"off");
    crate::sys::fsconfig_create(ctx.as_fd()).ctx(|| "fsconfig(create) of overlayfs".into())?;
    // MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
    let mnt = crate::sys::fsmount(ctx.as_fd(), 0x1 | 0x2 | 0x4).ctx(|| "fsmount".into())?;
    let fd = openat(
        mnt.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {} in the sealed overlay", real.display()))?;
    Ok(fd)
}

/// A sealed in-memory copy of the binary (`memfd_create` + `F_SEAL_{SEAL,SHRINK,GROW,WRITE}`).
fn sealed_memfd() -> Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let name: &CStr = c"hako:sealed-exe";
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .ctx(|| "memfd_create".into())?;
    let mut src = std::fs::File::open("/proc/self/exe")
        .map_err(|e| Error::io("opening", "/proc/self/exe", e))?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copying", "/proc/self/exe", e))?;
    let fd = OwnedFd::from(dst);
    nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o511))
        .ctx(|| "chmod of the memfd copy".into())?;
    fcntl(fd.as_fd(), FcntlArg::F_ADD_SEALS(base_seals()))
        .ctx(|| "sealing the memfd copy".into())?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_escapes() {
        assert_eq!(
            escape_lowerdir(Path::new("/a:b\\c")),
            b"/a\\:b\\\\c".to_vec()
        );
    }

    #[test]
    fn overlay_and_memfd_copies_are_sealed() {
        for fd in [sealed_overlay(), sealed_memfd()] {
            let fd = fd.unwrap();
            let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            let ro = nix::fcntl::open(path.as_str(), OFlag::O_RDONLY, Mode::empty()).unwrap();
            assert!(sealed_fd(ro.as_fd()));
            let w = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
            assert!(w.is_err(), "the sealed copy took a write");
        }
    }
}
