//! `linux.netDevices`: host network interfaces moved into the container's network namespace,
//! renamed when `name` is set, keeping their addresses and MTU, as runc 1.5.
//!
//! * In the runtime parent, during validation ([`check`]): runc's refusals (no network
//!   namespace, rootless, a bad name) and what would fail half-way (no such device on the
//!   host, two devices given one name, a name the new namespace already has), so that bad input
//!   leaves every device where it was. Each device's index and its permanent, global addresses
//!   are read then (moving a device flushes them).
//! * In the runtime parent, once the init has its network namespace ([`move_into`]): one
//!   `RTM_NEWLINK` per device with the namespace's fd and the new name, which the kernel applies
//!   as one operation (a refused move leaves the device on the host, under its name).
//! * In the init, inside the namespace ([`configure`]): the addresses added back and the link
//!   set up.
//!
//! The devices stay in the namespace until it goes: a physical one then returns to the host's
//! initial namespace, a virtual one (veth) is destroyed with it, as with runc.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nix::sys::socket::{self, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType};
use oci_spec::runtime::Linux;

use crate::error::{Error, Result};

/// One device to move, as checked.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its name on the host (the key in `linux.netDevices`).
    pub host: String,
    /// Its name in the container.
    pub name: String,
    /// Its index on the host.
    pub index: u32,
    /// Its permanent addresses of global scope, to add back in the container.
    pub addresses: Vec<AddressMessage>,
}

/// Check `linux.netDevices` and read each device's index and addresses. `netns`: whether the
/// container has a network namespace, `new_netns` whether it is made (not joined by path).
pub fn check(linux: Option<&Linux>, netns: bool, new_netns: bool) -> Result<Vec<Device>> {
    let Some(devs) = linux.and_then(|l| l.net_devices().as_ref()) else {
        return Ok(Vec::new());
    };
    if devs.is_empty() {
        return Ok(Vec::new());
    }
    let refuse = |field: String, why: String| Err(Error::config(field, why));
    if !netns {
        return refuse(
            "linux.netDevices".into(),
            "unable to move network devices without a NET namespace".into(),
        );
    }
    if !nix::unistd::geteuid().is_root() {
        return refuse(
            "linux.netDevices".into(),
            "network devices are not supported for rootless containers".into(),
        );
    }
    // In name order, so that errors are the same from one run to the next.
    let mut hosts: Vec<&String> = devs.keys().collect();
    hosts.sort();
    let mut out: Vec<Device> = Vec::new();
    let sock = Route::open()?;
    for host in hosts {
        let field = format!("linux.netDevices.{host}");
        let name = devs[host]
            .name()
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| host.clone());
        for n in [host, &name] {
            if !valid_name(n) {
                return refuse(field, format!("invalid network device name {n:?}"));
            }
        }
        if let Some(other) = out.iter().find(|d| d.name == name) {
            return refuse(
                field,
                format!("name {name:?} is also given to {}", other.host),
            );
        }
        if new_netns && name == "lo" {
            return refuse(
                field,
                "name \"lo\" is taken in the container's network namespace".into(),
            );
        }
        let index = nix::net::if_::if_nametoindex(host.as_str()).map_err(|_| {
            Error::config(&field, format!("no network device {host:?} on the host"))
        })?;
        let addresses = sock.addresses(index).map_err(|e| {
            Error::sys(format!("reading the addresses of network device {host}"), e)
        })?;
        out.push(Device {
            host: host.clone(),
            name,
            index,
            addresses,
        });
    }
    Ok(out)
}

/// The kernel's rule for interface names (`dev_valid_name`).
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() < libc::IFNAMSIZ
        && n != "."
        && n != ".."
        && !n.contains(['/', ':'])
        && !n.chars().any(char::is_whitespace)
}

/// Runtime parent: move each device into the network namespace `ns`, renamed.
pub fn move_into(devices: &[Device], ns: BorrowedFd<'_>) -> Result<()> {
    let sock = Route::open()?;
    for d in devices {
        let mut link = LinkMessage::default();
        link.header.index = d.index;
        link.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        if d.name != d.host {
            link.attributes.push(LinkAttribute::IfName(d.name.clone()));
        }
        sock.request(RouteNetlinkMessage::SetLink(link), 0)
            .map_err(|e| {
                Error::config(
                    format!("linux.netDevices.{}", d.host),
                    format!(
                        "moving network device {} into the container as {}: {}",
                        d.host,
                        d.name,
                        crate::error::errno_text(e)
                    ),
                )
            })?;
    }
    Ok(())
}

/// Init, in its network namespace: add each moved device's addresses back and set it up.
pub fn configure(devices: &[Device]) -> Result<()> {
    let sock = Route::open()?;
    for d in devices {
        let what = |step: &str| format!("{step} of network device {} in the container", d.name);
        let index = nix::net::if_::if_nametoindex(d.name.as_str())
            .map_err(|e| Error::sys(what("finding the index"), e))?;
        for a in &d.addresses {
            let mut a = a.clone();
            a.header.index = index;
            // A label names the old device; the kernel refuses one that does not match.
            a.attributes.retain(|x| {
                !matches!(
                    x,
                    AddressAttribute::Label(_) | AddressAttribute::CacheInfo(_)
                )
            });
            with_broadcast(&mut a);
            sock.request(
                RouteNetlinkMessage::NewAddress(a),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .map_err(|e| Error::sys(what("adding an address"), e))?;
        }
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        sock.request(RouteNetlinkMessage::SetLink(link), 0)
            .map_err(|e| Error::sys(what("setting up"), e))?;
    }
    Ok(())
}

/// As runc (its netlink library's `AddrAdd`): an IPv4 address without a broadcast address gets
/// the one of its subnet, unless the subnet is /31 or /32.
fn with_broadcast(a: &mut AddressMessage) {
    let has = a
        .attributes
        .iter()
        .any(|x| matches!(x, AddressAttribute::Broadcast(_)));
    let v4 = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    let len = u32::from(a.header.prefix_len);
    if let (false, Some(ip), true) = (has, v4, len < 31) {
        let host_bits = u32::MAX.checked_shr(len).unwrap_or(0);
        let brd = std::net::Ipv4Addr::from(u32::from(ip) | host_bits);
        a.attributes.push(AddressAttribute::Broadcast(brd));
    }
}

/// Whether an address of the host is one runc carries over: permanent (not from DHCP or
/// autoconfiguration) and of global scope (not a link-local one).
fn carried(a: &AddressMessage) -> bool {
    let permanent = a
        .attributes
        .iter()
        .any(|x| matches!(x, AddressAttribute::Flags(f) if f.contains(AddressFlags::Permanent)))
        || a.header
            .flags
            .contains(netlink_packet_route::address::AddressHeaderFlags::Permanent);
    permanent && a.header.scope == AddressScope::Universe
}

/// A `NETLINK_ROUTE` socket of the calling process's network namespace.
struct Route {
    fd: OwnedFd,
}

impl Route {
    fn open() -> Result<Route> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| Error::sys("opening a netlink socket", e))?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))
            .map_err(|e| Error::sys("binding a netlink socket", e))?;
        Ok(Route { fd })
    }

    /// The permanent, global addresses of interface `index`.
    fn addresses(&self, index: u32) -> nix::Result<Vec<AddressMessage>> {
        let all = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .filter(carried)
            .collect())
    }

    /// Send one request (with `NLM_F_REQUEST | NLM_F_ACK` and `flags`) and collect the
    /// answers up to its ACK, or the end of a dump; a NACK is its errno.
    fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> nix::Result<Vec<RouteNetlinkMessage>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = 1;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        socket::send(self.fd.as_raw_fd(), &buf, socket::MsgFlags::empty())?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let n = socket::recv(self.fd.as_raw_fd(), &mut rx, socket::MsgFlags::empty())?;
            let mut at = 0;
            while at < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[at..n])
                    .map_err(|_| nix::errno::Errno::EBADMSG)?;
                let len = m.header.length as usize;
                match m.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(code) => Err(nix::errno::Errno::from_raw(-code.get())),
                            None => Ok(out),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(i) => out.push(i),
                    _ => {}
                }
                if len == 0 {
                    return Err(nix::errno::Errno::EBADMSG);
                }
                at += len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn address_of(a: &AddressMessage) -> Option<IpAddr> {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    }

    #[test]
    fn ipv4_broadcast_as_runc() {
        let mut a = AddressMessage::default();
        a.header.prefix_len = 24;
        a.attributes
            .push(AddressAttribute::Local(IpAddr::from([10, 99, 0, 1])));
        with_broadcast(&mut a);
        assert!(a
            .attributes
            .contains(&AddressAttribute::Broadcast(std::net::Ipv4Addr::new(
                10, 99, 0, 255
            ))));
        a.header.prefix_len = 31;
        a.attributes.pop();
        with_broadcast(&mut a);
        assert_eq!(a.attributes.len(), 1);
    }

    #[test]
    fn interface_names() {
        for ok in ["eth0", "a", "x-y_z.1", "fifteen_chars_x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:1", "a b", "sixteen_chars_xx"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_addresses_are_read_and_not_carried() {
        // lo's 127.0.0.1/8 is permanent but of host scope: never carried over.
        let sock = Route::open().unwrap();
        let lo = nix::net::if_::if_nametoindex("lo").unwrap();
        assert!(sock.addresses(lo).unwrap().is_empty());
        let all = sock
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
            )
            .unwrap();
        assert!(all.iter().any(|m| matches!(m,
            RouteNetlinkMessage::NewAddress(a) if a.header.index == lo
                && address_of(a) == Some(IpAddr::from([127, 0, 0, 1])))));
    }
}
