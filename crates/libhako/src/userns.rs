//! User namespaces from the runtime parent: writing the init's `uid_map` and `gid_map` once
//! clone3 has made it in a new user namespace, and user namespaces made only to carry a
//! mapping (for idmapped mounts, [`crate::idmap`]).
//!
//! Who may write a map (user_namespaces(7)):
//! * a process with CAP_SETUID/CAP_SETGID over the parent namespace (hako run by root) writes
//!   any mapping itself;
//! * an unprivileged process may write a map of exactly one id, its own effective one; for
//!   `gid_map` only after `setgroups` is set to "deny" (else dropping a group could gain it
//!   access to files that group is denied);
//! * anything else goes through the setuid helpers `newuidmap`/`newgidmap` (Debian package
//!   `uidmap`), which allow the ranges /etc/subuid and /etc/subgid delegate to the user.
//!
//! The parent writes the maps while the init waits for `Go`, so the init's first step already
//! runs as a mapped root (it then sets its ids to 0: mounts, device nodes and the hostname are
//! made by root of the new user namespace). Every write to /proc goes through a `/proc/<pid>`
//! directory fd checked with `fstatfs` to be procfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use nix::fcntl::{open, openat, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, Result, SysContext};
use crate::sys::{self, Forked};

/// Which of the two maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `uid_map`, `newuidmap`, /etc/subuid.
    Uid,
    /// `gid_map`, `newgidmap`, /etc/subgid.
    Gid,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Kind::Uid => "newuidmap",
            Kind::Gid => "newgidmap",
        }
    }

    fn subid_file(self) -> &'static str {
        match self {
            Kind::Uid => "/etc/subuid",
            Kind::Gid => "/etc/subgid",
        }
    }

    /// The config field of the container's mappings.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Uid => "linux.uidMappings",
            Kind::Gid => "linux.gidMappings",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Uid => "uid",
            Kind::Gid => "gid",
        }
    }

    /// The caller's effective id of this kind.
    pub fn caller(self) -> u32 {
        match self {
            Kind::Uid => nix::unistd::geteuid().as_raw(),
            Kind::Gid => nix::unistd::getegid().as_raw(),
        }
    }
}

/// How a map gets written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// By the parent, straight into `/proc/<pid>/<kind>_map`.
    Direct,
    /// By the parent after writing "deny" to `/proc/<pid>/setgroups` (an unprivileged caller
    /// mapping only its own gid).
    DenySetgroups,
    /// Through `newuidmap`/`newgidmap`.
    Helper,
}

/// Who writes a map of `kind`: anything directly when `privileged`; an unprivileged caller its
/// own id alone directly (gid: with setgroups denied); the rest through the helper.
pub fn writer(kind: Kind, maps: &[LinuxIdMapping], privileged: bool, caller: u32) -> Writer {
    let own_only = matches!(maps, [m] if m.size() == 1 && m.host_id() == caller);
    match (privileged, own_only, kind) {
        (true, _, _) => Writer::Direct,
        (false, true, Kind::Uid) => Writer::Direct,
        (false, true, Kind::Gid) => Writer::DenySetgroups,
        (false, false, _) => Writer::Helper,
    }
}

/// The kernel's text of a map: one `inside outside count` line per entry.
fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write the maps of `pid`, a child of ours born in a new user namespace (not reaped, so the
/// PID cannot be reused under us).
pub fn write_maps(pid: Pid, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let privileged = nix::unistd::geteuid().is_root();
    let dir = proc_dir(pid)?;
    for (kind, maps) in [(Kind::Uid, uid), (Kind::Gid, gid)] {
        match writer(kind, maps, privileged, kind.caller()) {
            Writer::Direct => proc_write(dir.as_fd(), pid, kind.file(), &map_text(maps))?,
            Writer::DenySetgroups => {
                proc_write(dir.as_fd(), pid, "setgroups", "deny")?;
                proc_write(dir.as_fd(), pid, kind.file(), &map_text(maps))?;
            }
            Writer::Helper => run_helper(kind, pid, maps)?,
        }
    }
    Ok(())
}

/// `/proc/<pid>` as a directory fd, refused unless it is on procfs.
fn proc_dir(pid: Pid) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}");
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = open(path.as_str(), flags, Mode::empty()).ctx(|| format!("opening {path}"))?;
    let fs = nix::sys::statfs::fstatfs(&fd).ctx(|| format!("statfs of {path}"))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::Lifecycle(format!("{path} is not on procfs")));
    }
    Ok(fd)
}

/// Write `text` in one `write` (the kernel takes a map in one piece) to `/proc/<pid>/<name>`.
fn proc_write(dir: BorrowedFd<'_>, pid: Pid, name: &str, text: &str) -> Result<()> {
    let shown = || format!("writing {:?} to /proc/{pid}/{name}", text.trim_end());
    let flags = OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty()).ctx(shown)?;
    let n = nix::unistd::write(&fd, text.as_bytes()).ctx(shown)?;
    if n != text.len() {
        return Err(Error::sys(shown(), nix::errno::Errno::EIO));
    }
    Ok(())
}

/// `newuidmap <pid> <inside> <outside> <count>...` (or newgidmap).
fn run_helper(kind: Kind, pid: Pid, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([m.container_id(), m.host_id(), m.size()].map(|n| n.to_string()));
    }
    let shown = format!("{} {}", kind.tool(), args.join(" "));
    let out = match Command::new(kind.tool()).args(&args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Lifecycle(format!(
                "{}: mapping more than your own {} needs {} (Debian package uidmap): not \
                 found in PATH",
                kind.field(),
                kind.name(),
                kind.tool()
            )))
        }
        Err(e) => return Err(Error::io("running", kind.tool(), e)),
    };
    if !out.status.success() {
        return Err(Error::Lifecycle(format!(
            "writing {} of the container with `{shown}`: {}: {}",
            kind.file(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Check, before anything is made, that an unprivileged caller can have these mappings
/// written; returns how they will be.
pub fn check_unprivileged(kind: Kind, maps: &[LinuxIdMapping]) -> Result<Writer> {
    let caller = kind.caller();
    let w = writer(kind, maps, false, caller);
    if w != Writer::Helper {
        return Ok(w);
    }
    let user = crate::passwd::user_name(nix::unistd::geteuid().as_raw());
    if find_in_path(kind.tool()).is_none() {
        return Err(Error::config(
            kind.field(),
            format!(
                "mapping more than your own {} ({caller}) needs {} (Debian package uidmap), \
                 which is not in PATH",
                kind.name(),
                kind.tool()
            ),
        ));
    }
    let text = std::fs::read_to_string(kind.subid_file()).unwrap_or_default();
    let ranges = delegated(&text, &user, caller);
    for (i, m) in maps.iter().enumerate() {
        if !allowed(&ranges, caller, m) {
            let (first, last) = (
                u64::from(m.host_id()),
                u64::from(m.host_id()) + u64::from(m.size()).max(1) - 1,
            );
            return Err(Error::config(
                format!("{}[{i}]", kind.field()),
                format!(
                    "host {}s {first}-{last} are not delegated to user {user} ({caller}) in {} \
                     (add a range with `usermod --add-sub{}s`)",
                    kind.name(),
                    kind.subid_file(),
                    kind.name()
                ),
            ));
        }
    }
    Ok(w)
}

/// The ranges `(start, count)` of a /etc/subuid text delegated to `user` (by name or id).
pub fn delegated(text: &str, user: &str, id: u32) -> Vec<(u64, u64)> {
    let id = id.to_string();
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            (owner == user || owner == id).then_some(())?;
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .collect()
}

/// Whether the helper allows mapping `m`: the caller's own id alone, or host ids inside one
/// delegated range.
pub fn allowed(ranges: &[(u64, u64)], own: u32, m: &LinuxIdMapping) -> bool {
    if m.size() == 1 && m.host_id() == own {
        return true;
    }
    let (lo, hi) = (
        u64::from(m.host_id()),
        u64::from(m.host_id()) + u64::from(m.size()),
    );
    m.size() > 0 && ranges.iter().any(|&(s, c)| s <= lo && hi <= s + c)
}

fn find_in_path(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| nix::unistd::access(p.as_path(), nix::unistd::AccessFlags::X_OK).is_ok())
}

/// A user namespace with these mappings, held by an fd (for `mount_setattr`'s
/// `MOUNT_ATTR_IDMAP`). A child is cloned into a new user namespace and waits on a pipe; the
/// parent writes its maps directly (root only), opens its `ns/user`, then closes the pipe so
/// the child exits, and reaps it.
pub fn with_mappings(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (rd, wr) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe for a user namespace".into())?;
    let child = match sys::clone3(CloneFlags::CLONE_NEWUSER.bits() as u64, None)
        .ctx(|| "clone3 of a user namespace holder".into())?
    {
        Forked::Child => {
            drop(wr);
            let mut b = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) | Ok(1) = nix::unistd::read(&rd, &mut b) {}
            std::process::exit(0)
        }
        Forked::Parent(pid) => pid,
    };
    drop(rd);
    let result = proc_dir(child).and_then(|dir| {
        proc_write(dir.as_fd(), child, "uid_map", &map_text(uid))?;
        proc_write(dir.as_fd(), child, "gid_map", &map_text(gid))?;
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        openat(dir.as_fd(), "ns/user", flags, Mode::empty())
            .ctx(|| format!("opening /proc/{child}/ns/user"))
    });
    drop(wr);
    let _ = waitpid(child, None);
    result
}

/// Whether this process runs in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// Whether `path` is owned by the caller's effective uid.
pub fn owned_by_caller(path: &Path) -> bool {
    nix::sys::stat::stat(path).is_ok_and(|s| s.st_uid == nix::unistd::geteuid().as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": c, "hostID": h, "size": s}))
            .unwrap_or_else(|e| panic!("mapping: {e}"))
    }

    #[test]
    fn who_writes() {
        let own = [m(0, 1000, 1)];
        assert_eq!(writer(Kind::Uid, &own, true, 0), Writer::Direct);
        assert_eq!(writer(Kind::Uid, &own, false, 1000), Writer::Direct);
        assert_eq!(writer(Kind::Gid, &own, false, 1000), Writer::DenySetgroups);
        assert_eq!(writer(Kind::Uid, &own, false, 1001), Writer::Helper);
        let range = [m(0, 1000, 1), m(1, 100000, 65536)];
        assert_eq!(writer(Kind::Gid, &range, false, 1000), Writer::Helper);
        assert_eq!(writer(Kind::Gid, &range, true, 0), Writer::Direct);
        assert_eq!(map_text(&range), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn subid_ranges() {
        let text = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\n";
        assert_eq!(delegated(text, "alice", 1000), [(100000, 65536)]);
        assert_eq!(
            delegated(text, "carol", 1001),
            [(300000, 10)],
            "by numeric id"
        );
        let r = delegated(text, "alice", 1000);
        assert!(allowed(&r, 1000, &m(0, 1000, 1)));
        assert!(allowed(&r, 1000, &m(1, 100000, 65536)));
        assert!(!allowed(&r, 1000, &m(1, 100000, 65537)));
        assert!(!allowed(&r, 1000, &m(1, 99999, 2)));
        assert!(!allowed(&r, 1000, &m(0, 1001, 1)));
    }
}
