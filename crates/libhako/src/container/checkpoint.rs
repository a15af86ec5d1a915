//! `checkpoint`: dump a running (or paused) container with CRIU's DUMP (or PRE_DUMP) request,
//! as runc does: the rootfs as CRIU's root, the container's external mounts and namespaces
//! named, its cgroup's freezer used to stop it, its stdio recorded in `descriptors.json`.
//! Unless `--leave-running` or `--pre-dump`, CRIU kills the container once dumped and the
//! container is deleted, as runc's is (`state` then says it does not exist). A failed dump
//! leaves the container as it was: CRIU resumes it. Runs in the runtime process.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::criu_opts::{self, CriuFlags};
use crate::criu::{self, rpc, Criu, Handler, Spawn};
use crate::error::{Error, Result};
use crate::state::{StateDir, Status, Stored};

/// Options of `checkpoint`.
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    /// The state root.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// The flags shared with `restore`.
    pub criu: CriuFlags,
    /// `--parent-path`: a previous (pre-)dump, relative to the image directory.
    pub parent_path: Option<PathBuf>,
    /// `--leave-running`.
    pub leave_running: bool,
    /// `--pre-dump`: memory only, the container keeps running.
    pub pre_dump: bool,
    /// `--tcp-skip-in-flight`.
    pub tcp_skip_in_flight: bool,
    /// `--link-remap`.
    pub link_remap: bool,
    /// `--status-fd`: written `\0` once the lazy-pages server is ready.
    pub status_fd: Option<i32>,
    /// `--page-server ADDRESS:PORT`.
    pub page_server: Option<String>,
}

/// Checkpoint the container; returns warnings (failed poststop hooks of the deletion).
pub fn checkpoint(o: &CheckpointOptions) -> Result<Vec<String>> {
    let sd = StateDir::open(&o.root, &o.id, true)?;
    let stored = sd.load()?;
    match super::status(&sd, &stored) {
        Status::Running | Status::Paused => {}
        s => {
            return Err(Error::Lifecycle(format!(
                "Container cannot be checkpointed in {} state",
                s.as_str()
            )))
        }
    }
    let spec = sd.load_config()?;
    let images = o.criu.images();
    // runc makes the directory (0700) first, even for a pre-dump, and leaves it after a
    // failure; a relative --parent-path is looked up from it.
    let images_fd = criu_opts::open_dir(&images, true, "--image-path")?;
    let parent = parent_path(&images, o.parent_path.as_deref())?;
    let page_server = o.page_server.as_deref().map(page_server).transpose()?;
    if o.status_fd.is_some() && !o.criu.lazy_pages {
        return Err(Error::Lifecycle(
            "--status-fd is only meaningful with --lazy-pages".into(),
        ));
    }
    let status_fd = o.status_fd.map(writable_fd).transpose()?;
    // The flags are checked before CRIU is asked anything.
    let mut opts = o.criu.opts(LOG)?;
    let c = Criu::new(o.criu.criu.as_deref());
    let version = c.version()?;
    // The VERSION request itself came with CRIU 3.0.
    version.require(30_000, "checkpoint")?;
    check_features(&c, o, parent.is_some())?;
    opts.set_images_dir_fd(images_fd.as_raw_fd());
    let (_work_fd, log_dir) = o.criu.work_dir(&images, &mut opts)?;
    let log = log_dir.join(LOG);
    opts.set_root(stored.rootfs.to_string_lossy().into_owned());
    opts.set_pid(stored.pid);
    opts.set_leave_running(o.leave_running);
    opts.set_tcp_skip_in_flight(o.tcp_skip_in_flight);
    opts.set_link_remap(o.link_remap);
    criu_opts::config_file(&spec, &mut opts);
    external_namespaces(&spec, version, &mut opts)?;
    if let Some(dir) = freezer(&stored, version) {
        opts.set_freeze_cgroup(dir);
    }
    if let Some((address, port)) = page_server {
        let ps = opts.ps.mut_or_insert_default();
        ps.set_address(address);
        ps.set_port(port);
    }
    if let Some(p) = &parent {
        opts.set_parent_img(p.to_string_lossy().into_owned());
        opts.set_track_mem(true);
    }
    // CRIU 3.15+ says "status-ready"; older ones write the status fd themselves.
    let notify_ready = version.require(31_500, "").is_ok();
    if let (Some(fd), false) = (&status_fd, notify_ready) {
        opts.set_status_fd(fd.as_raw_fd());
    }
    let kind = if o.pre_dump {
        rpc::Criu_req_type::PRE_DUMP
    } else {
        dump_externals(&spec, &stored, &mut opts);
        criu_opts::save_descriptors(&images, stored.pid)?;
        rpc::Criu_req_type::DUMP
    };
    let mut req = criu::request(kind);
    req.opts = protobuf::MessageField::some(opts);
    let mut handler = Dumping {
        status_fd: status_fd.filter(|_| notify_ready),
    };
    c.call(req, Spawn::default(), &mut handler)
        .map_err(|e| criu::with_log(e, &log))?;
    drop(images_fd);
    if o.leave_running || o.pre_dump {
        return Ok(Vec::new());
    }
    // CRIU killed the container after dumping it: remove it, as runc's checkpoint does.
    drop(sd);
    super::delete::delete(&o.root, &o.id, true)
}

/// CRIU's log file name in the work (else image) directory, as runc's.
const LOG: &str = "dump.log";

/// Checkpoint-time answers to CRIU's notifications.
struct Dumping {
    status_fd: Option<OwnedFd>,
}

impl Handler for Dumping {
    fn notify(&mut self, script: &str, _pid: i32, _fd: Option<OwnedFd>) -> Result<()> {
        // The lazy-pages server is up: tell whoever waits on --status-fd, once.
        if script == "status-ready" {
            if let Some(fd) = self.status_fd.take() {
                let _ = nix::unistd::write(&fd, &[0]);
            }
        }
        Ok(())
    }
}

/// `--parent-path`: relative to the image directory, a directory holding a previous dump.
fn parent_path(images: &Path, parent: Option<&Path>) -> Result<Option<PathBuf>> {
    let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(None);
    };
    if p.is_absolute() {
        return Err(Error::Lifecycle("--parent-path must be relative".into()));
    }
    let real = images.join(p);
    if !real.is_dir() {
        return Err(Error::Lifecycle(format!(
            "invalid --parent-path: {}: not a directory",
            real.display()
        )));
    }
    if !real.join("inventory.img").is_file() {
        return Err(Error::Lifecycle(format!(
            "invalid --parent-path: {} holds no previous checkpoint (no inventory.img)",
            real.display()
        )));
    }
    Ok(Some(p.to_path_buf()))
}

/// `--page-server ADDRESS:PORT` (runc's message when it is not that).
fn page_server(v: &str) -> Result<(String, i32)> {
    let bad = || Error::Lifecycle("Use --page-server ADDRESS:PORT to specify page server".into());
    let (addr, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    if addr.is_empty() || port.is_empty() {
        return Err(bad());
    }
    let port = port
        .parse()
        .map_err(|_| Error::Lifecycle("Invalid port number".into()))?;
    Ok((addr.to_string(), port))
}

/// The features a pre-dump (memory tracking) and lazy pages need, asked of CRIU first.
fn check_features(c: &Criu, o: &CheckpointOptions, parent: bool) -> Result<()> {
    let mut want = rpc::Criu_features::new();
    if o.pre_dump || parent {
        want.set_mem_track(true);
    }
    if o.criu.lazy_pages {
        want.set_lazy_pages(true);
    }
    if want.has_mem_track() || want.has_lazy_pages() {
        c.require_features(want)?;
    }
    Ok(())
}

/// `--status-fd N`: an open, writable descriptor of this process (a duplicate is kept).
fn writable_fd(n: i32) -> Result<OwnedFd> {
    let bad = |why: String| Error::Lifecycle(format!("invalid --status-fd argument {n}: {why}"));
    let flags = crate::sys::fd_status_flags(n).map_err(|e| bad(crate::error::errno_text(e)))?;
    if flags & nix::fcntl::OFlag::O_ACCMODE == nix::fcntl::OFlag::O_RDONLY {
        return Err(bad("not writable".into()));
    }
    crate::sys::dup_raw_fd(n).map_err(|e| bad(crate::error::errno_text(e)))
}

/// Namespaces joined by path: network (CRIU 3.11) and PID (3.15) are dumped as external, so
/// that restore can give them back; the others are not dumped at all.
fn external_namespaces(spec: &Spec, v: criu::Version, o: &mut rpc::Criu_opts) -> Result<()> {
    for (kind, path) in criu_opts::joined(spec) {
        let min = match kind {
            LinuxNamespaceType::Network => 31_100,
            LinuxNamespaceType::Pid => 31_500,
            _ => continue,
        };
        let name = criu_opts::ns_name(kind);
        v.require(min, &format!("checkpointing an external {name} namespace"))?;
        let ino = std::fs::metadata(&path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .map_err(|e| Error::io("stat of namespace", &path, e))?;
        o.external
            .push(format!("{name}[{ino}]:{}", criu_opts::ns_key(kind)));
    }
    Ok(())
}

/// The cgroup CRIU freezes the container with: v1's freezer directory, or the v2 cgroup
/// (CRIU 3.14+); without one CRIU stops the processes with ptrace.
fn freezer(stored: &Stored, v: criu::Version) -> Option<String> {
    let dir = match stored.cgroup_paths.get("freezer") {
        Some(d) => d,
        None if v.require(31_400, "").is_ok() && stored.cgroup_paths.len() == 1 => {
            stored.cgroup_paths.get("")?
        }
        None => return None,
    };
    Some(dir.to_string_lossy().into_owned())
}

/// A full dump names what is outside the container: bind mounts, the v1 cgroup binds, masked
/// files and device nodes (each recorded under its own path; restore maps them back).
fn dump_externals(spec: &Spec, stored: &Stored, o: &mut rpc::Criu_opts) {
    let mounts =
        criu_opts::external_mounts(spec, &stored.bundle, &stored.rootfs, &stored.cgroup_paths);
    for (dest, _) in mounts {
        o.ext_mnt.push(criu_opts::ext_mount(&dest, &dest));
    }
    for path in criu_opts::masked_files(spec, stored.pid) {
        o.ext_mnt
            .push(criu_opts::ext_mount(&path, Path::new("/dev/null")));
    }
}
