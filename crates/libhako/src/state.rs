//! The state root and the state directory `<root>/<id>/`: `state.json` (replaced
//! atomically), the `exec.fifo` whose presence means "created", and an `flock` on the
//! directory that serialises commands acting on one container. Runs in the runtime (any
//! verb), never in the container. The root and each state dir must be the caller's and
//! writable by no one else, and are opened once: every file in them is reached relative to
//! the directory's fd, with `O_NOFOLLOW` (a root others can write to would let them swap a
//! state dir for a link under a command running as root).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, renameat, renameat2, AtFlags, Flock, FlockArg, OFlag, RenameFlags};
use nix::sys::stat::{fstat, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{mkfifoat, unlinkat, UnlinkatFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};

const STATE_FILE: &str = "state.json";
const STATE_TMP: &str = ".state.json.tmp";
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
    /// The uid of the systemd user instance that owns `systemd_unit` (an unprivileged
    /// caller's); absent: the system instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_user: Option<u32>,
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

/// The state root (`--root`), opened once and checked: owned by the caller and writable by no
/// one else. Whoever else could write to it could swap a container's directory, or plant
/// links, under commands that run as root. Everything in it is reached relative to this fd,
/// never by a path joined again (the path given is the caller's: its symlinks are followed).
pub struct Root {
    fd: OwnedFd,
    /// The path given, for messages.
    pub path: PathBuf,
}

impl Root {
    /// The existing root at `path`; `None` when there is none.
    pub fn open(path: &Path) -> Result<Option<Root>> {
        match open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Root::checked(fd, path).map(Some),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::sys(
                format!("opening state root {}", path.display()),
                e,
            )),
        }
    }

    /// The root at `path`, made (mode 0700, with missing parents) when there is none.
    pub fn create(path: &Path) -> Result<Root> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| Error::io("creating state root", path, e))?;
        Root::open(path)?.ok_or_else(|| {
            Error::Lifecycle(format!(
                "state root {}: gone after creating it",
                path.display()
            ))
        })
    }

    fn checked(fd: OwnedFd, path: &Path) -> Result<Root> {
        check_owner(fd.as_fd(), "state root (--root)", path)?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The root's directory fd.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The names of the directories in the root (the container ids, and whatever else is
    /// there), sorted. Symlinks and files are not containers.
    pub fn dirs(&self) -> Result<Vec<String>> {
        let shown = || format!("reading state root {}", self.path.display());
        let mut dir = nix::dir::Dir::openat(
            self.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(shown)?;
        let mut ids = Vec::new();
        for e in dir.iter() {
            let e = e.ctx(shown)?;
            let is_dir = match e.file_type() {
                Some(t) => t == nix::dir::Type::Directory,
                None => fstatat(self.fd.as_fd(), e.file_name(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| {
                        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
                    }),
            };
            if let (true, Ok(name)) = (is_dir, e.file_name().to_str()) {
                if name != "." && name != ".." {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Refuse a directory (`what` at `path`) that another user owns or may write to.
fn check_owner(fd: BorrowedFd<'_>, what: &str, path: &Path) -> Result<()> {
    let st = fstat(fd).ctx(|| format!("stat of {what} {}", path.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Err(Error::Lifecycle(format!(
            "{what} {}: owned by uid {}, not by the caller (uid {me}): refusing to use it",
            path.display(),
            st.st_uid
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(Error::Lifecycle(format!(
            "{what} {}: writable by others (mode {:04o}): refusing to use it",
            path.display(),
            st.st_mode & 0o7777
        )));
    }
    Ok(())
}

/// A container's state directory, locked while this value lives (for writers). Every file in
/// it is reached relative to its fd, opened with `O_NOFOLLOW`: a state dir that is a symlink
/// is not one.
pub struct StateDir {
    /// `<root>/<id>`, for messages.
    pub path: PathBuf,
    /// The root's fd (to remove the directory).
    root: OwnedFd,
    /// The directory (`O_PATH`).
    dir: OwnedFd,
    id: String,
    _lock: Option<Flock<File>>,
}

impl StateDir {
    /// Make a new state dir in `root`; fails if the id is taken. The returned value holds the
    /// lock.
    pub fn create(root: &Root, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        let path = root.path.join(id);
        match mkdirat(root.as_fd(), id, Mode::from_bits_truncate(0o711)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                return Err(Error::Lifecycle(
                    "container with given ID already exists".into(),
                ))
            }
            Err(e) => {
                return Err(Error::sys(
                    format!("creating state dir {}", path.display()),
                    e,
                ))
            }
        }
        // mkdirat applies the umask: the mode is set as asked.
        let sd = StateDir::at(root, id, true)?;
        nix::sys::stat::fchmod(sd.lock_fd()?, Mode::from_bits_truncate(0o711))
            .ctx(|| format!("chmod of state dir {}", path.display()))?;
        Ok(sd)
    }

    /// Open an existing state dir, locked (`lock`) for verbs that change the container.
    pub fn open(root: &Path, id: &str, lock: bool) -> Result<StateDir> {
        validate_id(id)?;
        let root = Root::open(root)?.ok_or_else(not_exist)?;
        StateDir::at(&root, id, lock)
    }

    /// The state dir `id` in the open `root`, unlocked (`list`).
    pub fn at_root(root: &Root, id: &str) -> Result<StateDir> {
        StateDir::at(root, id, false)
    }

    /// `id` in `root`: a directory (not a symlink), the caller's, writable by no one else.
    fn at(root: &Root, id: &str, lock: bool) -> Result<StateDir> {
        let path = root.path.join(id);
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let dir = match openat(root.as_fd(), id, flags, Mode::empty()) {
            Ok(fd) => fd,
            // ENOTDIR: a file; ELOOP: a symlink (O_NOFOLLOW). Neither is a state dir.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Err(not_exist()),
            Err(e) => {
                return Err(Error::sys(
                    format!("opening state dir {}", path.display()),
                    e,
                ))
            }
        };
        check_owner(dir.as_fd(), "state dir", &path)?;
        let root_fd = root
            .fd
            .try_clone()
            .map_err(|e| Error::io("duplicating the state root fd", &root.path, e))?;
        let mut sd = StateDir {
            path,
            root: root_fd,
            dir,
            id: id.to_string(),
            _lock: None,
        };
        if lock {
            let f = File::from(sd.open_self()?);
            sd._lock = Some(
                Flock::lock(f, FlockArg::LockExclusive)
                    .map_err(|(_, e)| Error::sys(format!("locking {}", sd.path.display()), e))?,
            );
        }
        Ok(sd)
    }

    /// Remove `id` from `root` if it is a symlink or a file, not a directory (what runc's
    /// `delete` does to an entry it cannot load): the link goes, its target stays. Returns
    /// whether there was such an entry.
    pub fn remove_non_dir(root: &Path, id: &str) -> Result<bool> {
        validate_id(id)?;
        let Some(root) = Root::open(root)? else {
            return Ok(false);
        };
        match fstatat(root.as_fd(), id, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR => {
                unlinkat(root.as_fd(), id, UnlinkatFlags::NoRemoveDir)
                    .ctx(|| format!("removing {}", root.path.join(id).display()))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The directory itself, opened for reading (for the lock, and a listing).
    fn open_self(&self) -> Result<OwnedFd> {
        openat(
            self.dir.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening state dir {}", self.path.display()))
    }

    fn lock_fd(&self) -> Result<BorrowedFd<'_>> {
        self._lock
            .as_ref()
            .map(|l| l.as_fd())
            .ok_or_else(|| Error::Lifecycle("state dir not locked".into()))
    }

    /// The directory's fd, for what is opened in it by another module (the exec fifo).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
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

    /// The file `name` of the state dir; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(self.dir.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => {
                let mut bytes = Vec::new();
                File::from(fd)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::io("reading", self.path.join(name), e))?;
                Ok(Some(bytes))
            }
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::sys(
                format!("opening {}", self.path.join(name).display()),
                e,
            )),
        }
    }

    /// Write the file `name` of the state dir (mode 0600), replacing it.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_TRUNC
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC;
        let shown = || self.path.join(name);
        let fd = openat(
            self.dir.as_fd(),
            name,
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .ctx(|| format!("opening {}", shown().display()))?;
        File::from(fd)
            .write_all(bytes)
            .map_err(|e| Error::io("writing", shown(), e))
    }

    /// Read `state.json`.
    pub fn load(&self) -> Result<Stored> {
        let file = self.path.join(STATE_FILE);
        let bytes = self.read(STATE_FILE)?.ok_or_else(not_exist)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            if foreign(&bytes) {
                Error::Lifecycle(format!(
                    "container {} is not a hako container: {} is another runtime's",
                    self.id,
                    file.display()
                ))
            } else {
                Error::Lifecycle(format!("{}: corrupt state file: {e}", file.display()))
            }
        })
    }

    /// Whether `state.json` is another runtime's (runc's, in a root they share): then it is
    /// not ours to change or remove.
    pub fn is_foreign(&self) -> bool {
        self.read(STATE_FILE)
            .ok()
            .flatten()
            .is_some_and(|b| foreign(&b))
    }

    /// Write `state.json` atomically: readers see the old or the new file, never half of one.
    pub fn save(&self, stored: &Stored) -> Result<()> {
        let bytes = serde_json::to_vec(stored)
            .map_err(|e| Error::Lifecycle(format!("encoding state: {e}")))?;
        self.write(STATE_TMP, &bytes)?;
        self.replace(STATE_TMP, STATE_FILE)
    }

    /// Keep the container's config (as validated at create) for `exec`'s defaults.
    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let bytes = serde_json::to_vec(spec)
            .map_err(|e| Error::Lifecycle(format!("encoding config: {e}")))?;
        self.write(CONFIG_FILE, &bytes)
    }

    /// The config saved by [`StateDir::save_config`].
    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec> {
        let file = self.path.join(CONFIG_FILE);
        let bytes = self
            .read(CONFIG_FILE)?
            .ok_or_else(|| Error::Lifecycle(format!("{}: missing", file.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Lifecycle(format!("{}: corrupt config: {e}", file.display())))
    }

    /// Make the exec fifo (`create`; see [`EXEC_FIFO`]).
    pub fn make_fifo(&self) -> Result<()> {
        mkfifoat(self.dir.as_fd(), EXEC_FIFO, Mode::from_bits_truncate(0o622))
            .ctx(|| format!("creating exec fifo {}", self.fifo().display()))
    }

    /// Open the exec fifo with `flags` (never through a symlink).
    pub fn open_fifo(&self, flags: OFlag) -> nix::Result<OwnedFd> {
        open_fifo(self.dir.as_fd(), flags)
    }

    /// Remove the exec fifo (`start`: the container now runs).
    pub fn remove_fifo(&self) -> Result<()> {
        unlinkat(self.dir.as_fd(), EXEC_FIFO, UnlinkatFlags::NoRemoveDir)
            .ctx(|| format!("removing exec fifo {}", self.fifo().display()))
    }

    /// Whether the exec fifo exists (the container is created, not started).
    pub fn has_fifo(&self) -> bool {
        self.has(EXEC_FIFO)
    }

    /// Whether the state dir holds `name` (of any type; a link is not followed).
    pub fn has(&self, name: &str) -> bool {
        fstatat(self.dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok()
    }

    /// Path of the exec fifo, for messages.
    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Owner uid of the state dir (`list`'s OWNER).
    pub fn owner(&self) -> Option<u32> {
        fstat(self.dir.as_fd()).ok().map(|st| st.st_uid)
    }

    /// Whether another process (a `create` still running) holds this state dir's lock: a
    /// `creating` record whose lock nobody holds was left by a `create` that died half-way.
    pub fn locked_by_another(&self) -> bool {
        self._lock.is_none()
            && self.open_self().is_ok_and(|fd| {
                matches!(
                    Flock::lock(File::from(fd), FlockArg::LockSharedNonblock),
                    Err((_, Errno::EWOULDBLOCK))
                )
            })
    }

    /// Remove the directory and everything in it, relative to its fd: the usual files by
    /// name (one unlink each, no directory listing), then whatever else is left.
    pub fn remove(&self) -> Result<()> {
        for f in [STATE_FILE, CONFIG_FILE] {
            let _ = unlinkat(self.dir.as_fd(), f, UnlinkatFlags::NoRemoveDir);
        }
        let rmdir = || {
            unlinkat(
                self.root.as_fd(),
                self.id.as_str(),
                UnlinkatFlags::RemoveDir,
            )
        };
        match rmdir() {
            Ok(()) | Err(Errno::ENOENT) => return Ok(()),
            Err(_) => {}
        }
        empty_dir(self.open_self()?)
            .ctx(|| format!("emptying state dir {}", self.path.display()))?;
        match rmdir() {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::sys(
                format!("removing state dir {}", self.path.display()),
                e,
            )),
        }
    }

    /// Put `tmp` in place of `file` atomically. Over an existing file this is an exchange
    /// (`renameat2(RENAME_EXCHANGE)`) and then an unlink of the old file, now at `tmp`: a plain
    /// rename over an existing file makes ext4 (`auto_da_alloc`) write the new file's data out
    /// before it returns, ~0.35 ms per call here, three times per `create`. Readers see the old
    /// or the new file either way. Where there is nothing to exchange with (the first save) or
    /// the filesystem cannot exchange, a plain rename.
    fn replace(&self, tmp: &str, file: &str) -> Result<()> {
        let d = self.dir.as_fd();
        let shown = || self.path.join(tmp).display().to_string();
        match renameat2(d, tmp, d, file, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => {
                unlinkat(d, tmp, UnlinkatFlags::NoRemoveDir).ctx(|| format!("removing {}", shown()))
            }
            Err(Errno::ENOENT | Errno::EINVAL) => {
                renameat(d, tmp, d, file).ctx(|| format!("renaming {}", shown()))
            }
            Err(e) => Err(Error::sys(format!("renaming {}", shown()), e)),
        }
    }
}

/// The exec fifo in the state dir `dir` (for the init, which has the dir's fd from its
/// parent), opened with `flags`, never through a symlink.
pub fn open_fifo(dir: BorrowedFd<'_>, flags: OFlag) -> nix::Result<OwnedFd> {
    openat(
        dir,
        EXEC_FIFO,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Whether `state.json` bytes are a JSON object another runtime wrote (no `pid_start`, hako's
/// own key), rather than a damaged file of ours.
fn foreign(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.as_object().map(|o| !o.contains_key("pid_start")))
        .unwrap_or(false)
}

/// Unlink everything in the directory `dir` (subdirectories emptied first), relative to it.
fn empty_dir(dir: OwnedFd) -> nix::Result<()> {
    let mut d = nix::dir::Dir::from_fd(dir)?;
    let fd = d.as_fd().try_clone_to_owned().map_err(|_| Errno::EBADF)?;
    let names: Vec<std::ffi::CString> = d
        .iter()
        .flatten()
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        if unlinkat(fd.as_fd(), name.as_c_str(), UnlinkatFlags::NoRemoveDir) == Err(Errno::EISDIR) {
            let sub = openat(
                fd.as_fd(),
                name.as_c_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            empty_dir(sub)?;
            unlinkat(fd.as_fd(), name.as_c_str(), UnlinkatFlags::RemoveDir)?;
        }
    }
    Ok(())
}

fn not_exist() -> Error {
    Error::Lifecycle(NOT_EXIST.into())
}

const NOT_EXIST: &str = "container does not exist";

/// Whether `e` says the container does not exist (and nothing else is wrong).
pub fn is_not_exist(e: &Error) -> bool {
    matches!(e, Error::Lifecycle(m) if m == NOT_EXIST)
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
        let root = Root::create(&dir).unwrap();
        let sd = StateDir::create(&root, "c1").unwrap();
        assert!(StateDir::create(&root, "c1").is_err());
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
            systemd_user: None,
            no_new_keyring: false,
        };
        sd.save(&st).unwrap();
        sd.save(&st).unwrap();
        // Seen by another reader while `create` (sd) holds the lock: still being created.
        let reader = StateDir::open(&dir, "c1", false).unwrap();
        assert!(reader.load().unwrap().creating);
        assert!(reader.locked_by_another());
        // Seen by the lock holder itself (as `delete` after a crashed create): not locked by
        // another, so the record reads as stopped.
        assert!(!sd.locked_by_another());
        sd.write(STATE_FILE, b"{trunc").unwrap();
        assert!(sd.load().is_err_and(|e| e.to_string().contains("corrupt")));
        sd.write(STATE_FILE, br#"{"id":"c1","init_process_pid":1}"#)
            .unwrap();
        assert!(sd
            .load()
            .is_err_and(|e| e.to_string().contains("is not a hako container")));
        assert!(sd.is_foreign());
        sd.write("extra", b"x").unwrap();
        sd.remove().unwrap();
        assert!(!dir.join("c1").exists());
        // A state dir that is a symlink is none; removing it removes the link only.
        std::os::unix::fs::symlink(std::env::temp_dir(), dir.join("c2")).unwrap();
        assert!(StateDir::open(&dir, "c2", false)
            .is_err_and(|e| e.to_string() == "container does not exist"));
        assert!(StateDir::remove_non_dir(&dir, "c2").unwrap());
        assert!(std::env::temp_dir().is_dir());
        assert_eq!(root.dirs().unwrap(), Vec::<String>::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_root_others_can_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hako-root-test-{}", std::process::id()));
        Root::create(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = Root::open(&dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.ends_with("writable by others (mode 1777): refusing to use it"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
