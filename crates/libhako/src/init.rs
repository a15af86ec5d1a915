//! The container init: the child side of the clone, from its birth in the new namespaces to
//! `execve`. A straight list of named steps; the first failure goes back to the parent as
//! `Failed{step, message}` and the init exits. Nothing here returns to the runtime's code.
//!
//! Order matters: namespaces before mounts (mounts belong to the new mount namespace);
//! hostname needs the UTS namespace; the exec fifo is opened before pivot_root hides the state
//! dir; the bounding set is cut while CAP_SETPCAP is held; rlimits and groups are set while
//! root; the AppArmor and SELinux exec transitions are asked for before the seccomp filter and
//! the capability drop; capabilities are set after the uid switch (keep-caps); the program is
//! found on PATH as the final user; fds are closed last, and the init reports Ready only when
//! nothing but exec is left, so `create` never succeeds for a container that cannot start.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysContext};
use crate::namespaces::{self, Strategy};
use crate::spec::Plan;
use crate::sync::{Channel, Msg};
use crate::sys;
use crate::trace;
use crate::{console, hooks, process, rootfs};

/// What the init needs besides the plan.
pub struct InitArgs<'a> {
    /// The validated config.
    pub plan: &'a Plan,
    /// How namespaces are entered.
    pub strategy: Strategy,
    /// The init's end of the sync channel.
    pub chan: Channel,
    /// The state dir, whose exec fifo the init waits on; `None` when the init execs right
    /// after Ready (`run`).
    pub fifo: Option<BorrowedFd<'a>>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// The container id, when the init joins a new session keyring (not `--no-new-keyring`).
    pub keyring: Option<&'a str>,
    /// `--preserve-fds N`: fds 3..3+N reach the program.
    pub preserve_fds: u32,
    /// The connected `--console-socket`, when `process.terminal` is set and one was given;
    /// without one the pty master goes back to the runtime over `chan`.
    pub console_socket: Option<&'a OwnedFd>,
    /// The sealed exec trampoline, if the program is exec'd through it (see exeguard).
    pub trampoline: Option<BorrowedFd<'a>>,
}

/// The step named in `Failed` when the program could not be found, started or exec'd (after
/// the setup, whose failures are "init").
pub const EXEC_STEP: &str = "exec";

/// Run the init to `execve`. Never returns.
pub fn run(args: InitArgs<'_>) -> ! {
    let (step, err) = match setup(&args) {
        Ok((fifo, state)) => (EXEC_STEP, wait_and_exec(&args, fifo, state)),
        Err(e) => ("init", e),
    };
    let _ = args.chan.send(&Msg::Failed {
        step: step.into(),
        message: err.to_string(),
    });
    std::process::exit(1)
}

fn setup(a: &InitArgs<'_>) -> Result<(Option<OwnedFd>, Option<Vec<u8>>)> {
    let plan = a.plan;
    // The container starts with every signal at its default action (whatever its caller
    // ignored) and none blocked (`run` blocks signals to forward them), as with runc.
    sys::default_signal_actions().ctx(|| "resetting the signal actions".into())?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .ctx(|| "resetting the signal mask".into())?;
    // While the runtime makes the cgroup (the fast path's network, mount, UTS and IPC
    // namespaces; nothing otherwise).
    namespaces::unshare_new(plan, a.strategy.early)?;
    // Device nodes and dirs get exactly the modes asked for; the process umask comes later.
    nix::sys::stat::umask(Mode::empty());
    let early_mounts = if a.strategy.early.contains(CloneFlags::CLONE_NEWNS)
        && !plan.has(CloneFlags::CLONE_NEWUSER)
    {
        let e = rootfs::early(plan, &mut || a.chan.pending())?;
        trace::step("init: early mounts");
        Some(e)
    } else {
        None
    };
    let (join, tree_at) = match a.chan.recv_with_fds()? {
        Some((Msg::Go { cgroup_tree }, fds)) => (fds, cgroup_tree),
        other => {
            return Err(Error::Init(format!(
                "expected Go from the runtime, got {:?}",
                other.map(|(m, _)| m)
            )))
        }
    };
    // Into the v1 cgroups (their `tasks` files come with Go) before anything else (a fork, a
    // cgroup namespace); v2 at the clone.
    crate::cgroups::join_self(&join)?;
    drop(join);
    namespaces::join_paths(&plan.namespaces)?;
    if plan
        .namespaces
        .iter()
        .any(|n| n.flag == CloneFlags::CLONE_NEWNS && n.path.is_some())
    {
        crate::procfs::forget_self_mountinfo();
    }
    trace::step("init: namespaces");
    namespaces::unshare_new(plan, a.strategy.unshare)?;
    net_devices(a)?;
    // Non-dumpable until execve (CVE-2019-5736 class, see exeguard): from here on no process of
    // the container may open our /proc/<pid>/{exe,fd}. Not earlier: until Go a non-root
    // runtime writes our id maps, and an unshared time namespace's offsets are written above,
    // which a non-dumpable process in a user namespace cannot do; nothing of the container can
    // see us before the fork into its PID namespace below.
    crate::exeguard::non_dumpable()?;
    if a.strategy.fork {
        crate::sync::fork_and_report(&a.chan)?;
    }
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    set_names(plan)?;
    let fifo = a
        .fifo
        .map(|dir| {
            crate::state::open_fifo(dir, OFlag::O_RDWR)
                .ctx(|| format!("opening exec fifo {}", crate::state::EXEC_FIFO))
        })
        .transpose()?;
    if plan.has(CloneFlags::CLONE_NEWUSER) {
        // As runc: become the namespace's root, so that what is made from here on (mount
        // points, device nodes) gets a mapped owner instead of failing with EOVERFLOW. After
        // the exec fifo: it belongs to the host's root, which this uid cannot open.
        let (uid, gid) = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
        nix::unistd::setresgid(gid, gid, gid).ctx(|| "setgid to 0 in the user namespace".into())?;
        nix::unistd::setresuid(uid, uid, uid).ctx(|| "setuid to 0 in the user namespace".into())?;
    }
    // A session keyring of the container's own, owned by its root (runc's place for it).
    if let Some(id) = a.keyring {
        let label = plan
            .spec
            .process()
            .as_ref()
            .and_then(crate::lsm::selinux_label);
        crate::keyring::join_new(id, plan.has(CloneFlags::CLONE_NEWUSER), label)?;
    }
    let cgroupns = plan.has(CloneFlags::CLONE_NEWCGROUP);
    let proc = plan.spec.process().as_ref();
    let terminal = proc.and_then(|p| p.terminal()).unwrap_or(false);
    let mut state = None;
    let mut take_tree = || match a.chan.recv_with_fd()? {
        Some((Msg::CgroupTree, tree)) => Ok(tree),
        other => Err(Error::Init(format!(
            "expected the cgroup tree from the runtime, got {:?}",
            other.map(|(m, _)| m)
        ))),
    };
    let runtime = rootfs::FromRuntime {
        cgroup_tree: tree_at.map(|i| (i, &mut take_tree as rootfs::cgroup_tree::Take<'_>)),
        mount_source: &mut |m| mount_source(&a.chan, m),
        before_pivot: &mut || {
            crate::crashpoint::in_init(crate::crashpoint::Step::Mounts, &a.chan);
            state = create_hooks(a)?;
            Ok(())
        },
    };
    let pty = rootfs::setup(plan, early_mounts, a.no_pivot, cgroupns, terminal, runtime)?;
    // A terminal is only asked for with a process.
    if let Some((pty, proc)) = pty.zip(proc) {
        console::set_size(&pty, console_size(proc))?;
        console::give_to(&pty.slave, proc.user().uid())?;
        console::attach(&pty.slave)?;
        match a.console_socket {
            Some(sock) => console::send_master(sock.as_fd(), &pty.master)?,
            None => a.chan.send_with_fd(&Msg::Pty, pty.master.as_fd())?,
        }
    }
    trace::step("init: mounts, pivot_root");
    rootfs::finalize(plan)?;
    let Some(proc) = proc else {
        // No process (the spec requires one only for start): the container is set up and
        // stays created until it is deleted; `start` refuses it.
        return Ok((fifo, state));
    };
    crate::procattrs::apply(proc, plan.spec.linux().as_ref())?;
    // As root, before the capability drop and before any seccomp filter (runc's order): the
    // program's execve enters the profile and label (the trampoline is not used, see exeguard).
    if let Some(profile) = crate::lsm::apparmor_profile(proc) {
        crate::lsm::apply_apparmor(profile)?;
    }
    if let Some(label) = crate::lsm::selinux_label(proc) {
        crate::lsm::apply_selinux(label)?;
    }
    let may_setgroups =
        process::before_seccomp(proc, plan.has(CloneFlags::CLONE_NEWUSER), a.preserve_fds)?;
    if let Some(filter) = plan.seccomp.as_ref().filter(|_| !no_new_privs(plan)) {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the uid switch
        // and the capability drop (runc's order). With it, it goes last, in process::ready.
        crate::process::load_seccomp(filter, &a.chan)?;
    }
    process::finalize(proc, may_setgroups)?;
    trace::step("init: credentials");
    Ok((fifo, state))
}

/// `linux.netDevices`: in its final network namespace, the init sends it to the runtime, which
/// moves the devices in; then it adds their addresses back and sets them up.
fn net_devices(a: &InitArgs<'_>) -> Result<()> {
    if a.plan.net_devices.is_empty() {
        return Ok(());
    }
    let ns = open(
        "/proc/thread-self/ns/net",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /proc/thread-self/ns/net".into())?;
    a.chan.send_with_fd(&Msg::NetDevices, ns.as_fd())?;
    match a.chan.recv()? {
        Some(Msg::NetDevicesDone) => crate::netdevices::configure(&a.plan.net_devices),
        other => Err(Error::Init(format!(
            "expected NetDevicesDone from the runtime, got {other:?}"
        ))),
    }
}

/// Ask the runtime for a detached copy of bind mount `m`'s source (see rootfs).
fn mount_source(chan: &Channel, m: &crate::spec::MountPlan) -> Result<OwnedFd> {
    chan.send(&Msg::MountSource { index: m.index })?;
    match chan.recv_with_fd()? {
        Some((Msg::MountSourceFd, Some(fd))) => Ok(fd),
        other => Err(Error::Init(format!(
            "expected the source of mounts[{}] from the runtime, got {:?}",
            m.index,
            other.map(|(m, _)| m)
        ))),
    }
}

/// Whether any hook needs the runtime's pause before pivot_root or the state in the init.
fn has_create_hooks(plan: &Plan) -> bool {
    use crate::hooks::Kind;
    let h = plan.spec.hooks();
    [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
    ]
    .iter()
    .any(|k| !k.of(h).is_empty())
}

/// Before pivot_root: let the runtime run prestart and createRuntime, then run
/// createContainer here, in the container's namespaces. Returns the state for startContainer.
fn create_hooks(a: &InitArgs<'_>) -> Result<Option<Vec<u8>>> {
    if !has_create_hooks(a.plan) {
        return Ok(None);
    }
    a.chan.send(&Msg::Hooks)?;
    let state = match a.chan.recv()? {
        Some(Msg::HooksDone { state }) => state.into_bytes(),
        other => {
            return Err(Error::Init(format!(
                "expected HooksDone from the runtime, got {other:?}"
            )))
        }
    };
    // As runc's: in the rootfs (not yet the root), with no environment (runc's init has none
    // of its own yet).
    let ctx = hooks::Context {
        cwd: Some(&a.plan.rootfs),
        env: Some(&[]),
    };
    hooks::run(
        hooks::Kind::CreateContainer,
        a.plan.spec.hooks(),
        &state,
        &ctx,
    )?;
    Ok(Some(state))
}

/// The state JSON with another status.
fn with_status(state: &[u8], status: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = serde_json::Value::from(status);
            serde_json::to_vec(&v).unwrap_or_else(|_| state.to_vec())
        }
        Err(_) => state.to_vec(),
    }
}

/// `process.consoleSize`, if any.
pub fn console_size(proc: &oci_spec::runtime::Process) -> Option<sys::WinSize> {
    proc.console_size().as_ref().map(|b| sys::WinSize {
        rows: u16::try_from(b.height()).unwrap_or(u16::MAX),
        cols: u16::try_from(b.width()).unwrap_or(u16::MAX),
    })
}

fn no_new_privs(plan: &Plan) -> bool {
    plan.spec
        .process()
        .as_ref()
        .and_then(|p| p.no_new_privileges())
        .unwrap_or(false)
}

fn set_names(plan: &Plan) -> Result<()> {
    if let Some(h) = plan.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = plan.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        sys::setdomainname(d).ctx(|| format!("setting domainname {d:?}"))?;
    }
    Ok(())
}

/// A container without `process`: report Ready and wait, never exec. `start` refuses such a
/// container without writing the fifo, so a byte there is a bug; `delete` kills the init.
fn wait_without_process(a: &InitArgs<'_>, fifo: Option<&OwnedFd>) -> Error {
    if let Err(e) = a.chan.send(&Msg::Ready) {
        return e;
    }
    let mut byte = [0u8; 1];
    while let Some(fifo) = fifo {
        match nix::unistd::read(fifo.as_fd(), &mut byte) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => break,
        }
    }
    Error::config("process", "not set in config.json: nothing to start")
}

/// Find the program, hand the fds over, report Ready, block on the exec fifo (if any) until
/// `start`, then exec. Returns only on failure.
fn wait_and_exec(a: &InitArgs<'_>, fifo: Option<OwnedFd>, state: Option<Vec<u8>>) -> Error {
    let plan = a.plan;
    if plan.spec.process().is_none() {
        return wait_without_process(a, fifo.as_ref());
    }
    let last = plan.seccomp.as_ref().filter(|_| no_new_privs(plan));
    let env = process::with_home(&plan.env, nix::unistd::getuid().as_raw());
    let program: CString = match process::ready(&plan.args, &env, &a.chan, last) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut byte = [0u8; 1];
    while let Some(fifo) = &fifo {
        match nix::unistd::read(fifo.as_fd(), &mut byte) {
            Ok(1) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Error::Init("exec fifo closed before start".into()),
            Err(e) => return Error::sys("reading exec fifo", e),
        }
    }
    // The fifo (and the channel) stay open, close-on-exec, until execve: `start` (`run`)
    // waits for them to close.
    if let Some(state) = state {
        let state = with_status(&state, "created");
        // As runc's: in process.cwd (the init is there), with the process's environment.
        let ctx = hooks::Context {
            cwd: None,
            env: Some(&env),
        };
        if let Err(e) = hooks::run(hooks::Kind::StartContainer, plan.spec.hooks(), &state, &ctx) {
            eprintln!("hako: {e}");
            return e;
        }
    }
    trace::step("init: released, exec");
    // As runc's init: a program that cannot be exec'd is reported on the container's stderr,
    // exit status 255.
    let report = crate::exeguard::Report { status: 255 };
    crate::exeguard::exec(&program, &plan.args, &env, a.trampoline, &report)
}
