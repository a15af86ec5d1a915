//! Writes to procfs through handles proven to be the procfs file that was meant (the
//! CVE-2025-52881 class: a runtime that writes to a `/proc` path can be made to write to
//! whatever a container mounted or linked there). Used by the runtime parent (oom_score_adj of
//! the init) and by the init before pivot_root (sysctls, through the container's own procfs).
//!
//! The procfs directory is opened first and checked with `fstatfs` (`PROC_SUPER_MAGIC`); the
//! file is then opened beneath it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV |
//! RESOLVE_NO_MAGICLINKS)`, so that neither a symlink nor a mount on the way (a bind of another
//! procfs file over the target, a tmpfs over `/proc/sys`) can redirect it, and checked again.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use crate::error::{Error, Result, SysContext};

/// `PROC_SUPER_MAGIC` of `statfs(2)`.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Whether `fd` is on a procfs.
pub fn is_procfs(fd: BorrowedFd<'_>) -> std::result::Result<bool, Errno> {
    let fs = nix::sys::statfs::fstatfs(fd)?;
    Ok(fs.filesystem_type().0 as i64 == PROC_SUPER_MAGIC)
}

/// Fail unless `fd` (which names `shown`) is on a procfs.
pub fn check(fd: BorrowedFd<'_>, shown: &str) -> Result<()> {
    match is_procfs(fd).ctx(|| format!("statfs of {shown}"))? {
        true => Ok(()),
        false => Err(Error::Init(format!(
            "{shown} is not on procfs: refusing to use it"
        ))),
    }
}

/// Open the procfs directory `dir` (a mount point of procfs, or a directory on one) without
/// following a symlink in its last component, and check it is procfs.
pub fn open_dir(dir: &Path) -> Result<OwnedFd> {
    let shown = dir.display().to_string();
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {shown}"))?;
    check(fd.as_fd(), &shown)?;
    Ok(fd)
}

/// Open `rel` beneath the procfs directory `dir` (named `shown` in errors) with `flags`: no
/// mount crossing, no magic link, no escape above `dir`; the result is checked to be procfs.
/// Ordinary procfs symlinks (`self`, `thread-self`) are followed.
pub fn open_beneath(dir: BorrowedFd<'_>, shown: &str, rel: &Path, flags: OFlag) -> Result<OwnedFd> {
    let what = format!("{shown}/{}", rel.display());
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_XDEV
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let fd = openat2(dir, rel, how).map_err(|e| match e {
        Errno::EXDEV => Error::Init(format!(
            "opening {what}: a mount covers it (or its path): refusing to write through it"
        )),
        e => Error::sys(format!("opening {what}"), e),
    })?;
    check(fd.as_fd(), &what)?;
    Ok(fd)
}

/// [`open_beneath`] for writing, `None` if the file does not exist (an attribute an older
/// kernel lacks).
pub fn open_beneath_if_exists(
    dir: BorrowedFd<'_>,
    shown: &str,
    rel: &Path,
) -> Result<Option<OwnedFd>> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_XDEV
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    match openat2(dir, rel, how) {
        Err(Errno::ENOENT) => Ok(None),
        _ => open_beneath(dir, shown, rel, OFlag::O_WRONLY).map(Some),
    }
}

/// Write `data` in one `write(2)` (procfs files take their value in one piece) to an open
/// procfs file.
pub fn write_fd(fd: BorrowedFd<'_>, shown: &str, data: &[u8]) -> Result<()> {
    let n = nix::unistd::write(fd, data).ctx(|| format!("writing {shown}"))?;
    if n != data.len() {
        return Err(Error::Init(format!(
            "writing {shown}: short write ({n} of {} bytes)",
            data.len()
        )));
    }
    Ok(())
}

/// Write `data` to `/proc/<pid>/<name>` of the runtime's procfs, through verified handles.
pub fn write_pid_file(pid: i32, name: &str, data: &[u8]) -> Result<()> {
    let proc = open_dir(Path::new("/proc"))?;
    let rel = Path::new(&pid.to_string()).join(name);
    let fd = open_beneath(proc.as_fd(), "/proc", &rel, OFlag::O_WRONLY)?;
    write_fd(fd.as_fd(), &format!("/proc/{}", rel.display()), data)
}

/// This process's `/proc/self/mountinfo`, read at the first call (~70 us here: the kernel
/// formats every mount) and kept. Callers read the cgroup hierarchies from it: the runtime
/// plans the cgroup with it, and the init, a fork of the runtime whose new mount namespace is
/// a copy of the runtime's, mounts the hierarchies from the same text without reading it
/// again, unless it joined another mount namespace ([`forget_self_mountinfo`]).
pub fn self_mountinfo() -> std::io::Result<String> {
    let mut kept = MOUNTINFO
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(text) = kept.as_ref() {
        return Ok(text.clone());
    }
    let text = read_text("/proc/self/mountinfo")?;
    *kept = Some(text.clone());
    Ok(text)
}

/// Drop what [`self_mountinfo`] kept: this process has entered another mount namespace.
pub fn forget_self_mountinfo() {
    *MOUNTINFO
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

static MOUNTINFO: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Read a procfs text file whole. procfs reports a size of 0, so `std::fs::read_to_string`
/// starts with 32-byte reads and doubles them: `/proc/self/mountinfo` took nine `read`s. With
/// 16 KiB of room from the start, one read and the one that sees the end.
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(16 * 1024);
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_text_reads_everything() {
        // Longer than one 16 KiB read, and a procfs file (size 0) that must not read as empty.
        let d = std::env::temp_dir().join(format!("hako-readtext-{}", std::process::id()));
        let text: String = (0..5000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&d, &text).unwrap();
        assert_eq!(read_text(&d).unwrap(), text);
        std::fs::remove_file(&d).unwrap();
        let cg = read_text("/proc/self/cgroup").unwrap();
        assert_eq!(cg, std::fs::read_to_string("/proc/self/cgroup").unwrap());
        assert!(read_text("/proc/self/mountinfo").unwrap().contains(" - "));
        assert!(read_text("/nonexistent/hako").is_err());
    }

    #[test]
    fn proc_is_procfs_and_tmp_is_not() {
        let proc = open_dir(Path::new("/proc")).unwrap();
        let own = open_beneath(
            proc.as_fd(),
            "/proc",
            Path::new("self/status"),
            OFlag::O_RDONLY,
        );
        assert!(own.is_ok());
        let tmp = std::env::temp_dir();
        let err = open_dir(&tmp).unwrap_err().to_string();
        assert!(err.contains("is not on procfs"), "{err}");
    }

    #[test]
    fn missing_files_are_none() {
        let proc = open_dir(Path::new("/proc")).unwrap();
        let rel = Path::new("self/attr/no-such-attribute");
        assert!(open_beneath_if_exists(proc.as_fd(), "/proc", rel)
            .unwrap()
            .is_none());
        let rel = Path::new("self/oom_score_adj");
        assert!(open_beneath_if_exists(proc.as_fd(), "/proc", rel)
            .unwrap()
            .is_some());
    }

    #[test]
    fn no_escape_above_the_proc_dir() {
        let proc = open_dir(Path::new("/proc")).unwrap();
        // `..` and magic links are refused by RESOLVE_BENEATH / RESOLVE_NO_MAGICLINKS.
        assert!(open_beneath(proc.as_fd(), "/proc", Path::new("../etc"), OFlag::O_PATH).is_err());
        let err = open_beneath(
            proc.as_fd(),
            "/proc",
            Path::new("self/root/etc"),
            OFlag::O_PATH,
        );
        assert!(err.is_err());
    }
}
