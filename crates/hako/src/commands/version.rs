//! `-v`/`--version` and the version section of `help`, in runc's layout:
//!
//! ```text
//! hako version 0.1.0
//! commit: 0123456789ab
//! spec: 1.3.0
//! libseccomp: 2.5.4
//! ```

/// The runtime version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit built (see build.rs).
pub const COMMIT: &str = env!("HAKO_COMMIT");

/// The lines after the runtime version: commit, spec version (the `ociVersion` of `state`),
/// and the linked libseccomp's version.
fn details() -> String {
    let mut s = format!("commit: {COMMIT}\nspec: {}", libhako::OCI_VERSION);
    if let Some(v) = libhako::features::libseccomp_version() {
        s.push_str(&format!("\nlibseccomp: {v}"));
    }
    s
}

/// What `-v`/`--version` prints.
pub fn flag_text() -> String {
    format!("hako version {VERSION}\n{}\n", details())
}

/// The text of the `VERSION:` section of `hako help`, as in `runc help`.
pub fn help_section() -> String {
    format!("{VERSION}\n{}", details())
}
