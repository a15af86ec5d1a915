//! Changing the root: `pivot_root` (the default) or, with `--no-pivot`, `MS_MOVE` + `chroot`.
//! Runs in the init, in its own mount namespace, after every mount is in place.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, pivot_root};
use std::path::Path;

use crate::error::{Result, SysContext};

const NONE: Option<&str> = None;

/// Make `rootfs` the root with pivot_root(".", "."), the trick runc and crun use: the old
/// root is stacked under the new one at "/", made a slave so its unmount cannot propagate
/// to the host, then lazily unmounted.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let shown = rootfs.display();
    // After pivot_root the cwd is still the new root, under the stacked old root: "." must be
    // made the old root (as runc does), or the rslave below would turn the container's own
    // shared mounts into slaves.
    let old_root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "opening the old root".into())?;
    chdir(rootfs).ctx(|| format!("chdir to rootfs {shown}"))?;
    pivot_root(".", ".").ctx(|| format!("pivot_root to {shown}"))?;
    nix::unistd::fchdir(&old_root).ctx(|| "fchdir to the old root".into())?;
    mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
        .ctx(|| "making the old root rslave".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmounting the old root".into())?;
    chdir("/").ctx(|| "chdir to the new root".into())
}

/// A container without a mount namespace of its own: `chroot` into the rootfs, and nothing
/// else, since the mount namespace is the runtime's (runc does the same). Weaker than
/// pivot_root: a process with CAP_SYS_CHROOT can leave it.
pub fn chroot_only(rootfs: &Path) -> Result<()> {
    let shown = rootfs.display();
    chdir(rootfs).ctx(|| format!("chdir to rootfs {shown}"))?;
    chroot(".").ctx(|| format!("chroot to rootfs {shown}"))?;
    chdir("/").ctx(|| "chdir to the new root".into())
}

/// `--no-pivot`: move the rootfs mount over "/" and chroot into it. Weaker than pivot_root
/// (the old root stays reachable to a process with CAP_SYS_CHROOT), kept for ramfs roots.
/// As runc, the host's whole procfs and sysfs mounts are removed from the mount namespace
/// first ([`hide_host_proc_and_sys`]).
pub fn move_root(rootfs: &Path) -> Result<()> {
    let shown = rootfs.display();
    hide_host_proc_and_sys(rootfs)?;
    chdir(rootfs).ctx(|| format!("chdir to rootfs {shown}"))?;
    mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE)
        .ctx(|| format!("moving rootfs {shown} to /"))?;
    chroot(".").ctx(|| "chroot to the rootfs".into())?;
    chdir("/").ctx(|| "chdir to the new root".into())
}

/// Without pivot_root the host's mounts stay in the container's mount namespace, below its
/// chroot. The kernel lets a new user namespace mount procfs or sysfs only where one is
/// already fully visible in the mount namespace (`mount_too_revealing`): the host's own,
/// never masked, would let `unshare -mrpf; mount -t proc` succeed inside. So, as runc's
/// msMoveRoot: every whole (root "/") procfs and sysfs mount outside the rootfs is made an
/// rslave (its unmount must not reach the host) and lazily unmounted, or covered by a tmpfs
/// where the kernel refuses the unmount (a locked mount, in a user namespace).
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let info = crate::procfs::read_text("/proc/self/mountinfo")
        .map_err(|e| crate::error::Error::io("reading", "/proc/self/mountinfo", e))?;
    let points: Vec<String> = info
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next()?;
            let point = crate::cgroups::layout::unescape(pre.get(4)?);
            let whole = pre.get(3) == Some(&"/");
            (whole && matches!(fstype, "proc" | "sysfs") && !Path::new(&point).starts_with(rootfs))
                .then_some(point)
        })
        .collect();
    for point in points {
        match mount(
            NONE,
            point.as_str(),
            NONE,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            NONE,
        ) {
            // Gone with a mount above it, unmounted before.
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::EINVAL) => continue,
            r => r.ctx(|| format!("making the host's {point} rslave"))?,
        }
        match umount2(point.as_str(), MntFlags::MNT_DETACH) {
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM) => mount(
                Some("tmpfs"),
                point.as_str(),
                Some("tmpfs"),
                MsFlags::empty(),
                NONE,
            )
            .ctx(|| format!("covering the host's {point}"))?,
            r => r.ctx(|| format!("unmounting the host's {point}"))?,
        }
    }
    Ok(())
}
