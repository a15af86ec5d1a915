//! The container's session keyring, made as runc makes it.
//!
//! A process inherits its session keyring. Without one of its own, every container process
//! would share the keyring of whoever ran the runtime (a login session's, an engine's) and
//! could read, search and link the keys in it. So the init joins a new session keyring named
//! `_ses.<id>` ([`join_new`]) and makes it searchable by its owner's uid, or by anyone when
//! the container has a user namespace (its uids are not the owner's), so that the container's
//! processes find it by name; a process `exec`'d into the container joins it by that name
//! ([`join`]). `--no-new-keyring` (kept in state.json for `exec`) leaves the processes in the
//! caller's keyring, as in runc. A kernel without keyrings (ENOSYS) is no error (runc: the
//! protection is marginal next to the VFS credentials, and best effort there).

use std::ffi::CString;

use nix::errno::Errno;

use crate::error::{Error, Result, SysContext};

/// `KEY_USR_SEARCH`: the owner's uid may find the keyring.
const USR_SEARCH: u32 = 0x0008_0000;
/// `KEY_OTH_SEARCH`: anyone may find the keyring.
const OTH_SEARCH: u32 = 0x0000_0008;

/// The keyring's name for container `id` (runc's).
fn ring_name(id: &str) -> Result<CString> {
    CString::new(format!("_ses.{id}"))
        .map_err(|_| Error::Lifecycle(format!("container id {id:?} holds a NUL byte")))
}

/// The permission field (hex, 4th) of a `KEYCTL_DESCRIBE` "type;uid;gid;perm;description".
fn perm_of(description: &str) -> Option<u32> {
    let perm = description.split(';').nth(3)?;
    u32::from_str_radix(perm, 16).ok()
}

/// Join the session keyring `name`; `None` where the kernel has no keyrings.
fn join_ring(name: &CString) -> Result<Option<i32>> {
    match crate::sys::join_session_keyring(name) {
        Ok(serial) => Ok(Some(serial)),
        Err(Errno::ENOSYS) => Ok(None),
        Err(e) => Err(e).ctx(|| format!("joining the session keyring {name:?}")),
    }
}

/// In the container init: join a new session keyring for container `id`, labelled with the
/// process's SELinux `label` if any, and let the container's processes search it (`userns`:
/// the container has a user namespace).
pub fn join_new(id: &str, userns: bool, label: Option<&str>) -> Result<()> {
    labelled(label, || make(id, userns))
}

/// In a process `exec`'d into container `id`: join the container's session keyring (made
/// with `label` if the init has not made it).
pub fn join(id: &str, label: Option<&str>) -> Result<()> {
    labelled(label, || join_ring(&ring_name(id)?).map(drop))
}

/// Run `f` with the SELinux key-creation label set to `label`, and cleared again after.
fn labelled(label: Option<&str>, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let Some(label) = label else {
        return f();
    };
    crate::lsm::set_keycreate(label)?;
    let made = f();
    let cleared = crate::lsm::set_keycreate("");
    made.and(cleared)
}

fn make(id: &str, userns: bool) -> Result<()> {
    let name = ring_name(id)?;
    let Some(serial) = join_ring(&name)? else {
        return Ok(());
    };
    let described = crate::sys::describe_key(serial)
        .ctx(|| format!("reading the permissions of the session keyring {name:?}"))?;
    let perm = perm_of(&described).ok_or_else(|| {
        Error::Init(format!(
            "session keyring {name:?}: unexpected description {described:?}"
        ))
    })?;
    let search = if userns { OTH_SEARCH } else { USR_SEARCH };
    crate::sys::set_key_perm(serial, perm | search)
        .ctx(|| format!("making the session keyring {name:?} searchable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_read_from_the_description() {
        assert_eq!(perm_of("keyring;0;0;3f130000;_ses.abc"), Some(0x3f13_0000));
        // A description may hold ';' itself.
        assert_eq!(perm_of("keyring;1000;1000;3f010000;a;b"), Some(0x3f01_0000));
        assert_eq!(perm_of("keyring;0;0"), None);
        assert_eq!(perm_of("keyring;0;0;zz;x"), None);
    }

    #[test]
    fn ring_names_are_runcs() {
        assert_eq!(ring_name("web-1").unwrap().as_bytes(), b"_ses.web-1");
        assert!(ring_name("a\0b").is_err());
    }
}
