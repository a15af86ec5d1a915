//! What `checkpoint` and `restore` both tell CRIU, as runc does: the flags they share, the
//! image and work directories, the container's external mounts (bind mounts, the v1 cgroup
//! binds, masked files, device nodes) and namespaces joined by path, and the stdio record
//! (`descriptors.json` in the image directory). Runs in the runtime process.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use crate::criu::{self, rpc};
use crate::error::{Error, Result};

/// runc's name for stdio record in the image directory.
pub(super) const DESCRIPTORS: &str = "descriptors.json";

/// The CRIU flags both verbs take (runc's).
#[derive(Debug, Clone, Default)]
pub struct CriuFlags {
    /// `--criu`: the criu binary (else `criu` on PATH).
    pub criu: Option<PathBuf>,
    /// `--image-path` (default: `./checkpoint`).
    pub image_path: Option<PathBuf>,
    /// `--work-path`: CRIU's work files and log (default: the image directory).
    pub work_path: Option<PathBuf>,
    /// `--tcp-established`.
    pub tcp_established: bool,
    /// `--ext-unix-sk`.
    pub ext_unix_sk: bool,
    /// `--shell-job`.
    pub shell_job: bool,
    /// `--lazy-pages`.
    pub lazy_pages: bool,
    /// `--file-locks`.
    pub file_locks: bool,
    /// `--manage-cgroups-mode`.
    pub manage_cgroups_mode: Option<String>,
    /// `--empty-ns` (repeatable; only "network").
    pub empty_ns: Vec<String>,
    /// `--auto-dedup`.
    pub auto_dedup: bool,
}

impl CriuFlags {
    /// The image directory: `--image-path`, else `checkpoint` in the current directory.
    pub fn images(&self) -> PathBuf {
        self.image_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoint"))
    }

    /// Options of every request, from the flags (the mode and namespaces checked here).
    pub(super) fn opts(&self, log_file: &str) -> Result<rpc::Criu_opts> {
        let mut o = rpc::Criu_opts::new();
        o.set_log_level(4);
        o.set_log_file(log_file.into());
        o.set_manage_cgroups(true);
        o.set_manage_cgroups_mode(criu::cgroups_mode(self.manage_cgroups_mode.as_deref())?);
        o.set_notify_scripts(true);
        o.set_shell_job(self.shell_job);
        o.set_tcp_established(self.tcp_established);
        o.set_ext_unix_sk(self.ext_unix_sk);
        o.set_file_locks(self.file_locks);
        o.set_empty_ns(criu::empty_namespaces(&self.empty_ns)?);
        // A terminal's master is outside the container: CRIU hands a new one back on restore.
        o.set_orphan_pts_master(true);
        o.set_auto_dedup(self.auto_dedup);
        o.set_lazy_pages(self.lazy_pages);
        Ok(o)
    }

    /// Open the work directory (made if missing) into `o`; returns it (CRIU reads it through
    /// this process's /proc/self/fd while it runs) and where the log goes.
    pub(super) fn work_dir(
        &self,
        images: &Path,
        o: &mut rpc::Criu_opts,
    ) -> Result<(Option<OwnedFd>, PathBuf)> {
        let Some(work) = &self.work_path else {
            return Ok((None, images.to_path_buf()));
        };
        let fd = open_dir(work, true, "--work-path")?;
        o.set_work_dir_fd(fd.as_raw_fd());
        Ok((Some(fd), work.clone()))
    }
}

/// Open directory `path` for CRIU (made with its parents, mode 0700, if `make` and missing).
pub(super) fn open_dir(path: &Path, make: bool, what: &str) -> Result<OwnedFd> {
    if make {
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("creating", path, e).with_what(what)),
        }
    }
    open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::Criu {
        what: format!("{what} {}: {}", path.display(), crate::error::errno_text(e)),
        log: None,
    })
}

trait WithWhat {
    fn with_what(self, what: &str) -> Error;
}

impl WithWhat for Error {
    fn with_what(self, what: &str) -> Error {
        Error::Criu {
            what: format!("{what}: {self}"),
            log: None,
        }
    }
}

/// CRIU's configuration file, as runc: the `org.criu.config` annotation (empty: none), else
/// `/etc/criu/runc.conf` (the file container runtimes share; CRIU ignores a missing one).
pub(super) fn config_file(spec: &Spec, o: &mut rpc::Criu_opts) {
    let ann = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get("org.criu.config"));
    match ann {
        Some(f) if f.is_empty() => {}
        Some(f) => o.set_config_file(f.clone()),
        None => o.set_config_file("/etc/criu/runc.conf".into()),
    }
}

/// Whether a mount of the config is a bind mount (type `bind`, or a `bind`/`rbind` option).
fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

fn is_cgroup(m: &Mount) -> bool {
    matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"))
}

/// `dest` as CRIU sees it in the container: resolved inside the rootfs (symlinks followed
/// there, as at create), else cleaned lexically.
fn in_root(rootfs: &Path, dest: &Path) -> PathBuf {
    let lexical = crate::paths::lexical_join(Path::new("/"), dest);
    let Ok(root) = open(rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) else {
        return lexical;
    };
    let Ok(fd) = crate::paths::open_in_root(std::os::fd::AsFd::as_fd(&root), dest, OFlag::O_PATH)
    else {
        return lexical;
    };
    match std::fs::read_link(crate::paths::fd_path(&fd)) {
        Ok(p) => match p.strip_prefix(rootfs) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => lexical,
        },
        Err(_) => lexical,
    }
}

/// The container's external mounts, as (mount point in the container, host source) pairs:
/// its bind mounts, the binds of its cgroup directories a cgroup mount is made of when there
/// is no cgroup namespace (with one, the mounts are real and CRIU restores them), and its
/// device nodes (bound from the host where they could not be made).
pub(super) fn external_mounts(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    cgroup_dirs: &std::collections::BTreeMap<String, PathBuf>,
) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let cgroupns = has_namespace(spec, LinuxNamespaceType::Cgroup);
    for m in spec.mounts().as_deref().unwrap_or_default() {
        if is_bind(m) {
            let src = bundle.join(m.source().clone().unwrap_or_default());
            out.push((in_root(rootfs, m.destination()), src));
        } else if is_cgroup(m) && !cgroupns {
            for (name, src) in cgroup_binds(cgroup_dirs) {
                out.push((in_root(rootfs, &m.destination().join(name)), src));
            }
        }
    }
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default()
    {
        out.push((d.path().clone(), d.path().clone()));
    }
    out
}

/// What hako binds for a cgroup mount without a cgroup namespace, as (path under the mount's
/// destination, host directory): on pure v2 the container's own directory on the destination
/// itself; on v1 and hybrid hosts, one bind per host hierarchy (named as its host mount
/// point) of the container's directory there.
fn cgroup_binds(dirs: &std::collections::BTreeMap<String, PathBuf>) -> Vec<(PathBuf, PathBuf)> {
    let Ok(info) = crate::procfs::self_mountinfo() else {
        return Vec::new();
    };
    let mounts = crate::rootfs::cgroup_mounts(&info);
    if mounts
        .iter()
        .any(|c| c.mount_point == Path::new("/sys/fs/cgroup"))
    {
        let unified = dirs.get("").cloned();
        return unified.map(|d| (PathBuf::new(), d)).into_iter().collect();
    }
    mounts
        .iter()
        .filter_map(|c| {
            let name = PathBuf::from(c.mount_point.file_name()?);
            let dir = if c.fstype == "cgroup2" {
                dirs.get("")
            } else {
                c.super_opts
                    .split(',')
                    .find_map(|o| dirs.get(o).or_else(|| dirs.get(o.strip_prefix("name=")?)))
            };
            Some((name, dir.cloned().unwrap_or_else(|| c.mount_point.clone())))
        })
        .collect()
}

/// The masked paths that are files (directories are a tmpfs, which CRIU restores): bound
/// from /dev/null, which CRIU gets from the host on restore.
pub(super) fn masked_files(spec: &Spec, init: i32) -> Vec<PathBuf> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|p| {
            std::fs::metadata(format!("/proc/{init}/root/{}", p.trim_start_matches('/')))
                .is_ok_and(|m| !m.is_dir())
        })
        .map(PathBuf::from)
        .collect()
}

/// Whether the config has a masked path at all (restore binds /dev/null for them).
pub(super) fn has_masked(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_deref())
        .is_some_and(|m| !m.is_empty())
}

fn has_namespace(spec: &Spec, kind: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == kind))
}

/// Namespaces of the config joined by path.
pub(super) fn joined(spec: &Spec) -> Vec<(LinuxNamespaceType, PathBuf)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| Some((n.typ(), n.path().clone()?)))
        .collect()
}

/// CRIU's name of a namespace kind (the spec's, with runc's "net").
pub(super) fn ns_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// runc's key for an external namespace: `extRootNetNS`, `extRootPidNS`.
pub(super) fn ns_key(kind: LinuxNamespaceType) -> String {
    let name = ns_name(kind);
    let mut chars = name.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or('X');
    format!("extRoot{first}{}NS", chars.as_str())
}

/// Write what the init's stdin, stdout and stderr are (`pipe:[N]`, a path), which restore
/// needs to hand pipes back through `inherit_fd`.
pub(super) fn save_descriptors(images: &Path, init: i32) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|n| {
            std::fs::read_link(format!("/proc/{init}/fd/{n}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let path = images.join(DESCRIPTORS);
    let json = serde_json::to_vec(&fds).unwrap_or_default();
    std::fs::write(&path, json).map_err(|e| Error::io("writing", path, e))
}

/// The stdio record of a checkpoint.
pub(super) fn load_descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(DESCRIPTORS);
    let bytes = std::fs::read(&path).map_err(|e| Error::Criu {
        what: format!(
            "{} is not a checkpoint of a container: {}: {e}",
            images.display(),
            path.display()
        ),
        log: None,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Criu {
        what: format!("{}: {e}", path.display()),
        log: None,
    })
}

/// An `ext_mnt` entry.
pub(super) fn ext_mount(key: &Path, val: &Path) -> rpc::Ext_mount_map {
    let mut m = rpc::Ext_mount_map::new();
    m.set_key(key.to_string_lossy().into_owned());
    m.set_val(val.to_string_lossy().into_owned());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_keys_as_runc() {
        assert_eq!(ns_key(LinuxNamespaceType::Network), "extRootNetNS");
        assert_eq!(ns_key(LinuxNamespaceType::Pid), "extRootPidNS");
    }

    #[test]
    fn lexical_fallback_for_missing_destinations() {
        let p = in_root(Path::new("/nonexistent-rootfs"), Path::new("/a/../b//c"));
        assert_eq!(p, Path::new("/b/c"));
    }
}
