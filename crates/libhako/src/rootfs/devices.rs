//! The container's /dev: device nodes (the defaults and `linux.devices`) and runc's symlinks.
//! Runs in the init before pivot_root; paths are resolved in the rootfs.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

use crate::error::{Result, SysContext};
use crate::paths::{create_file, fd_path, mkdir_all, split};
use crate::spec::DevicePlan;

/// Create one device node; where mknod is not allowed (a user namespace), bind-mount the
/// host's node of the same path instead, as runc does.
pub fn create(root: BorrowedFd<'_>, d: &DevicePlan) -> Result<()> {
    let shown = d.path.display();
    let (parent, name) = split(&d.path).ctx(|| format!("device path {shown}"))?;
    let dir = mkdir_all(root, parent).ctx(|| format!("creating {}", parent.display()))?;
    let mode = Mode::from_bits_truncate(d.mode);
    match mknodat(dir.as_fd(), name, d.kind, mode, makedev(d.major, d.minor)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_host(root, &d.path),
        Err(e) => return Err(crate::Error::sys(format!("creating device {shown}"), e)),
    }
    fchownat(
        dir.as_fd(),
        name,
        Some(Uid::from_raw(d.uid)),
        Some(Gid::from_raw(d.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("changing owner of device {shown}"))
}

fn bind_host(root: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let shown = path.display();
    let target = create_file(root, path).ctx(|| format!("creating {shown}"))?;
    mount(
        Some(path),
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind mounting device {shown}"))
}

/// runc's /dev symlinks: fd, stdin, stdout, stderr, ptmx (to pts/ptmx), core when the host
/// has /proc/kcore.
pub fn symlinks(root: BorrowedFd<'_>) -> Result<()> {
    let dev = mkdir_all(root, Path::new("/dev")).ctx(|| "creating /dev".into())?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        if name == "ptmx" {
            // Replace a ptmx node so that the container's devpts instance is used.
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(crate::Error::sys(
                    format!("creating symlink /dev/{name}"),
                    e,
                ))
            }
        }
    }
    Ok(())
}
