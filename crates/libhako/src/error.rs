//! The library's one error type. Every variant carries what was being done, on which path or
//! config field, and the underlying cause (an errno where the kernel gave one). The CLI prints
//! the `Display` form as the single error line.

use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A syscall failed: `op` names it and its object ("mount proc on /proc").
    #[error("{op}: {}", errno_text(*.errno))]
    Sys {
        /// The operation and its object.
        op: String,
        /// The kernel's answer.
        errno: Errno,
    },
    /// A file operation of the runtime (state dir, config) failed.
    #[error("{op} {}: {}", .path.display(), io_text(.source))]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// config.json is malformed or asks for something invalid.
    #[error("{field}: {reason}")]
    Config {
        /// The JSON path of the offending field (`process.args`, `mounts[2].destination`).
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// A container lifecycle rule was broken; the message is runc's wording.
    #[error("{0}")]
    Lifecycle(String),
    /// The container init failed at a named step and reported it.
    #[error("{0}")]
    Init(String),
    /// CRIU is missing, too old, or failed; `log` is the log file it wrote, if any.
    #[error("{what}{}", .log.as_ref().map(|l| format!(" (criu log: {})", l.display())).unwrap_or_default())]
    Criu {
        /// What failed and why.
        what: String,
        /// CRIU's log file for this request.
        log: Option<PathBuf>,
    },
}

/// Lower-case errno text as runc prints it ("no such file or directory").
pub fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut out = String::with_capacity(desc.len());
    let mut chars = desc.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_lowercase());
    }
    out.push_str(chars.as_str());
    out
}

/// An I/O error's text as Go prints its errno (`no such file or directory`).
pub fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => errno_text(Errno::from_raw(code)),
        None => e.to_string(),
    }
}

impl Error {
    /// A failed syscall with its operation and object.
    pub fn sys(op: impl Into<String>, errno: Errno) -> Self {
        Error::Sys {
            op: op.into(),
            errno,
        }
    }

    /// A failed file operation on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An invalid config field.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The errno behind this error, if the kernel gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Attach an operation name to a nix result.
pub trait SysContext<T> {
    /// Map the errno into [`Error::Sys`] with `op` computed lazily.
    fn ctx<F: FnOnce() -> String>(self, op: F) -> Result<T>;
}

impl<T> SysContext<T> for std::result::Result<T, Errno> {
    fn ctx<F: FnOnce() -> String>(self, op: F) -> Result<T> {
        self.map_err(|errno| Error::sys(op(), errno))
    }
}
