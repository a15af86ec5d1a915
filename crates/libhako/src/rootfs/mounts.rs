//! `mounts` of config.json, performed by the init inside its mount namespace before
//! pivot_root. Destinations are resolved in the rootfs with [`super::paths`]; after each mount
//! the destination is resolved again, so remounts and propagation changes act on the new
//! mount and not on the directory beneath it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::error::{Error, Result, SysContext};
use crate::mountopts::REMOUNT_MASK;
use crate::paths::{create_file, fd_path, mkdir_all, open_in_root, open_no_symlinks};
use crate::spec::MountPlan;

const NONE: Option<&str> = None;

/// Perform one configured mount under the rootfs `root`; `label` is `linux.mountLabel` (see
/// [`crate::lsm`] for which mounts get it).
pub fn mount_one(
    root: BorrowedFd<'_>,
    m: &MountPlan,
    new_cgroupns: bool,
    label: Option<&str>,
) -> Result<()> {
    let dest = m.destination.display();
    let src = m.source.display();
    // As runc: a tmpfs over a directory that was already there takes that directory's mode.
    let has_mode = m.options.data.iter().any(|o| o.starts_with("mode="));
    let existing = (m.fstype == "tmpfs" && !has_mode)
        .then(|| open_in_root(root, &m.destination, nix::fcntl::OFlag::O_PATH).ok())
        .flatten();
    let target = if m.options.is_bind() && !source_is_dir(m) {
        create_file(root, &m.destination)
    } else {
        mkdir_all(root, &m.destination)
    }
    .ctx(|| format!("creating mount destination {dest}"))?;
    // As runc, which checks the destination with its symlinks resolved: nothing covers a file
    // of a procfs but the few lxcfs emulates (spec::proc_mounts checked it as written).
    if !crate::spec::proc_mounts::may_cover_procfs(&m.destination)
        && nix::sys::statfs::fstatfs(&target)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
    {
        return Err(Error::Init(format!(
            "mounting on {dest}: it resolves to a file inside /proc, which cannot be mounted over"
        )));
    }
    let target = if m.fstype == "proc" || m.fstype == "sysfs" {
        ordinary_dir(root, m)?
    } else {
        target
    };

    let flags = m.options.flags;
    if m.options.is_bind() {
        let bind = MsFlags::MS_BIND | (flags & MsFlags::MS_REC);
        if let Some(detached) = &m.detached_source {
            crate::sys::move_mount_to(detached.as_fd(), target.as_fd())
                .ctx(|| format!("attaching the runtime's copy of {src} on {dest}"))?;
        } else if !crate::idmap::attach(m, &target)? {
            mount(Some(&m.source), fd_path(&target).as_str(), NONE, bind, NONE)
                .ctx(|| format!("bind mounting {src} on {dest}"))?;
        }
        let rest = flags & REMOUNT_MASK;
        // As runc: remounted also when a flag is only cleared (`rw` over a read-only source).
        if !rest.is_empty() || m.options.cleared.intersects(REMOUNT_MASK) {
            let fd = reopen(root, &m.destination)?;
            remount_bind(&fd_path(&fd), rest).ctx(|| format!("remounting {dest}"))?;
        }
    } else if m.fstype == "cgroup" || m.fstype == "cgroup2" {
        mount_cgroup(root, m, &target, new_cgroupns, label)?;
    } else {
        // tmpcopyup: the directory as it was, read after the tmpfs covers it.
        let below = (m.options.copy_up && m.fstype == "tmpfs")
            .then(|| super::copyup::open_dir(target.as_fd()))
            .transpose()
            .ctx(|| format!("opening {dest} to copy it up"))?;
        // As runc: SELinux cannot label proc and sysfs; an mqueue superblock belongs to the
        // IPC namespace (perhaps the host's), so its root is labelled below instead.
        let labelled = match m.fstype.as_str() {
            "proc" | "sysfs" | "mqueue" => None,
            _ => label,
        };
        let data = tmpfs_mode(m, existing.as_ref(), m.options.data_string())?;
        let data = crate::lsm::mount_data(data, labelled);
        match mount(
            Some(&m.source),
            fd_path(&target).as_str(),
            Some(m.fstype.as_str()),
            flags - MsFlags::MS_REC,
            data.as_deref(),
        ) {
            // As runc: a fresh sysfs needs CAP_SYS_ADMIN over the network namespace's owner (not
            // so for a rootless container sharing the host's): bind the host's /sys instead.
            Err(Errno::EPERM) if m.fstype == "sysfs" => {
                return mount_one(root, &host_sys(m), new_cgroupns, label)
            }
            r => r.ctx(|| match labelled {
                Some(l) => format!(
                    "mounting {} on {dest} with linux.mountLabel {l:?}",
                    m.fstype
                ),
                None => format!("mounting {} on {dest}", m.fstype),
            })?,
        }
        if let Some(label) = label.filter(|_| m.fstype == "mqueue") {
            let fd = open_in_root(
                root,
                &m.destination,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
            )
            .ctx(|| format!("reopening mount destination {dest}"))?;
            crate::lsm::label_mount_root(fd.as_fd(), &dest.to_string(), label)?;
        }
        if let Some(below) = below {
            let above = open_in_root(root, &m.destination, nix::fcntl::OFlag::O_RDONLY)
                .ctx(|| format!("reopening mount destination {dest}"))?;
            super::copyup::copy_tree(below.as_fd(), above.as_fd())
                .ctx(|| format!("copying {dest} up into its tmpfs"))?;
        }
    }
    if !m.options.propagation.is_empty() {
        let fd = reopen(root, &m.destination)?;
        for p in &m.options.propagation {
            mount(NONE, fd_path(&fd).as_str(), NONE, *p, NONE)
                .ctx(|| format!("changing propagation of {dest}"))?;
        }
    }
    set_rec_attr(root, m)
}

/// As runc: a tmpfs without `mode=` over a directory that existed before the mount
/// (`existing`, opened only for such a tmpfs) gets that directory's mode; over one the
/// runtime made, tmpfs's own 1777.
fn tmpfs_mode(
    m: &MountPlan,
    existing: Option<&OwnedFd>,
    data: Option<String>,
) -> Result<Option<String>> {
    let Some(target) = existing else {
        return Ok(data);
    };
    let st = nix::sys::stat::fstat(target.as_fd())
        .ctx(|| format!("stat of mount destination {}", m.destination.display()))?;
    let mode = format!("mode={:04o}", st.st_mode & 0o7777);
    Ok(Some(match data {
        Some(d) if !d.is_empty() => format!("{mode},{d}"),
        _ => mode,
    }))
}

/// The recursive attributes (`rro`, `rnosuid`...) on the new mount and every mount beneath it,
/// last, as runc 1.5 sets them: after the bind's remount, so that `rro,rw` leaves the whole tree
/// read-only and `ro,rrw` the whole tree writable. runc ignores them on other mount types; hako
/// applies them there too (on a fresh mount `rro` and `rrw` are folded into `ro` and `rw` when
/// the config is checked, see `MountOptions::fold_read_only`).
pub(super) fn set_rec_attr(root: BorrowedFd<'_>, m: &MountPlan) -> Result<()> {
    let attr = m.options.rec_attr;
    if attr.is_empty() {
        return Ok(());
    }
    let fd = reopen(root, &m.destination)?;
    crate::sys::mount_setattr_recursive(fd.as_fd(), attr.set, attr.clr).map_err(|e| {
        let why = match e {
            Errno::EINVAL | Errno::ENOSYS => format!(
                "{}: the kernel cannot set these recursive mount attributes",
                crate::error::errno_text(e)
            ),
            e => crate::error::errno_text(e),
        };
        crate::Error::config(
            format!("mounts[{}].options", m.index),
            format!(
                "setting recursive attributes on {}: {why}",
                m.destination.display()
            ),
        )
    })
}

/// Whether a bind's source is a directory (else a file is made to mount on): of the runtime's
/// detached copy when there is one, the init may not reach the source.
fn source_is_dir(m: &MountPlan) -> bool {
    match &m.detached_source {
        Some(fd) => nix::sys::stat::fstat(fd.as_fd())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR),
        None => m.source.is_dir(),
    }
}

/// The destination of a proc or sysfs mount, reached without any symlink (CVE-2019-16884,
/// CVE-2023-27561, CVE-2023-28642: an image whose `/proc` is a symlink gets procfs mounted
/// elsewhere, and what the runtime then writes or masks under `/proc` is not procfs). As runc,
/// such a destination is refused; the mount then goes through the fd checked here.
fn ordinary_dir(root: BorrowedFd<'_>, m: &MountPlan) -> Result<OwnedFd> {
    let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY;
    match open_no_symlinks(root, &m.destination, flags) {
        Ok(fd) => Ok(fd),
        Err(Errno::ELOOP) => Err(crate::Error::config(
            format!("mounts[{}]", m.index),
            format!(
                "filesystem {:?} must be mounted on ordinary directory: {} is or goes \
                 through a symlink in the rootfs",
                m.fstype,
                m.destination.display()
            ),
        )),
        Err(e) => Err(crate::Error::sys(
            format!("opening mount destination {}", m.destination.display()),
            e,
        )),
    }
}

/// A sysfs mount turned into an rbind of the host's /sys with the same flags.
fn host_sys(m: &MountPlan) -> MountPlan {
    let mut bind = m.clone();
    bind.source = PathBuf::from("/sys");
    bind.fstype = "none".into();
    bind.options.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
    bind.options.data.clear();
    bind
}

fn reopen(root: BorrowedFd<'_>, dest: &Path) -> Result<OwnedFd> {
    open_in_root(root, dest, nix::fcntl::OFlag::O_PATH)
        .ctx(|| format!("reopening mount destination {}", dest.display()))
}

/// A recursive bind of `src` on `target` with the remount flags `flags` (`MS_RDONLY`,
/// `MS_NOSUID`...) set on its top mount, through the new mount API: a detached copy
/// (`open_tree`) gets the flags (`mount_setattr`) before it is attached (`move_mount`), so it is
/// never visible without them, and neither a reopen nor a remount is needed. Flags the source
/// has beyond `flags` are kept (a remount would drop them, or fail on locked ones). `None`
/// where the kernel lacks the API (or refuses the copy): the caller binds and remounts.
pub fn attach_copy(
    src: &Path,
    target: &OwnedFd,
    flags: MsFlags,
) -> Option<std::result::Result<(), Errno>> {
    let tree = crate::sys::open_tree_clone(src, true).ok()?;
    attach_tree(&tree, target, flags)
}

/// [`attach_copy`] of a tree already detached by `open_tree`.
fn attach_tree(
    tree: &OwnedFd,
    target: &OwnedFd,
    flags: MsFlags,
) -> Option<std::result::Result<(), Errno>> {
    match set_flags(tree.as_fd(), flags) {
        Ok(()) => Some(crate::sys::move_mount_to(tree.as_fd(), target.as_fd())),
        Err(Errno::ENOSYS) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Give the detached mount `tree` the remount flags `flags` (no call when there are none).
pub(super) fn set_flags(tree: BorrowedFd<'_>, flags: MsFlags) -> std::result::Result<(), Errno> {
    match mount_attrs(flags) {
        (0, 0) => Ok(()),
        (set, clr) => crate::sys::mount_setattr(tree, set, clr),
    }
}

/// `MOUNT_ATTR_*` to set and to clear for remount flags. The access-time flags are one field
/// of which exactly one value is set.
pub(super) fn mount_attrs(flags: MsFlags) -> (u64, u64) {
    let mut set = 0u64;
    let mut clr = 0u64;
    for (ms, attr) in [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
        (
            crate::mountopts::MS_NOSYMFOLLOW,
            libc::MOUNT_ATTR_NOSYMFOLLOW,
        ),
    ] {
        if flags.contains(ms) {
            set |= attr;
        }
    }
    for (ms, attr) in [
        (MsFlags::MS_RELATIME, libc::MOUNT_ATTR_RELATIME),
        (MsFlags::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (MsFlags::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
    ] {
        if flags.contains(ms) {
            clr |= libc::MOUNT_ATTR__ATIME;
            set = (set & !libc::MOUNT_ATTR__ATIME) | attr;
        }
    }
    (set, clr)
}

/// A read-only recursive bind of what `fd` names onto itself, keeping the flags it has (the
/// readonly paths), through the new mount API as [`attach_copy`]; `None` where the kernel
/// lacks it.
pub fn readonly_copy(fd: &OwnedFd) -> Option<std::result::Result<(), Errno>> {
    let tree = crate::sys::open_tree_clone_fd(fd.as_fd()).ok()?;
    attach_tree(&tree, fd, MsFlags::MS_RDONLY)
}

/// Bind-remount `path` with `flags`. In a user namespace the kernel refuses to clear flags it
/// locked on the original mount (nosuid, nodev, noexec, ro, atime): on EPERM, retry keeping them.
pub fn remount_bind(path: &str, flags: MsFlags) -> std::result::Result<(), Errno> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(NONE, path, NONE, base | flags, NONE) {
        Err(Errno::EPERM) => {
            let locked = statvfs(path).map(|s| locked_flags(s.flags()))?;
            mount(NONE, path, NONE, base | flags | locked, NONE)
        }
        r => r,
    }
}

fn locked_flags(f: FsFlags) -> MsFlags {
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// A cgroup filesystem mounted on the host (from /proc/self/mountinfo).
#[derive(Debug, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where the host has it.
    pub mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Super options (`rw,cpu,cpuacct`, `rw,name=systemd`).
    pub super_opts: String,
}

/// The cgroup hierarchies of a mountinfo text, the ones under `/sys/fs/cgroup` only.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mount_point = pre.split(' ').nth(4)?;
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let super_opts = post.nth(1)?;
            let under = Path::new(mount_point).strip_prefix("/sys/fs/cgroup").ok()?;
            let ok = (fstype == "cgroup" || fstype == "cgroup2") && !under.as_os_str().is_empty()
                || fstype == "cgroup2" && under.as_os_str().is_empty();
            ok.then(|| CgroupMount {
                mount_point: PathBuf::from(mount_point),
                fstype: fstype.to_string(),
                super_opts: super_opts.to_string(),
            })
        })
        .collect()
}

/// This process's cgroup path in the hierarchy with these super options (`/proc/self/cgroup`).
pub(super) fn own_cgroup(proc_cgroup: &str, m: &CgroupMount) -> PathBuf {
    let wanted: Vec<&str> = m
        .super_opts
        .split(',')
        .filter(|o| *o != "rw" && *o != "ro")
        .collect();
    proc_cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            let hit = if m.fstype == "cgroup2" {
                ctrls.is_empty()
            } else {
                let have: Vec<&str> = ctrls.split(',').collect();
                wanted.iter().any(|w| have.contains(w))
            };
            hit.then(|| PathBuf::from(path))
        })
        .next()
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The `cgroup` mount type: on a pure v2 host, a cgroup2 mount (or a bind of the host's tree
/// when no cgroup namespace allows a fresh one); on v1 and hybrid hosts, runc's layout: a
/// tmpfs with one sub-mount per hierarchy, each showing the container's own cgroup.
fn mount_cgroup(
    root: BorrowedFd<'_>,
    m: &MountPlan,
    target: &OwnedFd,
    cgns: bool,
    label: Option<&str>,
) -> Result<()> {
    let dest = m.destination.display();
    let flags = m.options.flags & !MsFlags::MS_REC & !MsFlags::MS_BIND;
    let info = crate::procfs::self_mountinfo()
        .map_err(|e| crate::Error::io("reading", "/proc/self/mountinfo", e))?;
    let proc_cgroup = crate::procfs::read_text("/proc/self/cgroup")
        .map_err(|e| crate::Error::io("reading", "/proc/self/cgroup", e))?;
    let mounts = cgroup_mounts(&info);
    let host = Hierarchies {
        root,
        proc_cgroup: &proc_cgroup,
        flags,
        cgns,
    };
    if let Some(v2) = mounts
        .iter()
        .find(|c| c.mount_point == Path::new("/sys/fs/cgroup"))
    {
        return host.mount(&m.destination, v2);
    }
    mount(
        Some("tmpfs"),
        fd_path(target).as_str(),
        Some("tmpfs"),
        cgroup_tmpfs_flags(flags),
        crate::lsm::mount_data(Some("mode=755".into()), label).as_deref(),
    )
    .ctx(|| format!("mounting tmpfs for cgroups on {dest}"))?;
    // As runc: the v1 hierarchies only (not a hybrid host's unified tree), and the tmpfs
    // itself stays read-write; `ro` applies to the hierarchies.
    for c in mounts.iter().filter(|c| c.fstype == "cgroup") {
        if let Some(name) = c.mount_point.file_name() {
            host.mount(&m.destination.join(name), c)?;
        }
    }
    Ok(())
}

/// The flags of the tmpfs holding the v1 hierarchies, from the cgroup mount's `flags`: as runc,
/// it stays read-write (`ro` applies to the hierarchies) and is always nosuid, nodev, noexec.
pub(super) fn cgroup_tmpfs_flags(flags: MsFlags) -> MsFlags {
    (flags & !MsFlags::MS_RDONLY) | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// What mounting the host's cgroup hierarchies into the container needs.
struct Hierarchies<'a> {
    root: BorrowedFd<'a>,
    proc_cgroup: &'a str,
    flags: MsFlags,
    cgns: bool,
}

impl Hierarchies<'_> {
    /// One hierarchy at `dest`: a fresh mount when in a new cgroup namespace (the kernel then
    /// shows the namespace root), else a bind of the host's directory of our own cgroup.
    fn mount(&self, dest: &Path, c: &CgroupMount) -> Result<()> {
        let shown = dest.display();
        let target = mkdir_all(self.root, dest).ctx(|| format!("creating {shown}"))?;
        let tpath = fd_path(&target);
        if self.cgns {
            let opts: Vec<&str> = c
                .super_opts
                .split(',')
                .filter(|o| *o != "rw" && *o != "ro")
                .collect();
            let data = (c.fstype == "cgroup").then(|| opts.join(","));
            let fstype = c.fstype.as_str();
            if mount(
                Some(fstype),
                tpath.as_str(),
                Some(fstype),
                self.flags,
                data.as_deref(),
            )
            .is_ok()
            {
                return Ok(());
            }
        }
        let own = own_cgroup(self.proc_cgroup, c);
        let src = c.mount_point.join(own.strip_prefix("/").unwrap_or(&own));
        let rest = self.flags & REMOUNT_MASK;
        if let Some(done) = attach_copy(&src, &target, rest) {
            return done.ctx(|| format!("bind mounting {} on {shown}", src.display()));
        }
        mount(
            Some(&src),
            tpath.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .ctx(|| format!("bind mounting {} on {shown}", src.display()))?;
        if !rest.is_empty() {
            let fd = reopen(self.root, dest)?;
            remount_bind(&fd_path(&fd), rest).ctx(|| format!("remounting {shown}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn remount_flags_as_mount_attributes() {
        assert_eq!(mount_attrs(MsFlags::empty()), (0, 0));
        // ro, nosuid, nodev, noexec; relatime is the access-time value 0 of its field.
        let f = MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_RELATIME;
        assert_eq!(mount_attrs(f), (0xf, 0x70));
        assert_eq!(mount_attrs(MsFlags::MS_NOATIME), (0x10, 0x70));
        assert_eq!(
            mount_attrs(MsFlags::MS_STRICTATIME | MsFlags::MS_NODIRATIME),
            (0xa0, 0x70)
        );
    }

    #[test]
    fn finds_hybrid_hierarchies() {
        let m = cgroup_mounts(INFO);
        let points: Vec<_> = m
            .iter()
            .map(|c| c.mount_point.to_str().unwrap_or(""))
            .collect();
        assert_eq!(
            points,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified"
            ]
        );
        assert_eq!(m[1].super_opts, "rw,name=systemd");
    }

    #[test]
    fn finds_pure_v2() {
        let m = cgroup_mounts("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].fstype, "cgroup2");
    }

    #[test]
    fn own_cgroup_per_hierarchy() {
        let pc = "9:cpu:/a/b\n1:name=systemd:/s\n0::/u\n";
        let m = cgroup_mounts(INFO);
        assert_eq!(own_cgroup(pc, &m[0]), PathBuf::from("/a/b"));
        assert_eq!(own_cgroup(pc, &m[1]), PathBuf::from("/s"));
        assert_eq!(own_cgroup(pc, &m[2]), PathBuf::from("/u"));
    }
}
