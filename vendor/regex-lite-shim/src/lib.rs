//! The part of `regex`'s API that oci-spec uses, served by `regex-lite`.
pub use regex_lite::{Captures, Error, Match, Regex, RegexBuilder};
