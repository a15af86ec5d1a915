//! `-v`/`--version` and the version section of `help`, in runc's layout:
//!
//! ```text
//! hako version 0.1.0
//! commit: 0123456789ab
//! spec: 1.2.0
//! libseccomp: 2.5.4
//! ```

use std::sync::OnceLock;

/// The runtime version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit built (see build.rs).
pub const COMMIT: &str = env!("HAKO_COMMIT");

/// The lines after the runtime version: commit, spec version (the `ociVersion` of `state`),
/// and the linked libseccomp's version.
fn details() -> String {
    let mut s = format!("commit: {COMMIT}\nspec: {}", libhako::state::OCI_VERSION);
    if let Some(v) = libhako::features::libseccomp_version() {
        s.push_str(&format!("\nlibseccomp: {v}"));
    }
    s
}

/// What clap prints after the program name for `-v`/`--version`.
pub fn flag_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| format!("version {VERSION}\n{}", details()))
}

/// The `VERSION:` section at the end of `hako help`, as in `runc help`.
pub fn help_section() -> String {
    format!("VERSION:\n   {VERSION}\n{}", details())
}
