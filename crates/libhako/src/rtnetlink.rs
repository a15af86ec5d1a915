//! The few rtnetlink requests `linux.netDevices` needs ([`crate::netdevices`]): dump the
//! addresses, add one, change a link (move it to a namespace, rename it, set it up), over a
//! `NETLINK_ROUTE` socket of the calling process's network namespace. Hand-encoded: a
//! general rtnetlink crate parses every message type the kernel has and added 0.6 MB to the
//! static binary for these three messages.
//!
//! A message is a `nlmsghdr`, a fixed header (`ifinfomsg`, `ifaddrmsg`) and attributes
//! (`rtattr`: length, type, value, padded to 4 bytes). See rtnetlink(7).

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// `IFLA_IFNAME`.
pub const IFLA_IFNAME: u16 = 3;
/// `IFLA_NET_NS_FD`.
pub const IFLA_NET_NS_FD: u16 = 28;
/// `IFA_F_PERMANENT`.
pub const IFA_F_PERMANENT: u32 = 0x80;

const NLMSG_HDRLEN: usize = 16;
const FLAGS_REQUEST_ACK: u16 = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;

/// One address of an interface (`ifaddrmsg` and its attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// Prefix length.
    pub prefix_len: u8,
    /// `IFA_F_*` flags of the header (the low 8 bits).
    pub flags: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// The interface's index.
    pub index: u32,
    /// Attributes `(IFA_*, value)`.
    pub attrs: Vec<(u16, Vec<u8>)>,
}

impl Address {
    fn parse(body: &[u8]) -> Option<Address> {
        let h = body.get(..8)?;
        Some(Address {
            family: h[0],
            prefix_len: h[1],
            flags: h[2],
            scope: h[3],
            index: u32::from_ne_bytes(h[4..8].try_into().ok()?),
            attrs: attributes(&body[8..])
                .map(|(t, v)| (t, v.to_vec()))
                .collect(),
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = vec![self.family, self.prefix_len, self.flags, self.scope];
        b.extend_from_slice(&self.index.to_ne_bytes());
        for (t, v) in &self.attrs {
            push_attr(&mut b, *t, v);
        }
        b
    }

    /// The value of attribute `typ`, if present.
    pub fn attr(&self, typ: u16) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, v)| v.as_slice())
    }

    /// All the `IFA_F_*` flags: the `IFA_FLAGS` attribute when present, else the header's.
    pub fn all_flags(&self) -> u32 {
        self.attr(libc::IFA_FLAGS)
            .and_then(|v| v.try_into().ok())
            .map_or(u32::from(self.flags), u32::from_ne_bytes)
    }
}

/// A `NETLINK_ROUTE` socket.
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Open one in the calling process's network namespace.
    pub fn open() -> Result<Socket, Errno> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Socket { fd })
    }

    /// Every address of every interface (`RTM_GETADDR`, a dump).
    pub fn addresses(&self) -> Result<Vec<Address>, Errno> {
        let any_family = [0u8; 8];
        let flags = FLAGS_REQUEST_ACK | libc::NLM_F_DUMP as u16;
        let replies = self.request(libc::RTM_GETADDR, flags, &any_family)?;
        Ok(replies
            .into_iter()
            .filter(|(t, _)| *t == libc::RTM_NEWADDR)
            .filter_map(|(_, body)| Address::parse(&body))
            .collect())
    }

    /// Add an address (`RTM_NEWADDR`, create, exclusive).
    pub fn add_address(&self, a: &Address) -> Result<(), Errno> {
        let flags = FLAGS_REQUEST_ACK | (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        self.request(libc::RTM_NEWADDR, flags, &a.encode())
            .map(drop)
    }

    /// Change link `index` (`RTM_SETLINK`): the `ifinfomsg` flags under `change`, and the
    /// attributes `attrs`.
    pub fn set_link(
        &self,
        index: u32,
        flags: u32,
        change: u32,
        attrs: &[(u16, &[u8])],
    ) -> Result<(), Errno> {
        let mut b = vec![0u8; 4];
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&change.to_ne_bytes());
        for (t, v) in attrs {
            push_attr(&mut b, *t, v);
        }
        self.request(libc::RTM_SETLINK, FLAGS_REQUEST_ACK, &b)
            .map(drop)
    }

    /// Send one request and collect the replies `(type, body)` up to its ACK or the end of
    /// the dump; an error reply is its errno.
    fn request(&self, typ: u16, flags: u16, body: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, Errno> {
        let len = u32::try_from(NLMSG_HDRLEN + body.len()).map_err(|_| Errno::EMSGSIZE)?;
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + body.len());
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&typ.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
        msg.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel's
        msg.extend_from_slice(body);
        socket::send(self.fd.as_raw_fd(), &msg, MsgFlags::empty())?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let n = socket::recv(self.fd.as_raw_fd(), &mut rx, MsgFlags::empty())?;
            for (t, body) in messages(&rx[..n]) {
                match i32::from(t) {
                    libc::NLMSG_DONE => return Ok(out),
                    libc::NLMSG_ERROR => {
                        let code = body
                            .get(..4)
                            .and_then(|c| c.try_into().ok())
                            .map(i32::from_ne_bytes)
                            .ok_or(Errno::EBADMSG)?;
                        return match code {
                            0 => Ok(out),
                            c => Err(Errno::from_raw(-c)),
                        };
                    }
                    _ => out.push((t, body.to_vec())),
                }
            }
        }
    }
}

/// The `(type, body)` of each netlink message in `buf`.
fn messages(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = buf.get(at..at + NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes(h[0..4].try_into().ok()?) as usize;
        let typ = u16::from_ne_bytes(h[4..6].try_into().ok()?);
        let body = buf.get(at + NLMSG_HDRLEN..at + len.max(NLMSG_HDRLEN))?;
        at += align(len.max(NLMSG_HDRLEN));
        Some((typ, body))
    })
}

/// The `(type, value)` of each attribute in `buf`.
fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = buf.get(at..at + 4)?;
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        let typ = u16::from_ne_bytes([h[2], h[3]]);
        let value = buf.get(at + 4..at + len.max(4))?;
        at += align(len.max(4));
        Some((typ, value))
    })
}

fn push_attr(b: &mut Vec<u8>, typ: u16, value: &[u8]) {
    let len = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&typ.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(align(b.len()), 0);
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut b = Vec::new();
        push_attr(&mut b, IFLA_IFNAME, b"eth5\0");
        push_attr(&mut b, IFLA_NET_NS_FD, &7u32.to_ne_bytes());
        assert_eq!(b.len(), 12 + 8);
        let got: Vec<_> = attributes(&b).collect();
        assert_eq!(
            got,
            [
                (IFLA_IFNAME, &b"eth5\0"[..]),
                (IFLA_NET_NS_FD, &7u32.to_ne_bytes()[..])
            ]
        );
        // A truncated attribute ends the walk.
        assert_eq!(attributes(&b[..6]).count(), 0);
    }

    #[test]
    fn the_loopback_address_is_dumped() {
        let sock = Socket::open().unwrap();
        let lo = nix::net::if_::if_nametoindex("lo").unwrap();
        let all = sock.addresses().unwrap();
        let v4 = all
            .iter()
            .find(|a| a.index == lo && a.family == libc::AF_INET as u8)
            .unwrap();
        assert_eq!(v4.attr(libc::IFA_LOCAL), Some(&[127, 0, 0, 1][..]));
        assert_eq!((v4.prefix_len, v4.scope), (8, libc::RT_SCOPE_HOST));
        assert_ne!(v4.all_flags() & IFA_F_PERMANENT, 0);
        // What the kernel refuses comes back as its errno.
        assert_eq!(sock.set_link(0x7fff_fff0, 0, 0, &[]), Err(Errno::ENODEV));
    }
}
