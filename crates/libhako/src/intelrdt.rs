//! `linux.intelRdt` as runc 1.5: the container's resctrl group. Read from the raw config
//! ([`from_raw`]: oci-spec lacks `schemata` and `enableMonitoring`), checked during validation
//! with runc's rules and words ([`check`]), and applied by the runtime parent before `Go`
//! ([`Group::apply`]), so the init is in its class of service before it does anything:
//!
//! * the group is `<resctrl>/<closID>`, or `<resctrl>/<container id>` without a `closID`;
//! * a `closID` with no schema names a group someone else made: it must exist;
//! * `l3CacheSchema`, `memBwSchema` and then each `schemata` line are written to its `schemata`
//!   file in one write (before the task joins: it never runs under the wrong allocation);
//! * the init's PID goes to its `tasks`; with `enableMonitoring`, also to the monitoring group
//!   `mon_groups/<container id>` made under it.
//!
//! What was made is recorded in the state dir (`intelrdt.json`): `exec` puts its processes in
//! the same groups ([`open_saved_tasks`], `0` written by the process itself) and `delete`
//! removes the container's own group or monitoring group ([`destroy_saved`]); a group named by
//! `closID` is shared and stays, as runc. Where the host has no resctrl filesystem the config
//! is refused in runc's words. The file writes take the resctrl root as a value, so the unit
//! tests run them against a fake tree.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// `linux.intelRdt` (runtime-spec 1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// The class of service (the group's directory name).
    #[serde(rename = "closID", default)]
    pub clos_id: String,
    /// Schema lines written as they are (`L3CODE:0=ff`, `MB:0=20`...).
    #[serde(default)]
    pub schemata: Vec<String>,
    /// The L3 cache schema line.
    #[serde(default)]
    pub l3_cache_schema: String,
    /// The memory bandwidth schema line.
    #[serde(default)]
    pub mem_bw_schema: String,
    /// A monitoring group of the container's own.
    #[serde(default)]
    pub enable_monitoring: bool,
}

/// `linux.intelRdt` of the raw config, if present; an error names the field.
pub fn from_raw(raw: &Value) -> Result<Option<Config>> {
    let Some(v) = raw.pointer("/linux/intelRdt") else {
        return Ok(None);
    };
    serde_json::from_value(v.clone())
        .map(Some)
        .map_err(|e| Error::config("linux.intelRdt", e.to_string()))
}

/// The resctrl filesystem of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resctrl {
    /// Where it is mounted.
    pub root: PathBuf,
}

/// `RDTGROUP_SUPER_MAGIC`.
const RESCTRL_MAGIC: i64 = 0x0765_5821;

impl Resctrl {
    /// The resctrl mount: `/sys/fs/resctrl` when resctrl is mounted there, else the first
    /// resctrl mount in /proc/self/mountinfo (runc's `Root`).
    pub fn find() -> Option<Resctrl> {
        let default = Path::new("/sys/fs/resctrl");
        let fs = nix::sys::statfs::statfs(default).ok()?;
        if fs.filesystem_type().0 as i64 == RESCTRL_MAGIC {
            return Some(Resctrl {
                root: default.into(),
            });
        }
        let info = crate::procfs::self_mountinfo().ok()?;
        info.lines().find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = pre.split(' ').nth(4)?;
            (post.split(' ').next() == Some("resctrl")).then(|| Resctrl {
                root: PathBuf::from(point),
            })
        })
    }

    fn has_info(&self, what: &str) -> bool {
        self.root.join("info").join(what).is_dir()
    }
}

/// runc's checks of `linux.intelRdt` against the host's resctrl (`None`: there is none).
pub fn check(cfg: &Config, resctrl: Option<&Resctrl>) -> Result<()> {
    let refuse = |field: &str, why: String| Err(Error::config(field, why));
    let Some(r) = resctrl else {
        return refuse(
            "linux.intelRdt",
            "intelRdt is specified in config, but Intel RDT is not enabled".into(),
        );
    };
    let id = &cfg.clos_id;
    if id == "." || id == ".." || id.contains('/') {
        return refuse(
            "linux.intelRdt.closID",
            format!("invalid intelRdt.ClosID {id:?}"),
        );
    }
    if !cfg.l3_cache_schema.is_empty() && !r.has_info("L3") {
        return refuse(
            "linux.intelRdt.l3CacheSchema",
            "intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled"
                .into(),
        );
    }
    if !cfg.mem_bw_schema.is_empty() && !r.has_info("MB") {
        return refuse(
            "linux.intelRdt.memBwSchema",
            "intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled".into(),
        );
    }
    Ok(())
}

/// The container's resctrl groups: what [`Group::apply`] makes and `delete` removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The class of service directory.
    pub clos: PathBuf,
    /// Whether it is the container's own (no `closID`), removed with it.
    pub owned: bool,
    /// The monitoring group, with `enableMonitoring`.
    pub mon: Option<PathBuf>,
    /// The `schemata` file's content, empty for none.
    #[serde(skip)]
    schemata: String,
    /// A `closID` with no schema: the group must exist already.
    #[serde(skip)]
    must_exist: bool,
}

/// Where the groups of a container are recorded in its state dir.
/// The file of the state dir that records the groups (written and read by `state::StateDir`,
/// relative to its fd).
pub const SAVED: &str = "intelrdt.json";

impl Group {
    /// The groups of container `id` under `resctrl`.
    pub fn new(resctrl: &Resctrl, cfg: &Config, id: &str) -> Group {
        let owned = cfg.clos_id.is_empty();
        let clos = resctrl
            .root
            .join(if owned { id } else { cfg.clos_id.as_str() });
        let mut lines: Vec<&str> = [cfg.l3_cache_schema.as_str(), cfg.mem_bw_schema.as_str()]
            .into_iter()
            .chain(cfg.schemata.iter().map(String::as_str))
            .filter(|l| !l.is_empty())
            .collect();
        let must_exist = !owned && lines.is_empty();
        lines.push("");
        Group {
            mon: cfg
                .enable_monitoring
                .then(|| clos.join("mon_groups").join(id)),
            clos,
            owned,
            schemata: if must_exist {
                String::new()
            } else {
                lines.join("\n")
            },
            must_exist,
        }
    }

    /// Make the groups, write the schemata and move `pid` into them.
    pub fn apply(&self, pid: i32) -> Result<()> {
        let clos = &self.clos;
        if self.must_exist && !clos.is_dir() {
            return Err(Error::config(
                "linux.intelRdt.closID",
                format!(
                    "clos dir not accessible (must be pre-created when schemata, l3CacheSchema \
                     and memBwSchema are empty): {}: no such directory",
                    clos.display()
                ),
            ));
        }
        std::fs::create_dir_all(clos).map_err(|e| Error::io("creating", clos, e))?;
        if self.schemata.len() > 1 {
            write(&clos.join("schemata"), &self.schemata)?;
        }
        write(&clos.join("tasks"), &pid.to_string())?;
        if let Some(mon) = &self.mon {
            std::fs::create_dir_all(mon).map_err(|e| Error::io("creating", mon, e))?;
            write(&mon.join("tasks"), &pid.to_string())?;
        }
        Ok(())
    }

    /// What to record as [`SAVED`] in the state dir, for `exec` and `delete`.
    pub fn saved_form(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| Error::Lifecycle(format!("encoding the intelRdt groups: {e}")))
    }

    /// Remove the monitoring group and the container's own group (a shared one stays).
    pub fn destroy(&self) -> Result<()> {
        let own = self.owned.then_some(&self.clos);
        for dir in self.mon.iter().chain(own) {
            remove(dir)?;
        }
        Ok(())
    }
}

/// The groups recorded as [`SAVED`] (its bytes, if the file exists), if any.
fn load_saved(saved: Option<Vec<u8>>) -> Result<Option<Group>> {
    saved
        .map(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| Error::Lifecycle(format!("{SAVED} in the state dir: {e}")))
        })
        .transpose()
}

/// `delete`: remove the groups recorded as [`SAVED`].
pub fn destroy_saved(saved: Option<Vec<u8>>) -> Result<()> {
    load_saved(saved)?.map_or(Ok(()), |g| g.destroy())
}

/// `exec`: the `tasks` files of the recorded groups, opened for the process to write `0` to
/// (its own PID) before it enters the container ([`join_self`]), class of service first.
pub fn open_saved_tasks(saved: Option<Vec<u8>>) -> Result<Vec<OwnedFd>> {
    let Some(g) = load_saved(saved)? else {
        return Ok(Vec::new());
    };
    std::iter::once(&g.clos)
        .chain(g.mon.as_ref())
        .map(|d| {
            let tasks = d.join("tasks");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&tasks)
                .map(OwnedFd::from)
                .map_err(|e| Error::io("opening", &tasks, e))
        })
        .collect()
}

/// Write `0` (the writer) to each `tasks` file of [`open_saved_tasks`].
pub fn join_self(files: &[OwnedFd]) -> Result<()> {
    for f in files {
        nix::unistd::write(f, b"0").map_err(|e| {
            Error::sys("joining the container's Intel RDT group (resctrl tasks)", e)
        })?;
    }
    Ok(())
}

fn write(file: &Path, text: &str) -> Result<()> {
    std::fs::write(file, text).map_err(|e| Error::io("intelrdt: writing", file, e))
}

/// rmdir (a resctrl group goes with its kernel files), else, in a plain directory tree,
/// remove the tree (as runc's `os.RemoveAll`); gone already is fine.
fn remove(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => std::fs::remove_dir_all(dir).map_err(|e| Error::io("removing", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A fake resctrl tree: `info/L3`, `info/MB` as asked, a root `schemata`.
    fn fake(tag: &str, info: &[&str]) -> Resctrl {
        let root = std::env::temp_dir().join(format!("hako-resctrl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for i in info {
            std::fs::create_dir_all(root.join("info").join(i)).unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        Resctrl { root }
    }

    fn cfg(v: Value) -> Config {
        from_raw(&json!({"linux": {"intelRdt": v}}))
            .unwrap()
            .unwrap()
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn refused_in_runcs_words() {
        let c = cfg(json!({"closID": "x"}));
        assert_eq!(
            check(&c, None).unwrap_err().to_string(),
            "linux.intelRdt: intelRdt is specified in config, but Intel RDT is not enabled"
        );
        let r = fake("check", &[]);
        for bad in [".", "..", "a/b"] {
            let e = check(&cfg(json!({"closID": bad})), Some(&r)).unwrap_err();
            assert!(e.to_string().contains("invalid intelRdt.ClosID"), "{e}");
        }
        let e = check(&cfg(json!({"l3CacheSchema": "L3:0=f"})), Some(&r)).unwrap_err();
        assert!(
            e.to_string().contains("Intel RDT/CAT is not enabled"),
            "{e}"
        );
        let e = check(&cfg(json!({"memBwSchema": "MB:0=20"})), Some(&r)).unwrap_err();
        assert!(
            e.to_string().contains("Intel RDT/MBA is not enabled"),
            "{e}"
        );
        let r = fake("check-ok", &["L3", "MB"]);
        let both = cfg(json!({"l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=20"}));
        assert!(check(&both, Some(&r)).is_ok());
        // Pre-1.3 fields are refused, not ignored.
        assert!(from_raw(&json!({"linux": {"intelRdt": {"enableCMT": true}}})).is_err());
        std::fs::remove_dir_all(&r.root).unwrap();
    }

    #[test]
    fn own_group_gets_schemata_tasks_and_goes_with_the_container() {
        let r = fake("own", &["L3", "MB"]);
        let c = cfg(
            json!({"l3CacheSchema": "L3:0=f0;1=f", "memBwSchema": "MB:0=70",
                           "schemata": ["L2:0=ff"], "enableMonitoring": true}),
        );
        let g = Group::new(&r, &c, "ctr");
        assert_eq!(g.clos, r.root.join("ctr"));
        g.apply(1234).unwrap();
        assert_eq!(
            read(&g.clos.join("schemata")),
            "L3:0=f0;1=f\nMB:0=70\nL2:0=ff\n"
        );
        assert_eq!(read(&g.clos.join("tasks")), "1234");
        let mon = r.root.join("ctr/mon_groups/ctr");
        assert_eq!(read(&mon.join("tasks")), "1234");
        // Recorded, reopened for exec, removed by delete.
        let saved = g.saved_form().unwrap();
        std::fs::write(mon.join("tasks"), "").unwrap();
        let files = open_saved_tasks(Some(saved.clone())).unwrap();
        assert_eq!(files.len(), 2);
        join_self(&files).unwrap();
        assert_eq!(read(&mon.join("tasks")), "0");
        drop(files);
        destroy_saved(Some(saved)).unwrap();
        assert!(!g.clos.exists());
        std::fs::remove_dir_all(&r.root).unwrap();
    }

    #[test]
    fn a_named_class_must_exist_without_schema_and_is_kept() {
        let r = fake("named", &["L3"]);
        let c = cfg(json!({"closID": "shared", "enableMonitoring": true}));
        let g = Group::new(&r, &c, "ctr");
        let e = g.apply(1).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.intelRdt.closID: clos dir not accessible"),
            "{e}"
        );
        assert!(!r.root.join("shared").exists());
        std::fs::create_dir_all(r.root.join("shared/mon_groups")).unwrap();
        g.apply(7).unwrap();
        // No schema: the shared group's schemata is left alone.
        assert!(!r.root.join("shared/schemata").exists());
        assert_eq!(read(&r.root.join("shared/tasks")), "7");
        g.destroy().unwrap();
        assert!(r.root.join("shared").is_dir());
        assert!(!r.root.join("shared/mon_groups/ctr").exists());
        // With a schema, a named class is made (and still not removed: it may be shared).
        let c = cfg(json!({"closID": "new", "schemata": ["L3:0=3"]}));
        let g = Group::new(&r, &c, "ctr");
        g.apply(8).unwrap();
        assert_eq!(read(&r.root.join("new/schemata")), "L3:0=3\n");
        g.destroy().unwrap();
        assert!(r.root.join("new").is_dir());
        std::fs::remove_dir_all(&r.root).unwrap();
    }
}
