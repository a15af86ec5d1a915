//! `state` and `list`: read-only views of the state dirs; no lock is taken (state.json is
//! replaced atomically, so a reader sees a whole file).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status, Stored};
use crate::OCI_VERSION;

/// One container as `state`/`list` show it.
#[derive(Debug)]
pub struct Entry {
    /// What state.json holds.
    pub stored: Stored,
    /// Status now.
    pub status: Status,
    /// Owner of the state dir (`list` only: empty from [`state`], which has no use for it and
    /// would read /etc/passwd for it).
    pub owner: String,
}

impl Entry {
    /// The runc-shaped OCI state (`pid` 0 once stopped); `owner` as given.
    pub fn oci<'a>(&'a self, owner: &'a str) -> state::OciState<'a> {
        state::OciState {
            oci_version: OCI_VERSION,
            id: &self.stored.id,
            pid: if self.status == Status::Stopped {
                0
            } else {
                self.stored.pid
            },
            status: self.status.as_str(),
            bundle: &self.stored.bundle,
            rootfs: &self.stored.rootfs,
            created: &self.stored.created,
            owner,
            annotations: &self.stored.annotations,
        }
    }
}

/// The state of one container.
pub fn state(root: &Path, id: &str) -> Result<Entry> {
    let sd = StateDir::open(root, id, false)?;
    entry(&sd, false)
}

fn entry(sd: &StateDir, with_owner: bool) -> Result<Entry> {
    let stored = sd.load()?;
    let status = super::status(sd, &stored);
    let owner = match with_owner {
        true => std::fs::metadata(&sd.path)
            .map(|m| crate::passwd::user_name(m.uid()))
            .unwrap_or_default(),
        false => String::new(),
    };
    Ok(Entry {
        stored,
        status,
        owner,
    })
}

/// Every container under `root`, sorted by id; an unreadable one is skipped. As runc 1.5.1, a
/// `root` that does not exist lists nothing when it is the default one (`missing_ok`: no
/// container was made yet) and is an error when the caller named it.
pub fn list(root: &Path, missing_ok: bool) -> Result<Vec<Entry>> {
    let dir = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("open", root, e)),
    };
    let mut ids: Vec<String> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids
        .iter()
        .filter_map(|id| StateDir::open(root, id, false).ok())
        .filter_map(|sd| entry(&sd, true).ok())
        .collect())
}
