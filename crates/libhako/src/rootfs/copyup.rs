//! runc's `tmpcopyup` mount extension (Podman asks for it on `--read-only` and `--tmpfs`
//! mounts): a tmpfs mounted on a directory starts with a copy of what the directory held.
//!
//! The directory is opened before the tmpfs covers it, and the copy goes from that fd to the
//! new mount with `*at` calls only: no path is walked, so nothing outside either tree is
//! reached. Directories, regular files, symlinks, fifos and device nodes are copied with their
//! mode and owner; sockets are skipped (runc's copy skips them too).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Open the directory `fd` names (any kind of fd, O_PATH included) for reading its entries.
pub fn open_dir(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    openat(fd, ".", DIR_FLAGS, Mode::empty())
}

/// Copy the contents of directory `src` into directory `dst` (both open for reading), and
/// give `dst` the mode of `src`.
pub fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut dir = Dir::from_fd(open_dir(src)?)?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let st = fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(dst, name, Mode::S_IRWXU)?;
                let from = openat(src, name, DIR_FLAGS, Mode::empty())?;
                let to = openat(dst, name, DIR_FLAGS, Mode::empty())?;
                copy_tree(from.as_fd(), to.as_fd())?;
            }
            SFlag::S_IFREG => {
                let from = openat(
                    src,
                    name,
                    DIR_FLAGS.difference(OFlag::O_DIRECTORY),
                    Mode::empty(),
                )?;
                let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
                let to = openat(dst, name, create, Mode::S_IRUSR | Mode::S_IWUSR)?;
                std::io::copy(&mut std::fs::File::from(from), &mut std::fs::File::from(to))
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(src, name)?;
                symlinkat(target.as_os_str(), dst, name)?;
            }
            SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                mknodat(dst, name, kind, mode, st.st_rdev)?;
            }
            _ => continue,
        }
        let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
        fchownat(
            dst,
            name,
            Some(uid),
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if kind != SFlag::S_IFLNK {
            // After the chown, which clears set-id bits.
            fchmodat(dst, name, mode, FchmodatFlags::FollowSymlink)?;
        }
    }
    let st = nix::sys::stat::fstat(src)?;
    nix::sys::stat::fchmod(dst, Mode::from_bits_truncate(st.st_mode & 0o7777))
}
