//! The only module with `unsafe`: thin wrappers over the few syscalls that neither `nix` nor
//! the standard library expose safely (`clone3`, `fork`, `pidfd_open`, `close_range`).
//!
//! Each wrapper names the syscall in its error and documents why the call is sound. Everything
//! else in the crate is safe Rust over `nix`.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// What a process-creating call returned in the calling process.
pub enum Forked {
    /// We are the parent; the child has this PID (in our PID namespace).
    Parent(Pid),
    /// We are the child.
    Child,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone3(2)` with fork semantics (no `CLONE_VM`, no new stack): the child continues from the
/// call with a copy of the address space, exactly as after `fork`, but can be born into new
/// namespaces (`flags`, the `CLONE_NEW*` bits) and, when `cgroup` is given, into that cgroup v2
/// directory (`CLONE_INTO_CGROUP`).
///
/// The caller must be single-threaded (the runtime is, see ARCHITECTURE.md): the child only has
/// the calling thread, so no lock held by another thread can be left locked in it.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/clone3.2.html>
pub fn clone3(flags: u64, cgroup: Option<RawFd>) -> Result<Forked, Errno> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= 0x2_0000_0000; // CLONE_INTO_CGROUP
        args.cgroup = fd as u64;
    }
    // SAFETY: `args` is a valid, fully initialised `clone_args` of the size we pass. Without
    // CLONE_VM and with a null stack the kernel gives the child a copy-on-write copy of our
    // memory and it resumes here, as with fork(2); the process is single-threaded (documented
    // precondition), so the child's heap and locks are consistent.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// `fork(2)`, used by the intermediate process when it has joined or made a PID or time
/// namespace that only its children can enter. Same single-thread precondition as [`clone3`].
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: the process is single-threaded (documented precondition), so the child's copy of
    // the address space is consistent; the child only runs the init's own code and then execs.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// `pidfd_open(2)`: a file descriptor that becomes readable when `pid` exits, for waiting on a
/// process that is not our child (`delete --force`).
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments; on success it returns a new fd we own.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `pidfd_send_signal(2)` with a raw signal number: signals exactly the process `pidfd` was
/// opened on, never another one that got its PID after it exited.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    // SAFETY: an fd borrowed for the call, an integer, a null siginfo (the kernel fills it in
    // as kill(2) does) and flags 0; no memory of ours is touched.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// The fd flags of fd number `fd` (`F_GETFD`): EBADF when it is not open. For fds known by
/// number only, such as the ones `--preserve-fds` names.
pub fn fd_flags(fd: u32) -> Result<i32, Errno> {
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: F_GETFD only reads the flags of a descriptor number; no memory is passed.
    let ret = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret)
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: mark every fd from `first` up close-on-exec,
/// so that no runtime fd reaches the container program.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments; it only changes fd flags.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 4u32) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `fcntl(fd, F_SETFD, FD_CLOEXEC)` on an fd known only by number (from /proc/self/fd):
/// `cloexec_from`'s fallback where the kernel lacks `CLOSE_RANGE_CLOEXEC`.
pub fn set_cloexec_raw(fd: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments; it only changes one fd's flags (EBADF if
    // the number is not an open fd).
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Errno::result(ret).map(drop)
}

/// Every signal back to its default action (all but SIGKILL and SIGSTOP, which cannot be
/// changed), before the container's program is exec'd. An ignored signal stays ignored across
/// `execve`: a runtime started under `nohup`, or by a daemon that ignores signals, would hand
/// that on (runc's and crun's processes start with none ignored), and the Rust runtime ignores
/// SIGPIPE in hako itself (`yes | head` must end `yes` by SIGPIPE). A caught signal is reset by
/// `execve` anyway, but is reset here too: no handler of the runtime's may run in the init.
///
/// The raw `rt_sigaction`, not libc's `sigaction`, which refuses the signals the C library
/// keeps for itself (32 and 33 with glibc) though a caller may have left them ignored too.
pub fn default_signal_actions() -> Result<(), Errno> {
    // All zeros is SIG_DFL with no flags and an empty mask in every architecture's layout of
    // the kernel's `struct sigaction` (at most four words on 64-bit targets).
    let default = [0u64; 4];
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `default` outlives the call and is as large as the kernel's struct sigaction;
        // no old action is asked for (null); the sigset size is the kernel's (8 bytes). SIG_DFL
        // installs no handler, so no code of ours can run in signal context.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
        Errno::result(ret)?;
    }
    Ok(())
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphans of the container (and its init, when an
/// intermediate process exits) are reparented to us so `run` can reap and report them.
pub fn set_child_subreaper() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// `prctl(PR_SET_KEEPCAPS, 1)`: keep permitted capabilities across the switch to a non-zero uid.
pub fn set_keepcaps() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// `fsopen(2)` with `FSOPEN_CLOEXEC`: a filesystem context for `fstype`, configured with
/// [`fsconfig_set_string`] and [`fsconfig_create`], then turned into a mount with [`fsmount`].
///
/// # References
/// <https://github.com/torvalds/linux/blob/master/include/uapi/linux/mount.h> (`fsopen`)
pub fn fsopen(fstype: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `fstype` is a NUL-terminated string alive for the call; FSOPEN_CLOEXEC (1) is the
    // only flag. On success the kernel returns a new fd that only we own.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), 1u32) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `fsconfig(ctx, FSCONFIG_SET_STRING, key, value, 0)`: one string option of a context.
pub fn fsconfig_set_string(
    ctx: BorrowedFd<'_>,
    key: &std::ffi::CStr,
    value: &std::ffi::CStr,
) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated and alive for the call; the kernel copies them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            1u32, // FSCONFIG_SET_STRING
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsconfig(ctx, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`: create the superblock.
pub fn fsconfig_create(ctx: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: integer arguments and null pointers only, as the command requires.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            6u32, // FSCONFIG_CMD_CREATE
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsmount(ctx, FSMOUNT_CLOEXEC, attrs)`: a detached mount of the created superblock, with
/// `MOUNT_ATTR_*` flags (`RDONLY` 0x1, `NOSUID` 0x2, `NODEV` 0x4). It is attached nowhere:
/// reachable only through the returned fd.
pub fn fsmount(ctx: BorrowedFd<'_>, attrs: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments only. On success the kernel returns a new fd that we own.
    let ret = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), 1u32, attrs) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `personality(2)`: set the execution domain (`PER_LINUX` 0, `PER_LINUX32` 8).
pub fn set_personality(persona: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: personality takes one integer and touches no memory of ours.
    let ret = unsafe { libc::personality(persona) };
    Errno::result(ret).map(drop)
}

/// `struct sched_attr` of `sched_setattr(2)` (the `SCHED_ATTR_SIZE_VER0` layout).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    /// Size of this struct.
    pub size: u32,
    /// `SCHED_OTHER` (0), `FIFO` (1), `RR` (2), `BATCH` (3), `IDLE` (5), `DEADLINE` (6).
    pub policy: u32,
    /// `SCHED_FLAG_*`.
    pub flags: u64,
    /// Nice value, for `SCHED_OTHER` and `SCHED_BATCH`.
    pub nice: i32,
    /// Static priority, for `SCHED_FIFO` and `SCHED_RR`.
    pub priority: u32,
    /// `SCHED_DEADLINE` runtime, in nanoseconds.
    pub runtime: u64,
    /// `SCHED_DEADLINE` deadline, in nanoseconds.
    pub deadline: u64,
    /// `SCHED_DEADLINE` period, in nanoseconds.
    pub period: u64,
}

/// `sched_setattr(0, attr, 0)`: the calling thread's scheduling policy and attributes.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sched_setattr.2.html>
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        ..*attr
    };
    // SAFETY: `attr` is a fully initialised `struct sched_attr` whose size field matches its
    // size; it lives for the call and the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(ret).map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, (class << 13) | level)`: the calling process's I/O
/// priority.
pub fn ioprio_set_self(class: u32, level: u32) -> Result<(), Errno> {
    let value = (class << 13) | level;
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) };
    Errno::result(ret).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: load a BPF filter into the calling thread.
/// Returns the listener fd when `flags` has `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/seccomp.2.html>
pub fn seccomp_set_mode_filter(
    flags: u32,
    program: &[libc::sock_filter],
) -> Result<Option<OwnedFd>, Errno> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `len` valid instructions borrowed for the call; the kernel
    // copies the program and does not write through the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    if u64::from(flags) & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returned a new fd (O_CLOEXEC) that only we own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}

/// Whether the kernel knows these `seccomp(2)` filter flags: a call with a null program fails
/// with EFAULT when the flags are accepted and EINVAL when not (libseccomp's probe).
pub fn seccomp_flag_supported(flags: u32) -> bool {
    // SAFETY: a null program is never dereferenced: the kernel checks the flags first, then
    // fails copying from the null pointer; nothing is loaded either way.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && Errno::last() == Errno::EFAULT
}

/// `setdomainname(2)` (nix has `sethostname` only).
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: make the keyring called `name` the calling
/// thread's session keyring, joining one of that name it may search or creating it. Returns
/// the keyring's serial.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/keyctl_join_session_keyring.3.html>
pub fn join_session_keyring(name: &std::ffi::CStr) -> Result<i32, Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: `name` is NUL-terminated and alive for the call; the kernel only reads it.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(ret).and_then(|serial| i32::try_from(serial).map_err(|_| Errno::ERANGE))
}

/// `keyctl(KEYCTL_DESCRIBE, key)`: "type;uid;gid;perm;description" of the key `serial`.
pub fn describe_key(serial: i32) -> Result<String, Errno> {
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    let mut buf = vec![0u8; 512];
    // SAFETY: `buf` is writable for its whole length, which is passed; the kernel writes at
    // most that many bytes and returns the full length of the description.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            libc::c_long::from(serial),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let len = usize::try_from(Errno::result(ret)?).map_err(|_| Errno::ERANGE)?;
    if len > buf.len() {
        return Err(Errno::ERANGE);
    }
    buf.truncate(len);
    // The length counts the terminating NUL.
    while buf.last() == Some(&0) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| Errno::EINVAL)
}

/// `keyctl(KEYCTL_SETPERM, key, perm)`: the permission mask of the key `serial`.
pub fn set_key_perm(serial: i32, perm: u32) -> Result<(), Errno> {
    const KEYCTL_SETPERM: libc::c_long = 5;
    // SAFETY: plain integer arguments.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            libc::c_long::from(serial),
            libc::c_ulong::from(perm),
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsetxattr(2)` of `name` to `value` (flags 0: create or replace) on the open file `fd`.
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &std::ffi::CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated and `value` is a byte slice of the given length, both
    // alive for the call; the kernel only reads them.
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`: a detached
/// copy of the mount at `path` (with its submounts when `recursive`), not yet attached anywhere,
/// so its attributes (an idmapping) can still be changed.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/open_tree.2.html>
pub fn open_tree_clone(path: &std::path::Path, recursive: bool) -> Result<OwnedFd, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    open_tree(libc::AT_FDCWD, &path, flags)
}

/// `open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)`: a
/// detached copy of the mount tree at what `fd` (an `O_PATH` fd) names, with no path lookup.
pub fn open_tree_clone_fd(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC as libc::c_uint
        | libc::AT_RECURSIVE as libc::c_uint
        | libc::AT_EMPTY_PATH as libc::c_uint;
    open_tree(fd.as_raw_fd(), c"", flags)
}

fn open_tree(dirfd: RawFd, path: &std::ffi::CStr, flags: libc::c_uint) -> Result<OwnedFd, Errno> {
    // SAFETY: `path` is a NUL-terminated string alive for the call; `dirfd` is AT_FDCWD or an
    // fd the caller keeps open for the call; the flags are integers. On success the kernel
    // returns a new fd (close-on-exec) that only we own.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH, {attr_set, attr_clr})`: set (and clear) mount
/// attributes (`MOUNT_ATTR_*`) of the one mount `mnt`, typically detached ([`open_tree_clone`])
/// so that it is never visible without them.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
pub fn mount_setattr(mnt: BorrowedFd<'_>, attr_set: u64, attr_clr: u64) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    mount_setattr_raw(mnt, libc::AT_EMPTY_PATH as libc::c_uint, &attr)
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH | AT_RECURSIVE, {attr_set, attr_clr})`: change the
/// attributes of the mount `mnt` (an `O_PATH` fd of a mount's root) and of every mount beneath it
/// (the recursive mount options, `rro` and the like).
///
/// # References
/// <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
pub fn mount_setattr_recursive(
    mnt: BorrowedFd<'_>,
    attr_set: u64,
    attr_clr: u64,
) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    mount_setattr_raw(mnt, flags, &attr)
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP, userns})`: make the
/// detached mount `mnt` (from [`open_tree_clone`]) idmapped through the user namespace `userns`.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
pub fn mount_setattr_idmap(
    mnt: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    mount_setattr_raw(mnt, flags, &attr)
}

fn mount_setattr_raw(
    mnt: BorrowedFd<'_>,
    flags: libc::c_uint,
    attr: &libc::mount_attr,
) -> Result<(), Errno> {
    // SAFETY: the empty path is a static NUL-terminated string; `attr` is a fully initialised
    // `struct mount_attr` that lives for the call and whose size we pass; the kernel only reads
    // it. `mnt` (and a userns fd in `attr`) are valid for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`: attach
/// the detached mount `mnt` on the directory or file open as `target` (an `O_PATH` fd), with
/// no path lookup on either side.
///
/// # References
/// <https://github.com/torvalds/linux/blob/master/include/uapi/linux/mount.h> (`move_mount`)
pub fn move_mount_to(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    move_mount(mnt, target, c"", MOVE_MOUNT_T_EMPTY_PATH)
}

/// `move_mount(mnt, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH)`: attach the detached mount `mnt` on
/// the entry `name` of the directory `dir` (no symlink followed: `name` is one component the
/// caller made). `dir` may itself be a detached mount (Linux 6.15 and later; EINVAL before).
pub fn move_mount_into(
    mnt: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
) -> Result<(), Errno> {
    move_mount(mnt, dir, name, 0)
}

fn move_mount(
    mnt: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    to_path: &std::ffi::CStr,
    to_flags: libc::c_uint,
) -> Result<(), Errno> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | to_flags;
    // SAFETY: both paths are NUL-terminated strings alive for the call (the source one the
    // static empty string); both fds are valid for the call; the kernel reads nothing else
    // from our memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            to_path.as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}

/// A terminal window size (`struct winsize`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WinSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

fn ioctl_int(
    fd: BorrowedFd<'_>,
    req: libc::c_ulong,
    arg: libc::c_int,
) -> Result<libc::c_int, Errno> {
    // SAFETY: the request takes an int argument by value (TIOCSCTTY) or none; `fd` is a
    // valid open descriptor for the duration of the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) };
    Errno::result(ret)
}

/// Unlock a pty master (`TIOCSPTLCK` with 0), as `unlockpt(3)`.
pub fn pty_unlock(master: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut zero: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which points at a live local.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut zero) };
    Errno::result(ret).map(drop)
}

/// The pty number of a master (`TIOCGPTN`), naming `/dev/pts/N`.
pub fn pty_number(master: BorrowedFd<'_>) -> Result<u32, Errno> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer to a live local.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    Errno::result(ret).map(|_| n)
}

/// Open the peer (slave) of a pty master without a path lookup (`TIOCGPTPEER`), so nothing
/// in the container's /dev can substitute another file.
pub fn pty_peer(master: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let fd = ioctl_int(master, libc::TIOCGPTPEER as libc::c_ulong, flags)?;
    // SAFETY: on success the ioctl returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Make `tty` the controlling terminal of this (session leader) process (`TIOCSCTTY`).
pub fn set_controlling_tty(tty: BorrowedFd<'_>) -> Result<(), Errno> {
    ioctl_int(tty, libc::TIOCSCTTY, 0).map(drop)
}

/// Set a terminal's window size (`TIOCSWINSZ`).
pub fn set_winsize(tty: BorrowedFd<'_>, size: WinSize) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `struct winsize` through the pointer to a live local.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    Errno::result(ret).map(drop)
}

/// Read a terminal's window size (`TIOCGWINSZ`).
pub fn get_winsize(tty: BorrowedFd<'_>) -> Result<WinSize, Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer to a live local.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(ret).map(|_| WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// Take ownership of a descriptor the kernel just installed for us through SCM_RIGHTS.
pub fn own_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: the fd came out of a received SCM_RIGHTS control message: the kernel created
    // it in our table for this message only, so nothing else owns or will close it.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// The head of `union bpf_attr` for `BPF_PROG_LOAD` (the fields hako sets).
#[repr(C)]
#[derive(Default)]
struct BpfProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// `bpf(BPF_PROG_LOAD)` of a `BPF_PROG_TYPE_CGROUP_DEVICE` program: `insns` are encoded 8-byte
/// `struct bpf_insn`s. The kernel verifies the program; its verdict text is not collected.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/bpf.2.html>, `Documentation/bpf/prog_cgroup_device`
pub fn bpf_load_device_program(
    insns: &[[u8; 8]],
    license: &std::ffi::CStr,
) -> Result<OwnedFd, Errno> {
    let attr = BpfProgLoad {
        prog_type: 15, // BPF_PROG_TYPE_CGROUP_DEVICE
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid prefix of `union bpf_attr` for BPF_PROG_LOAD (the kernel zero-
    // extends shorter attrs); the insns and license pointers point to live memory of the sizes
    // given for the duration of the call. On success the kernel returns a new fd we own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            5, // BPF_PROG_LOAD
            &attr as *const BpfProgLoad,
            std::mem::size_of::<BpfProgLoad>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nobody else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `bpf(BPF_PROG_ATTACH)` of a device program to a cgroup v2 directory (`BPF_CGROUP_DEVICE`,
/// `BPF_F_ALLOW_MULTI`). The attachment keeps the program alive after its fd is closed.
pub fn bpf_attach_device_program(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
) -> Result<(), Errno> {
    #[repr(C)]
    struct Attach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    let attr = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: 6,  // BPF_CGROUP_DEVICE
        attach_flags: 2, // BPF_F_ALLOW_MULTI
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is a valid prefix of `union bpf_attr` for BPF_PROG_ATTACH; both fds are
    // borrowed live descriptors; the call only reads `attr`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            8, // BPF_PROG_ATTACH
            &attr as *const Attach,
            std::mem::size_of::<Attach>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Bring the loopback interface of the calling process's network namespace up, as runc does
/// for a network namespace it creates (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with `IFF_UP`).
pub fn loopback_up() -> Result<(), Errno> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data (a name array and a union of integers and addresses);
    // all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes `ifru_flags` of the live,
    // properly sized `req`; `sock` is an open socket for the duration of the call.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    Errno::result(ret)?;
    // SAFETY: SIOCGIFFLAGS just wrote the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and `ifru_flags` of the live `req`.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    Errno::result(ret).map(drop)
}

/// `set_mempolicy(2)`: the calling thread's NUMA memory policy, `mode` with its flag bits and
/// `nodes` as a bit mask, 64 nodes a word (empty: no node mask).
///
/// # References
/// <https://man7.org/linux/man-pages/man2/set_mempolicy.2.html>
pub fn set_mempolicy(mode: i32, nodes: &[u64]) -> Result<(), Errno> {
    const BITS: usize = libc::c_ulong::BITS as usize;
    let mut mask: Vec<libc::c_ulong> = vec![0; (nodes.len() * 64).div_ceil(BITS)];
    for bit in (0..nodes.len() * 64).filter(|b| nodes[b / 64] & (1 << (b % 64)) != 0) {
        mask[bit / BITS] |= 1 << (bit % BITS);
    }
    // The kernel reads `maxnode - 1` bits.
    let (ptr, maxnode) = match mask.is_empty() {
        true => (std::ptr::null(), 0),
        false => (mask.as_ptr(), mask.len() * BITS + 1),
    };
    // SAFETY: `ptr` is null (with maxnode 0) or points to `mask`, which holds `maxnode - 1`
    // bits and lives for the call; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    Errno::result(ret).map(drop)
}

/// `kill(2)` with a raw signal number, for the real-time signals nix's `Signal` cannot name.
pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    Errno::result(ret).map(drop)
}

/// The access mode and status flags of descriptor `raw` of this process (`F_GETFL`): EBADF
/// when it is not open. For a descriptor number given on the command line (`--status-fd`).
pub fn fd_status_flags(raw: RawFd) -> Result<nix::fcntl::OFlag, Errno> {
    // SAFETY: F_GETFL takes an integer and reads no memory of ours; the kernel checks the fd.
    let ret = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    Errno::result(ret).map(nix::fcntl::OFlag::from_bits_truncate)
}

/// A close-on-exec duplicate (`F_DUPFD_CLOEXEC`) of descriptor `raw` of this process, owned
/// by the caller; the original is left as it is.
pub fn dup_raw_fd(raw: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC takes integers and reads no memory of ours.
    let ret = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 3) };
    Errno::result(ret)?;
    // SAFETY: the kernel just made this descriptor for this call; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}
