//! Fields a config may carry that hako refuses rather than ignores: sections for other
//! platforms, Windows-only process fields, fields removed from the runtime-spec, and the
//! top-level `uidMappings`/`gidMappings` that oci-spec's `Spec` accepts but the runtime-spec
//! does not define. runc parses and ignores each of them; a config that asks for one of them
//! asks for something hako will not do, so it fails in one line naming the field.
//! Runs in the runtime process, on the raw config, before the typed parse.

use serde_json::Value;

use crate::error::{Error, Result};

/// `(JSON pointer, config field, why it is refused)`.
const REFUSED: [(&str, &str, &str); 13] = [
    ("/solaris", "solaris", OTHER_PLATFORM),
    ("/windows", "windows", OTHER_PLATFORM),
    ("/zos", "zos", OTHER_PLATFORM),
    ("/freebsd", "freebsd", OTHER_PLATFORM),
    (
        "/vm",
        "vm",
        "a section for virtual-machine runtimes: hako runs containers",
    ),
    ("/uidMappings", "uidMappings", TOP_LEVEL_MAPPINGS),
    ("/gidMappings", "gidMappings", TOP_LEVEL_MAPPINGS),
    (
        "/process/commandLine",
        "process.commandLine",
        "Windows only: a Linux process runs process.args",
    ),
    (
        "/process/user/username",
        "process.user.username",
        "Windows only: a Linux process runs as process.user.uid and gid",
    ),
    (
        "/linux/intelRdt/enableCMT",
        "linux.intelRdt.enableCMT",
        NO_CMT,
    ),
    (
        "/linux/intelRdt/enableMBM",
        "linux.intelRdt.enableMBM",
        NO_CMT,
    ),
    // oci-spec's spelling of the same two fields.
    (
        "/linux/intelRdt/enableCmt",
        "linux.intelRdt.enableCmt",
        NO_CMT,
    ),
    (
        "/linux/intelRdt/enableMbm",
        "linux.intelRdt.enableMbm",
        NO_CMT,
    ),
];

const OTHER_PLATFORM: &str = "a section for another platform: hako runs Linux containers";
const TOP_LEVEL_MAPPINGS: &str =
    "not a runtime-spec field: user namespace mappings go in linux.uidMappings and \
     linux.gidMappings";
const NO_CMT: &str = "removed in runtime-spec 1.3: monitoring is linux.intelRdt.enableMonitoring";

/// Refuse the first field of [`REFUSED`] present in `raw` (`null` counts as absent, as it does
/// for the typed parse).
pub fn check(raw: &Value) -> Result<()> {
    for (pointer, field, why) in REFUSED {
        if raw.pointer(pointer).is_some_and(|v| !v.is_null()) {
            return Err(Error::config(field, why));
        }
    }
    Ok(())
}

/// The config fields [`check`] refuses.
pub fn fields() -> impl Iterator<Item = &'static str> {
    REFUSED.iter().map(|r| r.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn present_fields_are_refused_and_null_is_absent() {
        assert!(check(&json!({"windows": null, "process": {"user": {"uid": 0}}})).is_ok());
        let e = check(&json!({"process": {"user": {"uid": 0, "username": "x"}}}));
        let e = e.map_err(|e| e.to_string()).unwrap_err();
        assert!(e.starts_with("process.user.username: Windows only"), "{e}");
        assert_eq!(fields().count(), REFUSED.len());
    }
}
