//! The cgroup v1 driver: one directory per mounted hierarchy (co-mounted controllers such as
//! `cpu,cpuacct` share one). A new cpuset cgroup starts with empty `cpuset.cpus`/`mems`, in
//! which no task may live, so the container's cpuset is filled from its parent first (and an
//! empty parent from its own, up the chain).
//! Freezing is `freezer.state`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::resources::{self, V1Host};
use super::v2::write_setting;
use super::{fs, stats, Driver};
use crate::error::{Error, Result};

/// A set of v1 cgroups, one per hierarchy.
#[derive(Debug, Clone)]
pub struct V1 {
    /// Controller (or `name=...`) -> the container's directory in that hierarchy.
    pub dirs: BTreeMap<String, PathBuf>,
}

impl V1 {
    /// Each directory once (co-mounted controllers share one).
    fn unique(&self) -> BTreeSet<&Path> {
        self.dirs.values().map(PathBuf::as_path).collect()
    }

    fn dir(&self, c: &str) -> Option<&Path> {
        self.dirs.get(c).map(PathBuf::as_path)
    }

    /// The directory whose `cgroup.procs` lists the container (any hierarchy has them all).
    fn procs_dir(&self) -> Option<&Path> {
        ["devices", "freezer", "pids", "memory"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.dirs.values().next().map(PathBuf::as_path))
    }
}

/// A cpuset with empty `cpuset.cpus` or `cpuset.mems` takes no task (ENOSPC), and a new one
/// starts empty: give the container's directory its parent's values, first giving the parent
/// its own parent's where it is empty too (a pod cgroup made by hand), up the chain as runc's
/// `ensureParent` does. A parent that has values vouches for every ancestor (the kernel keeps
/// a cpuset within its parent's), so the usual case reads one parent.
fn fill_cpuset(dir: &Path) -> Result<()> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        inherit(dir, f)?;
    }
    Ok(())
}

/// The value of `dir/file`, copied from the parent's (made so first) when it is empty.
fn inherit(dir: &Path, file: &str) -> Result<String> {
    let v = fs::read(dir, file)?.trim().to_string();
    if !v.is_empty() {
        return Ok(v);
    }
    let Some(parent) = dir.parent().filter(|p| p.join(file).exists()) else {
        return Ok(v);
    };
    let v = inherit(parent, file)?;
    fs::write(dir, file, &v)?;
    Ok(v)
}

impl Driver for V1 {
    fn paths(&self) -> BTreeMap<String, PathBuf> {
        self.dirs.clone()
    }

    fn create(&self) -> Result<Vec<PathBuf>> {
        let mut all = Vec::new();
        for d in self.unique() {
            let made = fs::mkdir_all(d).and_then(|made| {
                all.extend(made.iter().cloned());
                if self.dir("cpuset") == Some(d) {
                    fill_cpuset(d)?;
                }
                Ok(made)
            });
            if let Err(e) = made {
                fs::remove_all_made(&all);
                return Err(e);
            }
        }
        Ok(all)
    }

    fn apply(&self, r: &LinuxResources, update: bool) -> Result<()> {
        // Only a memory limit needs the current one (to order the limit and swap writes).
        let mem_limit = self
            .dir("memory")
            .filter(|_| r.memory().is_some())
            .map(|d| fs::read_u64(d, "memory.limit_in_bytes"))
            .unwrap_or(u64::MAX);
        let exists = |f: &str| {
            let ctl = f.split('.').next().unwrap_or_default();
            self.dir(ctl).is_some_and(|d| d.join(f).exists())
        };
        let host = V1Host {
            mem_limit,
            exists: &exists,
        };
        let mut w = fs::Writer::default();
        for s in resources::v1(r, &host, update)? {
            let Some(dir) = self.dir(s.controller) else {
                return Err(Error::config(
                    &s.field,
                    format!(
                        "the host cannot honour it: no cgroup v1 hierarchy with the {} controller is mounted",
                        s.controller
                    ),
                ));
            };
            write_setting(&mut w, dir, &s, "cgroup v1")?;
        }
        Ok(())
    }

    fn clone_into(&self) -> Option<&Path> {
        None
    }

    fn self_join(&self) -> Vec<PathBuf> {
        self.unique().into_iter().map(|d| d.join("tasks")).collect()
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        for d in self.unique() {
            fs::write(d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.procs_dir().map_or(Ok(Vec::new()), fs::procs_recursive)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let Some(dir) = self.dir("freezer") else {
            return Err(Error::Lifecycle(
                "cannot pause or resume: no cgroup v1 freezer hierarchy is mounted".into(),
            ));
        };
        let want = if frozen { "FROZEN" } else { "THAWED" };
        let deadline = Instant::now() + Duration::from_secs(10);
        // FREEZING is transitional; writing again nudges tasks that were forking.
        loop {
            fs::write(dir, "freezer.state", want)?;
            if fs::read(dir, "freezer.state")?.trim() == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Lifecycle(format!(
                    "{}: freezer did not reach {want}",
                    dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn frozen(&self) -> bool {
        self.dir("freezer")
            .is_some_and(|d| fs::read(d, "freezer.state").is_ok_and(|s| s.trim() != "THAWED"))
    }

    /// `freezer.state` says FREEZING or FROZEN for a parent's freeze as well as for its own.
    fn freezes(&self) -> Option<PathBuf> {
        let d = fs::nearest_existing(self.dir("freezer")?);
        fs::read(d, "freezer.state")
            .is_ok_and(|s| s.trim() != "THAWED")
            .then(|| d.to_path_buf())
    }

    fn thaw_own(&self) {
        if let Some(d) = self.dir("freezer") {
            if fs::read(d, "freezer.self_freezing").is_ok_and(|s| s.trim() == "1") {
                let _ = fs::write(d, "freezer.state", "THAWED");
            }
        }
    }

    fn kill_now(&self) -> Option<Result<()>> {
        None
    }

    fn stats(&self) -> stats::Stats {
        let mut s = stats::Stats::default();
        stats::v1(&self.dirs, &mut s);
        s
    }

    fn memory_dir(&self) -> Option<(&Path, bool)> {
        self.dir("memory").map(|d| (d, false))
    }

    fn destroy(&self) -> Result<()> {
        let mut first = Ok(());
        for d in self.unique() {
            if let Err(e) = fs::remove(d) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}
