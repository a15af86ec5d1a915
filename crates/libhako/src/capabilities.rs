//! `process.capabilities` names, read from the raw config.json in the runtime parent before the
//! typed parse.
//!
//! oci-spec refuses the whole config for a capability name its enum does not know. runc
//! instead skips names the running kernel does not know, with one warning ("ignoring unknown
//! or unavailable capabilities: [...]"), so a config written for a newer kernel still runs.
//! hako does the same for names of the form `CAP_[A-Z0-9_]+`, and refuses anything else with
//! the field (`process.capabilities.bounding[3]: "foo" is not a capability name`), where runc
//! would skip it too. What is left in the typed spec is exactly what [`crate::security`]
//! applies.
//!
//! An absent `process.capabilities` means no capability at all in any set, as under runc:
//! the five sets are made explicit and empty, so nothing of the runtime's own sets (notably
//! Inheritable, the CVE-2022-29162 class) reaches the container unless asked for.

use std::collections::BTreeSet;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The five sets, as named in config.json.
pub const SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

/// Whether `name` looks like a capability name: `CAP_` and upper-case letters, digits, `_`.
pub fn well_formed(name: &str) -> bool {
    name.strip_prefix("CAP_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// Whether this kernel (and the typed spec) can take `name`.
fn available(name: &str, kernel: &caps::CapsHashSet) -> bool {
    let typed = serde_json::from_value::<oci_spec::runtime::Capability>(Value::from(name)).is_ok();
    typed && caps::Capability::from_str(name).is_ok_and(|c| kernel.contains(&c))
}

/// Rewrite `process.capabilities` of the raw config in place: absent becomes five empty sets;
/// names this kernel does not know are removed and returned (sorted, once each) for the
/// warning; a string that is not a capability name is an error naming its field. Values that
/// are not strings are left for the typed parse to refuse.
pub fn sanitize(config: &mut Value) -> Result<Vec<String>> {
    let Some(process) = config.get_mut("process").and_then(Value::as_object_mut) else {
        return Ok(Vec::new());
    };
    let caps = process
        .entry("capabilities")
        .or_insert_with(|| Value::Object(Map::new()));
    if caps.is_null() {
        *caps = Value::Object(Map::new());
    }
    let Some(sets) = caps.as_object_mut() else {
        return Ok(Vec::new());
    };
    let kernel = kernel_caps();
    let mut ignored = BTreeSet::new();
    for set in SETS {
        let Some(list) = sets.get_mut(set).and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, v) in list.iter().enumerate() {
            if let Some(name) = v.as_str() {
                if !well_formed(name) {
                    return Err(Error::config(
                        format!("process.capabilities.{set}[{i}]"),
                        format!("{name:?} is not a capability name"),
                    ));
                }
                if !available(name, &kernel) {
                    ignored.insert(name.to_string());
                }
            }
        }
        list.retain(|v| v.as_str().is_none_or(|n| !ignored.contains(n)));
    }
    Ok(ignored.into_iter().collect())
}

/// The names [`sanitize`] keeps on this kernel, in capability-number order (for `features`).
pub fn known() -> Vec<String> {
    let kernel = kernel_caps();
    let mut all: Vec<_> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.into_iter()
        .map(|c| c.to_string())
        .filter(|name| available(name, &kernel))
        .collect()
}

/// The capabilities this kernel knows: from `/proc/sys/kernel/cap_last_cap` (one read), else
/// probed one by one with `PR_CAPBSET_READ`.
fn kernel_caps() -> caps::CapsHashSet {
    caps::runtime::procfs_all_supported(None)
        .unwrap_or_else(|_| caps::runtime::thread_all_supported())
}

/// runc's warning for skipped names.
pub fn warning(ignored: &[String]) -> Option<String> {
    (!ignored.is_empty()).then(|| {
        format!(
            "ignoring unknown or unavailable capabilities: [{}]",
            ignored.join(" ")
        )
    })
}

/// runc's warnings for the ambient capabilities that cannot be raised: the kernel raises one
/// only if it is both permitted and inheritable. runc tries each, warns and goes on; hako
/// leaves them out ([`crate::security::set_capabilities`]) with the same warnings, given here
/// during validation.
pub fn ambient_warnings(c: &oci_spec::runtime::LinuxCapabilities) -> Vec<String> {
    let names = |set: &Option<oci_spec::runtime::Capabilities>| -> BTreeSet<String> {
        set.iter()
            .flatten()
            .filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(String::from))
            .collect()
    };
    let (inheritable, permitted) = (names(c.inheritable()), names(c.permitted()));
    names(c.ambient())
        .into_iter()
        .filter(|n| !(inheritable.contains(n) && permitted.contains(n)))
        .map(|n| format!("can't raise ambient capability {n}: operation not permitted"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for ok in ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_FUTURE_2"] {
            assert!(well_formed(ok), "{ok}");
        }
        for bad in [
            "",
            "CAP_",
            "chown",
            "cap_chown",
            "CAP_chown",
            "CHOWN",
            "CAP CHOWN",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_names_skipped_with_a_warning() {
        let mut c = json!({"process": {"capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_FUTURE", "CAP_KILL"],
            "effective": ["CAP_FUTURE", "CAP_ZZZ"],
            "permitted": null
        }}});
        let ignored = sanitize(&mut c).unwrap();
        assert_eq!(ignored, ["CAP_FUTURE", "CAP_ZZZ"]);
        assert_eq!(
            c["process"]["capabilities"]["bounding"],
            json!(["CAP_CHOWN", "CAP_KILL"])
        );
        assert_eq!(c["process"]["capabilities"]["effective"], json!([]));
        assert_eq!(
            warning(&ignored).as_deref(),
            Some("ignoring unknown or unavailable capabilities: [CAP_FUTURE CAP_ZZZ]")
        );
        assert_eq!(warning(&[]), None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_field() {
        let mut c = json!({"process": {"capabilities": {"ambient": ["CAP_KILL", "kill"]}}});
        let e = sanitize(&mut c).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"process.capabilities.ambient[1]: "kill" is not a capability name"#
        );
    }

    #[test]
    fn absent_means_empty_sets() {
        for mut c in [
            json!({"process": {"args": ["sh"]}}),
            json!({"process": {"capabilities": null}}),
        ] {
            assert!(sanitize(&mut c).unwrap().is_empty());
            assert_eq!(c["process"]["capabilities"], json!({}));
            let caps: oci_spec::runtime::LinuxCapabilities =
                serde_json::from_value(c["process"]["capabilities"].clone()).unwrap();
            assert!(caps.inheritable().is_none() && caps.bounding().is_none());
        }
        let mut none = json!({"ociVersion": "1.0.0"});
        assert!(sanitize(&mut none).unwrap().is_empty());
        assert!(none.get("process").is_none());
    }
}
