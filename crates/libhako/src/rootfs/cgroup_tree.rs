//! The container's `/sys/fs/cgroup` on a v1 or hybrid host, built by the runtime instead of the
//! init. It is runc's layout ([`super::mounts`] builds the same in the init): a tmpfs with one
//! read-only bind per v1 hierarchy, each showing the container's own cgroup directory.
//!
//! The tmpfs is made with `fsopen`/`fsmount` and the binds are `open_tree` copies attached
//! under it. The whole tree stays detached (in no mount namespace, reachable only through its
//! fd) until the init attaches it at the mount's destination with one `move_mount`.
//!
//! Why: the runtime has nothing to do while the init makes its namespaces and mounts, and the
//! ten or so hierarchies of a v1 host make this the init's longest mount step. The runtime
//! builds the tree right after `Go` and sends it with [`crate::sync::Msg::CgroupTree`].
//!
//! Only where the result is the same as the init's own build (see [`index`]). Attaching under a
//! detached mount needs Linux 6.15; on any error no tree is sent and the init builds it itself,
//! reporting the error in its own terms if there is one.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::stat::{mkdirat, Mode};

use super::mounts::{cgroup_mounts, cgroup_tmpfs_flags, mount_attrs, set_flags, CgroupMount};
use crate::error::{Result, SysContext};
use crate::mountopts::REMOUNT_MASK;
use crate::paths::mkdir_all;
use crate::spec::{MountPlan, Plan};

/// How the init gets the runtime's tree when its turn comes: the tree, or `None` if the runtime
/// could not build it.
pub type Take<'a> = &'a mut dyn FnMut() -> Result<Option<OwnedFd>>;

/// The index in `plan.mounts` of the cgroup mount the runtime can build, if any: the first
/// `cgroup` (or `cgroup2`) mount, plain (no bind, idmap or propagation option), in a container
/// with no user namespace (whose root would own the tmpfs), no new cgroup namespace (which gets
/// fresh hierarchy mounts, not binds) and no `linux.mountLabel` (which labels the tmpfs), on a
/// host whose `/sys/fs/cgroup` is not the unified tree (pure v2: one bind, nothing to gain).
/// The runtime asks and tells the init the answer with `Go`.
pub fn index(plan: &Plan) -> Option<usize> {
    if plan.has(CloneFlags::CLONE_NEWUSER)
        || plan.has(CloneFlags::CLONE_NEWCGROUP)
        || plan.mount_label.is_some()
    {
        return None;
    }
    let i = plan
        .mounts
        .iter()
        .position(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")?;
    let m = &plan.mounts[i];
    if m.options.is_bind() || m.idmap.is_some() || !m.options.propagation.is_empty() {
        return None;
    }
    let info = crate::procfs::self_mountinfo().ok()?;
    let pure_v2 = cgroup_mounts(&info)
        .iter()
        .any(|c| c.mount_point == Path::new("/sys/fs/cgroup"));
    (!pure_v2).then_some(i)
}

/// Build the tree for mount `m`, binding for each v1 hierarchy the container's directory in
/// `dirs` (the cgroup's `paths()`; a hierarchy without one shows this process's own cgroup,
/// which the init inherited). `None` if the kernel cannot (or anything fails).
pub fn build(m: &MountPlan, dirs: &BTreeMap<String, PathBuf>) -> Option<OwnedFd> {
    let info = crate::procfs::self_mountinfo().ok()?;
    let proc_cgroup = crate::procfs::read_text("/proc/self/cgroup").ok()?;
    let flags = m.options.flags & !MsFlags::MS_REC & !MsFlags::MS_BIND;
    let ctx = crate::sys::fsopen(c"tmpfs").ok()?;
    crate::sys::fsconfig_set_string(ctx.as_fd(), c"source", c"tmpfs").ok()?;
    crate::sys::fsconfig_set_string(ctx.as_fd(), c"mode", c"755").ok()?;
    crate::sys::fsconfig_create(ctx.as_fd()).ok()?;
    // As the init's mount(2) of it (the access time is a value of the attributes, not a clear).
    let (tmpfs_attrs, _) = mount_attrs(cgroup_tmpfs_flags(flags));
    let tmpfs = crate::sys::fsmount(ctx.as_fd(), u32::try_from(tmpfs_attrs).ok()?).ok()?;
    for c in cgroup_mounts(&info).iter().filter(|c| c.fstype == "cgroup") {
        let Some(name) = c.mount_point.file_name() else {
            continue;
        };
        let src = source(c, dirs, &proc_cgroup);
        bind(tmpfs.as_fd(), name.as_bytes(), &src, flags & REMOUNT_MASK).ok()?;
    }
    Some(tmpfs)
}

/// The directory hierarchy `c` shows: the container's, else ours (as the init computes it).
fn source(c: &CgroupMount, dirs: &BTreeMap<String, PathBuf>, proc_cgroup: &str) -> PathBuf {
    if let Some(d) = dirs.values().find(|d| d.starts_with(&c.mount_point)) {
        return d.clone();
    }
    let own = super::mounts::own_cgroup(proc_cgroup, c);
    c.mount_point.join(own.strip_prefix("/").unwrap_or(&own))
}

/// Make `name` in the detached tmpfs and attach there a copy of `src` with the remount flags
/// `flags` (read-only, as the init's [`super::mounts::attach_copy`] of it).
fn bind(
    tmpfs: BorrowedFd<'_>,
    name: &[u8],
    src: &Path,
    flags: MsFlags,
) -> std::result::Result<(), Errno> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    mkdirat(tmpfs, name.as_c_str(), Mode::from_bits_truncate(0o755))?;
    let tree = crate::sys::open_tree_clone(src, true)?;
    set_flags(tree.as_fd(), flags)?;
    crate::sys::move_mount_into(tree.as_fd(), tmpfs, &name)
}

/// In the init: attach the runtime's `tree` at mount `m`'s destination in the rootfs `root`.
pub fn attach(root: BorrowedFd<'_>, m: &MountPlan, tree: &OwnedFd) -> Result<()> {
    let dest = m.destination.display();
    let target =
        mkdir_all(root, &m.destination).ctx(|| format!("creating mount destination {dest}"))?;
    crate::sys::move_mount_to(tree.as_fd(), target.as_fd())
        .ctx(|| format!("attaching the cgroup tree on {dest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_prefers_the_containers_directory() {
        let c = CgroupMount {
            mount_point: PathBuf::from("/sys/fs/cgroup/cpu"),
            fstype: "cgroup".into(),
            super_opts: "rw,cpu".into(),
        };
        let proc_cgroup = "3:cpu:/user.slice\n2:cpu,cpuacct:/other\n0::/\n";
        let mut dirs = BTreeMap::new();
        dirs.insert(
            "cpuacct".to_string(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/box"),
        );
        assert_eq!(
            source(&c, &dirs, proc_cgroup),
            PathBuf::from("/sys/fs/cgroup/cpu/user.slice"),
            "cpu,cpuacct is another mount point, not a prefix of cpu"
        );
        dirs.insert("cpu".to_string(), PathBuf::from("/sys/fs/cgroup/cpu/box"));
        assert_eq!(
            source(&c, &dirs, proc_cgroup),
            PathBuf::from("/sys/fs/cgroup/cpu/box")
        );
    }
}
