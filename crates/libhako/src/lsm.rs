//! LSM labels: `process.apparmorProfile`, `process.selinuxLabel`, `linux.mountLabel`. Checked
//! in the runtime parent during validation, before anything is created.
//!
//! hako does not apply LSM labels yet: it has only been run on hosts without AppArmor and
//! SELinux, where applying them cannot be tested. A label that is asked for is therefore
//! always refused with the reason: the LSM is not enabled on this host (as runc refuses a
//! SELinux label there), or it is enabled and hako cannot apply it yet. A container is never
//! started unconfined in silence when confinement was asked for.

use std::path::Path;

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

/// Refuse the LSM labels of a `process` (of config.json, or of `exec --process`).
pub fn check_process(p: &Process) -> Result<()> {
    if let Some(profile) = non_empty(p.apparmor_profile()) {
        let why = if apparmor_enabled() {
            "AppArmor is enabled on this host, but hako cannot apply AppArmor profiles yet"
        } else {
            "AppArmor is not enabled on this host"
        };
        return Err(Error::config(
            "process.apparmorProfile",
            format!("{profile:?}: {why}"),
        ));
    }
    if let Some(label) = non_empty(p.selinux_label()) {
        return Err(Error::config(
            "process.selinuxLabel",
            format!("{label:?}: {}", selinux_refusal()),
        ));
    }
    Ok(())
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
        "SELinux is enabled on this host, but hako cannot apply SELinux labels yet"
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

    #[test]
    fn labels_are_refused_with_the_field() {
        let base = r#""user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]"#;
        let p = process(&format!(r#"{{{base},"apparmorProfile":"docker-default"}}"#));
        let err = check_process(&p).unwrap_err().to_string();
        assert!(err.starts_with("process.apparmorProfile: \"docker-default\": AppArmor"));
        let p = process(&format!(
            r#"{{{base},"selinuxLabel":"system_u:system_r:t:s0"}}"#
        ));
        let err = check_process(&p).unwrap_err().to_string();
        assert!(err.starts_with("process.selinuxLabel: "), "{err}");
        let p = process(&format!(
            r#"{{{base},"apparmorProfile":"","selinuxLabel":""}}"#
        ));
        assert!(check_process(&p).is_ok());
    }
}
