//! `--pid-file` (create, run, exec): the process's host PID, written as runc writes it (the
//! number alone, put in place by a rename, so a reader never sees half of it) and never
//! through a symlink: the pid file's directory may be writable by others (`/tmp`), and a
//! planted link at the temporary name would make the runtime, as root, write over the link's
//! target. The temporary file has an unpredictable name and is made `O_CREAT|O_EXCL|O_NOFOLLOW`
//! relative to the directory's fd; the rename, relative to the same fd, replaces whatever is
//! at the final name (a symlink there is replaced, not followed). Following symlinks in the
//! directory part of the path is the caller's choice, as under runc.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, Pid, UnlinkatFlags};

use crate::error::{Error, Result, SysContext};

/// Tries at a fresh temporary name (each collision is someone else's file, never ours).
const TRIES: usize = 8;

/// Write `pid` to `path`.
pub fn write(path: &Path, pid: Pid) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::config("--pid-file", format!("{}: no file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dirfd = open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening the pid file's directory {}", dir.display()))?;
    for _ in 0..TRIES {
        let tmp = format!(".{}.{:016x}", name.to_string_lossy(), random()?);
        let file = match openat(
            dirfd.as_fd(),
            tmp.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o666),
        ) {
            Ok(f) => f,
            Err(Errno::EEXIST) => continue,
            Err(e) => {
                return Err(Error::sys(
                    format!("creating {}", dir.join(&tmp).display()),
                    e,
                ))
            }
        };
        let written = write_all(file, pid.to_string().as_bytes())
            .and_then(|()| renameat(dirfd.as_fd(), tmp.as_str(), dirfd.as_fd(), name));
        return written.map_err(|e| {
            let _ = unlinkat(dirfd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            Error::sys(format!("writing pid file {}", path.display()), e)
        });
    }
    Err(Error::Lifecycle(format!(
        "writing pid file {}: {TRIES} temporary names taken",
        path.display()
    )))
}

fn write_all(fd: std::os::fd::OwnedFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(&fd, data) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// 64 random bits, for a name nobody can plant ahead.
fn random() -> Result<u64> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::io("reading", "/dev/urandom", e))?;
    Ok(u64::from_ne_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_place_and_never_through_a_link() {
        let dir = std::env::temp_dir().join(format!("hako-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "victim\n").unwrap();
        let pf = dir.join("pid");
        std::os::unix::fs::symlink(&victim, &pf).unwrap();
        write(&pf, Pid::from_raw(42)).unwrap();
        assert_eq!(std::fs::read_to_string(&pf).unwrap(), "42");
        assert!(!std::fs::symlink_metadata(&pf)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim\n");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "a temporary file was left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
