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

use std::os::fd::{AsRawFd, BorrowedFd};

use oci_spec::runtime::Linux;

use crate::error::{Error, Result};
use crate::rtnetlink::{self, Address, IFA_F_PERMANENT, IFLA_IFNAME, IFLA_NET_NS_FD};

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
    pub addresses: Vec<Address>,
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
    let all = rtnetlink::Socket::open()
        .and_then(|s| s.addresses())
        .map_err(|e| Error::sys("reading the host's network addresses", e))?;
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
        let addresses = all
            .iter()
            .filter(|a| a.index == index && carried(a))
            .cloned()
            .collect();
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
    let sock = rtnetlink::Socket::open().map_err(|e| Error::sys("opening a netlink socket", e))?;
    let fd = ns.as_raw_fd().to_ne_bytes();
    for d in devices {
        let name = format!("{}\0", d.name);
        let mut attrs: Vec<(u16, &[u8])> = vec![(IFLA_NET_NS_FD, &fd)];
        if d.name != d.host {
            attrs.push((IFLA_IFNAME, name.as_bytes()));
        }
        sock.set_link(d.index, 0, 0, &attrs).map_err(|e| {
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
    let sock = rtnetlink::Socket::open().map_err(|e| Error::sys("opening a netlink socket", e))?;
    for d in devices {
        let what = |step: &str| format!("{step} of network device {} in the container", d.name);
        let index = nix::net::if_::if_nametoindex(d.name.as_str())
            .map_err(|e| Error::sys(what("finding the index"), e))?;
        for a in &d.addresses {
            let a = for_the_container(a, index);
            sock.add_address(&a)
                .map_err(|e| Error::sys(what("adding an address"), e))?;
        }
        let up = libc::IFF_UP as u32;
        sock.set_link(index, up, up, &[])
            .map_err(|e| Error::sys(what("setting up"), e))?;
    }
    Ok(())
}

/// A host address as it is added in the container: on the device's new index, with the
/// address, local address, broadcast and flags only (a label names the old device, and the
/// kernel refuses one that does not match); an IPv4 address without a broadcast gets its
/// subnet's unless it is /31 or /32, as runc's netlink library does.
fn for_the_container(a: &Address, index: u32) -> Address {
    let keep = [
        libc::IFA_ADDRESS,
        libc::IFA_LOCAL,
        libc::IFA_BROADCAST,
        libc::IFA_FLAGS,
    ];
    let mut out = a.clone();
    out.index = index;
    out.attrs.retain(|(t, _)| keep.contains(t));
    let v4 = (out.family == libc::AF_INET as u8)
        .then(|| {
            out.attr(libc::IFA_LOCAL)
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
        })
        .flatten();
    let len = u32::from(out.prefix_len);
    if let (None, Some(ip), true) = (out.attr(libc::IFA_BROADCAST), v4, len < 31) {
        let host_bits = u32::MAX.checked_shr(len).unwrap_or(0);
        let brd = u32::from_be_bytes(ip) | host_bits;
        out.attrs
            .push((libc::IFA_BROADCAST, brd.to_be_bytes().to_vec()));
    }
    out
}

/// Whether an address of the host is one runc carries over: permanent (not from DHCP or
/// autoconfiguration) and of global scope (not a link-local one).
fn carried(a: &Address) -> bool {
    a.all_flags() & IFA_F_PERMANENT != 0 && a.scope == libc::RT_SCOPE_UNIVERSE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(prefix_len: u8, ip: [u8; 4]) -> Address {
        Address {
            family: libc::AF_INET as u8,
            prefix_len,
            flags: IFA_F_PERMANENT as u8,
            scope: libc::RT_SCOPE_UNIVERSE,
            index: 7,
            attrs: vec![
                (libc::IFA_ADDRESS, ip.to_vec()),
                (libc::IFA_LOCAL, ip.to_vec()),
                (libc::IFA_LABEL, b"veth0\0".to_vec()),
            ],
        }
    }

    #[test]
    fn addresses_for_the_container_as_runc() {
        let a = for_the_container(&v4(24, [10, 99, 0, 1]), 3);
        assert_eq!(a.index, 3);
        assert_eq!(a.attr(libc::IFA_LABEL), None);
        assert_eq!(a.attr(libc::IFA_BROADCAST), Some(&[10, 99, 0, 255][..]));
        let a = for_the_container(&v4(31, [10, 99, 0, 1]), 3);
        assert_eq!(a.attr(libc::IFA_BROADCAST), None);
        assert!(carried(&v4(24, [10, 99, 0, 1])));
        let mut link_local = v4(16, [169, 254, 1, 1]);
        link_local.scope = libc::RT_SCOPE_LINK;
        assert!(!carried(&link_local));
        let mut dynamic = v4(24, [10, 99, 0, 1]);
        dynamic.flags = 0;
        assert!(!carried(&dynamic));
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
}
