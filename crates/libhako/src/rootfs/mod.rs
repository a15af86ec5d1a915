//! The container's root filesystem, built by the init in its mount namespace, in this order:
//!
//! 1. "/" made rslave, so nothing done here propagates back to the host (with a shared
//!    `rootfsPropagation`, "/" gets that instead and the rootfs's own mount is made private);
//! 2. the rootfs bind-mounted onto itself (pivot_root needs a mount point);
//! 3. `mounts`, in config order;
//! 4. /dev: device nodes and symlinks (unless /dev is a bind of the host's);
//! 5. `linux.sysctl` (through the container's procfs, checked to be procfs), then
//!    `readonlyPaths` and `maskedPaths`; the read-only tmpfs mounts and /dev, mounted writable
//!    in step 3, made read-only after the console and the createContainer hooks;
//! 6. pivot_root (or MS_MOVE + chroot with `--no-pivot`);
//! 7. `linux.rootfsPropagation` on the new "/", and `root.readonly`.
//!
//! In the fast path (no user namespace) the init makes steps 1-3 up to the first mount that needs
//! its cgroups ([`early`]) while the runtime is still making them. On a v1 or hybrid host the
//! cgroup mount usually comes ready-made from the runtime and is only attached ([`cgroup_tree`]).
//!
//! Without a mount namespace of its own (none in `linux.namespaces`), the container's mounts
//! are made in the runtime's mount namespace: steps 1 and 2 are skipped, step 6 is a plain
//! `chroot` (never pivot_root or MS_MOVE there), and `delete` unmounts them ([`hostns`]).
//!
//! Steps 3-5 resolve every path with [`paths`] (RESOLVE_IN_ROOT) while the host's procfs is
//! still there to name fds; after step 6 only "/" itself is touched.

pub mod cgroup_tree;
mod copyup;
mod devices;
pub mod hostns;
mod mounts;
mod pivot;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::statvfs::FsFlags;

pub use mounts::{cgroup_mounts, remount_bind, CgroupMount};

use crate::console::{self, Pty};
use crate::error::{Error, Result, SysContext};
use crate::paths::{self, open_in_root};
use crate::spec::{MountPlan, Plan};

const NONE: Option<&str> = None;

/// Steps 1-3 made ahead ([`early`]): the rootfs and how many of `mounts` are done.
pub struct Early {
    root: OwnedFd,
    done: usize,
}

/// Whether mount `m` needs the container's cgroups to exist and hold the init (a cgroup
/// mount, a bind from the cgroup tree) or its identity (an idmapped mount).
fn needs_cgroup(m: &crate::spec::MountPlan) -> bool {
    m.fstype == "cgroup"
        || m.fstype == "cgroup2"
        || m.idmap.is_some()
        || (m.options.is_bind() && m.source.starts_with("/sys/fs/cgroup"))
}

/// Steps 1-3 as far as they can go before the init is in its cgroups: "/" rslave, the rootfs
/// bound onto itself, and `mounts` in config order up to the first that [`needs_cgroup`], or
/// until `go` says the runtime is done. The init does this while the runtime is still making
/// the cgroup; [`setup`] goes on from there. Only for an init in the mount namespace it made,
/// with its final credentials (no user namespace, whose root is only taken after `Go`).
pub fn early(plan: &Plan, go: &mut dyn FnMut() -> bool) -> Result<Early> {
    let root = begin(plan)?;
    let mut done = 0;
    for m in plan.mounts.iter().take_while(|m| !needs_cgroup(m)) {
        if go() {
            break;
        }
        mount_planned(root.as_fd(), m, false, plan.mount_label.as_deref())?;
        done += 1;
    }
    Ok(Early { root, done })
}

/// Steps 1 and 2; returns the rootfs. Without a mount namespace of the container's own both
/// are skipped: they would change the runtime's mount namespace (see [`hostns`]).
///
/// "/" is made rslave, or given a shared `rootfsPropagation` in its place (Kubernetes'
/// Bidirectional volumes), as runc does: made a slave first, the host's shared mounts would be
/// copied into new peer groups and a mount made in the container under a volume would never
/// reach the host. Then, as runc's rootfsParentMountPrivate, the mount holding the rootfs is
/// made private, whatever its propagation: the rootfs bind below propagates nowhere,
/// pivot_root (which refuses a shared parent) works, and the container's "/" starts private
/// (runc 1.5.1 and crun; runc 1.1 left it a slave of the host's mount). What
/// `rootfsPropagation` asks is applied after pivot_root ([`finalize`]).
fn begin(plan: &Plan) -> Result<OwnedFd> {
    let rootfs = &plan.rootfs;
    let shown = rootfs.display();
    if !plan.has(CloneFlags::CLONE_NEWNS) {
        return open(
            rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening rootfs {shown}"));
    }
    match plan.rootfs_propagation {
        Some(p) if p.contains(MsFlags::MS_SHARED) => {
            mount(NONE, "/", NONE, p, NONE).ctx(|| "making / shared".into())?
        }
        _ => mount(NONE, "/", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .ctx(|| "making / rslave".into())?,
    }
    make_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx(|| format!("bind mounting rootfs {shown} onto itself"))?;
    open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening rootfs {shown}"))
}

/// Make the mount holding `path` private: the nearest directory up from it that is a mount
/// point takes MS_PRIVATE (EINVAL: not one, try its parent), without reading mountinfo.
fn make_mount_private(path: &Path) -> Result<()> {
    let real = std::fs::canonicalize(path).map_err(|e| Error::io("resolving", path, e))?;
    let mut at = real.as_path();
    loop {
        match mount(NONE, at, NONE, MsFlags::MS_PRIVATE, NONE) {
            Err(nix::errno::Errno::EINVAL) => match at.parent() {
                Some(parent) => at = parent,
                None => {
                    return Err(Error::Init(format!(
                        "no mount holds the rootfs {}",
                        real.display()
                    )))
                }
            },
            r => return r.ctx(|| format!("making {} (the rootfs's mount) private", at.display())),
        }
    }
}

/// What the init gets from the runtime, or does for it, while it builds the rootfs.
pub struct FromRuntime<'a> {
    /// When the runtime builds the cgroup mount: the index of that mount and how to get it
    /// (see [`cgroup_tree`]), called when that mount's turn comes; it returns the tree, or
    /// nothing (the init then mounts it itself).
    pub cgroup_tree: Option<(usize, cgroup_tree::Take<'a>)>,
    /// A detached copy of a bind source the init cannot reach ([`needs_runtime_source`]).
    pub mount_source: &'a mut dyn FnMut(&MountPlan) -> Result<OwnedFd>,
    /// Runs last before pivot_root (the create-time hooks).
    pub before_pivot: &'a mut dyn FnMut() -> Result<()>,
}

/// Build the root filesystem and change into it (steps 1-6 above), from what [`early`] made
/// if it ran, with what the runtime gives (`runtime`). With `terminal`, a pty is made in the
/// container's devpts and its peer bound on `/dev/console` before pivot_root.
pub fn setup(
    plan: &Plan,
    early: Option<Early>,
    no_pivot: bool,
    new_cgroupns: bool,
    terminal: bool,
    runtime: FromRuntime<'_>,
) -> Result<Option<Pty>> {
    let FromRuntime {
        mut cgroup_tree,
        mount_source,
        before_pivot,
    } = runtime;
    let Early { root, done } = match early {
        Some(e) => e,
        None => Early {
            root: begin(plan)?,
            done: 0,
        },
    };
    let rootfs = &plan.rootfs;
    for (i, m) in plan.mounts.iter().enumerate().skip(done) {
        if let Some((_, take)) = cgroup_tree.as_mut().filter(|(at, _)| *at == i) {
            if let Some(tree) = take()? {
                cgroup_tree::attach(root.as_fd(), m, &tree)?;
                continue;
            }
        }
        let fetched;
        let m = if needs_runtime_source(plan, m) {
            fetched = MountPlan {
                detached_source: Some(std::sync::Arc::new(mount_source(m)?)),
                ..m.clone()
            };
            &fetched
        } else {
            m
        };
        mount_planned(root.as_fd(), m, new_cgroupns, plan.mount_label.as_deref())?;
    }
    let dev_is_host_bind = plan
        .mounts
        .iter()
        .any(|m| m.destination == Path::new("/dev") && m.options.is_bind());
    if !dev_is_host_bind {
        for d in &plan.devices {
            devices::create(root.as_fd(), d)?;
        }
        devices::symlinks(root.as_fd())?;
    }
    // As runc: a missing `process.cwd` is created (in the rootfs, before it is made read-only).
    if let Some(cwd) = plan.spec.process().as_ref().map(|p| p.cwd()) {
        paths::mkdir_all(root.as_fd(), cwd).ctx(|| format!("creating cwd {}", cwd.display()))?;
    }
    let linux = plan.spec.linux().as_ref();
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        for (key, value) in sysctl {
            write_sysctl(root.as_fd(), key, value)?;
        }
    }
    let mut hiding = Hiding::default();
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(root.as_fd(), Path::new(p), &mut hiding)?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(
            root.as_fd(),
            Path::new(p),
            plan.mount_label.as_deref(),
            &mut hiding,
        )?;
    }
    drop(hiding);
    let pty = if terminal {
        let pty = console::open_pty(root.as_fd())?;
        bind_console(root.as_fd(), &pty)?;
        Some(pty)
    } else {
        None
    };
    before_pivot()?;
    read_only_last(root.as_fd(), plan)?;
    drop(root);
    if !plan.has(CloneFlags::CLONE_NEWNS) {
        pivot::chroot_only(rootfs)?;
    } else if no_pivot {
        pivot::move_root(rootfs)?;
    } else {
        pivot::pivot(rootfs)?;
    }
    Ok(pty)
}

/// Whether bind mount `m`'s source must come from the runtime: in a user namespace, where
/// the container's root (a mapped uid without the host's capabilities) cannot reach it (a
/// source under a 0700 directory of the host's root). As runc, which looks the same way
/// (stat); the runtime, root on the host, opens a detached copy (`open_tree`) and sends it.
fn needs_runtime_source(plan: &Plan, m: &MountPlan) -> bool {
    m.options.is_bind()
        && m.idmap.is_none()
        && plan.has(nix::sched::CloneFlags::CLONE_NEWUSER)
        && matches!(
            std::fs::metadata(&m.source).map_err(|e| e.raw_os_error()),
            Err(Some(libc::EACCES | libc::EPERM))
        )
}

/// As runc, a tmpfs or `/dev` asked read-only is mounted writable (its mode set, its files
/// copied up, device nodes, /dev/pts, the console and nested mount points made in it) and made
/// read-only by [`read_only_last`].
fn read_only_later(m: &MountPlan) -> bool {
    m.options.flags.contains(MsFlags::MS_RDONLY)
        && !m.options.is_bind()
        && (m.fstype == "tmpfs" || m.destination == Path::new("/dev"))
}

/// Mount `m`, writable for now if it is [`read_only_later`].
fn mount_planned(
    root: BorrowedFd<'_>,
    m: &MountPlan,
    new_cgroupns: bool,
    label: Option<&str>,
) -> Result<()> {
    if read_only_later(m) {
        let mut rw = m.clone();
        rw.options.flags.remove(MsFlags::MS_RDONLY);
        return mounts::mount_one(root, &rw, new_cgroupns, label);
    }
    mounts::mount_one(root, m, new_cgroupns, label)
}

/// The read-only remounts of the [`read_only_later`] mounts, last before pivot_root (runc:
/// right after it), with the mount's other flags.
fn read_only_last(root: BorrowedFd<'_>, plan: &Plan) -> Result<()> {
    for m in plan.mounts.iter().filter(|m| read_only_later(m)) {
        let dest = m.destination.display();
        let fd = open_in_root(root, &m.destination, OFlag::O_PATH)
            .ctx(|| format!("reopening mount destination {dest}"))?;
        let flags = (m.options.flags & crate::mountopts::REMOUNT_MASK) | MsFlags::MS_RDONLY;
        remount_bind(&paths::fd_path(&fd), flags).ctx(|| format!("remounting {dest} read-only"))?;
        // The remount set the mount's flags anew: its recursive attributes (rnosuid...) again.
        mounts::set_rec_attr(root, m)?;
    }
    Ok(())
}

/// Step 7: propagation of the new "/" and `root.readonly`, after the console is in place.
pub fn finalize(plan: &Plan) -> Result<()> {
    reopen_dev_null()?;
    if let Some(p) = plan.rootfs_propagation {
        mount(NONE, "/", NONE, p, NONE).ctx(|| "setting rootfsPropagation on /".into())?;
    }
    if plan
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind("/", MsFlags::MS_RDONLY).ctx(|| "remounting / read-only".into())?;
    }
    Ok(())
}

/// As runc: stdin, stdout or stderr that is a /dev/null (the host's, inherited) is replaced
/// by the container's own, so that no open file of the container is on a host mount (CRIU
/// could not checkpoint it). Only an open and a dup where stdio is /dev/null.
fn reopen_dev_null() -> Result<()> {
    use nix::sys::stat::{fstat, SFlag};
    let null_dev = nix::sys::stat::makedev(1, 3);
    let is_null = |st: nix::sys::stat::FileStat| {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
            && st.st_rdev == null_dev
    };
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let null = [
        fstat(stdin.as_fd()).is_ok_and(is_null),
        fstat(stdout.as_fd()).is_ok_and(is_null),
        fstat(stderr.as_fd()).is_ok_and(is_null),
    ];
    if !null.contains(&true) {
        return Ok(());
    }
    // A container without a /dev/null keeps what it was given.
    let Ok(own) = open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    ) else {
        return Ok(());
    };
    if !fstat(own.as_fd()).is_ok_and(is_null) {
        return Ok(());
    }
    let what = || "reopening /dev/null inside the container".to_string();
    if null[0] {
        nix::unistd::dup2_stdin(&own).ctx(what)?;
    }
    if null[1] {
        nix::unistd::dup2_stdout(&own).ctx(what)?;
    }
    if null[2] {
        nix::unistd::dup2_stderr(&own).ctx(what)?;
    }
    Ok(())
}

/// Bind the pty peer (named through its fd, never a path the container controls) on
/// `/dev/console`.
fn bind_console(root: BorrowedFd<'_>, pty: &Pty) -> Result<()> {
    paths::create_file(root, Path::new("/dev/console")).ctx(|| "creating /dev/console".into())?;
    // CVE-2025-52565 class: the target too must be what it says, a file or device node of
    // the container's /dev, not a symlink to some other file to cover (O_NOFOLLOW: the link).
    let target = open_in_root(
        root,
        Path::new("/dev/console"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
    )
    .ctx(|| "opening /dev/console".into())?;
    let kind = nix::sys::stat::fstat(target.as_fd())
        .ctx(|| "stat of /dev/console".into())?
        .st_mode
        & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFCHR {
        return Err(Error::Init(format!(
            "/dev/console in the container is not a file or a character device (mode {kind:o}): \
             refusing to bind the console on it"
        )));
    }
    let src = format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
    );
    mount(
        Some(src.as_str()),
        paths::fd_path(&target).as_str(),
        NONE,
        MsFlags::MS_BIND,
        NONE,
    )
    .ctx(|| format!("bind mounting /dev/pts/{} on /dev/console", pty.number))
}

/// The container's `/proc` (reached without a symlink), checked to be procfs (CVE-2019-16884
/// class: what is written, masked or made read-only under `/proc` must be procfs).
fn proc_dir(root: BorrowedFd<'_>) -> Result<std::os::fd::OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let fd = paths::open_no_symlinks(root, Path::new("/proc"), flags).map_err(|e| match e {
        Errno::ELOOP => Error::Init("/proc in the rootfs is a symlink: refusing to use it".into()),
        e => Error::sys("opening /proc in the rootfs", e),
    })?;
    if !crate::procfs::is_procfs(fd.as_fd()).ctx(|| "statfs of /proc in the rootfs".into())? {
        return Err(Error::Init(
            "/proc in the rootfs is not procfs: refusing to write, mask or remount under it".into(),
        ));
    }
    Ok(fd)
}

/// What the readonly and masked paths share, so that it is looked up once rather than for
/// every path: whether the container's `/proc` was found to be procfs, and its checked
/// `/dev/null`.
#[derive(Default)]
struct Hiding {
    proc_checked: bool,
    null: Option<std::os::fd::OwnedFd>,
}

impl Hiding {
    /// Before masking or remounting an existing path under `/proc`: `/proc` must be procfs.
    /// Checked once; a tmpfs mask (which could be over `/proc` itself, by whatever path)
    /// makes the next path check again. Binds of procfs onto itself and of /dev/null onto
    /// files cannot turn `/proc` into something else.
    fn check_proc_parent(&mut self, root: BorrowedFd<'_>, path: &Path) -> Result<()> {
        if path.starts_with("/proc") && !self.proc_checked {
            proc_dir(root)?;
            self.proc_checked = true;
        }
        Ok(())
    }

    /// The container's verified `/dev/null` ([`verified_null`]), opened at the first use.
    fn null(&mut self, root: BorrowedFd<'_>) -> std::result::Result<String, String> {
        if self.null.is_none() {
            self.null = Some(verified_null(root)?);
        }
        Ok(self.null.as_ref().map(paths::fd_path).unwrap_or_default())
    }
}

/// Write one sysctl through the container's /proc/sys: beneath its procfs /proc, with no
/// symlink or mount crossed on the way (CVE-2025-52881 class), checked to be procfs.
fn write_sysctl(root: BorrowedFd<'_>, key: &str, value: &str) -> Result<()> {
    let rel = Path::new("sys").join(crate::spec::sysctl::proc_path(key));
    let proc = proc_dir(root)?;
    let fd = crate::procfs::open_beneath(
        proc.as_fd(),
        "/proc",
        &rel,
        OFlag::O_WRONLY | OFlag::O_TRUNC,
    )
    .map_err(|e| Error::Init(format!("sysctl {key}: {e}")))?;
    crate::procfs::write_fd(fd.as_fd(), &format!("sysctl {key}"), value.as_bytes())
}

/// Bind a path onto itself read-only. A path that does not exist is skipped, as runc does.
fn readonly_path(root: BorrowedFd<'_>, path: &Path, hiding: &mut Hiding) -> Result<()> {
    let shown = path.display();
    let fd = match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("opening readonly path {shown}"), e)),
    };
    hiding.check_proc_parent(root, path)?;
    if let Some(done) = mounts::readonly_copy(&fd) {
        return done.ctx(|| format!("bind mounting readonly path {shown}"));
    }
    let p = paths::fd_path(&fd);
    mount(
        Some(p.as_str()),
        p.as_str(),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx(|| format!("bind mounting readonly path {shown}"))?;
    let fd = open_in_root(root, path, OFlag::O_PATH).ctx(|| format!("reopening {shown}"))?;
    let p = paths::fd_path(&fd);
    // As runc: read-only, keeping the nosuid/nodev/noexec the mount already has.
    let have = nix::sys::statvfs::statvfs(p.as_str())
        .ctx(|| format!("statfs of readonly path {shown}"))?
        .flags();
    let mut flags = MsFlags::MS_RDONLY;
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if have.contains(st) {
            flags |= ms;
        }
    }
    remount_bind(&p, flags).ctx(|| format!("remounting readonly path {shown}"))
}

/// Hide a path: a read-only empty tmpfs (4 KiB, one inode) over a directory (with `linux.mountLabel` `label`, as
/// runc), /dev/null over anything else.
fn mask_path(
    root: BorrowedFd<'_>,
    path: &Path,
    label: Option<&str>,
    hiding: &mut Hiding,
) -> Result<()> {
    let shown = path.display();
    let fd = match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("opening masked path {shown}"), e)),
    };
    hiding.check_proc_parent(root, path)?;
    let is_dir = nix::sys::stat::fstat(fd.as_fd())
        .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .ctx(|| format!("stat of masked path {shown}"))?;
    let p = paths::fd_path(&fd);
    if is_dir {
        hiding.proc_checked = false;
        mount(
            Some("tmpfs"),
            p.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            // As runc 1.5: the smallest tmpfs there is.
            crate::lsm::mount_data(Some("size=4k,nr_inodes=1".into()), label).as_deref(),
        )
    } else {
        // As runc: the container's own /dev/null (so the mask shows as its /dev), bound from
        // the fd that was checked to be the null device (CVE-2025-31133: a /dev/null that is
        // a symlink to, or a bind of, another file would expose that file instead of hiding
        // the masked one). Anything else is an error, never a fallback.
        let src = hiding
            .null(root)
            .map_err(|e| Error::Init(format!("masking {shown}: {e}")))?;
        mount(Some(src.as_str()), p.as_str(), NONE, MsFlags::MS_BIND, NONE)
    }
    .ctx(|| format!("masking {shown}"))
}

/// The container's `/dev/null`, opened as an `O_PATH` handle and checked to be the null
/// character device (1:3).
fn verified_null(root: BorrowedFd<'_>) -> std::result::Result<std::os::fd::OwnedFd, String> {
    let fd = open_in_root(root, Path::new("/dev/null"), OFlag::O_PATH).map_err(|e| {
        format!(
            "opening /dev/null in the container: {}",
            crate::error::errno_text(e)
        )
    })?;
    let st = nix::sys::stat::fstat(fd.as_fd())
        .map_err(|e| format!("stat of /dev/null: {}", crate::error::errno_text(e)))?;
    let null =
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == nix::sys::stat::makedev(1, 3);
    if !null {
        return Err(format!(
            "/dev/null in the container is not the null device (mode {:o}, rdev {}:{})",
            st.st_mode,
            libc::major(st.st_rdev),
            libc::minor(st.st_rdev)
        ));
    }
    Ok(fd)
}
