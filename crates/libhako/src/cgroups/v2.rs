//! The cgroup v2 driver: one directory in the unified tree. Controllers are enabled in every
//! ancestor's `cgroup.subtree_control` on the way down (as runc does), the init is cloned
//! straight into the directory (`CLONE_INTO_CGROUP`), freezing is `cgroup.freeze`, and
//! `cgroup.kill` kills everything at once where the kernel has it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::resources::{self, Setting};
use super::{devices, fs, stats, Driver};
use crate::error::{Error, Result};

/// A v2 cgroup.
#[derive(Debug, Clone)]
pub struct V2 {
    /// The tree's mount point (where controller enabling starts).
    pub mount: PathBuf,
    /// The container's cgroup.
    pub dir: PathBuf,
}

impl V2 {
    /// Enable every available controller for the children of each ancestor, top down. Errors
    /// are ignored controller by controller (runc does the same): a controller that cannot be
    /// enabled shows up later as "not available" only if a resource needs it.
    fn enable_controllers(&self) {
        let Ok(rel) = self.dir.strip_prefix(&self.mount) else {
            return;
        };
        let mut cur = self.mount.clone();
        for part in rel.components() {
            let avail = fs::read(&cur, "cgroup.controllers").unwrap_or_default();
            let wanted: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
            if !wanted.is_empty()
                && fs::write(&cur, "cgroup.subtree_control", &wanted.join(" ")).is_err()
            {
                for c in &wanted {
                    let _ = fs::write(&cur, "cgroup.subtree_control", c);
                }
            }
            cur.push(part);
        }
    }

    fn write_all(&self, settings: &[Setting]) -> Result<()> {
        let avail = fs::read(&self.dir, "cgroup.controllers").unwrap_or_default();
        let mut w = fs::Writer::default();
        for s in settings {
            if !s.controller.is_empty() && !avail.split_whitespace().any(|c| c == s.controller) {
                return Err(Error::config(
                    &s.field,
                    format!(
                        "the host cannot honour it: the cgroup v2 {} controller is not available in {} (cgroup.controllers: {:?})",
                        s.controller,
                        self.dir.display(),
                        avail.trim()
                    ),
                ));
            }
            write_setting(&mut w, &self.dir, s, "cgroup v2")?;
        }
        Ok(())
    }
}

/// [`Driver::freezes`] of the v2 cgroup `dir`: its own `cgroup.freeze`, or the frozen state in
/// effect (`cgroup.events`, which an ancestor's freeze sets too) of it or of its nearest
/// existing ancestor.
pub(crate) fn freezes(dir: &Path) -> Option<PathBuf> {
    let d = fs::nearest_existing(dir);
    let own = d == dir && fs::read(d, "cgroup.freeze").is_ok_and(|s| s.trim() == "1");
    (own || fs::read_keyed(d, "cgroup.events").get("frozen") == Some(&1)).then(|| d.to_path_buf())
}

/// [`Driver::thaw_own`] of the v2 cgroup `dir`.
pub(crate) fn thaw_own(dir: &Path) {
    if fs::read(dir, "cgroup.freeze").is_ok_and(|s| s.trim() == "1") {
        let _ = fs::write(dir, "cgroup.freeze", "0");
    }
}

/// Write one setting; a missing file is the host not offering the knob.
pub(crate) fn write_setting(
    w: &mut fs::Writer,
    dir: &Path,
    s: &Setting,
    version: &str,
) -> Result<()> {
    match w.write(dir, &s.file, &s.value) {
        Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Err(Error::config(
            &s.field,
            format!(
                "the host cannot honour it: {} has no {} ({version}{})",
                dir.display(),
                s.file,
                if s.controller.is_empty() {
                    String::new()
                } else {
                    format!(", {} controller", s.controller)
                }
            ),
        )),
        Err(Error::Sys { op, errno }) => Err(Error::Sys {
            op: format!("{}: {op}", s.field),
            errno,
        }),
        other => other,
    }
}

impl Driver for V2 {
    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::from([(String::new(), self.dir.clone())])
    }

    fn create_clone_target(&self) -> Result<Vec<PathBuf>> {
        self.enable_controllers();
        fs::mkdir_all(&self.dir)
    }

    fn create(&self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }

    fn apply(&self, r: &LinuxResources, update: bool) -> Result<()> {
        let exists = |f: &str| self.dir.join(f).exists();
        self.write_all(&resources::v2(r, &exists)?)?;
        // Device programs need CAP_BPF in the initial user namespace: an unprivileged caller's
        // container goes without, as with runc (its devices are the host's nodes, bind-mounted).
        if update || !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        let rules = devices::rules(r.devices().as_deref().unwrap_or_default());
        devices::attach(&self.dir, &rules)
    }

    fn clone_into(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn self_join(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        fs::write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        fs::procs_recursive(&self.dir)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        fs::write(&self.dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        // The write returns at once; cgroup.events says when every task has stopped.
        let want = u64::from(frozen);
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::read_keyed(&self.dir, "cgroup.events").get("frozen") != Some(&want) {
            if Instant::now() > deadline {
                return Err(Error::Lifecycle(format!(
                    "{}: cgroup did not become {}",
                    self.dir.display(),
                    if frozen { "frozen" } else { "thawed" }
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    fn frozen(&self) -> bool {
        fs::read(&self.dir, "cgroup.freeze").is_ok_and(|s| s.trim() == "1")
    }

    fn freezes(&self) -> Option<PathBuf> {
        freezes(&self.dir)
    }

    fn thaw_own(&self) {
        thaw_own(&self.dir)
    }

    fn kill_now(&self) -> Option<Result<()>> {
        self.dir
            .join("cgroup.kill")
            .exists()
            .then(|| fs::write(&self.dir, "cgroup.kill", "1"))
    }

    fn stats(&self) -> stats::Stats {
        let mut s = stats::Stats::default();
        stats::v2(&self.dir, &mut s);
        s
    }

    fn memory_dir(&self) -> Option<(&Path, bool)> {
        Some((&self.dir, true))
    }

    fn destroy(&self) -> Result<()> {
        fs::remove(&self.dir)
    }
}
