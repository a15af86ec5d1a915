//! cgroups: one [`Driver`] interface over the cgroup filesystem, with a v1 driver (one
//! directory per hierarchy), a v2 driver (one directory in the unified tree) and a hybrid
//! driver (v1 controllers plus the same path in the controller-less unified tree, as runc).
//! The layout is read from `/proc/self/mountinfo`.
//!
//! Runs in the runtime process only. `create` makes the cgroup after the config is validated
//! and before the clone, writes `linux.resources`, and places the init in it before `Go`
//! (on v2 at clone time with `CLONE_INTO_CGROUP`); the directories are recorded in
//! state.json (`cgroup_paths`, runc's key) so every later verb rebuilds the driver from them
//! without looking at the layout again.
//!
//! With `--systemd-cgroup` ([`systemd`]) systemd makes the cgroup as a transient unit once the
//! init exists ([`Cgroup::place`]), and the same filesystem drivers then act on the unit's
//! directory; state.json also records the unit (`systemd_unit`) for `update` and `delete`.

mod dbus;
pub mod devices;
mod fs;
mod gvariant;
pub mod layout;
pub mod resources;
pub mod stats;
pub mod systemd;
pub mod unit_annotations;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result, SysContext};
use crate::namespaces::Strategy;
pub use layout::Layout;
pub use v1::V1;
pub use v2::V2;

/// What every cgroup driver does. Directories are made by [`Driver::create`] and removed by
/// [`Driver::destroy`]; everything else acts on existing cgroups.
pub trait Driver {
    /// The container's directories, keyed as runc's `cgroup_paths` (controller name; `""` for
    /// the unified tree).
    fn paths(&self) -> BTreeMap<String, PathBuf>;
    /// Make what must exist before the clone: the directory the init is cloned into (v2,
    /// with its controllers enabled in every ancestor first: enabling them over a populated
    /// cgroup would migrate its tasks). Returns the directories made, outermost first; on
    /// error, what it made is removed again.
    fn create_clone_target(&self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
    /// Make the other directories, as [`Driver::create_clone_target`] (after it, and after the
    /// clone: the init unshares its namespaces meanwhile).
    fn create(&self) -> Result<Vec<PathBuf>>;
    /// Write `linux.resources` (an update skips the device rules, as runc does).
    fn apply(&self, r: &LinuxResources, update: bool) -> Result<()>;
    /// The v2 directory the init can be cloned into, if any.
    fn clone_into(&self) -> Option<&Path>;
    /// The v1 `tasks` files a single-threaded process writes `0` to, to move itself (see
    /// [`join_self`]); empty for v2.
    fn self_join(&self) -> Vec<PathBuf>;
    /// Move a process into the cgroup(s).
    fn add_pid(&self, pid: i32) -> Result<()>;
    /// Host PIDs of every process in the cgroup and below.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Freeze or thaw, waiting until the kernel is done.
    fn set_frozen(&self, frozen: bool) -> Result<()>;
    /// Whether the cgroup is frozen (or freezing).
    fn frozen(&self) -> bool;
    /// Where a process of the container would be frozen, if it would: the cgroup, or its
    /// nearest existing ancestor while it is not made yet (a cgroup made under a frozen one is
    /// born frozen), is frozen or freezing, by its own setting or an ancestor's.
    fn freezes(&self) -> Option<PathBuf>;
    /// Undo the cgroup's own freeze (not an ancestor's) without waiting, so that the processes
    /// just sent SIGKILL can die (a v1 freezer holds even SIGKILL).
    fn thaw_own(&self);
    /// Kill everything at once (v2 `cgroup.kill`); `None` when the kernel cannot.
    fn kill_now(&self) -> Option<Result<()>>;
    /// Statistics in runc's shape.
    fn stats(&self) -> stats::Stats;
    /// The memory cgroup directory and whether it is v2.
    fn memory_dir(&self) -> Option<(&Path, bool)>;
    /// Remove the directories (the processes must be gone).
    fn destroy(&self) -> Result<()>;
}

/// Hybrid: the v1 driver does the work; the unified directory only holds the processes.
#[derive(Debug, Clone)]
pub struct Hybrid {
    /// The v1 hierarchies.
    pub v1: V1,
    /// The container's directory in the unified tree.
    pub unified: PathBuf,
}

impl Driver for Hybrid {
    fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut p = self.v1.paths();
        p.insert(String::new(), self.unified.clone());
        p
    }
    fn create_clone_target(&self) -> Result<Vec<PathBuf>> {
        fs::mkdir_all(&self.unified)
    }
    fn create(&self) -> Result<Vec<PathBuf>> {
        self.v1.create()
    }
    fn apply(&self, r: &LinuxResources, update: bool) -> Result<()> {
        self.v1.apply(r, update)
    }
    fn clone_into(&self) -> Option<&Path> {
        Some(&self.unified)
    }
    fn self_join(&self) -> Vec<PathBuf> {
        self.v1.self_join()
    }
    fn add_pid(&self, pid: i32) -> Result<()> {
        self.v1.add_pid(pid)?;
        fs::write(&self.unified, "cgroup.procs", &pid.to_string())
    }
    fn pids(&self) -> Result<Vec<i32>> {
        self.v1.pids()
    }
    fn set_frozen(&self, frozen: bool) -> Result<()> {
        self.v1.set_frozen(frozen)
    }
    fn frozen(&self) -> bool {
        self.v1.frozen()
    }
    fn freezes(&self) -> Option<PathBuf> {
        self.v1.freezes().or_else(|| v2::freezes(&self.unified))
    }
    fn thaw_own(&self) {
        self.v1.thaw_own();
        v2::thaw_own(&self.unified);
    }
    fn kill_now(&self) -> Option<Result<()>> {
        None
    }
    fn stats(&self) -> stats::Stats {
        self.v1.stats()
    }
    fn memory_dir(&self) -> Option<(&Path, bool)> {
        self.v1.memory_dir()
    }
    fn destroy(&self) -> Result<()> {
        let v1 = self.v1.destroy();
        fs::remove(&self.unified)?;
        v1
    }
}

/// A container's cgroup: its driver and, during `create`, the directories made so far; with
/// `--systemd-cgroup`, the systemd unit that owns it.
pub struct Cgroup {
    driver: Box<dyn Driver>,
    made: std::cell::RefCell<Vec<PathBuf>>,
    systemd: Option<systemd::Unit>,
    /// What `setup` was given, written by `place` once systemd made the cgroup.
    resources: Option<LinuxResources>,
}

impl std::fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cgroup")
            .field("paths", &self.driver.paths())
            .field("systemd", &self.systemd)
            .finish()
    }
}

impl Cgroup {
    /// Wrap a driver.
    pub fn new(driver: Box<dyn Driver>) -> Cgroup {
        Cgroup {
            driver,
            made: Default::default(),
            systemd: None,
            resources: None,
        }
    }

    /// The driver of a container's cgroup for this host, from `linux.cgroupsPath` and the id;
    /// with `systemd` (`--systemd-cgroup`: the config's annotations, which may carry unit
    /// properties), the unit systemd will make (systemd is asked where its cgroups are,
    /// nothing is started). Nothing is created.
    pub fn plan(
        cgroups_path: Option<&Path>,
        id: &str,
        systemd: Option<&std::collections::HashMap<String, String>>,
    ) -> Result<Cgroup> {
        let info = crate::procfs::self_mountinfo()
            .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
        let own = crate::procfs::read_text("/proc/self/cgroup")
            .map_err(|e| Error::io("reading", "/proc/self/cgroup", e))?;
        let mounts = layout::parse_mountinfo(&info);
        let Some(annotations) = systemd else {
            return Self::plan_from(&mounts, &own, cgroups_path, id);
        };
        let v2 = mounts.layout() == Some(Layout::V2);
        let (unit, dir) = systemd::Unit::plan(cgroups_path, id, v2, annotations)?;
        let mut cg = Self::plan_from(&mounts, &own, Some(&dir), id)?;
        cg.systemd = Some(unit);
        Ok(cg)
    }

    /// [`Cgroup::plan`] from the texts of mountinfo and /proc/self/cgroup.
    pub fn plan_from(
        mounts: &layout::Mounts,
        proc_cgroup: &str,
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<Cgroup> {
        let target = layout::target(cgroups_path, id);
        let dir = |h: &layout::Hierarchy| {
            let own = layout::own_cgroup(proc_cgroup, &h.controllers);
            layout::dir_in(h, &target, own.as_deref())
        };
        let v1 = || V1 {
            dirs: mounts
                .v1
                .iter()
                .flat_map(|h| h.controllers.iter().map(move |c| (c.clone(), dir(h))))
                .collect(),
        };
        let driver: Box<dyn Driver> = match (mounts.layout(), &mounts.unified) {
            (Some(Layout::V2), Some(u)) => Box::new(V2 {
                mount: u.mount_point.clone(),
                dir: dir(u),
            }),
            (Some(Layout::Hybrid), Some(u)) => Box::new(Hybrid {
                v1: v1(),
                unified: dir(u),
            }),
            (Some(Layout::V1), _) => Box::new(v1()),
            _ => {
                return Err(Error::Lifecycle(
                    "no cgroup filesystem is mounted (see /proc/self/mountinfo)".into(),
                ))
            }
        };
        Ok(Cgroup::new(driver))
    }

    /// Rebuild the driver and the systemd unit (if any, with the uid of the user instance
    /// that owns it, if not the system's) from what state.json records.
    pub fn from_state(
        paths: &BTreeMap<String, PathBuf>,
        systemd_unit: Option<&str>,
        systemd_user: Option<u32>,
    ) -> Option<Cgroup> {
        let mut cg = Self::from_paths(paths)?;
        let v2 = paths.len() == 1 && paths.contains_key("");
        let manager = systemd::Manager::from_user(systemd_user);
        cg.systemd = systemd_unit.map(|u| systemd::Unit::existing(u, v2, manager));
        Some(cg)
    }

    /// The systemd unit that owns the cgroup, for state.json.
    pub fn systemd_unit(&self) -> Option<String> {
        self.systemd.as_ref().map(|u| u.place.unit.clone())
    }

    /// The uid of the systemd user instance that owns the unit, for state.json.
    pub fn systemd_user(&self) -> Option<u32> {
        self.systemd.as_ref().and_then(|u| u.manager.user())
    }

    /// Rebuild the driver from the paths recorded in state.json.
    pub fn from_paths(paths: &BTreeMap<String, PathBuf>) -> Option<Cgroup> {
        let unified = paths.get("");
        let v1 = V1 {
            dirs: paths
                .iter()
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let driver: Box<dyn Driver> = match (unified, v1.dirs.is_empty()) {
            (None, true) => return None,
            (Some(u), true) => Box::new(V2 {
                mount: u.clone(),
                dir: u.clone(),
            }),
            (Some(u), false) => Box::new(Hybrid {
                v1,
                unified: u.clone(),
            }),
            (None, false) => Box::new(v1),
        };
        Some(Cgroup::new(driver))
    }

    /// The driver.
    pub fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    /// What state.json records.
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        self.driver.paths()
    }

    /// The kernel memory limits, which runc ignores with a warning: `kernel` is skipped with
    /// one everywhere (Linux 5.16+ no longer enforces `memory.kmem.limit_in_bytes`, which
    /// reads back as unlimited, and cgroup v2 has no such limit); `kernelTCP` is written where
    /// the memory hierarchy has `memory.kmem.tcp.limit_in_bytes` (v1) and skipped with one
    /// elsewhere (cgroup v2).
    pub fn kernel_memory_warnings(&self, r: Option<&LinuxResources>) -> Vec<String> {
        let Some(m) = r.and_then(|r| r.memory().as_ref()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if m.kernel().is_some() {
            out.push(
                "linux.resources.memory.kernel is ignored: the kernel no longer enforces \
                 kernel memory limits (Linux 5.16+)"
                    .to_string(),
            );
        }
        if m.kernel_tcp().is_some() && !self.memory_has(resources::KMEM_TCP) {
            out.push(format!(
                "linux.resources.memory.kernelTCP is ignored: this host's cgroups have no {}",
                resources::KMEM_TCP
            ));
        }
        out
    }

    /// Whether the memory hierarchy's directories have `file` (asked of the nearest existing
    /// directory on the way up: the container's is not made yet).
    fn memory_has(&self, file: &str) -> bool {
        let paths = self.paths();
        let Some(dir) = paths.get("memory") else {
            return false;
        };
        dir.ancestors()
            .find(|d| d.is_dir())
            .is_some_and(|d| d.join(file).exists())
    }

    /// Before the clone: make the directory the init is cloned into and open it for
    /// `clone3(CLONE_INTO_CGROUP)` (v2 and hybrid; `None` for v1 and with systemd, which makes
    /// the cgroup only once the init exists). With systemd the resources are converted to unit
    /// properties here, so a bad value fails before anything runs. On error the caller calls
    /// [`Cgroup::remove_made`].
    pub fn prepare(&mut self, r: Option<&LinuxResources>) -> Result<Option<OwnedFd>> {
        if let Some(unit) = &self.systemd {
            unit.prepare(r)?;
            self.resources = r.cloned();
            return Ok(None);
        }
        if self.driver.clone_into().is_none() {
            return Ok(None);
        }
        let made = self.driver.create_clone_target()?;
        self.made.borrow_mut().extend(made);
        self.clone_target()
    }

    /// After the clone, while the init makes its namespaces: make the other directories and
    /// write the resources; the init joins them after `Go` (v1: [`Cgroup::self_join_files`]).
    /// With systemd, nothing: [`Cgroup::place`] does it all. On error the caller calls
    /// [`Cgroup::remove_made`], which also removes what this call made.
    pub fn setup(&self, r: Option<&LinuxResources>) -> Result<()> {
        if self.systemd.is_some() {
            return Ok(());
        }
        let made = self.driver.create()?;
        self.made.borrow_mut().extend(made);
        crate::trace::step("cgroup: directories");
        // Even without resources the device rules apply: deny all but runc's allow-list.
        let none = LinuxResources::default();
        self.driver.apply(r.unwrap_or(&none), false)
    }

    /// Let the processes of a failed create that were just sent SIGKILL die: a freeze that
    /// came after [`Cgroup::refuse_frozen`] would hold them.
    pub fn thaw_own(&self) {
        self.driver.thaw_own();
    }

    /// Undo a failed create: stop the systemd unit if one was started, remove the directories
    /// made, deepest first (a cgroup that existed before is left alone: it may be shared).
    /// The caller has killed the init.
    pub fn remove_made(&self) {
        if let Some(unit) = self.systemd.as_ref().filter(|u| u.started()) {
            let _ = unit.stop();
        }
        fs::remove_all_made(&self.made.borrow());
    }

    /// The directory to open for `clone3(CLONE_INTO_CGROUP)`, opened (v2 only).
    pub fn clone_target(&self) -> Result<Option<OwnedFd>> {
        // systemd makes the cgroup only once the init exists.
        let Some(dir) = self.driver.clone_into().filter(|_| self.systemd.is_none()) else {
            return Ok(None);
        };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        open(dir, flags, Mode::empty())
            .ctx(|| format!("opening cgroup {}", dir.display()))
            .map(Some)
    }

    /// The `tasks` files a new process of the container writes `0` to, opened here (by the
    /// runtime, before the clone): see [`join_self`]. `None` with systemd, whose unit is
    /// given the process by PID ([`Cgroup::place`]; `exec` then uses `add_pid(0)`).
    pub fn self_join_files(&self) -> Result<Option<Vec<OwnedFd>>> {
        if self.systemd.is_some() {
            return Ok(None);
        }
        self.driver
            .self_join()
            .iter()
            .map(|p| {
                open(p, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .ctx(|| format!("opening {}", p.display()))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Put the freshly cloned init in the cgroup(s). Called by the parent before it sends
    /// `Go`. Without systemd there is nothing left to do: the init was born in its v2 cgroup
    /// ([`Cgroup::clone_target`]) and joins its v1 cgroups itself ([`join_self`]). With
    /// systemd: start the unit with the init in it, make the directories systemd does not (v1
    /// hierarchies it leaves alone), join them, and write the resources through the fs.
    pub fn place(&self, pid: Pid) -> Result<()> {
        let Some(unit) = &self.systemd else {
            return Ok(());
        };
        unit.start(pid.as_raw())?;
        let mut made = self.driver.create_clone_target()?;
        made.extend(self.driver.create()?);
        *self.made.borrow_mut() = made;
        self.driver.add_pid(pid.as_raw())?;
        let none = LinuxResources::default();
        self.driver
            .apply(self.resources.as_ref().unwrap_or(&none), false)
    }

    /// Have the systemd instance that owns the unit move `pid` into it, or into its
    /// sub-cgroup `sub` (`/a/b`; empty: the unit's own): an unprivileged caller's `exec`, which
    /// may not move it there itself.
    pub fn attach_through_manager(&self, pid: Pid, sub: &Path) -> Result<()> {
        match &self.systemd {
            Some(unit) => unit.attach(pid.as_raw(), sub),
            None => Err(Error::Lifecycle(
                "the container's cgroup has no systemd unit to attach a process to".into(),
            )),
        }
    }

    /// What runc's validation refuses for this layout, before anything is made:
    /// `linux.resources.unified` anywhere but on a pure v2 host.
    pub fn refuse_invalid(&self, r: Option<&LinuxResources>) -> Result<()> {
        let v2 = || {
            let p = self.driver.paths();
            p.len() == 1 && p.contains_key("")
        };
        match r {
            Some(r) if resources::has_unified(r) && !v2() => Err(resources::unified_on_v1()),
            _ => Ok(()),
        }
    }

    /// runc's check (1.2+) before anything is made: a container cgroup that already holds
    /// processes is refused (the container would share it with them, and `delete`, which
    /// empties the cgroup, would kill them).
    pub fn refuse_occupied(&self) -> Result<()> {
        match self.driver.pids() {
            Ok(p) if !p.is_empty() => {
                let paths = self.driver.paths();
                let dir = paths
                    .get("devices")
                    .or(paths.get(""))
                    .or(paths.values().next());
                Err(Error::Lifecycle(format!(
                    "container's cgroup is not empty: {} process(es) found (in {})",
                    p.len(),
                    dir.map_or(String::new(), |d| d.display().to_string())
                )))
            }
            Err(e) if !matches!(e.errno(), Some(Errno::ENOENT | Errno::ENODEV)) => Err(e),
            _ => Ok(()),
        }
    }

    /// runc's check before anything is made, and `create`'s and `exec`'s while they wait for a
    /// process of the container: a frozen cgroup (or one made under a frozen one) freezes the
    /// process that joins it, which would then never answer.
    pub fn refuse_frozen(&self) -> Result<()> {
        match self.driver.freezes() {
            None => Ok(()),
            Some(dir) => Err(Error::Lifecycle(format!(
                "container's cgroup unexpectedly frozen ({} is frozen)",
                dir.display()
            ))),
        }
    }

    /// `update`: the systemd unit's properties (if any), then the files.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        if let Some(unit) = &self.systemd {
            unit.set(r)?;
        }
        self.driver.apply(r, true)
    }

    /// Send `sig` to every process of the cgroup: `cgroup.kill` for SIGKILL where the kernel
    /// has it; otherwise freeze (so nothing forks in between), signal each PID, thaw.
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        if sig == Signal::SIGKILL {
            if let Some(r) = self.driver.kill_now() {
                return r;
            }
        }
        let froze = self.driver.set_frozen(true).is_ok();
        let result = self.driver.pids().map(|pids| {
            for p in pids {
                let _ = nix::sys::signal::kill(Pid::from_raw(p), sig);
            }
        });
        if froze {
            self.driver.set_frozen(false)?;
        }
        result
    }

    /// Remove the cgroup of a container whose init is gone: kill what is left (a container
    /// sharing the host's PID namespace can leave processes behind), wait until the cgroup is
    /// empty, then remove the directories.
    pub fn destroy(&self) -> Result<()> {
        // The common end: the init was the last process, so each directory goes at its first
        // rmdir, and nothing needs reading or listing.
        if self.systemd.is_none() {
            let dirs: std::collections::BTreeSet<PathBuf> =
                self.driver.paths().into_values().collect();
            let mut all = true;
            for d in &dirs {
                all &= fs::remove_if_empty(d)?;
            }
            if all {
                return Ok(());
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match self.driver.pids() {
                Ok(p) if p.is_empty() => break,
                Ok(_) => {}
                // Already gone, removed above, or being removed (ENODEV: a dying cgroup, as
                // systemd removes an emptied scope's): what is left goes below.
                Err(e) if matches!(e.errno(), Some(Errno::ENOENT | Errno::ENODEV)) => break,
                Err(e) => return Err(e),
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Lifecycle(format!(
                    "processes of cgroup {:?} did not exit after SIGKILL",
                    self.paths()
                )));
            }
            self.kill_all(Signal::SIGKILL)?;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let Some(unit) = &self.systemd else {
            return self.driver.destroy();
        };
        // systemd removes its own directories; any it left (or never made) go here.
        unit.stop()?;
        self.driver.destroy()
    }

    /// The number of OOM kills so far (v2 `memory.events`, v1 `memory.oom_control`).
    pub fn oom_kills(&self) -> u64 {
        match self.driver.memory_dir() {
            Some((d, true)) => fs::read_keyed(d, "memory.events"),
            Some((d, false)) => fs::read_keyed(d, "memory.oom_control"),
            None => return 0,
        }
        .get("oom_kill")
        .copied()
        .unwrap_or(0)
    }

    /// `checkBeforeUpdate` (`check`): refuse a memory limit below the current usage.
    pub fn check_memory_update(&self, r: &LinuxResources, check: bool) -> Result<()> {
        let Some(m) = r.memory().as_ref().filter(|_| check) else {
            return Ok(());
        };
        let Some(limit) = m.limit().filter(|l| *l > 0) else {
            return Ok(());
        };
        let usage = match self.driver.memory_dir() {
            Some((d, true)) => fs::read_u64(d, "memory.current"),
            Some((d, false)) => fs::read_u64(d, "memory.usage_in_bytes"),
            None => return Ok(()),
        };
        if usage > limit as u64 {
            return Err(Error::config(
                "linux.resources.memory.limit",
                format!("rejecting memory limit {limit} below usage {usage}"),
            ));
        }
        Ok(())
    }
}

/// Rootless, with runc's rule: a `rootless` caller (unprivileged, or root in a user namespace
/// such as rootless Podman's: see [`crate::rootless::cgroups_rootless`]) keeps the container's
/// cgroup only where it may write every directory of it (a delegated subtree, such as a
/// cgroup v2 directory chowned to the user); otherwise the container runs without a cgroup
/// (`None`: nothing is written), unless `linux.cgroupsPath` or a resource limit asks for one,
/// which is then an error saying why. Device rules are not limits here (runc skips them when
/// rootless). Root of the host always keeps the cgroup, and so does a unit of the caller's
/// systemd user instance, which delegates it.
pub fn keep_if_writable(
    cg: Cgroup,
    rootless: bool,
    cgroups_path: Option<&Path>,
    r: Option<&LinuxResources>,
) -> Result<Option<Cgroup>> {
    if !rootless || cg.systemd.is_some() {
        return Ok(Some(cg));
    }
    let Some(dir) = cg.paths().into_values().find(|d| !writable_by_caller(d)) else {
        return Ok(Some(cg));
    };
    let why = format!(
        "an unprivileged user may not write cgroup {} (no delegated, writable cgroup)",
        dir.display()
    );
    if let Some(p) = cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
        return Err(Error::config(
            "linux.cgroupsPath",
            format!("{}: {why}", p.display()),
        ));
    }
    let limits = r.and_then(|r| serde_json::to_value(r).ok());
    let asked = limits
        .iter()
        .flat_map(|v| v.as_object())
        .flatten()
        .find(|(k, v)| {
            *k != "devices"
                && !(v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty()))
        });
    if let Some((field, _)) = asked {
        return Err(Error::config(
            format!("linux.resources.{field}"),
            format!("cannot be applied: {why}"),
        ));
    }
    Ok(None)
}

/// Whether this process may move a process from its own v2 cgroup into `dir` (or clone one
/// there): the kernel wants write access to `cgroup.procs` of `dir` and of the nearest
/// common ancestor of the two.
pub fn may_enter(dir: &Path) -> bool {
    let (Ok(info), Ok(own)) = (
        crate::procfs::self_mountinfo(),
        crate::procfs::read_text("/proc/self/cgroup"),
    ) else {
        return false;
    };
    let mounts = layout::parse_mountinfo(&info);
    let (Some(u), Some(rel)) = (&mounts.unified, layout::own_cgroup(&own, &[])) else {
        return false;
    };
    let from = u.mount_point.join(rel.strip_prefix("/").unwrap_or(&rel));
    let common: PathBuf = from
        .components()
        .zip(dir.components())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    let ok = |d: &Path| {
        nix::unistd::access(&d.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK).is_ok()
    };
    ok(&common) && ok(dir)
}

/// Whether the caller may write the cgroup directory `dir`: the directory and its
/// `cgroup.procs` when it exists, else the nearest existing parent, where it would be made.
fn writable_by_caller(dir: &Path) -> bool {
    let ok = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    let d = fs::nearest_existing(dir);
    d.exists() && ok(d) && (d != dir || ok(&d.join("cgroup.procs")))
}

/// `exec --cgroup` values as runc 1.2+ reads them: `[controller[,controller]:]path`, into
/// controller -> path (`""`: every hierarchy, only as the one value given).
pub fn parse_sub_cgroups(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        let Some((ctrls, path)) = a.split_once(':') else {
            if args.len() != 1 {
                return Err(Error::Lifecycle(format!(
                    "invalid --cgroup argument: {a} (missing <controller>: prefix)"
                )));
            }
            out.insert(String::new(), a.clone());
            continue;
        };
        for c in ctrls.split(',') {
            if c.is_empty() {
                return Err(Error::Lifecycle(format!(
                    "invalid --cgroup argument: {a} (empty <controller> prefix)"
                )));
            }
            if out.insert(c.to_string(), path.to_string()).is_some() {
                return Err(Error::Lifecycle(format!(
                    "invalid --cgroup argument(s): controller {c} specified multiple times"
                )));
            }
        }
    }
    Ok(out)
}

/// The container's recorded `paths` with `exec --cgroup`'s sub-cgroups ([`parse_sub_cgroups`])
/// under them: `sub[""]` under every one (on v2 the only form), else each `sub[controller]`
/// under that controller's. A sub path that leaves its base ("..", "../sibling") is refused
/// (runc's "bad sub cgroup path"); the directories must exist (checked when they are opened).
pub fn sub_paths(
    paths: &BTreeMap<String, PathBuf>,
    sub: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = paths.clone();
    if let Some(all) = sub.get("") {
        for dir in out.values_mut() {
            *dir = beneath(dir, all)?;
        }
        return Ok(out);
    }
    let v2 = paths.len() == 1 && paths.contains_key("");
    for (ctrl, rel) in sub {
        let dir = out.get_mut(ctrl).ok_or_else(|| {
            let hint = if v2 {
                " (cgroup v2 takes a plain path)"
            } else {
                ""
            };
            Error::Lifecycle(format!("unknown controller {ctrl} in SubCgroupPaths{hint}"))
        })?;
        *dir = beneath(dir, rel)?;
    }
    Ok(out)
}

/// runc's fallback for `exec` without `--cgroup` on cgroup v2: the container's cgroup takes no
/// process (`clone3` gives EBUSY) once the container has enabled domain controllers for its
/// children, its init moved below it; the process then joins the init's own cgroup, which must
/// be below the container's `dir`. Returns that cgroup, opened for `CLONE_INTO_CGROUP`.
pub fn init_clone_target(init: i32, dir: &Path) -> Result<OwnedFd> {
    let proc_cgroup = format!("/proc/{init}/cgroup");
    let own = crate::procfs::read_text(&proc_cgroup)
        .map_err(|e| Error::io("reading", &proc_cgroup, e))?;
    let info = crate::procfs::self_mountinfo()
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    let at = layout::parse_mountinfo(&info).unified.and_then(|h| {
        let rel = layout::own_cgroup(&own, &[])?;
        let below_root = rel.strip_prefix(&h.root).ok()?.to_path_buf();
        Some(h.mount_point.join(below_root))
    });
    let Some(at) = at.filter(|d| d.starts_with(dir)) else {
        return Err(Error::Lifecycle(format!(
            "cgroup {} takes no process (its controllers are enabled for its children), and \
             the init's cgroup is not below it",
            dir.display()
        )));
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    open(&at, flags, Mode::empty()).ctx(|| format!("opening cgroup {}", at.display()))
}

/// `base` joined with `rel` and cleaned lexically, which must stay within `base` (whole
/// components: "../<base name>2" is a sibling, not below).
fn beneath(base: &Path, rel: &str) -> Result<PathBuf> {
    let mut out = base.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if out.starts_with(base) {
        Ok(out)
    } else {
        Err(Error::Lifecycle(format!("bad sub cgroup path: {rel}")))
    }
}

/// A cgroup namespace made by clone3 would be rooted at the runtime's cgroup (the kernel makes
/// namespaces before it moves the child into the target cgroup). Make the init unshare it after
/// `Go` instead, when it already is in the container's cgroup, so the container sees its own
/// cgroup as `/`.
pub fn defer_cgroupns(s: &mut Strategy) {
    if s.at_clone.contains(CloneFlags::CLONE_NEWCGROUP) {
        s.at_clone.remove(CloneFlags::CLONE_NEWCGROUP);
        s.unshare.insert(CloneFlags::CLONE_NEWCGROUP);
    }
}

/// Move the calling process into the v1 cgroups whose `tasks` files are `files`
/// ([`Cgroup::self_join_files`]). The caller is single-threaded, so moving its one thread
/// moves the process; and a write of `0` (the writer itself) to `tasks` is the one cgroup
/// migration the kernel makes without taking its global threadgroup lock for writing, whose
/// first taking after an idle moment waits for an RCU grace period (~10 ms here): writing the
/// init's PID to `cgroup.procs` from the runtime would wait for it on every cold start.
pub fn join_self(files: &[OwnedFd]) -> Result<()> {
    for f in files {
        nix::unistd::write(f, b"0").ctx(|| "joining the container's v1 cgroup (tasks)".into())?;
    }
    Ok(())
}

/// Whether the container with these recorded paths is frozen.
pub fn frozen(paths: &BTreeMap<String, PathBuf>) -> bool {
    Cgroup::from_paths(paths).is_some_and(|c| c.driver.frozen())
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static N: AtomicUsize = AtomicUsize::new(0);

    /// A fresh empty directory standing in for a cgroupfs.
    pub fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hako-cgfake-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

#[cfg(test)]
mod tests;
