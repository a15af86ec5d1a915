//! libhako: the hako OCI runtime as a library.
//!
//! The runtime process (`hako <verb>`) validates a bundle into a [`spec::Plan`], keeps state in
//! [`state`], and for `create` clones the container init ([`init`]) straight into its
//! namespaces; the two talk over the typed protocol in [`sync`]. All `unsafe` lives in [`sys`].

pub mod capabilities;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod crashpoint;
pub mod criu;
pub mod error;
pub mod exeguard;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod init;
pub mod intelrdt;
pub mod keyring;
pub mod lsm;
pub mod mempolicy;
pub mod mountopts;
pub mod namespaces;
pub mod netdevices;
pub mod passwd;
pub mod paths;
pub mod pidfd_socket;
pub mod procattrs;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod rootless;
pub mod rtnetlink;
pub mod seccomp;
pub mod security;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sync;
pub mod sys;
pub mod trace;
pub mod userns;

pub use error::{Error, Result};

/// The runtime-spec version hako writes into the state it reports (`state`, hooks, seccomp
/// listeners) and into `spec`'s config: the newest it implements, as runc 1.5.1's 1.3.0.
pub const OCI_VERSION: &str = "1.3.0";
