//! `state` and `list`: read-only views of the state dirs; no lock is taken (state.json is
//! replaced atomically, so a reader sees a whole file).

use std::path::Path;

use crate::error::Result;
use crate::state::{self, Root, StateDir, Status, Stored};
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
        true => sd.owner().map(crate::passwd::user_name).unwrap_or_default(),
        false => String::new(),
    };
    Ok(Entry {
        stored,
        status,
        owner,
    })
}

/// Every container under `root`, sorted by id; an unreadable one (another runtime's, in a
/// root shared with it) is skipped.
pub fn list(root: &Path) -> Result<Vec<Entry>> {
    let Some(root) = Root::open(root)? else {
        return Ok(Vec::new());
    };
    Ok(root
        .dirs()?
        .iter()
        .filter(|id| state::validate_id(id).is_ok())
        .filter_map(|id| StateDir::at_root(&root, id).ok())
        .filter_map(|sd| entry(&sd, true).ok())
        .collect())
}
