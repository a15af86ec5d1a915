//! The state directory `<root>/<id>/`: `state.json` (replaced atomically), the
//! `exec.fifo` whose presence means "created", and an `flock` on the directory that serialises
//! commands acting on one container. Runs in the runtime (any verb), never in the container.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const STATE_FILE: &str = "state.json";
const CONFIG_FILE: &str = "config.json";
/// Name of the fifo the init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";

/// A container's status, as `state` and `list` print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running (or died before finishing).
    Creating,
    /// The init waits for `start`.
    Created,
    /// The user program runs.
    Running,
    /// The container's cgroup is frozen (`pause`).
    Paused,
    /// The init is gone.
    Stopped,
}

impl Status {
    /// runc's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// Container id.
    pub id: String,
    /// Host PID of the container's init (0 while creating).
    pub pid: i32,
    /// The init's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), so a
    /// recycled PID is never mistaken for the container.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// Owner user name (runc prints it in `list`).
    pub owner: String,
    /// `annotations` of config.json.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// True until `create` has finished.
    pub creating: bool,
    /// The container's cgroup directories, keyed as runc's `cgroup_paths` (controller name,
    /// `""` for the unified tree).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub cgroup_paths: std::collections::BTreeMap<String, PathBuf>,
    /// The systemd unit that owns the cgroup (`--systemd-cgroup`), which `update` and
    /// `delete` talk to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// `--no-new-keyring` was given: `exec`'d processes keep the caller's session keyring too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_new_keyring: bool,
}

/// The OCI state, in the field order and shape runc prints.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    /// Spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    /// Container id.
    pub id: &'a str,
    /// Host PID, 0 once stopped.
    pub pid: i32,
    /// Status.
    pub status: &'static str,
    /// Bundle path.
    pub bundle: &'a Path,
    /// Rootfs path.
    pub rootfs: &'a Path,
    /// Creation time.
    pub created: &'a str,
    /// Annotations, omitted when empty; before `owner` and sorted by key, as Go prints them.
    #[serde(skip_serializing_if = "HashMap::is_empty", serialize_with = "sorted")]
    pub annotations: &'a HashMap<String, String>,
    /// Owner (runc prints it empty in `state`).
    pub owner: &'a str,
}

/// Serialize a map with its keys in order, as Go's encoding/json does.
fn sorted<S: serde::Serializer>(
    map: &&HashMap<String, String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(map.iter().collect::<std::collections::BTreeMap<_, _>>())
}

/// runc's container-id rule: `[A-Za-z0-9_+.-]+`, and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Lifecycle("invalid container ID format".into()))
    }
}

/// A container's state directory, locked while this value lives (for writers).
pub struct StateDir {
    /// `<root>/<id>`.
    pub path: PathBuf,
    _lock: Option<Flock<File>>,
}

impl StateDir {
    /// Make a new state dir; fails if the id is taken. The returned value holds the lock.
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io("creating state root", root, e))?;
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Lifecycle(
                    "container with given ID already exists".into(),
                ))
            }
            Err(e) => return Err(Error::io("creating state dir", &path, e)),
        }
        let lock = lock_dir(&path)?;
        Ok(StateDir {
            path,
            _lock: Some(lock),
        })
    }

    /// Open an existing state dir, locked (`lock`) for verbs that change the container.
    pub fn open(root: &Path, id: &str, lock: bool) -> Result<StateDir> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = if lock {
            match lock_dir(&path) {
                Ok(l) => Some(l),
                Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => return Err(not_exist()),
                Err(e) => return Err(e),
            }
        } else {
            if !path.is_dir() {
                return Err(not_exist());
            }
            None
        };
        Ok(StateDir { path, _lock: lock })
    }

    /// In a process forked (cloned) while this value is alive, such as the container init:
    /// close the inherited lock fd, without unlocking (the lock belongs to the open file, which
    /// the parent shares). Otherwise a child that outlives a killed parent would keep the
    /// container locked, and `delete --force` would wait for it forever. The child never drops
    /// this value (it ends in execve or exit), so the fd is not closed twice.
    pub fn forget_lock_in_child(&self) {
        if let Some(lock) = &self._lock {
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(&**lock));
        }
    }

    /// Read `state.json`.
    pub fn load(&self) -> Result<Stored> {
        let file = self.path.join(STATE_FILE);
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_exist()),
            Err(e) => return Err(Error::io("reading", &file, e)),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Lifecycle(format!("{}: corrupt state file: {e}", file.display())))
    }

    /// Write `state.json` atomically: readers see the old or the new file, never half of one.
    pub fn save(&self, stored: &Stored) -> Result<()> {
        let tmp = self.path.join(".state.json.tmp");
        let file = self.path.join(STATE_FILE);
        let bytes = serde_json::to_vec(stored)
            .map_err(|e| Error::Lifecycle(format!("encoding state: {e}")))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| Error::io("writing", &tmp, e))?;
        replace(&tmp, &file)
    }

    /// Keep the container's config (as validated at create) for `exec`'s defaults.
    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let file = self.path.join(CONFIG_FILE);
        let bytes = serde_json::to_vec(spec)
            .map_err(|e| Error::Lifecycle(format!("encoding config: {e}")))?;
        std::fs::write(&file, bytes).map_err(|e| Error::io("writing", &file, e))
    }

    /// The config saved by [`StateDir::save_config`].
    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec> {
        let file = self.path.join(CONFIG_FILE);
        let bytes = std::fs::read(&file).map_err(|e| Error::io("reading", &file, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Lifecycle(format!("{}: corrupt config: {e}", file.display())))
    }

    /// Path of the exec fifo.
    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Whether another process (a `create` still running) holds this state dir's lock: a
    /// `creating` record whose lock nobody holds was left by a `create` that died half-way.
    pub fn locked_by_another(&self) -> bool {
        self._lock.is_none() && locked_elsewhere(&self.path)
    }

    /// Remove the directory and everything in it: the usual two files by name (one unlink
    /// each, no directory listing), then whatever else is left.
    pub fn remove(&self) -> Result<()> {
        for f in [STATE_FILE, CONFIG_FILE] {
            let _ = std::fs::remove_file(self.path.join(f));
        }
        if std::fs::remove_dir(&self.path).is_ok() {
            return Ok(());
        }
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("removing state dir", &self.path, e)),
        }
    }
}

/// Put `tmp` in place of `file` atomically. Over an existing file this is an exchange
/// (`renameat2(RENAME_EXCHANGE)`) and then an unlink of the old file, now at `tmp`: a plain
/// rename over an existing file makes ext4 (`auto_da_alloc`) write the new file's data out
/// before it returns, ~0.35 ms per call here, three times per `create`. Readers see the old or
/// the new file either way. Where there is nothing to exchange with (the first save) or the
/// filesystem cannot exchange, a plain rename.
fn replace(tmp: &Path, file: &Path) -> Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, file, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => std::fs::remove_file(tmp).map_err(|e| Error::io("removing", tmp, e)),
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::EINVAL) => {
            std::fs::rename(tmp, file).map_err(|e| Error::io("renaming", file, e))
        }
        Err(e) => Err(Error::sys(format!("renaming {}", tmp.display()), e)),
    }
}

fn not_exist() -> Error {
    Error::Lifecycle("container does not exist".into())
}

fn lock_dir(path: &Path) -> Result<Flock<File>> {
    let f = File::open(path).map_err(|e| Error::io("opening state dir", path, e))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::sys(format!("locking {}", path.display()), errno))
}

/// Whether another process holds the state dir's lock now (never waits).
fn locked_elsewhere(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    matches!(
        Flock::lock(f, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

/// Start time (field 22) and state letter (field 3) of `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let stat = crate::procfs::read_text(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<(u64, char)> {
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// Whether `pid` is still the process that was started at `start` and has not exited.
pub fn alive(pid: i32, start: u64) -> bool {
    pid > 0
        && matches!(proc_stat(pid), Some((s, state)) if s == start && state != 'Z' && state != 'X')
}

/// Send `sig` to the init if it is still the same process.
pub fn signal(stored: &Stored, sig: i32) -> Result<()> {
    // Pin the process before checking it: with the pidfd open, a matching start time proves it
    // is the init, and a process that gets the PID later cannot receive the signal.
    let pidfd = (stored.pid > 0)
        .then(|| crate::sys::pidfd_open(nix::unistd::Pid::from_raw(stored.pid)).ok())
        .flatten();
    if !alive(stored.pid, stored.pid_start) {
        return Err(Error::Lifecycle("container not running".into()));
    }
    // A raw number: real-time signals (RTMIN+3) have no `Signal` of nix's.
    match &pidfd {
        Some(fd) => crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(fd), sig),
        None => crate::sys::kill(stored.pid, sig),
    }
    // runc's words: a number that is no signal fails here, "invalid argument".
    .map_err(|e| Error::sys("unable to signal init", e))
}

/// The current time in RFC 3339 with nanoseconds, UTC (`2026-11-29T13:21:34.305016962Z`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Format a UNIX time as RFC 3339 UTC with nanoseconds, as Go's `time.RFC3339Nano` (which
/// runc uses): trailing zeros of the fraction dropped, and the fraction too when zero.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let frac = format!(".{nanos:09}");
    let frac = frac.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1_2.3+x", "A9"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é", "a\0b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(0, 120_000_000), "1970-01-01T00:00:00.12Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            rfc3339(1_795_958_494, 305_016_962),
            "2026-11-29T13:21:34.305016962Z"
        );
    }

    #[test]
    fn stat_with_odd_comm() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(parse_stat(line), Some((98765, 'S')));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn save_and_load_roundtrip() {
        let dir = std::env::temp_dir().join(format!("hako-state-test-{}", std::process::id()));
        let sd = StateDir::create(&dir, "c1").unwrap();
        assert!(StateDir::create(&dir, "c1").is_err());
        let st = Stored {
            id: "c1".into(),
            pid: 0,
            pid_start: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            owner: "root".into(),
            annotations: HashMap::new(),
            creating: true,
            cgroup_paths: Default::default(),
            systemd_unit: None,
            no_new_keyring: false,
        };
        sd.save(&st).unwrap();
        // Seen by another reader while `create` (sd) holds the lock: still being created.
        let reader = StateDir::open(&dir, "c1", false).unwrap();
        assert!(reader.load().unwrap().creating);
        assert!(reader.locked_by_another());
        // Seen by the lock holder itself (as `delete` after a crashed create): not locked by
        // another, so the record reads as stopped.
        assert!(!sd.locked_by_another());
        std::fs::write(sd.path.join(STATE_FILE), b"{trunc").unwrap();
        assert!(sd.load().is_err_and(|e| e.to_string().contains("corrupt")));
        sd.remove().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
