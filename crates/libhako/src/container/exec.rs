//! `exec`: start one more process in a running container. The runtime clones a child that
//! joins every namespace of the container's init that differs from its own (user first, mount
//! last), forks once so the PID (and time) namespace applies, then runs the same last steps as
//! the init (terminal, cwd, rlimits, user, capabilities, no_new_privs) and execs. The parent
//! drives it over the sync protocol, writes the pid file, and for a foreground exec waits for
//! it as `run` waits for the init.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::foreground;
use crate::console;
use crate::error::{Error, Result, SysContext};
use crate::spec;
use crate::state::{StateDir, Status};
use crate::sync::{self, Channel, Msg};
use crate::sys::{self, Forked};

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// `--root`.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// The process to run (from `--process` or built from the flags).
    pub process: Process,
    /// `--detach`.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--ignore-paused`: exec into a paused container (the process starts frozen).
    pub ignore_paused: bool,
    /// `--cgroup` (runc 1.2+): sub-cgroups of the container's to run in, controller -> path
    /// (`""`: every hierarchy), from [`crate::cgroups::parse_sub_cgroups`]; empty: its own.
    pub sub_cgroups: BTreeMap<String, String>,
}

/// The namespaces an exec'd process joins, in setns order.
const NAMESPACES: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("time", crate::namespaces::CLONE_NEWTIME),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The `process` of the container's config, the base `exec` builds on.
pub fn container_process(root: &Path, id: &str) -> Result<Process> {
    let sd = StateDir::open(root, id, false)?;
    sd.load_config()?
        .process()
        .clone()
        .ok_or_else(|| Error::config("process", "missing in the container's config"))
}

/// Run the process; returns its exit code (foreground) or 0 (detached).
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    let sd = StateDir::open(&opts.root, &opts.id, false)?;
    let stored = sd.load()?;
    match super::status(&sd, &stored) {
        Status::Running | Status::Created => {}
        Status::Stopped => {
            return Err(Error::Lifecycle(
                "cannot exec in a stopped container".into(),
            ))
        }
        Status::Creating => {
            return Err(Error::Lifecycle(
                "cannot exec in a container that is still being created".into(),
            ))
        }
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(Error::Lifecycle(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
    }
    let (args, env) = spec::check_process_fields(&opts.process)?;
    crate::process::preserved_fds(0, opts.preserve_fds)?;
    let saved = sd.read(crate::seccomp::SAVED)?;
    let root = crate::state::Root::open(&opts.root)?;
    let shown = sd.path.join(crate::seccomp::SAVED);
    let seccomp = crate::seccomp::load_saved(saved, &shown, root.as_ref().map(|r| r.as_fd()))?;
    let config = sd.load_config()?;
    // As runc: the process's own AppArmor profile and SELinux label, else the container's.
    let apparmor = crate::lsm::exec_profile(&opts.process, config.process().as_ref());
    let selinux = crate::lsm::exec_label(&opts.process, config.process().as_ref());
    // CVE-2019-5736: the exec'd process is a copy of this one; see exeguard. Before anything
    // is made: this may re-exec the runtime.
    let lsm_transition = apparmor.is_some() || selinux.is_some();
    let trampoline = crate::exeguard::prepare(seccomp.as_ref(), lsm_transition)?;
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.detach {
        return Err(Error::Lifecycle(
            "cannot allocate tty if hako will detach without setting console socket".into(),
        ));
    }
    let console = match (&opts.console_socket, terminal) {
        (Some(p), true) => Some(console::connect(p)?),
        (Some(_), false) => {
            return Err(Error::Lifecycle(
                "cannot use console socket if hako will not allocate tty".into(),
            ))
        }
        _ => None,
    };
    let joins = namespace_fds(stored.pid)?;
    // A container without a mount namespace of its own is chrooted (rootfs::hostns): so is
    // a process exec'd into it, to the init's root.
    let chroot = if joins.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWNS) {
        None
    } else {
        let root = format!("/proc/{}/root", stored.pid);
        Some(
            open(
                root.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("opening {root}"))?,
        )
    };
    let linux = config.linux().clone();
    let set = if opts.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    let paths = match opts.sub_cgroups.is_empty() {
        true => stored.cgroup_paths.clone(),
        false => crate::cgroups::sub_paths(&stored.cgroup_paths, &opts.sub_cgroups)?,
    };
    let cgroup = crate::cgroups::Cgroup::from_paths(&paths);
    let into = cgroup
        .as_ref()
        .map(crate::cgroups::Cgroup::clone_target)
        .transpose()?
        .flatten();
    let join = cgroup
        .as_ref()
        .map(crate::cgroups::Cgroup::self_join_files)
        .transpose()?
        .flatten();
    let rdt = crate::intelrdt::open_saved_tasks(sd.read(crate::intelrdt::SAVED)?)?;
    let (parent, child) = sync::pair()?;
    let mut job = Job {
        process: &opts.process,
        args: &args,
        env: &env,
        joins: &joins,
        chroot: chroot.as_ref(),
        preserve_fds: opts.preserve_fds,
        console: console.as_ref(),
        seccomp: seccomp.as_ref(),
        cgroup: cgroup.as_ref(),
        join: join.as_deref(),
        rdt: &rdt,
        linux: linux.as_ref(),
        apparmor,
        selinux,
        keyring: (!stored.no_new_keyring).then_some(stored.id.as_str()),
        trampoline: trampoline.as_ref().map(AsFd::as_fd),
        await_attach: false,
    };
    // An unprivileged caller may not move a process from where it runs into the scope of its
    // systemd user instance (their common ancestor is root's); the instance may, when asked,
    // as for the init (`Cgroup::place`): the child then waits for it.
    let mut into = match into {
        Some(_) if stored.systemd_user.is_some() && !cgroup_enterable(&paths) => {
            job.await_attach = true;
            None
        }
        into => into,
    };
    let forked = match sys::clone3(0, into.as_ref().map(AsRawFd::as_raw_fd)) {
        // runc's fallback (v2, no --cgroup): the init's cgroup below the container's.
        Err(nix::errno::Errno::EBUSY) if opts.sub_cgroups.is_empty() => {
            let dir = stored.cgroup_paths.get("").map(PathBuf::as_path);
            let dir = dir.ok_or_else(|| Error::Lifecycle("no cgroup v2 directory".into()))?;
            into = Some(crate::cgroups::init_clone_target(stored.pid, dir)?);
            sys::clone3(0, into.as_ref().map(AsRawFd::as_raw_fd))
        }
        r => r,
    };
    let intermediate = match forked.ctx(|| "clone3 for exec".into())? {
        Forked::Child => {
            drop(parent);
            run_child(&job, &child)
        }
        Forked::Parent(pid) => pid,
    };
    if job.await_attach {
        attach_through_systemd(&stored, &paths, intermediate, &parent)?;
    }
    drop(child);
    // A process joining a frozen cgroup waits in it; only `--ignore-paused` asks for that.
    let mut check = || match cgroup.as_ref().filter(|_| !opts.ignore_paused) {
        Some(cg) => cg.refuse_frozen(),
        None => Ok(()),
    };
    let (pid, pty) = drive(&parent, intermediate, seccomp.as_ref(), &stored, &mut check)?;
    if let Some(pf) = &opts.pid_file {
        super::pidfile::write(pf, pid)?;
    }
    let Some(set) = set else { return Ok(0) };
    if let Some(m) = &pty {
        foreground::nonblocking(m)?;
    }
    let code = foreground::wait(pid, &set, pty);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    code
}

/// Whether this process may move a child into the (v2) cgroup of `paths` itself.
fn cgroup_enterable(paths: &BTreeMap<String, PathBuf>) -> bool {
    paths
        .get("")
        .is_some_and(|dir| crate::cgroups::may_enter(dir))
}

/// Have the systemd user instance that owns the container's unit put `pid` in it (in the
/// sub-cgroup of `paths` below the unit's, with `--cgroup`), then let the child go on; on
/// failure the child is killed.
fn attach_through_systemd(
    stored: &crate::state::Stored,
    paths: &BTreeMap<String, PathBuf>,
    pid: Pid,
    chan: &Channel,
) -> Result<()> {
    let unit = stored.systemd_unit.as_deref();
    let sub = paths
        .get("")
        .zip(stored.cgroup_paths.get(""))
        .and_then(|(p, top)| p.strip_prefix(top).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(|rel| Path::new("/").join(rel))
        .unwrap_or_default();
    let result =
        crate::cgroups::Cgroup::from_state(&stored.cgroup_paths, unit, stored.systemd_user)
            .ok_or_else(|| Error::Lifecycle(format!("container {} has no cgroup", stored.id)))
            .and_then(|cg| cg.attach_through_manager(pid, &sub))
            .and_then(|()| chan.send(&Msg::Go { cgroup_tree: None }));
    if result.is_err() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        super::reap_within(pid, super::REAP_LIMIT);
    }
    result
}

/// Open the namespaces of `init` that differ from ours.
fn namespace_fds(init: i32) -> Result<Vec<(CloneFlags, OwnedFd)>> {
    let mut out = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{init}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        // A namespace type this kernel lacks is skipped; one of the init's that cannot be
        // read is an error, never a reason to run the process in the runtime's namespaces
        // (a non-root runtime cannot read those of an init that has not exec'd yet: it is
        // non-dumpable, see exeguard).
        let Ok(o) = std::fs::read_link(&ours) else {
            continue;
        };
        let t = std::fs::read_link(&theirs)
            .map_err(|e| Error::io("reading the container's namespace", &theirs, e))?;
        if t != o {
            let fd = open(
                theirs.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("opening {theirs}"))?;
            out.push((flag, fd));
        }
    }
    Ok(out)
}

/// What the child needs.
struct Job<'a> {
    process: &'a Process,
    args: &'a [std::ffi::CString],
    env: &'a [std::ffi::CString],
    joins: &'a [(CloneFlags, OwnedFd)],
    /// The init's root, when the container has no mount namespace to join.
    chroot: Option<&'a OwnedFd>,
    preserve_fds: u32,
    console: Option<&'a OwnedFd>,
    seccomp: Option<&'a crate::seccomp::Filter>,
    cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// The v1 `tasks` files to write `0` to (`None`: a systemd cgroup, joined by `add_pid`).
    join: Option<&'a [OwnedFd]>,
    /// The `tasks` files of the container's Intel RDT groups, to write `0` to.
    rdt: &'a [OwnedFd],
    /// The container's `linux` section (personality, memory policy).
    linux: Option<&'a oci_spec::runtime::Linux>,
    /// The AppArmor profile the program starts in.
    apparmor: Option<&'a str>,
    /// The SELinux label the program starts with.
    selinux: Option<&'a str>,
    /// Wait for `Go` before anything else: the parent has systemd put the process in the
    /// container's scope.
    await_attach: bool,
    /// The container id, when the process joins the container's session keyring.
    keyring: Option<&'a str>,
    trampoline: Option<std::os::fd::BorrowedFd<'a>>,
}

fn run_child(job: &Job<'_>, chan: &Channel) -> ! {
    let err = match child_steps(job, chan) {
        Ok((program, env)) => {
            // As runc: on the process's stderr, exit status 255.
            let report = crate::exeguard::Report { status: 255 };
            crate::exeguard::exec(&program, job.args, &env, job.trampoline, &report)
        }
        Err(e) => e,
    };
    let _ = chan.send(&Msg::Failed {
        step: "exec".into(),
        message: err.to_string(),
    });
    std::process::exit(127)
}

fn child_steps(
    job: &Job<'_>,
    chan: &Channel,
) -> Result<(std::ffi::CString, Vec<std::ffi::CString>)> {
    // A copy of the runtime about to enter the container: non-dumpable from birth, so that no
    // container process can open its /proc/<pid>/{exe,fd} (see exeguard).
    crate::exeguard::non_dumpable()?;
    // Every signal at its default action and none blocked, as the init (see there).
    sys::default_signal_actions().ctx(|| "resetting the signal actions".into())?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .ctx(|| "resetting the signal mask".into())?;
    crate::procattrs::exec_affinity(job.process, true)?;
    // Into the container's cgroup(s) first ("0" = the writer), so nothing forked escapes it:
    // v2 at the clone, v1 by its tasks files (see cgroups::join_self), or put there by systemd.
    match (job.cgroup, job.join) {
        _ if job.await_attach => match chan.recv()? {
            Some(Msg::Go { .. }) => {}
            other => return Err(Error::Init(format!("expected Go, got {other:?}"))),
        },
        (_, Some(files)) => crate::cgroups::join_self(files)?,
        (Some(cg), None) => cg.driver().add_pid(0)?,
        (None, None) => {}
    }
    crate::intelrdt::join_self(job.rdt)?;
    crate::procattrs::exec_affinity(job.process, false)?;
    let mut in_userns = false;
    for (flag, fd) in job.joins {
        setns(fd.as_fd(), *flag).ctx(|| format!("joining the container's {flag:?} namespace"))?;
        in_userns |= *flag == CloneFlags::CLONE_NEWUSER;
    }
    if let Some(root) = job.chroot {
        nix::unistd::fchdir(root).ctx(|| "fchdir to the container's root".into())?;
        nix::unistd::chroot(".").ctx(|| "chroot to the container's root".into())?;
    }
    // A PID (or time) namespace applies to children only: fork into it.
    crate::sync::fork_and_report(chan)?;
    if let Some(id) = job.keyring {
        crate::keyring::join(id, job.selinux)?;
    }
    if job.process.terminal().unwrap_or(false) {
        nix::unistd::setsid().ctx(|| "setsid".into())?;
        let root = open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| "opening /".into())?;
        let pty = console::open_pty(root.as_fd())?;
        console::set_size(&pty, crate::init::console_size(job.process))?;
        console::give_to(&pty.slave, job.process.user().uid())?;
        console::attach(&pty.slave)?;
        match job.console {
            Some(sock) => console::send_master(sock.as_fd(), &pty.master)?,
            None => chan.send_with_fd(&Msg::Pty, pty.master.as_fd())?,
        }
    }
    crate::procattrs::apply(job.process, job.linux)?;
    // As the init: before the seccomp filter and the capability drop.
    if let Some(profile) = job.apparmor {
        crate::lsm::apply_apparmor(profile)?;
    }
    if let Some(label) = job.selinux {
        crate::lsm::apply_selinux(label)?;
    }
    // The container's filter, in the init's order (see init.rs).
    let may_setgroups = crate::process::before_seccomp(job.process, in_userns, job.preserve_fds)?;
    let nnp = job.process.no_new_privileges().unwrap_or(false);
    if let Some(filter) = job.seccomp.filter(|_| !nnp) {
        crate::process::load_seccomp(filter, chan)?;
    }
    crate::process::finalize(job.process, may_setgroups)?;
    // As the init (and runc): HOME from the container's /etc/passwd when the env has none.
    let env = crate::process::with_home(job.env, nix::unistd::getuid().as_raw());
    let last = job.seccomp.filter(|_| nnp);
    let program = crate::process::ready(job.args, &env, chan, last)?;
    Ok((program, env))
}

/// After Ready, the child's end of the channel is closed by its execve (close-on-exec): EOF
/// means the program (through the trampoline) is being exec'd, as `start` waits for the init.
/// Nothing may come in between: a message then is out of turn, ends the exchange (the caller
/// kills the process), and its text is not repeated as the runtime's. A program that cannot
/// be exec'd says so on its stderr and in its exit status (255), as under runc. `check` is
/// called while nothing comes (a frozen cgroup ends the wait with its own error).
fn exec_done(chan: &Channel, check: &mut dyn FnMut() -> Result<()>) -> Result<()> {
    let mut checked = false;
    let got = chan.recv_watched(&mut || {
        let r = check();
        checked = r.is_err();
        r
    });
    match got {
        Ok(None) => Ok(()),
        Err(e) if checked => Err(e),
        Ok(Some(_)) | Err(_) => Err(Error::Init(
            "the exec'd process broke the sync protocol after Ready: killed".into(),
        )),
    }
}

/// Drive the child to Ready: the exec'd process's host PID and its pty master, if sent back.
fn drive(
    chan: &Channel,
    intermediate: Pid,
    seccomp: Option<&crate::seccomp::Filter>,
    stored: &crate::state::Stored,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<(Pid, Option<OwnedFd>)> {
    let mut pid = None;
    let mut pty = None;
    let result = loop {
        let msg = match chan.recv_watched(check) {
            Ok(m) => m,
            Err(e) => break Err(e),
        };
        match msg {
            Some((Msg::Pid(p), _)) => {
                pid = Some(Pid::from_raw(p));
                super::reap_within(intermediate, super::REAP_LIMIT);
            }
            Some((Msg::Pty, Some(fd))) => pty = Some(fd),
            Some((Msg::SeccompListener, Some(fd))) => {
                let from = pid.unwrap_or(intermediate);
                if let Err(e) = super::relay_seccomp_listener(seccomp, stored, "running", from, fd)
                {
                    break Err(e);
                }
            }
            Some((Msg::Ready, _)) => match pid {
                Some(p) => {
                    break exec_done(chan, check).map(|()| {
                        crate::exeguard::past_trampoline(p);
                        (p, pty)
                    })
                }
                None => break Err(Error::Init("exec process sent Ready before its PID".into())),
            },
            Some((Msg::Failed { message, .. }, _)) => break Err(super::start_failure(&message)),
            Some((other, _)) => {
                break Err(Error::Init(format!(
                    "unexpected message from exec: {other:?}"
                )))
            }
            None => {
                let why = super::reap_reason(intermediate);
                break Err(Error::Init(format!(
                    "exec process exited before it was ready ({why})"
                )));
            }
        }
    };
    if result.is_err() {
        if let Some(p) = pid {
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = nix::sys::signal::kill(intermediate, nix::sys::signal::Signal::SIGKILL);
        super::reap_within(intermediate, super::REAP_LIMIT);
    }
    result
}
