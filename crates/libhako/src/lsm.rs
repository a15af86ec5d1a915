//! LSM labels: `process.apparmorProfile`, `process.selinuxLabel`, `linux.mountLabel`.
//!
//! AppArmor is applied as runc applies it: where a profile is asked for, the container process
//! (the init, or an exec'd process) writes `exec <profile>` to its own
//! `/proc/thread-self/attr/apparmor/exec` (`attr/exec` on kernels before 5.8) just before its
//! `execve` ([`apply_apparmor`]), so that the program starts confined. The write goes through
//! [`crate::procfs`] (a `/proc` checked to be procfs, no symlink or mount crossed), as root,
//! before the capability drop and before any seccomp filter is loaded (runc's order), so the
//! filter cannot block it. The transition happens at the *next* `execve`: the exec trampoline
//! is therefore not used for a confined process (see `exeguard::prepare`). A profile asked for
//! on a host where AppArmor is not enabled is refused during validation, before anything is
//! created; an empty profile means none.
//!
//! SELinux labels are not applied (no SELinux policy can be built on the hosts hako is tested
//! on): a label that is asked for is refused with the reason, never ignored. A container is
//! never started unconfined in silence when confinement was asked for.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::OFlag;
use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};

/// Whether AppArmor is enabled (the kernel module's `enabled` parameter, as runc reads it).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
}

/// Whether SELinux is enabled (selinuxfs is mounted).
pub fn selinux_enabled() -> bool {
    ["/sys/fs/selinux/enforce", "/selinux/enforce"]
        .iter()
        .any(|p| Path::new(p).exists())
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

/// Check the LSM labels of a `process` (of config.json, or of `exec --process`): an AppArmor
/// profile needs AppArmor enabled on this host; a SELinux label is refused.
pub fn check_process(p: &Process) -> Result<()> {
    check_apparmor(apparmor_profile(p), apparmor_enabled())?;
    if let Some(label) = non_empty(p.selinux_label()) {
        return Err(Error::config(
            "process.selinuxLabel",
            format!("{label:?}: {}", selinux_refusal()),
        ));
    }
    Ok(())
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

/// Refuse `linux.mountLabel`.
pub fn check_mount_label(spec: &Spec) -> Result<()> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| non_empty(l.mount_label()))
    {
        Some(label) => Err(Error::config(
            "linux.mountLabel",
            format!("{label:?}: {}", selinux_refusal()),
        )),
        None => Ok(()),
    }
}

fn selinux_refusal() -> &'static str {
    if selinux_enabled() {
        "SELinux is enabled on this host, but hako cannot apply SELinux labels"
    } else {
        // runc's wording.
        "selinux label is specified in config, but selinux is disabled or not supported"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    const BASE: &str = r#""user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]"#;

    #[test]
    fn selinux_is_refused_with_the_field() {
        let p = process(&format!(
            r#"{{{BASE},"selinuxLabel":"system_u:system_r:t:s0"}}"#
        ));
        let err = check_process(&p).unwrap_err().to_string();
        assert!(err.starts_with("process.selinuxLabel: "), "{err}");
        let p = process(&format!(
            r#"{{{BASE},"apparmorProfile":"","selinuxLabel":""}}"#
        ));
        assert!(check_process(&p).is_ok());
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
