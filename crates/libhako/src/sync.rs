//! The typed protocol between the runtime parent and the container init, over one
//! `SOCK_SEQPACKET` socketpair (one message per packet, so no framing is needed).
//!
//! ```text
//!  parent (hako create)                         init (cloned child)
//!  --------------------                         -------------------
//!  clone3(CLONE_NEWPID [| USER]) ----------->   fast path: unshares its network, mount,
//!  write uid/gid maps, oom_score_adj            UTS and IPC namespaces, loopback up, and
//!  make the v1 cgroups, write resources         (no user namespace) early mounts while
//!                                               `pending()` says no Go yet
//!  send Go + v1 `tasks` fds ---------------->   joins the v1 cgroups; joins namespaces by
//!  [build the v1 cgroup tree, send it -------->  path, unshares (slow path);
//!   with CgroupTree (rootfs/cgroup_tree.rs)]    (the init takes it at its cgroup mount)
//!                                               if a PID/time namespace must be entered
//!                                               by a child: fork, and the intermediate
//!     <---------------------------------------- sends Pid(init), exits
//!     <---------------------------------------- [MountSource{index}: a bind source out
//!  send a detached copy: MountSourceFd ------->   of reach in a user namespace]
//!                                               mounts, devices, pivot_root, sysctls,
//!                                               rlimits, user, caps, cwd, PATH lookup
//!     <---------------------------------------- [SeccompListener + fd, when a rule
//!  send fd + state to listenerPath               notifies; see seccomp.rs]
//!     <---------------------------------------- Ready  | Error{step, message}
//!  write state.json, pid file; exit             blocks reading exec.fifo
//!  (hako start) write exec.fifo ------------>   execve(process.args)
//!                                               (`run`, fast path: no fifo, execve at once;
//!                                               the channel closes with it)
//! ```
//! An init that dies without a message is seen as EOF and reported with its wait status.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Parent -> init: the maps and the cgroup are ready, go on (with the v1 `tasks` fds).
    /// With `cgroup_tree`, a [`Msg::CgroupTree`] follows.
    Go {
        /// The index in `mounts` of the cgroup mount the runtime builds, if it does (see
        /// [`crate::rootfs::cgroup_tree`]).
        cgroup_tree: Option<usize>,
    },
    /// Parent -> init, right after `Go`: the detached cgroup mount tree attached, or none if
    /// the runtime could not build it (the init then mounts it itself).
    CgroupTree,
    /// Intermediate -> parent: the host PID of the real init.
    Pid(i32),
    /// Init -> parent: everything is set up; the init now waits for `start`.
    Ready,
    /// Init -> parent, with the pty master attached: relay it (foreground `run`/`exec`).
    Pty,
    /// Init -> parent: mounts are done; run the prestart and createRuntime hooks.
    Hooks,
    /// Parent -> init: those hooks ran; here is the state for the init's own hooks.
    HooksDone {
        /// The OCI state JSON for the create-time hooks (status "created").
        state: String,
    },
    /// Init -> parent, with the seccomp listener fd attached: pass it on to `listenerPath`.
    SeccompListener,
    /// Init -> parent, with its network namespace's fd attached: move `linux.netDevices` in.
    NetDevices,
    /// Parent -> init: the devices are in its network namespace.
    NetDevicesDone,
    /// Init -> parent: the source of bind mount `mounts[index]` is out of the init's reach
    /// (a user namespace): send a detached copy of it (`open_tree`), as runc's host-side
    /// mount sources.
    MountSource {
        /// The mount's index in `mounts`.
        index: usize,
    },
    /// Parent -> init, with the detached mount attached: the source asked for.
    MountSourceFd,
    /// Init -> parent, in test builds only: die now (see [`crate::crashpoint`]).
    #[cfg(feature = "crash-points")]
    CrashPoint,
    /// Init -> parent: a step failed.
    Failed {
        /// The step, with its object ("mounting proc on /proc").
        step: String,
        /// The cause ("permission denied").
        message: String,
    },
}

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// Largest message sent as one packet; a step message is short. A longer one (the state for
/// the init's hooks carries the config's annotations, and Kubernetes allows 256 KiB of them,
/// more than a socket's default send buffer holds) goes in a sealed memfd attached to a
/// [`LARGE`] packet.
const MAX_MSG: usize = 8192;

/// The packet that stands for a message in the memfd attached first (JSON never starts with
/// a NUL byte).
const LARGE: &[u8] = b"\0";

/// Largest message at all: a memfd longer than this is refused unread.
const MAX_LARGE: u64 = 16 << 20;

/// A connected pair: `(parent end, child end)`.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "creating the sync socketpair".into())?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

/// How long [`Channel::recv_watched`] waits for a message before it checks on the sender.
pub const WATCH: std::time::Duration = std::time::Duration::from_millis(100);

impl Channel {
    /// Send one message.
    pub fn send(&self, msg: &Msg) -> Result<()> {
        let bytes = encode(msg)?;
        if bytes.len() > MAX_MSG {
            return self.send_large(&bytes, &[]);
        }
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
            .ctx(|| format!("sending a sync message of {} bytes", bytes.len()))
            .map(drop)
    }

    /// Send `bytes` (an encoded message longer than [`MAX_MSG`]) in a sealed memfd, attached
    /// ahead of `fds` to a [`LARGE`] packet.
    fn send_large(&self, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        let memfd = sealed_memfd(bytes)?;
        let mut all = vec![memfd.as_fd()];
        all.extend_from_slice(fds);
        send_fds(self.fd.as_fd(), LARGE, &all)
            .ctx(|| format!("sending a sync message of {} bytes in a memfd", bytes.len()))
    }

    /// Send one message with a file descriptor attached (SCM_RIGHTS).
    pub fn send_with_fd(&self, msg: &Msg, fd: BorrowedFd<'_>) -> Result<()> {
        self.send_with_fds(msg, &[fd])
    }

    /// Send one message with up to [`MAX_FDS`] file descriptors attached (SCM_RIGHTS).
    pub fn send_with_fds(&self, msg: &Msg, fds: &[BorrowedFd<'_>]) -> Result<()> {
        if fds.is_empty() {
            return self.send(msg);
        }
        // One more for a large message's memfd.
        if fds.len() >= MAX_FDS {
            return Err(Error::Lifecycle(format!(
                "{} fds for one sync message (at most {})",
                fds.len(),
                MAX_FDS - 1
            )));
        }
        let bytes = encode(msg)?;
        if bytes.len() > MAX_MSG {
            return self.send_large(&bytes, fds);
        }
        send_fds(self.fd.as_fd(), &bytes, fds).ctx(|| {
            format!(
                "sending a sync message of {} bytes with {} fds",
                bytes.len(),
                fds.len()
            )
        })
    }

    /// Receive one message; `None` when the other end closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }

    /// Receive one message and the first fd sent with it, if any.
    pub fn recv_with_fd(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        Ok(self
            .recv_with_fds()?
            .map(|(m, fds)| (m, fds.into_iter().next())))
    }

    /// Receive one message and the fds sent with it.
    pub fn recv_with_fds(&self) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        let mut buf = [0u8; MAX_MSG];
        let mut reset = false;
        let (n, fds) = loop {
            match recv_fds(self.fd.as_fd(), &mut buf) {
                Err(nix::errno::Errno::EINTR) => continue,
                // The other end closed with a message of ours unread (an init that failed
                // before reading Go): the kernel reports that once, ahead of what that end
                // sent before closing (its Failed message), which the next read returns.
                Err(nix::errno::Errno::ECONNRESET) if !reset => reset = true,
                r => break r.ctx(|| "receiving sync message".into())?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        if &buf[..n] == LARGE {
            let mut fds = fds.into_iter();
            let memfd = fds.next().ok_or_else(|| {
                Error::Lifecycle("malformed sync message: a large message without its memfd".into())
            })?;
            return decode(&read_sealed(&memfd)?).map(|m| Some((m, fds.collect())));
        }
        decode(&buf[..n]).map(|m| Some((m, fds)))
    }

    /// [`Channel::recv_with_fd`] for the runtime waiting on a process of the container: after
    /// each [`WATCH`] without a message it calls `check`, whose error ends the wait (the
    /// kernel may hold that process where it never sends one: a frozen cgroup).
    pub fn recv_watched(
        &self,
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(WATCH.as_millis() as u16)) {
                Ok(0) => check()?,
                Err(nix::errno::Errno::EINTR) => {}
                _ => return self.recv_with_fd(),
            }
        }
    }

    /// Whether a message (or the other end's close) is waiting to be received.
    pub fn pending(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
    }

    /// The underlying socket, to inherit across fork.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Fork once more, for a PID or time namespace that only applies to children. The intermediate
/// sends the child's host PID and exits; the child returns only once the intermediate is gone
/// (EOF on a pipe only the intermediate holds open), so the runtime always gets `Pid` before
/// anything the child sends.
pub fn fork_and_report(chan: &Channel) -> Result<()> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .ctx(|| "creating the fork barrier pipe".into())?;
    match crate::sys::fork().ctx(|| "forking into the PID namespace".into())? {
        crate::sys::Forked::Parent(pid) => {
            let _ = chan.send(&Msg::Pid(pid.as_raw()));
            std::process::exit(0)
        }
        crate::sys::Forked::Child => {
            drop(w);
            let mut byte = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&r, &mut byte) {}
            Ok(())
        }
    }
}

/// Send `data` with `fds` attached as SCM_RIGHTS on a connected unix socket.
pub fn send_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> nix::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map(drop)
}

/// Receive data and at most one fd (SCM_RIGHTS) from a unix socket; the fd is close-on-exec.
pub fn recv_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<(usize, Option<OwnedFd>)> {
    recv_fds(sock, buf).map(|(n, fds)| (n, fds.into_iter().next()))
}

/// Most fds one sync message carries (the `tasks` files of every v1 hierarchy).
pub const MAX_FDS: usize = 32;

/// Receive data and up to [`MAX_FDS`] fds (SCM_RIGHTS) from a unix socket; they are
/// close-on-exec.
pub fn recv_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<(usize, Vec<OwnedFd>)> {
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            fds.extend(raw.into_iter().map(crate::sys::own_received_fd));
        }
    }
    Ok((msg.bytes, fds))
}

fn encode(msg: &Msg) -> Result<Vec<u8>> {
    serde_json::to_vec(msg).map_err(|e| Error::Lifecycle(format!("encoding sync message: {e}")))
}

/// The seals that make a memfd's content final.
fn final_seals() -> nix::fcntl::SealFlag {
    use nix::fcntl::SealFlag;
    SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// `bytes` in a memfd sealed against any change.
fn sealed_memfd(bytes: &[u8]) -> Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(
        "hako:sync",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .ctx(|| "creating a memfd for a large sync message".into())?;
    let mut done = 0;
    while done < bytes.len() {
        match nix::unistd::write(&fd, &bytes[done..]) {
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(e).ctx(|| "writing a large sync message to its memfd".into());
            }
        }
    }
    fcntl(
        &fd,
        FcntlArg::F_ADD_SEALS(final_seals() | SealFlag::F_SEAL_SEAL),
    )
    .ctx(|| "sealing a large sync message's memfd".into())?;
    Ok(fd)
}

/// The content of a large message's memfd. The other end may be the container's: the fd must
/// be a memfd sealed against change (so no pipe, FIFO or FUSE file that could block the
/// read, and no content that moves under it), at most [`MAX_LARGE`] bytes.
fn read_sealed(fd: &OwnedFd) -> Result<Vec<u8>> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    let seals = fcntl(fd, FcntlArg::F_GET_SEALS)
        .map(SealFlag::from_bits_truncate)
        .map_err(|e| {
            Error::Lifecycle(format!(
                "malformed sync message: a large message's fd is not a memfd ({e})"
            ))
        })?;
    if !seals.contains(final_seals()) {
        return Err(Error::Lifecycle(
            "malformed sync message: a large message's memfd is not sealed".into(),
        ));
    }
    let size = nix::sys::stat::fstat(fd)
        .ctx(|| "reading a large sync message's size".into())?
        .st_size;
    let size = u64::try_from(size).unwrap_or(u64::MAX);
    if size > MAX_LARGE {
        return Err(Error::Lifecycle(format!(
            "malformed sync message: {size} bytes (at most {MAX_LARGE})"
        )));
    }
    let mut buf = vec![0u8; size as usize];
    let mut done = 0;
    while done < buf.len() {
        match nix::sys::uio::pread(fd, &mut buf[done..], done as i64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).ctx(|| "reading a large sync message".into()),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Decode a message, refusing anything malformed with a clear error.
pub fn decode(bytes: &[u8]) -> Result<Msg> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Lifecycle(format!("malformed sync message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_over_seqpacket() {
        let (p, c) = pair().unwrap();
        let msgs = [
            Msg::Go {
                cgroup_tree: Some(7),
            },
            Msg::CgroupTree,
            Msg::Pid(42),
            Msg::Ready,
            Msg::Failed {
                step: "mounting proc on /proc".into(),
                message: "permission denied".into(),
            },
        ];
        for m in &msgs {
            c.send(m).unwrap();
        }
        for m in &msgs {
            assert_eq!(p.recv().unwrap().as_ref(), Some(m));
        }
        drop(c);
        assert_eq!(p.recv().unwrap(), None);
    }

    #[test]
    fn fd_passing() {
        let (p, c) = pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        c.send_with_fd(&Msg::Ready, r.as_fd()).unwrap();
        drop(r);
        let (msg, fd) = p.recv_with_fd().unwrap().unwrap();
        assert_eq!(msg, Msg::Ready);
        nix::unistd::write(&w, b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(fd.unwrap().as_fd(), &mut b).unwrap(), 1);
    }

    #[test]
    fn large_messages_travel_in_a_sealed_memfd_with_their_fds() {
        let (p, c) = pair().unwrap();
        let state = "x".repeat(1 << 20);
        let big = Msg::HooksDone {
            state: state.clone(),
        };
        c.send(&big).unwrap();
        assert_eq!(p.recv().unwrap(), Some(big.clone()));
        let (r, w) = nix::unistd::pipe().unwrap();
        c.send_with_fd(&big, r.as_fd()).unwrap();
        drop(r);
        let (msg, fd) = p.recv_with_fd().unwrap().unwrap();
        assert_eq!(msg, big);
        nix::unistd::write(&w, b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(fd.unwrap().as_fd(), &mut b).unwrap(), 1);
    }

    #[test]
    fn a_large_packet_needs_a_sealed_memfd() {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let (p, c) = pair().unwrap();
        c.send(&Msg::Ready).unwrap();
        // No fd, a pipe (its read could block), an unsealed memfd (its content could change).
        send_fds(c.as_fd(), LARGE, &[]).unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        send_fds(c.as_fd(), LARGE, &[r.as_fd()]).unwrap();
        let m = memfd_create("t", MFdFlags::MFD_CLOEXEC).unwrap();
        nix::unistd::write(&m, b"\"Ready\"").unwrap();
        send_fds(c.as_fd(), LARGE, &[m.as_fd()]).unwrap();
        assert_eq!(p.recv().unwrap(), Some(Msg::Ready));
        for want in ["without its memfd", "is not a memfd", "is not sealed"] {
            let e = p.recv().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"{",
            b"\"Nope\"",
            b"{\"Pid\":\"x\"}",
            &[0xff, 0xfe],
        ] {
            assert!(decode(bad).is_err());
        }
    }
}
