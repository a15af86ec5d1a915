//! Where the cgroup hierarchies are: the layout (v1, v2 or hybrid) read from
//! `/proc/self/mountinfo`, this process's own cgroups from `/proc/self/cgroup`, and where a
//! container's `linux.cgroupsPath` lands in each hierarchy (runc's rules). Pure parsing: the
//! functions take the file texts, so tests feed them fixtures.

use std::path::{Component, Path, PathBuf};

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only v1 hierarchies.
    V1,
    /// One cgroup2 tree with every controller.
    V2,
    /// v1 controllers plus a controller-less cgroup2 tree (systemd's "hybrid").
    Hybrid,
}

/// Controllers a v1 hierarchy may carry (named hierarchies are `name=...`).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 controllers (and `name=...`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point (mountinfo field 4; `/` outside a cgroup namespace).
    pub root: PathBuf,
}

/// The mounted hierarchies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    /// v1 hierarchies, one per distinct controller set.
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 tree.
    pub unified: Option<Hierarchy>,
}

impl Mounts {
    /// The layout these mounts make; `None` without any cgroup filesystem.
    pub fn layout(&self) -> Option<Layout> {
        let has_v1 = self
            .v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        match (has_v1, &self.unified) {
            (true, Some(_)) => Some(Layout::Hybrid),
            (true, None) => Some(Layout::V1),
            (false, Some(_)) => Some(Layout::V2),
            (false, None) => None,
        }
    }
}

/// Parse `/proc/self/mountinfo`: the first mount of each hierarchy wins (later ones are binds).
pub fn parse_mountinfo(text: &str) -> Mounts {
    let mut m = Mounts::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(point), Some(fstype), Some(opts)) = (
            fields.get(3),
            fields.get(4),
            fields.get(dash + 1),
            fields.get(dash + 3),
        ) else {
            continue;
        };
        let h = |controllers| Hierarchy {
            controllers,
            mount_point: PathBuf::from(unescape(point)),
            root: PathBuf::from(unescape(root)),
        };
        match *fstype {
            "cgroup2" if m.unified.is_none() => m.unified = Some(h(Vec::new())),
            "cgroup" => {
                let ctls: Vec<String> = opts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(String::from)
                    .collect();
                if !ctls.is_empty() && !m.v1.iter().any(|x| x.controllers == ctls) {
                    m.v1.push(h(ctls));
                }
            }
            _ => {}
        }
    }
    m
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroup in a hierarchy, from `/proc/self/cgroup` (`ID:controllers:path`;
/// `0::path` for cgroup2, matched when `controllers` is empty).
pub fn own_cgroup(proc_cgroup: &str, controllers: &[String]) -> Option<PathBuf> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, ctls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let mut have: Vec<&str> = ctls.split(',').filter(|c| !c.is_empty()).collect();
        let mut want: Vec<&str> = controllers.iter().map(String::as_str).collect();
        have.sort_unstable();
        want.sort_unstable();
        (have == want).then(|| PathBuf::from(path))
    })
}

/// `linux.cgroupsPath` cleaned as runc's `utils.CleanPath` does: `..` never climbs above the
/// start, and a relative path stays relative.
pub fn clean(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let rel: PathBuf = parts.iter().collect();
    if path.is_absolute() {
        Path::new("/").join(rel)
    } else {
        rel
    }
}

/// What the container's cgroup is, before it is placed in a hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Absolute: under each hierarchy's mount point.
    Absolute(PathBuf),
    /// Relative to the runtime's own cgroup in each hierarchy.
    Relative(PathBuf),
}

/// runc's rule: an absolute path is used as is, a relative one is relative to the runtime's own
/// cgroup, and an empty one means the container id (relative).
pub fn target(cgroups_path: Option<&Path>, id: &str) -> Target {
    let cleaned = cgroups_path.map(clean).unwrap_or_default();
    if cleaned.as_os_str().is_empty() {
        Target::Relative(clean(Path::new(id)))
    } else if cleaned.is_absolute() {
        Target::Absolute(cleaned)
    } else {
        Target::Relative(cleaned)
    }
}

/// The directory of `target` in hierarchy `h`, given this process's cgroup there.
pub fn dir_in(h: &Hierarchy, target: &Target, own: Option<&Path>) -> PathBuf {
    match target {
        Target::Absolute(p) => h.mount_point.join(p.strip_prefix("/").unwrap_or(p)),
        Target::Relative(p) => {
            // The mount point shows cgroup `root`; our cgroup is below it (or it is us).
            let own = own.unwrap_or(Path::new("/"));
            let below = own.strip_prefix(&h.root).unwrap_or(Path::new(""));
            h.mount_point.join(below).join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 31 0:32 /x /mnt/mem\\040bind rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn detects_layouts() {
        let m = parse_mountinfo(HYBRID);
        assert_eq!(m.layout(), Some(Layout::Hybrid));
        assert_eq!(m.v1.len(), 3, "the second memory mount is a bind: {m:?}");
        assert_eq!(m.v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m.v1[2].controllers, ["name=systemd"]);
        assert_eq!(
            m.unified.as_ref().map(|u| u.mount_point.clone()),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(parse_mountinfo(v2).layout(), Some(Layout::V2));
        let v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(parse_mountinfo(&v1).layout(), Some(Layout::V1));
        assert_eq!(parse_mountinfo("").layout(), None);
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
    }

    #[test]
    fn own_cgroups() {
        let pc = "4:memory:/process_api/x\n1:cpu,cpuacct:/a\n0::/user.slice\n";
        let ctl = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            own_cgroup(pc, &ctl(&["memory"])),
            Some("/process_api/x".into())
        );
        assert_eq!(own_cgroup(pc, &ctl(&["cpuacct", "cpu"])), Some("/a".into()));
        assert_eq!(own_cgroup(pc, &[]), Some("/user.slice".into()));
        assert_eq!(own_cgroup(pc, &ctl(&["pids"])), None);
    }

    #[test]
    fn runc_path_rules() {
        assert_eq!(clean(Path::new("/a/../../b/./c/")), PathBuf::from("/b/c"));
        assert_eq!(clean(Path::new("../../x/y")), PathBuf::from("x/y"));
        assert_eq!(target(None, "c1"), Target::Relative("c1".into()));
        assert_eq!(
            target(Some(Path::new("")), "c1"),
            Target::Relative("c1".into())
        );
        assert_eq!(
            target(Some(Path::new("/m/c")), "c1"),
            Target::Absolute("/m/c".into())
        );
        assert_eq!(
            target(Some(Path::new("../e")), "c1"),
            Target::Relative("e".into())
        );
        let h = Hierarchy {
            controllers: vec!["memory".into()],
            mount_point: "/sys/fs/cgroup/memory".into(),
            root: "/".into(),
        };
        let abs = Target::Absolute("/m/c".into());
        let own = Path::new("/process_api/x");
        assert_eq!(
            dir_in(&h, &abs, Some(own)),
            PathBuf::from("/sys/fs/cgroup/memory/m/c")
        );
        let rel = Target::Relative("c1".into());
        assert_eq!(
            dir_in(&h, &rel, Some(own)),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/x/c1")
        );
        // Inside a cgroup namespace the mount shows our own cgroup at its root.
        let nsed = Hierarchy {
            root: "/process_api/x".into(),
            ..h
        };
        assert_eq!(
            dir_in(&nsed, &rel, Some(own)),
            PathBuf::from("/sys/fs/cgroup/memory/c1")
        );
    }
}
