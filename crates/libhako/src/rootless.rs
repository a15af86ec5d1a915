//! Containers started by an unprivileged user ("rootless"), seen from the runtime parent: where
//! their state lives, and what such a user may not ask for, refused before anything is made
//! with an error naming the field and the reason.
//!
//! What else differs when rootless, and where:
//! * id maps: written directly for the caller's own id, else by newuidmap/newgidmap
//!   ([`crate::userns`]);
//! * cgroups: none unless the caller may write where the container's cgroup would go (a
//!   delegated subtree), with runc's rule ([`crate::cgroups::keep_if_writable`]), which also
//!   holds for root in a user namespace (rootless Podman: [`cgroups_rootless`]);
//! * /dev: device nodes cannot be made in a user namespace: the host's are bind-mounted
//!   (`rootfs/devices.rs`, on EPERM from mknod);
//! * /sys: a fresh sysfs needs the network namespace's owner; refused, the host's /sys is
//!   bind-mounted instead (`rootfs/mounts.rs`, on EPERM);
//! * network: nothing but the loopback a new network namespace comes with;
//! * idmapped mounts: refused (they need CAP_SYS_ADMIN over the source's filesystem).

use std::path::PathBuf;

use nix::sched::CloneFlags;

use crate::error::{Error, Result};
use crate::spec::Plan;
use crate::userns::{self, Kind, Writer};

/// The state root of a root caller, as runc's `/run/runc`.
pub const ROOT_STATE: &str = "/run/hako";

/// Whether the caller is unprivileged (a non-zero effective uid).
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Whether runc's rootless cgroup rule applies ([`crate::cgroups::keep_if_writable`]): the
/// caller is unprivileged, or root in a user namespace (rootless Podman and conmon run the
/// runtime so, as `unshare -U -r` does), whose root cannot write a cgroup the host did not
/// delegate to it.
pub fn cgroups_rootless() -> bool {
    is_rootless() || userns::in_user_namespace()
}

/// The state root when `--root` is not given, with runc's rule: `$XDG_RUNTIME_DIR/hako` for an
/// unprivileged caller (or root in a user namespace whose runtime dir it owns), else
/// `/run/hako`. An unprivileged caller without `XDG_RUNTIME_DIR` gets `/run/user/<uid>/hako`
/// when that directory is its own, else an error: it may not write `/run/hako`.
pub fn default_root() -> Result<PathBuf> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    if let Some(dir) = xdg {
        if is_rootless() || userns::in_user_namespace() && userns::owned_by_caller(&dir) {
            return Ok(dir.join("hako"));
        }
    }
    if !is_rootless() {
        return Ok(PathBuf::from(ROOT_STATE));
    }
    let uid = nix::unistd::geteuid().as_raw();
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() && userns::owned_by_caller(&run_user) {
        return Ok(run_user.join("hako"));
    }
    Err(Error::Lifecycle(format!(
        "no state directory for uid {uid}: XDG_RUNTIME_DIR is not set and {} is not a \
         directory of yours, and an unprivileged user may not write {ROOT_STATE}: pass \
         --root DIR or set XDG_RUNTIME_DIR",
        run_user.display()
    )))
}

/// Refuse, for an unprivileged caller, what it may not do; nothing for root.
pub fn check(plan: &Plan) -> Result<()> {
    if !is_rootless() {
        return Ok(());
    }
    let uid = nix::unistd::geteuid().as_raw();
    if !plan.has(CloneFlags::CLONE_NEWUSER) {
        return Err(Error::config(
            "linux.namespaces",
            format!(
                "an unprivileged user (uid {uid}) needs a user namespace to make a container: \
                 add {{\"type\": \"user\"}} with uidMappings and gidMappings (see `hako spec \
                 --rootless`)"
            ),
        ));
    }
    if plan.creates(CloneFlags::CLONE_NEWUSER) {
        let linux = plan.spec.linux().as_ref();
        let maps = |k: Kind| {
            linux
                .and_then(|l| match k {
                    Kind::Uid => l.uid_mappings().clone(),
                    Kind::Gid => l.gid_mappings().clone(),
                })
                .unwrap_or_default()
        };
        userns::check_unprivileged(Kind::Uid, &maps(Kind::Uid))?;
        let gid = userns::check_unprivileged(Kind::Gid, &maps(Kind::Gid))?;
        let extra = plan
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.user().additional_gids().clone())
            .unwrap_or_default();
        if gid == Writer::DenySetgroups && !extra.is_empty() {
            return Err(Error::config(
                "process.user.additionalGids",
                "setgroups(2) is denied in a user namespace whose gid_map an unprivileged user \
                 wrote for its own gid alone: map more gids (delegated in /etc/subgid, written \
                 by newgidmap) or drop additionalGids",
            ));
        }
    }
    if let Some(m) = plan.mounts.iter().find(|m| m.idmap.is_some()) {
        return Err(Error::config(
            format!("mounts[{}]", m.index),
            format!(
                "idmapped mount of {}: needs CAP_SYS_ADMIN in the user namespace owning its \
                 filesystem (the host's), which an unprivileged user does not have",
                m.source.display()
            ),
        ));
    }
    Ok(())
}
