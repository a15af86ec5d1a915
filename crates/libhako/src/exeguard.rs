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
//!   interpreter is, `/proc/self/exe` makes the kernel run the runtime binary in the container,
//!   as a fresh and dumpable process whose `/proc/<pid>/exe` any container process may reopen.
//!   No check of the program can close this (the container can rewrite a script between a
//!   check and the exec), so [`ensure_sealed`] makes the binary that is reachable that way
//!   read-only: before `create`, `run` or `exec` makes any process, the runtime re-executes
//!   itself once from a read-only view of its binary, a private overlayfs mount made with
//!   `fsopen`/`fsmount` and attached to no mount namespace (so nobody can remount it
//!   read-write; runc >= 1.2 does the same), or, where that is not possible (no overlayfs, an
//!   unprivileged caller), from a sealed memfd copy (runc 1.0, crun). Reopening that file for
//!   writing fails (EROFS, or EPERM on write for the memfd).
//!
//! Nothing is copied on the overlayfs path (the page cache is the binary's own); the cost is
//! one `execve` of the runtime per create/run/exec.

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
