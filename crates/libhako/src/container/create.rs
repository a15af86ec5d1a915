//! `create`: validate the bundle, make the state dir, clone the init into its namespaces, drive
//! it through the sync protocol to Ready, and record the state. On any failure everything made
//! so far (process, cgroup, state dir) is removed before the error is returned.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use crate::cgroups;
use crate::console;
use crate::crashpoint::{self, Step};
use crate::error::{Error, Result, SysContext};
use crate::init::{self, InitArgs};
use crate::namespaces::{self, Strategy};
use crate::pidfd_socket;
use crate::spec::{self, Plan};
use crate::state::{self, Root, StateDir, Stored};
use crate::sync::{self, Channel, Msg};
use crate::sys::{self, Forked};
use crate::trace;

/// Options of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The state root (`--root`).
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`: the processes keep the caller's session keyring.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// Socket-activation fds handed to the runtime (`LISTEN_FDS` for our pid): passed on at
    /// 3.., before the `--preserve-fds` ones, with `LISTEN_FDS=N` and `LISTEN_PID=1` added to
    /// the process environment, as runc does.
    pub listen_fds: u32,
    /// `--console-socket`: where the pty master goes when `process.terminal` is set.
    pub console_socket: Option<PathBuf>,
    /// `--pidfd-socket`: where a pidfd of the init goes.
    pub pidfd_socket: Option<PathBuf>,
    /// Whether the runtime detaches after create (`create`, `run -d`): a terminal then needs a
    /// console socket, as runc requires.
    pub detach: bool,
    /// `--systemd-cgroup`: the cgroup is a transient systemd unit.
    pub systemd_cgroup: bool,
}

/// A created container.
pub struct Created {
    /// Host PID of the init.
    pub pid: Pid,
    /// Warnings from validation, for the CLI to print.
    pub warnings: Vec<String>,
    /// The pty master, for a foreground `run` with a terminal and no console socket.
    pub pty: Option<OwnedFd>,
}

/// A container just created by this process, still locked: what `run` needs to start it,
/// and later delete it, without reading back what it has just written.
pub(crate) struct Held {
    pub created: Created,
    pub sd: StateDir,
    pub stored: Stored,
    pub hooks: Option<oci_spec::runtime::Hooks>,
    pub cgroup: Option<cgroups::Cgroup>,
    pid_file: Option<PathBuf>,
    /// With an init that execs right after Ready (no exec fifo): the channel, whose end in
    /// the init is closed by that exec.
    pub chan: Option<Channel>,
}

/// Create the container; the init waits for `start`.
pub fn create(opts: &CreateOptions) -> Result<Created> {
    create_held(opts, true, false).map(|h| h.created)
}

/// [`create`], keeping the state dir locked and what was recorded. Without `finish` the
/// caller calls [`Held::finish`] itself. With `at_once` (`run`) the init does not wait for
/// `start` on an exec fifo but execs right after Ready (when it is this process's child), and
/// the last write of state.json overlaps with the program's start rather than delaying it.
pub(crate) fn create_held(opts: &CreateOptions, finish: bool, at_once: bool) -> Result<Held> {
    let bundle =
        std::fs::canonicalize(&opts.bundle).map_err(|e| Error::io("bundle", &opts.bundle, e))?;
    // The state root, if it exists yet: its cache may hold the compiled seccomp program.
    let root = Root::open(&opts.root)?;
    let cache = root.as_ref().map(Root::as_fd);
    let mut plan = spec::validate(spec::load(&bundle)?, &bundle, cache)?;
    trace::step("config validated");
    if at_once && plan.spec.process().is_none() {
        return Err(Error::config(
            "process",
            "not set in config.json: nothing to run",
        ));
    }
    // CVE-2019-5736: the init is a copy of this process; see exeguard. Before anything is
    // made: this may re-exec the runtime.
    // An AppArmor profile or SELinux label applies at the next execve: no trampoline.
    let lsm_transition = plan.spec.process().as_ref().is_some_and(|p| {
        crate::lsm::apparmor_profile(p).is_some() || crate::lsm::selinux_label(p).is_some()
    });
    let trampoline = crate::exeguard::prepare(plan.seccomp.as_ref(), lsm_transition)?;
    crate::rootless::check(&plan)?;
    crate::process::preserved_fds(opts.listen_fds, opts.preserve_fds)?;
    if opts.listen_fds > 0 {
        for kv in [
            format!("LISTEN_FDS={}", opts.listen_fds),
            "LISTEN_PID=1".into(),
        ] {
            let key = kv.split('=').next().unwrap_or_default().to_string();
            plan.env
                .retain(|e| !e.to_bytes().starts_with(format!("{key}=").as_bytes()));
            plan.env.push(
                std::ffi::CString::new(kv).map_err(|_| Error::config("LISTEN_FDS", "NUL byte"))?,
            );
        }
    }
    crate::idmap::prepare(&mut plan)?;
    let terminal = plan
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.detach {
        return Err(Error::Lifecycle(
            "cannot allocate tty if hako will detach without setting console socket".into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Lifecycle(
            "cannot use console socket if hako will not allocate tty".into(),
        ));
    }
    let console = match (&opts.console_socket, terminal) {
        (Some(path), true) => Some(console::connect(path)?),
        _ => None,
    };
    let pidfd_socket = opts
        .pidfd_socket
        .as_deref()
        .map(pidfd_socket::connect)
        .transpose()?;
    let root = match root {
        Some(r) => r,
        None => Root::create(&opts.root)?,
    };
    let sd = StateDir::create(&root, &opts.id)?;
    crashpoint::at(Step::StateDir);
    trace::step("state dir");
    let mut guard = Cleanup {
        sd: &sd,
        child: None,
        init: None,
        armed: true,
        cgroup: None,
        host_mounts: None,
        rdt: plan
            .intel_rdt
            .as_ref()
            .map(|(r, cfg)| crate::intelrdt::Group::new(r, cfg, &opts.id)),
    };
    // After validation, before the clone: the init is placed in it before `Go`.
    let linux = plan.spec.linux().as_ref();
    let resources = linux.and_then(|l| l.resources().as_ref());
    let annotations = plan.spec.annotations().clone().unwrap_or_default();
    let systemd = opts.systemd_cgroup.then_some(&annotations);
    // Before the guard owns the cgroup: a failed create thaws what it owns.
    guard.cgroup = checked_cgroup(&plan, &opts.id, systemd)?;
    let warnings: Vec<String> = plan
        .warnings
        .iter()
        .cloned()
        .chain(
            guard
                .cgroup
                .iter()
                .flat_map(|c| c.kernel_memory_warnings(resources)),
        )
        .collect();
    let stored = Stored {
        id: opts.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: crate::passwd::user_name(nix::unistd::geteuid().as_raw()),
        annotations,
        creating: true,
        cgroup_paths: guard
            .cgroup
            .as_ref()
            .map(cgroups::Cgroup::paths)
            .unwrap_or_default(),
        systemd_unit: guard
            .cgroup
            .as_ref()
            .and_then(cgroups::Cgroup::systemd_unit),
        systemd_user: guard
            .cgroup
            .as_ref()
            .and_then(cgroups::Cgroup::systemd_user),
        no_new_keyring: opts.no_new_keyring,
    };
    // Recorded before the cgroup is made (and the init's PID as soon as it exists): whenever
    // this process dies, state.json names what `delete --force` must remove.
    sd.save(&stored)?;
    if !plan.has(nix::sched::CloneFlags::CLONE_NEWNS) {
        // The init's mounts go to our mount namespace: delete (or a failure) unmounts them.
        sd.write(crate::rootfs::hostns::MARKER, b"")?;
        guard.host_mounts = Some(&plan.rootfs);
    }
    // Only what clone3 needs now; the rest of the cgroup is made while the init unshares.
    let into = match guard.cgroup.as_mut() {
        Some(cgroup) => cgroup.prepare(resources)?,
        None => None,
    };
    trace::step("cgroup: clone target");
    // An init that is our own child (no fork into its PID namespace) can exec at once.
    let at_once = at_once && !namespaces::strategy(&plan.namespaces).fork;
    if !at_once {
        sd.make_fifo()?;
    }
    let (init_pid, pty, chan) = spawn(
        &plan,
        opts,
        (!at_once).then_some(sd.as_fd()),
        console.as_ref(),
        trampoline.as_ref().map(AsFd::as_fd),
        into,
        &mut guard,
    )?;
    if let Some(socket) = &pidfd_socket {
        pidfd_socket::send(socket.as_fd(), init_pid, pidfd_socket::Kind::Init)?;
    }
    crashpoint::at(Step::ExecFifo);
    let stored = Stored {
        pid: init_pid.as_raw(),
        ..stored
    };
    guard.armed = false;
    let cgroup = guard.cgroup.take();
    drop(guard);
    let mut held = Held {
        created: Created {
            pid: init_pid,
            warnings,
            pty,
        },
        sd,
        stored,
        hooks: plan.spec.hooks().clone(),
        cgroup,
        pid_file: opts.pid_file.clone(),
        chan: at_once.then_some(chan),
    };
    if finish {
        held.finish()?;
    }
    // Only now, so that a create that fails leaves nothing under the root.
    crate::seccomp::remember(plan.seccomp.as_ref(), root.as_fd());
    Ok(held)
}

impl Held {
    /// Record the container as created: state.json (no longer "creating") and the pid file.
    /// On failure everything is removed, as for any failed create.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let pid = self.created.pid;
        let done = state::proc_stat(pid.as_raw())
            .ok_or_else(|| Error::Init(format!("container init {pid} exited during create")))
            .and_then(|(pid_start, _)| {
                let stored = Stored {
                    pid_start,
                    creating: false,
                    ..self.stored.clone()
                };
                self.sd.save(&stored)?;
                self.stored = stored;
                match &self.pid_file {
                    Some(pf) => super::pidfile::write(pf, pid),
                    None => Ok(()),
                }
            });
        if done.is_err() {
            drop(Cleanup {
                sd: &self.sd,
                child: None,
                init: Some(pid),
                armed: true,
                cgroup: self.cgroup.take(),
                host_mounts: (self.sd.has(crate::rootfs::hostns::MARKER))
                    .then_some(self.stored.rootfs.as_path()),
                rdt: None,
            });
            let _ =
                crate::intelrdt::destroy_saved(self.sd.read(crate::intelrdt::SAVED).ok().flatten());
        }
        done
    }
}

/// Clone the init (into the cgroup directory `into`, if any) and drive it to Ready; returns
/// the init's host PID, the pty master it sent back, if any, and the channel.
fn spawn(
    plan: &Plan,
    opts: &CreateOptions,
    fifo: Option<BorrowedFd<'_>>,
    console_socket: Option<&OwnedFd>,
    trampoline: Option<BorrowedFd<'_>>,
    into: Option<OwnedFd>,
    guard: &mut Cleanup<'_>,
) -> Result<(Pid, Option<OwnedFd>, Channel)> {
    let mut strategy = namespaces::strategy(&plan.namespaces);
    cgroups::defer_cgroupns(&mut strategy);
    let (parent, child) = sync::pair()?;
    match sys::clone3(
        strategy.at_clone.bits() as u64,
        into.as_ref().map(|f| f.as_raw_fd()),
    )
    .ctx(|| format!("clone3 with {:?}", strategy.at_clone))?
    {
        Forked::Child => {
            drop(parent);
            guard.sd.forget_lock_in_child();
            // The cgroup directory is a host fd the init has no use for.
            drop(into);
            init::run(InitArgs {
                plan,
                strategy,
                chan: child,
                fifo,
                no_pivot: opts.no_pivot,
                keyring: (!opts.no_new_keyring).then_some(opts.id.as_str()),
                // Checked by process::preserved_fds before anything was made.
                preserve_fds: opts.preserve_fds.saturating_add(opts.listen_fds),
                console_socket,
                trampoline,
            })
        }
        Forked::Parent(pid) => {
            drop(child);
            drop(into);
            guard.child = Some(pid);
            crashpoint::at(Step::Clone);
            let (init, pty) = drive(plan, strategy, &parent, pid, guard)?;
            Ok((init, pty, parent))
        }
    }
}

fn drive(
    plan: &Plan,
    strategy: Strategy,
    chan: &Channel,
    child: Pid,
    guard: &mut Cleanup<'_>,
) -> Result<(Pid, Option<OwnedFd>)> {
    if strategy
        .at_clone
        .contains(nix::sched::CloneFlags::CLONE_NEWUSER)
    {
        write_id_maps(plan, child)?;
    }
    if let Some(adj) = plan.spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        crate::procfs::write_pid_file(child.as_raw(), "oom_score_adj", adj.to_string().as_bytes())?;
    }
    // The init makes its namespaces meanwhile (Strategy::early).
    let mut join = None;
    if let Some(cg) = &guard.cgroup {
        let linux = plan.spec.linux().as_ref();
        cg.setup(linux.and_then(|l| l.resources().as_ref()))?;
        crashpoint::at(Step::Cgroup);
        cg.place(child)?;
        join = cg.self_join_files()?;
    }
    if let Some(rdt) = &guard.rdt {
        rdt.apply(child.as_raw())?;
        guard.sd.write(crate::intelrdt::SAVED, &rdt.saved_form()?)?;
    }
    trace::step("clone, maps, cgroup");
    // Not with systemd (no `tasks` files): its unit's directories are known only to systemd.
    // Nor with netDevices, whose exchange after Go would find the tree's message first.
    let tree_at = join
        .as_ref()
        .filter(|_| plan.net_devices.is_empty())
        .and_then(|_| crate::rootfs::cgroup_tree::index(plan));
    let join = join.unwrap_or_default();
    let fds: Vec<BorrowedFd<'_>> = join.iter().map(AsFd::as_fd).collect();
    let go = Msg::Go {
        cgroup_tree: tree_at,
    };
    if let Err(e) = chan.send_with_fds(&go, &fds) {
        // The init failed before Go (making its namespaces or early mounts): its reason.
        return Err(match chan.recv() {
            Ok(Some(Msg::Failed { message, .. })) => super::init_failure(Error::Init(message)),
            _ => e,
        });
    }
    drop(join);
    follow(plan, strategy, chan, child, tree_at, guard).map_err(super::init_failure)
}

/// After Go: what the init asks for until it is Ready (or fails).
fn follow(
    plan: &Plan,
    strategy: Strategy,
    chan: &Channel,
    child: Pid,
    tree_at: Option<usize>,
    guard: &mut Cleanup<'_>,
) -> Result<(Pid, Option<OwnedFd>)> {
    if let (Some(i), Some(cg)) = (tree_at, &guard.cgroup) {
        // While the init joins its cgroups and makes its first mounts.
        let tree = crate::rootfs::cgroup_tree::build(&plan.mounts[i], &cg.paths());
        trace::step("cgroup tree");
        let fds: Vec<BorrowedFd<'_>> = tree.iter().map(AsFd::as_fd).collect();
        // A failure here is the init's: the loop below reports it.
        let _ = chan.send_with_fds(&Msg::CgroupTree, &fds);
    }
    // After Go, while the init works: a runtime killed before this leaves an init that exits
    // when its next message finds the channel closed.
    record_pid(guard.sd, child)?;
    // What only later commands read (exec's defaults, its seccomp filter).
    guard.sd.save_config(&plan.spec)?;
    if let Some(bytes) = crate::seccomp::saved_form(plan.seccomp.as_ref())? {
        guard.sd.write(crate::seccomp::SAVED, &bytes)?;
    }
    let mut init = child;
    let mut pty = None;
    loop {
        let mut check = || guard.cgroup.as_ref().map_or(Ok(()), |c| c.refuse_frozen());
        match chan.recv_watched(&mut check)? {
            Some((Msg::Pty, Some(fd))) => pty = Some(fd),
            Some((Msg::Hooks, _)) => {
                crashpoint::at(Step::Hooks);
                let state = hook_state(guard.sd, init)?;
                let hooks = plan.spec.hooks();
                // As runc's: in the bundle directory, with the runtime's environment.
                let ctx = crate::hooks::Context {
                    cwd: Some(&plan.bundle),
                    env: None,
                };
                let bytes = state.as_bytes();
                crate::hooks::run(crate::hooks::Kind::Prestart, hooks, bytes, &ctx)?;
                crate::hooks::run(crate::hooks::Kind::CreateRuntime, hooks, bytes, &ctx)?;
                chan.send(&Msg::HooksDone { state })?;
            }
            Some((Msg::NetDevices, Some(ns))) => {
                crate::netdevices::move_into(&plan.net_devices, ns.as_fd())?;
                chan.send(&Msg::NetDevicesDone)?;
            }
            Some((Msg::MountSource { index }, _)) => {
                let fd = mount_source(plan, index)?;
                chan.send_with_fd(&Msg::MountSourceFd, fd.as_fd())?;
            }
            Some((Msg::SeccompListener, Some(fd))) => {
                let stored = guard.sd.load()?;
                super::relay_seccomp_listener(plan.seccomp.as_ref(), &stored, "creating", init, fd)?
            }
            Some((Msg::Pid(p), _)) if strategy.fork => {
                init = Pid::from_raw(p);
                guard.init = Some(init);
                record_pid(guard.sd, init)?;
                // Reap the intermediate; the init is reparented to the subreaper or PID 1.
                super::reap_within(child, super::REAP_LIMIT);
                guard.child = None;
            }
            Some((Msg::Ready, _)) => {
                trace::step("init ready");
                return Ok((init, pty));
            }
            #[cfg(feature = "crash-points")]
            Some((Msg::CrashPoint, _)) => crashpoint::die(),
            Some((Msg::Failed { message, .. }, _)) => return Err(Error::Init(message)),
            Some((other, _)) => {
                return Err(Error::Init(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
            None => {
                let why = super::reap_reason(child);
                guard.child = None;
                return Err(Error::Init(format!(
                    "container init exited before it was ready ({why})"
                )));
            }
        }
    }
}

/// A detached copy (`open_tree`) of bind mount `mounts[index]`'s source, for an init that
/// cannot reach it (see `rootfs::needs_runtime_source`). Made here, as root of the host's
/// mount namespace: runc makes it in the container's, which differs only for a source below
/// a mount made for the container.
fn mount_source(plan: &Plan, index: usize) -> Result<OwnedFd> {
    let m = plan
        .mounts
        .get(index)
        .filter(|m| m.options.is_bind())
        .ok_or_else(|| {
            Error::Init(format!(
                "the init asked for the source of mounts[{index}], no bind mount"
            ))
        })?;
    let recursive = m.options.flags.contains(nix::mount::MsFlags::MS_REC);
    crate::sys::open_tree_clone(&m.source, recursive).ctx(|| {
        format!(
            "mounts[{index}]: a copy of {} for the container's user namespace",
            m.source.display()
        )
    })
}

/// The container's cgroup (with `--systemd-cgroup`, the config's annotations, for runc's
/// `org.systemd.property.*`), planned (nothing made) and checked: rootless, none at all unless
/// the caller may write one (runc's rule); then runc's checks: what its validation refuses, a
/// cgroup in use, and a frozen one (a process joining it would never answer).
pub(super) fn checked_cgroup(
    plan: &Plan,
    id: &str,
    systemd: Option<&std::collections::HashMap<String, String>>,
) -> Result<Option<cgroups::Cgroup>> {
    let linux = plan.spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let resources = linux.and_then(|l| l.resources().as_ref());
    let cgroup = cgroups::keep_if_writable(
        cgroups::Cgroup::plan(cgroups_path, id, systemd)?,
        crate::rootless::cgroups_rootless(),
        cgroups_path,
        resources,
    )?;
    if let Some(cg) = &cgroup {
        cg.refuse_invalid(resources)?;
        cg.refuse_occupied()?;
        cg.refuse_frozen()?;
    }
    Ok(cgroup)
}

/// Record the init's PID and start time in state.json (still "creating") as soon as it exists,
/// so that `delete --force` finds it even if this process dies before `create` ends.
pub(super) fn record_pid(sd: &StateDir, pid: Pid) -> Result<()> {
    let (pid_start, _) = state::proc_stat(pid.as_raw()).unwrap_or_default();
    sd.save(&Stored {
        pid: pid.as_raw(),
        pid_start,
        ..sd.load()?
    })
}

/// The OCI state JSON the create-time hooks (prestart, createRuntime, createContainer) get on
/// stdin. Its status is "created", as runtime-spec's runtime.md has it: `creating` is step 2 of
/// the lifecycle (making the environment), `created` is after it, and these hooks are steps 3
/// to 5 (crun says so too; runc says "creating", a deliberate difference, see
/// scripts/conformance-expected.txt).
pub(super) fn hook_state(sd: &StateDir, init: Pid) -> Result<String> {
    let stored = sd.load()?;
    let entry = super::Entry {
        stored: Stored {
            pid: init.as_raw(),
            ..stored
        },
        status: crate::state::Status::Created,
        owner: String::new(),
    };
    serde_json::to_string(&entry.oci(""))
        .map_err(|e| Error::Lifecycle(format!("encoding state: {e}")))
}

/// Write `uid_map` and `gid_map` of a child born in a new user namespace: directly, or through
/// newuidmap/newgidmap for an unprivileged caller ([`crate::userns`]).
fn write_id_maps(plan: &Plan, pid: Pid) -> Result<()> {
    let Some(linux) = plan.spec.linux() else {
        return Ok(());
    };
    crate::userns::write_maps(
        pid,
        linux.uid_mappings().as_deref().unwrap_or_default(),
        linux.gid_mappings().as_deref().unwrap_or_default(),
    )
}

/// Undo a failed create: kill what was started, remove the state dir.
pub(super) struct Cleanup<'a> {
    pub sd: &'a StateDir,
    pub child: Option<Pid>,
    pub init: Option<Pid>,
    pub armed: bool,
    pub cgroup: Option<cgroups::Cgroup>,
    /// The rootfs, when the init mounts in our mount namespace (see rootfs::hostns).
    pub host_mounts: Option<&'a Path>,
    /// `linux.intelRdt`'s groups, made with the cgroup.
    pub rdt: Option<crate::intelrdt::Group>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for pid in [self.init, self.child].into_iter().flatten() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        if let Some(cg) = &self.cgroup {
            cg.thaw_own();
        }
        if let Some(child) = self.child {
            super::reap_within(child, super::REAP_LIMIT);
        }
        if let Some(rootfs) = self.host_mounts {
            let _ = crate::rootfs::hostns::unmount_below(rootfs);
        }
        if let Some(cg) = &self.cgroup {
            cg.remove_made();
        }
        if let Some(rdt) = &self.rdt {
            let _ = rdt.destroy();
        }
        let _ = self.sd.remove();
    }
}
