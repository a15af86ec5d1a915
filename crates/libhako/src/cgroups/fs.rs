//! File operations on a cgroup filesystem, with the path and errno in every error. Writes open
//! an existing file only (never create): on a real cgroupfs a missing file means the kernel
//! does not offer that knob, which callers turn into "the host cannot honour it".

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::error::{Error, Result};

/// Write `value` to the existing file `dir/file`.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    Writer::default().write(dir, file, value)
}

/// Writes to existing cgroup files that keeps the last file open: consecutive values for one
/// file (the v1 device rules: `devices.allow` a dozen times) then cost one `write` each rather
/// than open, write and close. The kernel takes each `write` as one value.
#[derive(Default)]
pub struct Writer {
    last: Option<(PathBuf, std::fs::File)>,
}

impl Writer {
    /// Write `value` to the existing file `dir/file`.
    pub fn write(&mut self, dir: &Path, file: &str, value: &str) -> Result<()> {
        let path = dir.join(file);
        let err = |e: std::io::Error| {
            Error::sys(
                format!("writing {value:?} to {}", path.display()),
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        };
        let f = match self.last.take() {
            Some((p, f)) if p == path => f,
            _ => std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .map_err(err)?,
        };
        let written = (&f).write_all(value.as_bytes()).map_err(err);
        self.last = Some((path, f));
        written
    }
}

/// Read `dir/file` as text.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| Error::io("reading", path, e))
}

/// Read a single number; `max` (unlimited) reads as `u64::MAX`, a missing file as 0.
pub fn read_u64(dir: &Path, file: &str) -> u64 {
    read(dir, file)
        .ok()
        .and_then(|s| parse_u64(s.trim()))
        .unwrap_or(0)
}

/// A cgroup number: decimal, or `max` for unlimited.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        Some(u64::MAX)
    } else {
        s.parse().ok()
    }
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cgroup.events`) as a map.
pub fn read_keyed(dir: &Path, file: &str) -> std::collections::BTreeMap<String, u64> {
    read(dir, file)
        .map(|s| {
            s.lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    Some((k.to_string(), parse_u64(v.trim())?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `dir` if it exists, else its nearest existing ancestor (where it would be made).
pub fn nearest_existing(dir: &Path) -> &Path {
    dir.ancestors().find(|d| d.exists()).unwrap_or(dir)
}

/// `mkdir -p`; returns the directories that did not exist before, outermost first. The
/// common case (the parent exists) is one `mkdir`.
pub fn mkdir_all(dir: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::create_dir(dir) {
        Ok(()) => return Ok(vec![dir.to_path_buf()]),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("creating cgroup", dir, e)),
    }
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    for (i, d) in missing.iter().enumerate() {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                remove_all_made(&missing[..i]);
                return Err(Error::io("creating cgroup", d, e));
            }
        }
    }
    Ok(missing)
}

/// Remove directories made by [`mkdir_all`] (outermost first in `made`), deepest first.
pub fn remove_all_made(made: &[PathBuf]) {
    for d in made.iter().rev() {
        let _ = remove(d);
    }
}

/// Host PIDs in `cgroup.procs` of `dir` and every cgroup below it.
pub fn procs_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut pids: Vec<i32> = read(dir, "cgroup.procs")?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for sub in subdirs(dir) {
        pids.extend(procs_recursive(&sub)?);
    }
    Ok(pids)
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a failed operation on a cgroup directory says it no longer exists, or is being
/// removed by someone else (ENODEV: a dying cgroup).
fn gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// Remove the cgroup `dir` if it is empty (no process, no cgroup below): `Ok(false)` when it
/// is busy. A missing directory, or one already being removed (ENODEV), is success.
pub fn remove_if_empty(dir: &Path) -> Result<bool> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if gone(&e) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(false),
        Err(e) => Err(Error::io("removing cgroup", dir, e)),
    }
}

/// Remove the cgroup `dir` and any cgroup below it, deepest first. `EBUSY` (a process still
/// leaving, or the kernel still releasing the css) is retried for a short while; a missing
/// directory is success.
pub fn remove(dir: &Path) -> Result<()> {
    if remove_if_empty(dir)? {
        return Ok(());
    }
    for sub in subdirs(dir) {
        remove(&sub)?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut delay = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if gone(&e) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::io("removing cgroup", dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_keyed_files() {
        let d = crate::cgroups::testing::tempdir("fs");
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        std::fs::write(d.join("cpu.stat"), "usage_usec 12\nnr_periods 3\n").unwrap();
        assert_eq!(read_u64(&d, "memory.max"), u64::MAX);
        assert_eq!(read_u64(&d, "missing"), 0);
        assert_eq!(read_keyed(&d, "cpu.stat").get("nr_periods"), Some(&3));
        // Writes never create a file: a missing knob is an error naming the path.
        let err = write(&d, "pids.max", "5").unwrap_err().to_string();
        assert!(
            err.contains("pids.max") && err.contains("no such file"),
            "{err}"
        );
        let made = mkdir_all(&d.join("a/b")).unwrap();
        assert_eq!(made, [d.join("a"), d.join("a/b")]);
        remove(&d.join("a")).unwrap();
        assert!(!d.join("a").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
