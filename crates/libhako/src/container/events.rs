//! `events`: runc's event stream. `stats` events (runc's `types.Stats` shape) every interval,
//! and an `oom` event as soon as the cgroup's OOM-kill counter grows; the stream ends when
//! the container stops.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cgroups::stats::{self, Stats};
use crate::error::{Error, Result};
use crate::state::{StateDir, Status, Stored};

/// One event, as runc prints it.
#[derive(Debug, Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Container id.
    pub id: String,
    /// The statistics (`stats` events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

fn open(root: &Path, id: &str) -> Result<(StateDir, Stored)> {
    let sd = StateDir::open(root, id, false)?;
    let stored = sd.load()?;
    if matches!(
        super::status(&sd, &stored),
        Status::Stopped | Status::Creating
    ) {
        return Err(Error::Lifecycle(format!(
            "container with id {id} is not running"
        )));
    }
    Ok((sd, stored))
}

fn stats_of(stored: &Stored) -> Result<Stats> {
    let mut s = super::pause::cgroup(stored)?.driver().stats();
    let net = std::fs::read_to_string(format!("/proc/{}/net/dev", stored.pid))
        .map(|t| stats::parse_net_dev(&t))
        .unwrap_or_default();
    s.network_interfaces = (!net.is_empty()).then_some(net);
    Ok(s)
}

/// One `stats` event (`events --stats`).
pub fn stats_event(root: &Path, id: &str) -> Result<Event> {
    let (_, stored) = open(root, id)?;
    Ok(Event {
        kind: "stats",
        id: id.to_string(),
        data: Some(stats_of(&stored)?),
    })
}

/// Stream events to `emit` until the container stops (or `emit` fails).
pub fn events(
    root: &Path,
    id: &str,
    interval: Duration,
    mut emit: impl FnMut(&Event) -> std::io::Result<()>,
) -> Result<()> {
    let (sd, stored) = open(root, id)?;
    let cg = super::pause::cgroup(&stored)?;
    let mut ooms = cg.oom_kills();
    let mut next = Instant::now();
    let out = |e: std::io::Error| Error::io("writing", "stdout", e);
    while super::status(&sd, &stored) != Status::Stopped {
        let now_ooms = cg.oom_kills();
        if now_ooms > ooms {
            ooms = now_ooms;
            emit(&Event {
                kind: "oom",
                id: id.into(),
                data: None,
            })
            .map_err(out)?;
        }
        if Instant::now() >= next {
            let data = Some(stats_of(&stored)?);
            emit(&Event {
                kind: "stats",
                id: id.into(),
                data,
            })
            .map_err(out)?;
            next = Instant::now() + interval;
        }
        std::thread::sleep(interval.min(Duration::from_millis(100)));
    }
    Ok(())
}
