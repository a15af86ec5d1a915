//! LSM labels: `process.apparmorProfile`, `process.selinuxLabel`, `linux.mountLabel`.
//!
//! Both LSMs are applied as runc applies them. Where a profile or label is asked for, the
//! container process (the init, or an exec'd process) writes it to its own `exec` attribute
//! just before its `execve`, so that the program starts confined:
//!
//! * AppArmor ([`apply_apparmor`]): `exec <profile>` to `/proc/thread-self/attr/apparmor/exec`
//!   (`attr/exec` on kernels before 5.8);
//! * SELinux ([`apply_selinux`], go-selinux's `SetExecLabel`): the label to
//!   `/proc/thread-self/attr/exec`.
//!
//! The write goes through [`crate::procfs`] (a `/proc` checked to be procfs, no symlink or
//! mount crossed), as root, before the capability drop and before any seccomp filter is loaded
//! (runc's order), so the filter cannot block it. The transition happens at the *next*
//! `execve`: the exec trampoline is therefore not used for a confined process (see
//! `exeguard::prepare`; runc disables its own runc-dmz for a SELinux label for the same
//! reason). An exec'd process without a profile or label of its own gets the container's.
//!
//! `linux.mountLabel` (go-selinux's `FormatMountLabel`, where runc uses it): `context="<label>"`
//! is added to the data of the container's filesystem mounts ([`mount_data`]), tmpfs (also the
//! tmpfs of a v1 `cgroup` mount and of a masked directory), devpts and any other type except
//! proc and sysfs, which SELinux cannot label; bind mounts take no data and are not labelled,
//! nor are cgroup hierarchies. An mqueue mount is made without it (its superblock is the IPC
//! namespace's, possibly shared) and its root is labelled with the `security.selinux` xattr
//! instead, as runc does.
//!
//! The session keyring the container joins (see [`crate::keyring`]) gets the process label
//! too: it is written to `/proc/thread-self/attr/keycreate` before the keyring is joined and
//! cleared after ([`set_keycreate`]; runc's `SetKeyLabel`).
//!
//! A profile or label asked for on a host where its LSM is not enabled is refused during
//! validation, before anything is created, in runc's words for SELinux; an empty one means
//! none. A SELinux label is also checked against the loaded policy then (go-selinux's
//! `SecurityCheckContext`: a write to selinuxfs `context`), so an invalid context fails
//! before anything is made. A container is never started unconfined in silence when
//! confinement was asked for.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};

/// Where selinuxfs is mounted.
const SELINUXFS: &str = "/sys/fs/selinux";

/// Whether AppArmor is enabled (the kernel module's `enabled` parameter, as runc reads it).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
}

/// Whether SELinux is enabled, as go-selinux's `GetEnabled` decides: selinuxfs is mounted
/// read-write on `/sys/fs/selinux` and a policy is loaded (our own label is not `kernel`).
pub fn selinux_enabled() -> bool {
    let Ok(fs) = nix::sys::statfs::statfs(SELINUXFS) else {
        return false;
    };
    let rw = nix::sys::statvfs::statvfs(SELINUXFS)
        .is_ok_and(|v| !v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    fs.filesystem_type() == nix::sys::statfs::SELINUX_MAGIC
        && rw
        && std::fs::read("/proc/self/attr/current").is_ok_and(|c| !is_kernel_label(&c))
}

/// Whether `current` (as read from `attr/current`) is the label of a kernel without a policy.
fn is_kernel_label(current: &[u8]) -> bool {
    let end = current
        .iter()
        .rposition(|b| *b != 0 && *b != b'\n')
        .map_or(0, |i| i + 1);
    &current[..end] == b"kernel"
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The AppArmor profile of `p`, if one is asked for (empty means none).
pub fn apparmor_profile(p: &Process) -> Option<&str> {
    non_empty(p.apparmor_profile())
}

/// The profile an exec'd process runs under: its own, else the container's (as runc).
pub fn exec_profile<'a>(process: &'a Process, container: Option<&'a Process>) -> Option<&'a str> {
    apparmor_profile(process).or_else(|| container.and_then(apparmor_profile))
}

/// The SELinux label of `p`, if one is asked for (empty means none).
pub fn selinux_label(p: &Process) -> Option<&str> {
    non_empty(p.selinux_label())
}

/// The label an exec'd process runs with: its own, else the container's (as runc).
pub fn exec_label<'a>(process: &'a Process, container: Option<&'a Process>) -> Option<&'a str> {
    selinux_label(process).or_else(|| container.and_then(selinux_label))
}

/// `linux.mountLabel`, if one is asked for (empty means none).
pub fn mount_label(spec: &Spec) -> Option<&str> {
    spec.linux()
        .as_ref()
        .and_then(|l| non_empty(l.mount_label()))
}

/// Check the LSM labels of a `process` (of config.json, or of `exec --process`): an AppArmor
/// profile needs AppArmor enabled on this host, a SELinux label needs SELinux enabled and must
/// be a context the loaded policy knows.
pub fn check_process(p: &Process) -> Result<()> {
    check_apparmor(apparmor_profile(p), apparmor_enabled())?;
    check_selinux("process.selinuxLabel", selinux_label(p))
}

/// Check `linux.mountLabel` as [`check_process`] checks a process label; returns it.
pub fn check_mount_label(spec: &Spec) -> Result<Option<String>> {
    let label = mount_label(spec);
    check_selinux("linux.mountLabel", label)?;
    Ok(label.map(String::from))
}

/// Refuse a profile where AppArmor is not `enabled`, or one the kernel could not take.
fn check_apparmor(profile: Option<&str>, enabled: bool) -> Result<()> {
    let Some(profile) = profile else {
        return Ok(());
    };
    if !enabled {
        return Err(Error::config(
            "process.apparmorProfile",
            format!("{profile:?}: AppArmor is not enabled on this host"),
        ));
    }
    if profile.contains(['\0', '\n']) {
        return Err(Error::config(
            "process.apparmorProfile",
            format!("{profile:?}: a profile name holds no NUL or newline"),
        ));
    }
    Ok(())
}

/// Check the SELinux `label` of `field` on this host: SELinux enabled, the text usable, the
/// context known to the loaded policy.
fn check_selinux(field: &str, label: Option<&str>) -> Result<()> {
    let Some(label) = label else {
        return Ok(());
    };
    check_selinux_text(field, label, selinux_enabled())?;
    check_context(field, label)
}

/// The checks of a SELinux `label` that need no kernel: SELinux `enabled`, and no character
/// that would cut the attribute write or the `context="..."` mount option short.
fn check_selinux_text(field: &str, label: &str, enabled: bool) -> Result<()> {
    if !enabled {
        return Err(Error::config(
            field,
            // runc's wording.
            format!(
                "{label:?}: selinux label is specified in config, but selinux is disabled or \
                 not supported"
            ),
        ));
    }
    if label.contains(['\0', '\n', '"']) {
        return Err(Error::config(
            field,
            format!("{label:?}: a SELinux context holds no NUL, newline or double quote"),
        ));
    }
    Ok(())
}

/// Ask the kernel whether `label` is a valid context of the loaded policy (go-selinux's
/// `SecurityCheckContext`): write it to selinuxfs `context`, checked to be selinuxfs. EINVAL
/// means invalid; any other failure (a policy that denies the check) leaves the verdict to
/// the kernel when the label is applied.
fn check_context(field: &str, label: &str) -> Result<()> {
    let path = Path::new(SELINUXFS).join("context");
    let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(&path) else {
        return Ok(());
    };
    let on_selinuxfs = nix::sys::statfs::fstatfs(file.as_fd())
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::SELINUX_MAGIC);
    if !on_selinuxfs {
        return Ok(());
    }
    match file.write(label.as_bytes()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(Error::config(
            field,
            format!(
                "{label:?}: not a valid SELinux context for the loaded policy (invalid argument)"
            ),
        )),
        _ => Ok(()),
    }
}

/// What is written to the `exec` attribute for `profile` (libapparmor's `aa_change_onexec`).
fn onexec_command(profile: &str) -> String {
    format!("exec {profile}")
}

/// Make the next `execve` of the calling thread enter the AppArmor `profile`: write
/// `exec <profile>` to `/proc/thread-self/attr/apparmor/exec` (else the pre-5.8
/// `attr/exec`) of the procfs mounted on `/proc`, through verified handles. Call in the
/// container process, after pivot_root, before the capability drop and any seccomp filter.
pub fn apply_apparmor(profile: &str) -> Result<()> {
    let proc = crate::procfs::open_dir(Path::new("/proc"))?;
    let mut rel = Path::new("thread-self/attr/apparmor/exec");
    let fd = match crate::procfs::open_beneath_if_exists(proc.as_fd(), "/proc", rel)? {
        Some(fd) => fd,
        None => {
            rel = Path::new("thread-self/attr/exec");
            crate::procfs::open_beneath(proc.as_fd(), "/proc", rel, OFlag::O_WRONLY)?
        }
    };
    let shown = format!("/proc/{}", rel.display());
    crate::procfs::write_fd(fd.as_fd(), &shown, onexec_command(profile).as_bytes()).map_err(|e| {
        Error::config(
            "process.apparmorProfile",
            format!("{profile:?}: applying it: {e}"),
        )
    })
}

/// Make the next `execve` of the calling thread run with the SELinux `label` (go-selinux's
/// `SetExecLabel`): write it to `/proc/thread-self/attr/exec` of the procfs mounted on `/proc`,
/// through verified handles. Call where [`apply_apparmor`] is called.
pub fn apply_selinux(label: &str) -> Result<()> {
    write_thread_attr("exec", label, "applying it")
}

/// The SELinux label of keys (keyrings) the calling thread creates from now on; `""` back to
/// the default (go-selinux's `SetKeyLabel`). Written as [`apply_selinux`] writes.
pub fn set_keycreate(label: &str) -> Result<()> {
    write_thread_attr("keycreate", label, "labelling the session keyring")
}

/// Write `label` to `/proc/thread-self/attr/<attr>` through verified procfs handles; a failure
/// is an error of `process.selinuxLabel`, saying what was being done.
fn write_thread_attr(attr: &str, label: &str, doing: &str) -> Result<()> {
    let shown = format!("/proc/thread-self/attr/{attr}");
    let failed =
        |e: Error| Error::config("process.selinuxLabel", format!("{label:?}: {doing}: {e}"));
    let proc = crate::procfs::open_dir(Path::new("/proc"))?;
    let rel = format!("thread-self/attr/{attr}");
    let fd = crate::procfs::open_beneath(proc.as_fd(), "/proc", Path::new(&rel), OFlag::O_WRONLY)
        .map_err(failed)?;
    crate::procfs::write_fd(fd.as_fd(), &shown, label.as_bytes()).map_err(failed)
}

/// The data of a mount with `linux.mountLabel` `label`: `data` plus `context="<label>"`
/// (go-selinux's `FormatMountLabel`; the quotes keep the commas of an MCS range in one option).
pub fn mount_data(data: Option<String>, label: Option<&str>) -> Option<String> {
    let Some(label) = label else {
        return data;
    };
    let context = format!("context=\"{label}\"");
    Some(match data {
        Some(d) if !d.is_empty() => format!("{d},{context}"),
        _ => context,
    })
}

/// Label the root of a mount (open as `fd`, shown as `shown`) with `label` through its
/// `security.selinux` attribute: runc's labelling of an mqueue mount.
pub fn label_mount_root(fd: BorrowedFd<'_>, shown: &str, label: &str) -> Result<()> {
    crate::sys::fsetxattr(fd, c"security.selinux", label.as_bytes()).map_err(|e| {
        Error::sys(
            format!("labelling {shown} with linux.mountLabel {label:?}"),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    const BASE: &str = r#""user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]"#;

    #[test]
    fn selinux_needs_it_enabled_in_runcs_words() {
        let err = check_selinux_text("process.selinuxLabel", "system_u:system_r:t:s0", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "process.selinuxLabel: \"system_u:system_r:t:s0\": selinux label is specified in \
             config, but selinux is disabled or not supported"
        );
        let err = check_selinux_text("linux.mountLabel", "system_u:object_r:t:s0", false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("linux.mountLabel: "), "{err}");
        assert!(check_selinux_text("linux.mountLabel", "u:r:t:s0:c1,c2", true).is_ok());
        // Empty labels mean none, wherever SELinux is.
        let p = process(&format!(
            r#"{{{BASE},"apparmorProfile":"","selinuxLabel":""}}"#
        ));
        assert!(check_process(&p).is_ok());
        assert_eq!(selinux_label(&p), None);
    }

    #[test]
    fn selinux_text_that_would_cut_the_write_is_refused() {
        for bad in [
            "u:r:t:s0\nx",
            "u:r:t:s0\0x",
            "u:r:t:s0\",context=\"u:r:x:s0",
        ] {
            let err = check_selinux_text("process.selinuxLabel", bad, true)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("process.selinuxLabel: "), "{err}");
            assert!(err.contains("no NUL, newline or double quote"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn exec_label_defaults_to_the_container_one() {
        let own = process(&format!(r#"{{{BASE},"selinuxLabel":"own"}}"#));
        let none = process(&format!(r#"{{{BASE},"selinuxLabel":""}}"#));
        let ctr = process(&format!(r#"{{{BASE},"selinuxLabel":"ctr"}}"#));
        assert_eq!(exec_label(&own, Some(&ctr)), Some("own"));
        assert_eq!(exec_label(&none, Some(&ctr)), Some("ctr"));
        assert_eq!(exec_label(&none, None), None);
        assert_eq!(exec_label(&none, Some(&none)), None);
    }

    #[test]
    fn mount_data_gets_a_quoted_context() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            mount_data(Some("mode=755,size=65536k".into()), l).as_deref(),
            Some("mode=755,size=65536k,context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        assert_eq!(
            mount_data(None, l).as_deref(),
            Some("context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        assert_eq!(
            mount_data(Some(String::new()), Some("u:r:t:s0")).as_deref(),
            Some("context=\"u:r:t:s0\"")
        );
        assert_eq!(
            mount_data(Some("mode=755".into()), None).as_deref(),
            Some("mode=755")
        );
        assert_eq!(mount_data(None, None), None);
    }

    #[test]
    fn kernel_label_means_no_policy() {
        assert!(is_kernel_label(b"kernel\0"));
        assert!(is_kernel_label(b"kernel\n"));
        assert!(is_kernel_label(b"kernel"));
        assert!(!is_kernel_label(b"system_u:system_r:kernel_t:s0\0"));
        assert!(!is_kernel_label(b""));
    }

    #[test]
    fn apparmor_needs_it_enabled() {
        let err = check_apparmor(Some("docker-default"), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "process.apparmorProfile: \"docker-default\": AppArmor is not enabled on this host"
        );
        assert!(check_apparmor(Some("docker-default"), true).is_ok());
        assert!(check_apparmor(None, false).is_ok());
        let err = check_apparmor(Some("a\nchangeprofile x"), true).unwrap_err();
        assert!(err.to_string().contains("no NUL or newline"), "{err}");
    }

    #[test]
    fn exec_profile_defaults_to_the_container_one() {
        let own = process(&format!(r#"{{{BASE},"apparmorProfile":"own"}}"#));
        let none = process(&format!(r#"{{{BASE},"apparmorProfile":""}}"#));
        let ctr = process(&format!(r#"{{{BASE},"apparmorProfile":"ctr"}}"#));
        assert_eq!(exec_profile(&own, Some(&ctr)), Some("own"));
        assert_eq!(exec_profile(&none, Some(&ctr)), Some("ctr"));
        assert_eq!(exec_profile(&none, None), None);
        assert_eq!(exec_profile(&none, Some(&none)), None);
    }

    #[test]
    fn onexec_is_libapparmors_command() {
        assert_eq!(onexec_command("hako-test"), "exec hako-test");
    }
}
