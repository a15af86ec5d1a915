//! `mounts[].options` -> mount(2) flags, propagation changes and filesystem data, with runc's
//! table of option names. Pure logic, unit-tested.

use nix::mount::MsFlags;

/// A parsed option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set on the mount.
    pub flags: MsFlags,
    /// Propagation changes applied after the mount, in order (`rslave`, `shared`, ...).
    pub propagation: Vec<MsFlags>,
    /// Options the kernel flags do not know, passed as the filesystem's data string.
    pub data: Vec<String>,
    /// Flags an option asked to clear (`rw`, `suid`, `exec`...): a bind is remounted when
    /// there are any, as runc does, so that `rw` makes a read-only source writable.
    pub cleared: MsFlags,
    /// runc's `tmpcopyup` extension: a tmpfs starts with a copy of the directory it covers.
    pub copy_up: bool,
    /// The recursive attributes (`rro`, `rnosuid`, `rnosymfollow`...), set with
    /// `mount_setattr(AT_RECURSIVE)` on the mount and every mount beneath it.
    pub rec_attr: RecAttr,
}

/// `MOUNT_ATTR_*` bits to set and to clear, recursively (`struct mount_attr`'s two fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecAttr {
    /// Bits to set.
    pub set: u64,
    /// Bits to clear (for an access-time value, the whole `MOUNT_ATTR__ATIME` field).
    pub clr: u64,
}

impl RecAttr {
    /// Whether any attribute is asked for.
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            cleared: MsFlags::empty(),
            copy_up: false,
            rec_attr: RecAttr::default(),
        }
    }
}

impl MountOptions {
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// For a fresh mount (not a bind), which has nothing beneath it yet: `rro` and `rrw` are
    /// `ro` and `rw` (still winning over them, as recursive attributes come last), so that a
    /// read-only tmpfs or /dev gets its mount points and nodes before it is made read-only.
    pub fn fold_read_only(&mut self) {
        let ro = libc::MOUNT_ATTR_RDONLY;
        if self.rec_attr.set & ro != 0 {
            self.flags.insert(MsFlags::MS_RDONLY);
            self.cleared.remove(MsFlags::MS_RDONLY);
        } else if self.rec_attr.clr & ro != 0 {
            self.flags.remove(MsFlags::MS_RDONLY);
            self.cleared.insert(MsFlags::MS_RDONLY);
        }
        self.rec_attr.set &= !ro;
        self.rec_attr.clr &= !ro;
    }

    /// The data string for mount(2), or `None` when empty.
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Parse an option list. Unknown options are kept as filesystem data, as runc does.
pub fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    for opt in options {
        if opt == COPY_UP {
            out.copy_up = true;
            continue;
        }
        if let Some(p) = propagation(opt) {
            out.propagation.push(p);
            continue;
        }
        if let Some((set, attr)) = rec_attr(opt) {
            out.rec_attr.add(set, attr);
            continue;
        }
        match flag(opt) {
            Some((true, f)) => {
                out.flags.insert(f);
                out.cleared.remove(f);
            }
            Some((false, f)) => {
                out.flags.remove(f);
                out.cleared.insert(f);
            }
            None => out.data.push(opt.clone()),
        }
    }
    out
}

/// Propagation option names, in runc's table.
const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Flag option names, in runc's table: `(name, set?, flags)`.
const FLAGS: &[(&str, bool, MsFlags)] = {
    use MsFlags as F;
    &[
        ("defaults", true, F::empty()),
        ("ro", true, F::MS_RDONLY),
        ("rw", false, F::MS_RDONLY),
        ("nosuid", true, F::MS_NOSUID),
        ("suid", false, F::MS_NOSUID),
        ("nodev", true, F::MS_NODEV),
        ("dev", false, F::MS_NODEV),
        ("noexec", true, F::MS_NOEXEC),
        ("exec", false, F::MS_NOEXEC),
        ("sync", true, F::MS_SYNCHRONOUS),
        ("async", false, F::MS_SYNCHRONOUS),
        ("dirsync", true, F::MS_DIRSYNC),
        ("remount", true, F::MS_REMOUNT),
        ("mand", true, F::MS_MANDLOCK),
        ("nomand", false, F::MS_MANDLOCK),
        ("noatime", true, F::MS_NOATIME),
        ("atime", false, F::MS_NOATIME),
        ("nodiratime", true, F::MS_NODIRATIME),
        ("diratime", false, F::MS_NODIRATIME),
        ("relatime", true, F::MS_RELATIME),
        ("norelatime", false, F::MS_RELATIME),
        ("strictatime", true, F::MS_STRICTATIME),
        ("nostrictatime", false, F::MS_STRICTATIME),
        ("iversion", true, F::MS_I_VERSION),
        ("noiversion", false, F::MS_I_VERSION),
        ("nosymfollow", true, MS_NOSYMFOLLOW),
        ("symfollow", false, MS_NOSYMFOLLOW),
        ("lazytime", true, F::MS_LAZYTIME),
        ("nolazytime", false, F::MS_LAZYTIME),
        ("silent", true, F::MS_SILENT),
        ("loud", false, F::MS_SILENT),
        ("bind", true, F::MS_BIND),
        ("rbind", true, F::MS_BIND.union(F::MS_REC)),
    ]
};

/// `MS_NOSYMFOLLOW` (Linux 5.10), which neither nix nor libc names.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(0x100);

/// Recursive attribute option names, in runc's table: `(name, set?, MOUNT_ATTR_*)`.
const REC_ATTRS: &[(&str, bool, u64)] = &[
    ("rro", true, libc::MOUNT_ATTR_RDONLY),
    ("rrw", false, libc::MOUNT_ATTR_RDONLY),
    ("rnosuid", true, libc::MOUNT_ATTR_NOSUID),
    ("rsuid", false, libc::MOUNT_ATTR_NOSUID),
    ("rnodev", true, libc::MOUNT_ATTR_NODEV),
    ("rdev", false, libc::MOUNT_ATTR_NODEV),
    ("rnoexec", true, libc::MOUNT_ATTR_NOEXEC),
    ("rexec", false, libc::MOUNT_ATTR_NOEXEC),
    ("rnodiratime", true, libc::MOUNT_ATTR_NODIRATIME),
    ("rdiratime", false, libc::MOUNT_ATTR_NODIRATIME),
    ("rrelatime", true, libc::MOUNT_ATTR_RELATIME),
    ("rnorelatime", false, libc::MOUNT_ATTR_RELATIME),
    ("rnoatime", true, libc::MOUNT_ATTR_NOATIME),
    ("ratime", false, libc::MOUNT_ATTR_NOATIME),
    ("rstrictatime", true, libc::MOUNT_ATTR_STRICTATIME),
    ("rnostrictatime", false, libc::MOUNT_ATTR_STRICTATIME),
    ("rnosymfollow", true, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", false, libc::MOUNT_ATTR_NOSYMFOLLOW),
];

impl RecAttr {
    /// Apply one option, later options winning, as runc's parser: setting an access-time
    /// value also clears the whole access-time field (mount_setattr(2) requires it).
    fn add(&mut self, set: bool, attr: u64) {
        if set {
            self.set |= attr;
            self.clr &= !attr;
            if attr & libc::MOUNT_ATTR__ATIME == attr {
                self.clr |= libc::MOUNT_ATTR__ATIME;
            }
        } else {
            self.clr |= attr;
            self.set &= !attr;
        }
    }
}

/// `(set?, MOUNT_ATTR_*)` for a recursive attribute option name.
fn rec_attr(opt: &str) -> Option<(bool, u64)> {
    REC_ATTRS.iter().find(|r| r.0 == opt).map(|r| (r.1, r.2))
}

/// runc's `tmpcopyup` extension ([`MountOptions::copy_up`]).
const COPY_UP: &str = "tmpcopyup";

/// Every option name [`parse`] understands (anything else is filesystem data): flags,
/// propagation changes, recursive attributes and the `tmpcopyup` extension. What `features` reports as
/// `mountOptions`.
pub fn names() -> impl Iterator<Item = &'static str> {
    FLAGS
        .iter()
        .map(|f| f.0)
        .chain(PROPAGATION.iter().map(|p| p.0))
        .chain(REC_ATTRS.iter().map(|r| r.0))
        .chain([COPY_UP])
}

/// Propagation option names.
pub fn propagation(opt: &str) -> Option<MsFlags> {
    PROPAGATION.iter().find(|p| p.0 == opt).map(|p| p.1)
}

/// `(set?, flag)` for a flag option name.
fn flag(opt: &str) -> Option<(bool, MsFlags)> {
    FLAGS.iter().find(|f| f.0 == opt).map(|f| (f.1, f.2))
}

/// Flags that a bind remount may change (the rest come from the original mount).
pub const REMOUNT_MASK: MsFlags = MsFlags::from_bits_retain(
    MsFlags::MS_RDONLY.bits()
        | MsFlags::MS_NOSUID.bits()
        | MsFlags::MS_NODEV.bits()
        | MsFlags::MS_NOEXEC.bits()
        | MsFlags::MS_NOATIME.bits()
        | MsFlags::MS_NODIRATIME.bits()
        | MsFlags::MS_RELATIME.bits()
        | MsFlags::MS_STRICTATIME.bits()
        | MS_NOSYMFOLLOW.bits(),
);

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_set_and_cleared_in_order() {
        let o = p(&["ro", "nosuid", "rw", "nodev"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert!(o.data.is_empty());
    }

    #[test]
    fn rbind_is_recursive_bind() {
        let o = p(&["rbind", "ro"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
    }

    #[test]
    fn propagation_kept_apart() {
        let o = p(&["rslave", "private"]);
        assert_eq!(
            o.propagation,
            vec![MsFlags::MS_SLAVE | MsFlags::MS_REC, MsFlags::MS_PRIVATE]
        );
        assert_eq!(o.flags, MsFlags::empty());
    }

    #[test]
    fn unknown_options_become_data() {
        let o = p(&["nosuid", "mode=755", "size=65536k"]);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(p(&["ro"]).data_string(), None);
    }

    #[test]
    fn tmpcopyup_is_an_extension_not_data() {
        let o = p(&["nosuid", "tmpcopyup", "mode=1777"]);
        assert!(o.copy_up);
        assert_eq!(o.data_string().as_deref(), Some("mode=1777"));
        assert!(!p(&["nosuid"]).copy_up);
    }

    #[test]
    fn every_name_is_understood_once() {
        let names: Vec<_> = names().collect();
        assert_eq!(names.len(), 60);
        for n in names {
            let o = p(&[n]);
            assert!(o.data.is_empty(), "{n} became data");
            let kinds = [
                flag(n).is_some(),
                propagation(n).is_some(),
                rec_attr(n).is_some(),
                o.copy_up,
            ];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{n}");
        }
    }

    #[test]
    fn recursive_attributes_later_options_win() {
        let o = p(&["rbind", "rro", "rnosuid", "rsuid"]);
        assert_eq!(o.rec_attr.set, libc::MOUNT_ATTR_RDONLY);
        assert_eq!(o.rec_attr.clr, libc::MOUNT_ATTR_NOSUID);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        // An access-time value clears the whole field, as mount_setattr(2) requires.
        let o = p(&["rnoatime"]);
        assert_eq!(o.rec_attr.set, libc::MOUNT_ATTR_NOATIME);
        assert_eq!(o.rec_attr.clr, libc::MOUNT_ATTR__ATIME);
        assert!(p(&["ro"]).rec_attr.is_empty());
        assert_eq!(
            p(&["rnosymfollow"]).rec_attr.set,
            libc::MOUNT_ATTR_NOSYMFOLLOW
        );
    }

    #[test]
    fn rro_and_rrw_of_a_fresh_mount_are_ro_and_rw() {
        let mut o = p(&["rro", "rnosuid"]);
        o.fold_read_only();
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert_eq!(o.rec_attr.set, libc::MOUNT_ATTR_NOSUID);
        let mut o = p(&["ro", "rrw"]);
        o.fold_read_only();
        assert_eq!(o.flags, MsFlags::empty());
        assert!(o.rec_attr.is_empty());
    }

    #[test]
    fn cleared_flags_are_kept_apart() {
        let o = p(&["rw", "nosuid", "suid", "exec"]);
        assert_eq!(o.flags, MsFlags::empty());
        assert_eq!(
            o.cleared,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC
        );
        assert_eq!(p(&["rw", "ro"]).cleared, MsFlags::empty());
        assert_eq!(p(&["nosymfollow"]).flags, MS_NOSYMFOLLOW);
        assert_eq!(p(&["iversion"]).flags, MsFlags::MS_I_VERSION);
    }

    #[test]
    fn relatime_family() {
        assert_eq!(p(&["strictatime"]).flags, MsFlags::MS_STRICTATIME);
        assert_eq!(p(&["relatime", "norelatime"]).flags, MsFlags::empty());
        assert_eq!(
            p(&["noatime", "nodiratime"]).flags,
            MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME
        );
    }
}
