//! `restore`: make a container of the bundle from a checkpoint with CRIU's RESTORE request,
//! as runc does: the state dir and cgroup made as by `create` (CRIU itself is put in the
//! cgroup, and restores the processes there), the rootfs bound on `<state>/criu-root` as
//! CRIU's root (it must be a mount point), the mount points made in the rootfs, the external
//! mounts and namespaces mapped back, the stdio pipes handed over with `inherit_fd`. CRIU
//! notifies "setup-namespaces" (the prestart and createRuntime hooks run then),
//! "orphan-pts-master" (a new pty master, for `--console-socket` or the foreground relay) and
//! "post-restore". The restored init is this process's child (`rst_sibling`); the container is
//! then running and goes on as any other. A failed restore leaves nothing behind.
//! Runs in the runtime process.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::SigmaskHow;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

use super::create::{checked_cgroup, hook_state, record_pid, Cleanup};
use super::criu_opts::{self, CriuFlags};
use super::foreground;
use crate::cgroups::Cgroup;
use crate::criu::{self, rpc, Criu, Handler, Spawn};
use crate::error::{Error, Result, SysContext};
use crate::spec::Plan;
use crate::state::{self, Root, StateDir, Stored};

/// Options of `restore`.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The state root.
    pub root: PathBuf,
    /// Container id (a new container).
    pub id: String,
    /// Bundle directory; relative image and work paths are taken from it, as runc does.
    pub bundle: PathBuf,
    /// The flags shared with `checkpoint`.
    pub criu: CriuFlags,
    /// `--detach`: return once restored; otherwise wait for the container and delete it.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`: receives the restored terminal's new pty master.
    pub console_socket: Option<PathBuf>,
    /// `--no-subreaper`: a foreground restore does not reap orphans.
    pub no_subreaper: bool,
    /// `--no-pivot`: accepted as by runc, with nothing to change: CRIU makes the restored
    /// mount namespace and its root itself, from the images.
    pub no_pivot: bool,
    /// `--lsm-profile TYPE:NAME` (CRIU 3.16+).
    pub lsm_profile: Option<String>,
    /// `--lsm-mount-context` (CRIU 3.16+).
    pub lsm_mount_context: Option<String>,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
}

const LOG: &str = "restore.log";

/// Restore; returns the exit code for `hako restore` (the container's when in the
/// foreground) and warnings.
pub fn restore(o: &RestoreOptions) -> Result<(i32, Vec<String>)> {
    let bundle = std::fs::canonicalize(&o.bundle).map_err(|e| Error::io("bundle", &o.bundle, e))?;
    // The state root, if it exists yet: its cache may hold the compiled seccomp program.
    let state_root = Root::open(&o.root)?;
    let cache = state_root.as_ref().map(Root::as_fd);
    let plan = crate::spec::validate(crate::spec::load(&bundle)?, &bundle, cache)?;
    crate::rootless::check(&plan)?;
    // CRIU knows nothing of resctrl: refused rather than restored without it.
    if plan.intel_rdt.is_some() {
        return Err(Error::config(
            "linux.intelRdt",
            "a container cannot be restored into an Intel RDT group",
        ));
    }
    // As runc, CRIU restores the network namespace empty: moved-in devices would be lost.
    if !plan.net_devices.is_empty() {
        return Err(Error::config(
            "linux.netDevices",
            "devices moved into the container cannot be restored (CRIU restores an empty network namespace)",
        ));
    }
    let terminal = plan
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && o.console_socket.is_none() && o.detach {
        return Err(Error::Lifecycle(
            "cannot allocate tty if hako will detach without setting console socket".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Lifecycle(
            "cannot use console socket if hako will not allocate tty".into(),
        ));
    }
    // Relative image and work paths are the bundle's, as for runc (it works from there).
    let flags = CriuFlags {
        image_path: Some(bundle.join(o.criu.images())),
        work_path: o.criu.work_path.as_ref().map(|w| bundle.join(w)),
        ..o.criu.clone()
    };
    let images = flags.images();
    let images_fd = criu_opts::open_dir(&images, false, "--image-path")?;
    let descriptors = criu_opts::load_descriptors(&images)?;
    // The flags are checked before CRIU is asked anything.
    let mut opts = flags.opts(LOG)?;
    let c = Criu::new(flags.criu.as_deref());
    let version = c.version()?;
    version.require(30_000, "restore")?;
    if o.lsm_profile.is_some() {
        version.require(31_600, "--lsm-profile")?;
    }
    if o.lsm_mount_context.is_some() {
        version.require(31_600, "--lsm-mount-context")?;
    }
    if flags.lazy_pages {
        let mut want = rpc::Criu_features::new();
        want.set_lazy_pages(true);
        c.require_features(want)?;
    }
    let console = match &o.console_socket {
        Some(p) => Some(crate::console::connect(p)?),
        None => None,
    };
    opts.set_images_dir_fd(images_fd.as_raw_fd());
    let (_work_fd, log_dir) = flags.work_dir(&images, &mut opts)?;
    let log = log_dir.join(LOG);
    // Only what the kernel restores from the images: the root stays as the images say.
    opts.set_evasive_devices(true);
    opts.set_rst_sibling(true);
    if let Some(p) = &o.lsm_profile {
        opts.set_lsm_profile(p.clone());
    }
    if let Some(c) = &o.lsm_mount_context {
        opts.set_lsm_mount_context(c.clone());
    }
    criu_opts::config_file(&plan.spec, &mut opts);
    let ns_fds = namespaces(&plan, version, &mut opts)?;
    inherit_stdio(&descriptors, &mut opts);
    let set = if o.detach {
        None
    } else {
        Some(foreground::block_signals_with(!o.no_subreaper)?)
    };
    let state_root = match state_root {
        Some(r) => r,
        None => Root::create(&o.root)?,
    };
    let result = make_and_restore(o, &state_root, &plan, &c, opts, ns_fds, console, &log);
    let (restored, sd) = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(set) = set {
                let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
            }
            return Err(e);
        }
    };
    drop(images_fd);
    let Some(set) = set else {
        return Ok((0, Vec::new()));
    };
    drop(sd);
    if let Some(m) = &restored.pty {
        foreground::nonblocking(m)?;
    }
    let code = foreground::wait(restored.pid, &set, restored.pty);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    let warnings = super::delete::delete(&o.root, &o.id, true)?;
    Ok((code?, warnings))
}

/// What a successful restore leaves for the foreground.
struct Restored {
    pid: Pid,
    pty: Option<OwnedFd>,
}

/// Make the state dir and cgroup, run CRIU, record the restored container; on failure
/// remove all of it (and kill anything restored).
#[allow(clippy::too_many_arguments)]
fn make_and_restore(
    o: &RestoreOptions,
    state_root: &Root,
    plan: &Plan,
    c: &Criu,
    mut opts: rpc::Criu_opts,
    ns_fds: Vec<OwnedFd>,
    console: Option<OwnedFd>,
    log: &Path,
) -> Result<(Restored, StateDir)> {
    let sd = StateDir::create(state_root, &o.id)?;
    let mut guard = Cleanup {
        sd: &sd,
        child: None,
        init: None,
        armed: true,
        cgroup: None,
        host_mounts: None,
        rdt: None,
    };
    let annotations = plan.spec.annotations().clone().unwrap_or_default();
    let systemd = o.systemd_cgroup.then_some(&annotations);
    guard.cgroup = checked_cgroup(plan, &o.id, systemd)?;
    let resources = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref());
    let stored = stored(plan, o, guard.cgroup.as_ref());
    sd.save(&stored)?;
    if let Some(cg) = guard.cgroup.as_mut() {
        cg.prepare(resources)?;
        cg.setup(resources)?;
    }
    let root = CriuRoot::bind(&sd.path, &plan.rootfs)?;
    make_mountpoints(plan)?;
    opts.set_root(root.path.to_string_lossy().into_owned());
    add_external_mounts(plan, guard.cgroup.as_ref(), &mut opts);
    let mut req = criu::request(rpc::Criu_req_type::RESTORE);
    req.opts = protobuf::MessageField::some(opts);
    let mut handler = Restoring {
        sd: &sd,
        plan,
        cgroup: guard.cgroup.as_ref(),
        console,
        pty: None,
        pid: None,
    };
    let spawn = Spawn {
        stdio: true,
        fds: ns_fds,
    };
    let resp = c.call(req, spawn, &mut handler);
    let (pty, notified) = (handler.pty.take(), handler.pid);
    drop(handler);
    guard.init = notified;
    let resp = resp.map_err(|e| criu::with_log(e, log))?;
    drop(root);
    let pid = match (resp.restore.as_ref().map(|r| r.pid()), notified) {
        (Some(p), _) if p > 0 => Pid::from_raw(p),
        (_, Some(p)) => p,
        _ => {
            return Err(Error::Criu {
                what: "criu restore answered without the restored process".into(),
                log: Some(log.to_path_buf()),
            })
        }
    };
    guard.init = Some(pid);
    finish(&sd, plan, o, stored, pid)?;
    guard.armed = false;
    drop(guard);
    Ok((Restored { pid, pty }, sd))
}

/// state.json of the container being restored (`creating` until CRIU is done).
fn stored(plan: &Plan, o: &RestoreOptions, cg: Option<&Cgroup>) -> Stored {
    Stored {
        id: o.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: state::now_rfc3339(),
        owner: crate::passwd::user_name(nix::unistd::geteuid().as_raw()),
        annotations: plan.spec.annotations().clone().unwrap_or_default(),
        creating: true,
        cgroup_paths: cg.map(Cgroup::paths).unwrap_or_default(),
        systemd_unit: cg.and_then(Cgroup::systemd_unit),
        systemd_user: cg.and_then(Cgroup::systemd_user),
        no_new_keyring: false,
    }
}

/// Record the restored container as running: its init, the config and seccomp filter
/// `exec` reads, the pid file.
fn finish(sd: &StateDir, plan: &Plan, o: &RestoreOptions, stored: Stored, pid: Pid) -> Result<()> {
    let (pid_start, _) = state::proc_stat(pid.as_raw())
        .ok_or_else(|| Error::Init(format!("restored init {pid} exited during restore")))?;
    sd.save_config(&plan.spec)?;
    if let Some(bytes) = crate::seccomp::saved_form(plan.seccomp.as_ref())? {
        sd.write(crate::seccomp::SAVED, &bytes)?;
    }
    sd.save(&Stored {
        pid: pid.as_raw(),
        pid_start,
        creating: false,
        created: state::now_rfc3339(),
        ..stored
    })?;
    match &o.pid_file {
        Some(pf) => super::pidfile::write(pf, pid),
        None => Ok(()),
    }
}

/// Restore-time answers to CRIU's notifications.
struct Restoring<'a> {
    sd: &'a StateDir,
    plan: &'a Plan,
    cgroup: Option<&'a Cgroup>,
    console: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    pid: Option<Pid>,
}

impl Handler for Restoring<'_> {
    /// Put CRIU in the container's cgroup (it restores the processes where it is) and tell it
    /// where that is in each hierarchy.
    fn spawned(&mut self, pid: Pid, req: &mut rpc::Criu_req) -> Result<()> {
        let Some(cg) = self.cgroup else {
            return Ok(());
        };
        cg.place(pid)?;
        if cg.systemd_unit().is_none() {
            cg.driver().add_pid(pid.as_raw())?;
        }
        let own = crate::procfs::read_text(format!("/proc/{pid}/cgroup"))
            .map_err(|e| Error::io("reading", format!("/proc/{pid}/cgroup"), e))?;
        let opts = req.opts.mut_or_insert_default();
        for (ctrl, path) in cgroup_roots(&own) {
            let mut r = rpc::Cgroup_root::new();
            r.set_ctrl(ctrl);
            r.set_path(path);
            opts.cg_root.push(r);
        }
        Ok(())
    }

    fn notify(&mut self, script: &str, pid: i32, fd: Option<OwnedFd>) -> Result<()> {
        match script {
            // The namespaces exist, nothing runs yet: the hooks create would run now.
            "setup-namespaces" => {
                let state = hook_state(self.sd, Pid::from_raw(pid))?;
                let hooks = self.plan.spec.hooks();
                // As create's: in the bundle, with the runtime's environment.
                let ctx = crate::hooks::Context {
                    cwd: Some(&self.plan.bundle),
                    env: None,
                };
                let bytes = state.as_bytes();
                crate::hooks::run(crate::hooks::Kind::Prestart, hooks, bytes, &ctx)?;
                crate::hooks::run(crate::hooks::Kind::CreateRuntime, hooks, bytes, &ctx)?;
            }
            "post-restore" => {
                let pid = Pid::from_raw(pid);
                self.pid = Some(pid);
                record_pid(self.sd, pid)?;
            }
            "orphan-pts-master" => {
                let master = fd.ok_or_else(|| Error::Criu {
                    what: "criu sent orphan-pts-master without the pty master".into(),
                    log: None,
                })?;
                match &self.console {
                    Some(sock) => crate::console::send_master(sock.as_fd(), &master)?,
                    None => self.pty = Some(master),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `/proc/<pid>/cgroup` as CRIU's `cg_root` entries: each controller (`""` for the unified
/// tree, `name=systemd` for named ones) and its path.
fn cgroup_roots(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for c in ctrls.split(',') {
            out.push((c.to_string(), path.to_string()));
        }
    }
    out
}

/// Namespaces of the config joined by path: network and PID are handed to CRIU as the
/// external namespaces the checkpoint named (an fd it inherits); the others it joins; a
/// cgroup namespace it cannot (runc's refusal).
fn namespaces(plan: &Plan, v: criu::Version, o: &mut rpc::Criu_opts) -> Result<Vec<OwnedFd>> {
    let mut fds = Vec::new();
    for (kind, path) in criu_opts::joined(&plan.spec) {
        let name = criu_opts::ns_name(kind);
        match kind {
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid => {
                let min = if kind == LinuxNamespaceType::Pid {
                    31_500
                } else {
                    31_100
                };
                v.require(min, &format!("restoring into an external {name} namespace"))?;
                let fd = open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .ctx(|| format!("opening the {name} namespace {}", path.display()))?;
                let mut i = rpc::Inherit_fd::new();
                i.set_key(criu_opts::ns_key(kind));
                i.set_fd(fd.as_raw_fd());
                o.inherit_fd.push(i);
                fds.push(fd);
            }
            LinuxNamespaceType::Cgroup => {
                return Err(Error::Lifecycle(format!(
                    "linux.namespaces: criu cannot restore into the cgroup namespace {}",
                    path.display()
                )))
            }
            _ => {
                let mut j = rpc::Join_namespace::new();
                j.set_ns(name.into());
                j.set_ns_file(path.to_string_lossy().into_owned());
                o.join_ns.push(j);
            }
        }
    }
    Ok(fds)
}

/// The init's stdio that were pipes at checkpoint get this process's stdin, stdout and
/// stderr (CRIU's, which it inherits), as runc hands them over.
fn inherit_stdio(descriptors: &[String], o: &mut rpc::Criu_opts) {
    for (n, d) in descriptors.iter().enumerate().take(3) {
        if d.contains("pipe:") {
            let mut i = rpc::Inherit_fd::new();
            i.set_key(d.clone());
            i.set_fd(n as i32);
            o.inherit_fd.push(i);
        }
    }
}

/// The external mounts of the checkpoint mapped to this host: bind mounts to their sources,
/// masked files to /dev/null, device nodes to the host's.
fn add_external_mounts(plan: &Plan, cg: Option<&Cgroup>, o: &mut rpc::Criu_opts) {
    let dirs = cg.map(Cgroup::paths).unwrap_or_default();
    for (dest, src) in criu_opts::external_mounts(&plan.spec, &plan.bundle, &plan.rootfs, &dirs) {
        o.ext_mnt.push(criu_opts::ext_mount(&dest, &src));
    }
    if criu_opts::has_masked(&plan.spec) {
        let null = Path::new("/dev/null");
        o.ext_mnt.push(criu_opts::ext_mount(null, null));
    }
}

/// Make each mount's mount point, as create would have (CRIU mounts on what exists): in the
/// rootfs, or, under an earlier bind mount, in that mount's source; not under a tmpfs (CRIU
/// restores its content) nor for cgroup mounts. Resolved inside each base (RESOLVE_IN_ROOT).
fn make_mountpoints(plan: &Plan) -> Result<()> {
    let under = |p: &Path, top: &Path| p != top && p.starts_with(top);
    for (i, m) in plan.mounts.iter().enumerate() {
        let in_tmpfs = plan
            .mounts
            .iter()
            .any(|t| t.fstype == "tmpfs" && under(&m.destination, &t.destination));
        if in_tmpfs || m.fstype.starts_with("cgroup") {
            continue;
        }
        let outer = plan.mounts[..i]
            .iter()
            .rev()
            .find(|b| b.options.is_bind() && under(&m.destination, &b.destination));
        let (base, rel) = match outer {
            Some(b) => (
                b.source.as_path(),
                m.destination
                    .strip_prefix(&b.destination)
                    .unwrap_or(&m.destination),
            ),
            None => (plan.rootfs.as_path(), m.destination.as_path()),
        };
        let what = || {
            format!(
                "making the mount point of mounts[{}] ({}) for restore",
                m.index,
                m.destination.display()
            )
        };
        let root = open(
            base,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(what)?;
        let file = m.options.is_bind() && !m.source.is_dir();
        let made = if file {
            crate::paths::create_file(root.as_fd(), rel)
        } else {
            crate::paths::mkdir_all(root.as_fd(), rel)
        };
        made.ctx(what)?;
    }
    Ok(())
}

/// The rootfs bound (recursively) on `<state dir>/criu-root`: CRIU wants a root that is a
/// mount point whose parent is not overmounted. Unmounted and removed when dropped.
struct CriuRoot {
    path: PathBuf,
}

impl CriuRoot {
    fn bind(state_dir: &Path, rootfs: &Path) -> Result<CriuRoot> {
        let path = state_dir.join("criu-root");
        std::fs::create_dir(&path).map_err(|e| Error::io("creating", &path, e))?;
        let root = CriuRoot { path };
        mount(
            Some(rootfs),
            &root.path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| {
            format!(
                "binding the rootfs {} on {}",
                rootfs.display(),
                root.path.display()
            )
        })?;
        Ok(root)
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_roots_per_controller() {
        let text = "0::/a/b\n4:cpu,cpuacct:/c\n1:name=systemd:/d\n";
        assert_eq!(
            cgroup_roots(text),
            vec![
                ("".into(), "/a/b".into()),
                ("cpu".into(), "/c".into()),
                ("cpuacct".into(), "/c".into()),
                ("name=systemd".into(), "/d".into()),
            ]
        );
    }

    #[test]
    fn only_pipes_are_inherited() {
        let mut o = rpc::Criu_opts::new();
        let d = vec![
            "/dev/null".to_string(),
            "pipe:[12]".into(),
            "pipe:[13]".into(),
        ];
        inherit_stdio(&d, &mut o);
        let got: Vec<(String, i32)> = o
            .inherit_fd
            .iter()
            .map(|i| (i.key().to_string(), i.fd()))
            .collect();
        assert_eq!(got, vec![("pipe:[12]".into(), 1), ("pipe:[13]".into(), 2)]);
    }
}
