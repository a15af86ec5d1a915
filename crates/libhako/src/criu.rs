//! CRIU through its RPC interface, as runc uses it through go-criu: the runtime starts
//! `criu swrk <fd>` with one end of a `SOCK_SEQPACKET` socketpair, sends one protobuf request
//! (`rust-criu`'s generated messages) and reads responses until the one for its request,
//! answering each notification ("setup-namespaces", "post-restore", "orphan-pts-master" with
//! an fd...) on the way. Runs in the runtime process; knows nothing of containers (the
//! checkpoint and restore operations in `container/` build the requests).
//!
//! CRIU opens the image and work directories, and the status fd, through
//! `/proc/<peer>/fd/<n>` of the process at the other end of the socket (this one), so those fds
//! need not be inherited; only the socket itself and the `inherit_fd` ones are.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;
use protobuf::{Message, MessageField};

use crate::error::{Error, Result, SysContext};

pub use rust_criu::rust_criu_protobuf::rpc;

/// CRIU's answers are small; a notification or a response never comes near this.
const MAX_RESPONSE: usize = 64 * 1024;

/// The `criu` program to run (`--criu`, else `criu` on PATH).
#[derive(Debug, Clone)]
pub struct Criu {
    bin: PathBuf,
}

/// CRIU's version, as its VERSION request reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Sublevel.
    pub sublevel: u32,
    /// Built from git between releases.
    pub git: bool,
}

impl Version {
    /// runc's number for comparisons: major*10000 + minor*100 + sublevel; a build from git
    /// counts as the next minor release (it has what that release will have).
    pub fn number(&self) -> u32 {
        let n = self.major * 10_000 + self.minor * 100 + self.sublevel;
        if self.git {
            n - n % 100 + 100
        } else {
            n
        }
    }

    /// Fail with the feature's name unless this CRIU is at least `min` (runc's number).
    pub fn require(&self, min: u32, feature: &str) -> Result<()> {
        if self.number() >= min {
            return Ok(());
        }
        Err(Error::Criu {
            what: format!(
                "{feature} needs CRIU {}.{}{} or newer; this is CRIU {self}",
                min / 10_000,
                min / 100 % 100,
                match min % 100 {
                    0 => String::new(),
                    s => format!(".{s}"),
                }
            ),
            log: None,
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.sublevel > 0 {
            write!(f, ".{}", self.sublevel)?;
        }
        if self.git {
            f.write_str(" (git)")?;
        }
        Ok(())
    }
}

/// What the caller of [`Criu::call`] does while CRIU works.
pub trait Handler {
    /// `criu swrk` runs as `pid` and has not read `req` yet (restore puts it in the
    /// container's cgroup here and says where that is).
    fn spawned(&mut self, _pid: Pid, _req: &mut rpc::Criu_req) -> Result<()> {
        Ok(())
    }
    /// A notification (`script`, the process it is about, an fd sent with it); an error makes
    /// CRIU give up the request.
    fn notify(&mut self, _script: &str, _pid: i32, _fd: Option<OwnedFd>) -> Result<()> {
        Ok(())
    }
}

/// A [`Handler`] with nothing to do.
pub struct Quiet;
impl Handler for Quiet {}

/// How `criu swrk` is started.
#[derive(Default)]
pub struct Spawn {
    /// Give CRIU this process's stdin, stdout and stderr (restore: the restored processes get
    /// them through `inherit_fd`); otherwise /dev/null.
    pub stdio: bool,
    /// Descriptors CRIU inherits at their own numbers (named by `inherit_fd` entries).
    pub fds: Vec<OwnedFd>,
}

impl Criu {
    /// The program at `bin`, or `criu` on PATH.
    pub fn new(bin: Option<&Path>) -> Criu {
        Criu {
            bin: bin.map_or_else(|| PathBuf::from("criu"), Path::to_path_buf),
        }
    }

    /// Ask CRIU its version (the VERSION request, CRIU 3.0 and newer).
    pub fn version(&self) -> Result<Version> {
        let resp = self.call(
            request(rpc::Criu_req_type::VERSION),
            Spawn::default(),
            &mut Quiet,
        )?;
        let v = resp.version.as_ref().ok_or_else(|| Error::Criu {
            what: "criu answered VERSION without a version (CRIU older than 3.0?)".into(),
            log: None,
        })?;
        let num = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(Version {
            major: num(v.major_number()),
            minor: num(v.minor_number()),
            sublevel: num(v.sublevel()),
            git: v.has_gitid(),
        })
    }

    /// Fail naming each of the `wanted` features that CRIU (with this kernel) lacks.
    pub fn require_features(&self, wanted: rpc::Criu_features) -> Result<()> {
        let mut req = request(rpc::Criu_req_type::FEATURE_CHECK);
        req.features = MessageField::some(wanted.clone());
        let resp = self.call(req, Spawn::default(), &mut Quiet)?;
        let have = resp.features.get_or_default();
        let mut missing = Vec::new();
        if wanted.mem_track() && !have.mem_track() {
            missing.push("memory tracking (mem_track, for --pre-dump and --parent-path)");
        }
        if wanted.lazy_pages() && !have.lazy_pages() {
            missing.push("lazy pages (userfaultfd, for --lazy-pages)");
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Criu {
            what: format!("criu lacks a feature on this host: {}", missing.join(", ")),
            log: None,
        })
    }

    /// Whether CRIU works on this host: its CHECK request (what `criu check` runs) succeeds.
    pub fn works(&self) -> bool {
        // Every request with options needs an image directory; CHECK leaves nothing in it.
        let Ok(dir) = nix::unistd::mkdtemp(&std::env::temp_dir().join("hako-criu-check-XXXXXX"))
        else {
            return false;
        };
        let works = std::fs::File::open(&dir).is_ok_and(|d| {
            let mut req = request(rpc::Criu_req_type::CHECK);
            let opts = req.opts.mut_or_insert_default();
            opts.set_images_dir_fd(d.as_raw_fd());
            opts.set_log_level(0);
            let r = self.call(req, Spawn::default(), &mut Quiet);
            r.is_ok()
        });
        let _ = std::fs::remove_dir_all(&dir);
        works
    }

    /// Run one request: start `criu swrk`, send `req`, answer notifications through
    /// `handler` until the response to `req` comes, then wait for CRIU to exit.
    pub fn call(
        &self,
        mut req: rpc::Criu_req,
        spawn: Spawn,
        handler: &mut dyn Handler,
    ) -> Result<rpc::Criu_resp> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "creating the criu socketpair".into())?;
        for fd in spawn.fds.iter().chain([&theirs]) {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))
                .ctx(|| format!("passing fd {} to criu", fd.as_raw_fd()))?;
        }
        let (null, inherit) = (Stdio::null, Stdio::inherit);
        let stdio = if spawn.stdio { inherit } else { null };
        let mut child = Command::new(&self.bin)
            .arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .map_err(|e| Error::Criu {
                what: format!(
                    "cannot run {}: {e} (is CRIU installed?)",
                    self.bin.display()
                ),
                log: None,
            })?;
        // Only criu keeps these: an EOF then means it is gone.
        drop(theirs);
        drop(spawn.fds);
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
        let result = handler
            .spawned(pid, &mut req)
            .and_then(|()| converse(&ours, &req, handler));
        // Closing our end ends `criu swrk`; a failed request may leave it running.
        drop(ours);
        if result.is_err() {
            let _ = child.kill();
        }
        let status = child.wait();
        let resp = result?;
        // After PRE_DUMP criu waits for more and may not exit cleanly (as runc notes).
        let pre_dump = req.type_() == rpc::Criu_req_type::PRE_DUMP;
        match status {
            Ok(s) if s.success() || pre_dump => Ok(resp),
            Ok(s) => Err(Error::Criu {
                what: format!("criu {}: answered, then exited with {s}", name(req.type_())),
                log: None,
            }),
            Err(e) => Err(Error::Criu {
                what: format!("waiting for criu: {e}"),
                log: None,
            }),
        }
    }
}

/// A request of `kind` with nothing else set.
pub fn request(kind: rpc::Criu_req_type) -> rpc::Criu_req {
    let mut req = rpc::Criu_req::new();
    req.set_type(kind);
    req
}

/// The request's lower-case name ("dump", "restore", ...), for messages.
pub fn name(kind: rpc::Criu_req_type) -> String {
    format!("{kind:?}").to_lowercase().replace('_', "-")
}

/// Send `req` and read until its answer, acknowledging each notification.
fn converse(
    sock: &OwnedFd,
    req: &rpc::Criu_req,
    handler: &mut dyn Handler,
) -> Result<rpc::Criu_resp> {
    send(sock, req)?;
    let mut buf = vec![0u8; MAX_RESPONSE];
    loop {
        let (n, fds) = loop {
            match crate::sync::recv_fds(sock.as_fd(), &mut buf) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.ctx(|| "reading criu's answer".into())?,
            }
        };
        if n == 0 {
            return Err(Error::Criu {
                what: format!("criu {} exited without answering", name(req.type_())),
                log: None,
            });
        }
        let resp = rpc::Criu_resp::parse_from_bytes(&buf[..n]).map_err(|e| Error::Criu {
            what: format!("undecodable answer from criu: {e}"),
            log: None,
        })?;
        if !resp.success() {
            return Err(failure(req.type_(), &resp));
        }
        if resp.type_() != rpc::Criu_req_type::NOTIFY {
            if resp.type_() != req.type_() {
                return Err(Error::Criu {
                    what: format!("criu answered {:?} to {:?}", resp.type_(), req.type_()),
                    log: None,
                });
            }
            return Ok(resp);
        }
        let note = resp.notify.get_or_default();
        let done = handler.notify(note.script(), note.pid(), fds.into_iter().next());
        let mut ack = request(rpc::Criu_req_type::NOTIFY);
        ack.set_notify_success(done.is_ok());
        send(sock, &ack)?;
        done?;
    }
}

fn send(sock: &OwnedFd, msg: &rpc::Criu_req) -> Result<()> {
    let bytes = msg.write_to_bytes().map_err(|e| Error::Criu {
        what: format!("encoding the criu request: {e}"),
        log: None,
    })?;
    nix::sys::socket::send(
        sock.as_raw_fd(),
        &bytes,
        nix::sys::socket::MsgFlags::empty(),
    )
    .ctx(|| "sending the request to criu".into())
    .map(|_| ())
}

/// CRIU's refusal of a request: its message (CRIU 3.15+) or errno.
fn failure(kind: rpc::Criu_req_type, resp: &rpc::Criu_resp) -> Error {
    let why = match (resp.cr_errmsg(), resp.cr_errno()) {
        (m, _) if !m.is_empty() => m.trim().to_string(),
        (_, 0) => "failed".to_string(),
        (_, e) => crate::error::errno_text(nix::errno::Errno::from_raw(e)),
    };
    Error::Criu {
        what: format!("criu {} failed: {why}", name(kind)),
        log: None,
    }
}

/// `err` with CRIU's log file named, and the log's last error line as the cause when CRIU
/// gave none itself (its RPC answer says only "failed" for most errors).
pub fn with_log(err: Error, log: &Path) -> Error {
    match err {
        Error::Criu { what, log: None } => {
            let what = match last_error(log) {
                Some(line) if !what.contains(&line) => {
                    format!("{what}: {line}")
                }
                _ => what,
            };
            Error::Criu {
                what,
                log: Some(log.to_path_buf()),
            }
        }
        other => other,
    }
}

/// The last `Error (...)` line of a CRIU log, without its timestamp.
pub fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find(|l| l.contains("Error")).map(|l| {
        match l.trim_start().strip_prefix('(') {
            Some(rest) => rest
                .split_once(')')
                .map_or(l, |(_, r)| r)
                .trim()
                .to_string(),
            None => l.trim().to_string(),
        }
    })
}

/// `--manage-cgroups-mode`: runc's values ("" is CRIU's default, soft).
pub fn cgroups_mode(value: Option<&str>) -> Result<rpc::Criu_cg_mode> {
    Ok(match value.unwrap_or("") {
        "" => rpc::Criu_cg_mode::DEFAULT,
        "soft" => rpc::Criu_cg_mode::SOFT,
        "full" => rpc::Criu_cg_mode::FULL,
        "strict" => rpc::Criu_cg_mode::STRICT,
        "ignore" => rpc::Criu_cg_mode::IGNORE,
        other => {
            return Err(Error::Lifecycle(format!(
                "invalid --manage-cgroups-mode value {other:?}: soft, full, strict or ignore"
            )))
        }
    })
}

/// `--empty-ns`: the namespaces CRIU makes empty. As runc, the network namespace always is
/// (the runtime does not manage network devices), and it is the only one accepted.
pub fn empty_namespaces(names: &[String]) -> Result<u32> {
    for n in names {
        if n != "network" {
            return Err(Error::Lifecycle(format!(
                "--empty-ns {n:?}: namespace is not supported (only \"network\")"
            )));
        }
    }
    Ok(libc::CLONE_NEWNET as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_as_runc() {
        let v = Version {
            major: 3,
            minor: 17,
            sublevel: 1,
            git: false,
        };
        assert_eq!(v.number(), 31701);
        assert!(v.require(31600, "x").is_ok());
        let e = v.require(31800, "--lsm-profile").unwrap_err().to_string();
        assert_eq!(
            e,
            "--lsm-profile needs CRIU 3.18 or newer; this is CRIU 3.17.1"
        );
        let git = Version { git: true, ..v };
        assert_eq!(git.number(), 31800);
    }

    #[test]
    fn modes_and_namespaces() {
        assert_eq!(cgroups_mode(Some("full")).unwrap(), rpc::Criu_cg_mode::FULL);
        assert!(cgroups_mode(Some("bogus")).is_err());
        assert_eq!(
            empty_namespaces(&["network".into()]).unwrap(),
            libc::CLONE_NEWNET as u32
        );
        assert!(empty_namespaces(&["pid".into()]).is_err());
    }

    #[test]
    fn last_error_line_of_a_log() {
        let dir = std::env::temp_dir().join(format!("hako-criu-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dump.log");
        std::fs::write(
            &log,
            "(00.001) Dumping\n(00.002) Error (criu/mount.c:1): mnt: no mapping\n(00.003) Unlock\n",
        )
        .unwrap();
        assert_eq!(
            last_error(&log).as_deref(),
            Some("Error (criu/mount.c:1): mnt: no mapping")
        );
        let e = with_log(
            Error::Criu {
                what: "criu dump failed".into(),
                log: None,
            },
            &log,
        );
        assert_eq!(
            e.to_string(),
            format!(
                "criu dump failed: Error (criu/mount.c:1): mnt: no mapping (criu log: {})",
                log.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_binary_is_named() {
        let c = Criu::new(Some(Path::new("/nonexistent/criu")));
        let e = c.version().unwrap_err().to_string();
        assert!(e.starts_with("cannot run /nonexistent/criu: "), "{e}");
        assert!(!c.works());
    }
}
