//! `--version`: runc's layout (runtime version, commit, spec version, libseccomp when linked).

/// The one-line version.
pub fn short() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The multi-line version block, as `runc --version` prints it.
pub fn long() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        "\ncommit: ",
        env!("CARGO_PKG_VERSION"),
        "\nspec: 1.2.0"
    )
}
