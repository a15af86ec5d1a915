//! OCI hooks: each hook's `path` runs with its `args` (args[0] is argv[0]) and exactly its
//! `env`, gets the container state JSON on stdin, and is killed and reported after `timeout`
//! seconds. Where they run:
//!
//! | hook            | process                  | when                                    |
//! |-----------------|--------------------------|-----------------------------------------|
//! | prestart        | runtime (`create`)       | mounts done, before pivot_root          |
//! | createRuntime   | runtime (`create`)       | right after prestart                    |
//! | createContainer | container init           | after createRuntime, before pivot_root  |
//! | startContainer  | container init           | after `start`, just before execve       |
//! | poststart       | runtime (`start`)        | after the program was released          |
//! | poststop        | runtime (`delete`)       | after the container is gone             |
//!
//! A failing create-time hook fails the create (which then tears everything down); a failing
//! poststart or poststop hook is reported as a warning and changes nothing else.

use std::os::fd::{AsFd, BorrowedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};

/// The hook kinds, with their config.json names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `prestart` (deprecated, still used by Docker's networking).
    Prestart,
    /// `createRuntime`.
    CreateRuntime,
    /// `createContainer`.
    CreateContainer,
    /// `startContainer`.
    StartContainer,
    /// `poststart`.
    Poststart,
    /// `poststop`.
    Poststop,
}

impl Kind {
    /// The config.json name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks`.
    pub fn of(self, hooks: &Option<Hooks>) -> &[Hook] {
        let Some(h) = hooks else { return &[] };
        let list = match self {
            Kind::Prestart => h.prestart(),
            Kind::CreateRuntime => h.create_runtime(),
            Kind::CreateContainer => h.create_container(),
            Kind::StartContainer => h.start_container(),
            Kind::Poststart => h.poststart(),
            Kind::Poststop => h.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Refuse, before anything is created, a hook that could never run as written: a `path` that
/// is not absolute (the spec requires it; a relative one would resolve against the runtime's
/// cwd) or a NUL byte in its path, args or env.
pub fn check(hooks: &Option<Hooks>) -> Result<()> {
    const KINDS: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];
    for kind in KINDS {
        for (i, hook) in kind.of(hooks).iter().enumerate() {
            let field = |f: &str| format!("hooks.{}[{i}].{f}", kind.name());
            let path = hook.path();
            if path.as_os_str().as_encoded_bytes().contains(&0) {
                return Err(Error::config(field("path"), "contains a NUL byte"));
            }
            if !path.is_absolute() {
                return Err(Error::config(
                    field("path"),
                    format!("{:?}: not an absolute path", path.display().to_string()),
                ));
            }
            for (name, list) in [("args", hook.args()), ("env", hook.env())] {
                if let Some(j) = list.iter().flatten().position(|a| a.contains('\0')) {
                    return Err(Error::config(
                        field(&format!("{name}[{j}]")),
                        "contains a NUL byte",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Run every hook of `kind` in order, each with `state` on stdin; the first failure is returned.
pub fn run(kind: Kind, hooks: &Option<Hooks>, state: &[u8]) -> Result<()> {
    for (i, hook) in kind.of(hooks).iter().enumerate() {
        run_one(hook, state).map_err(|why| {
            Error::Lifecycle(format!(
                "{} hook #{i} ({}): {why}",
                kind.name(),
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

/// Run every hook of `kind`, collecting failures as warnings instead of stopping.
pub fn run_all(kind: Kind, hooks: &Option<Hooks>, state: &[u8]) -> Vec<String> {
    kind.of(hooks)
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_one(hook, state).err().map(|why| {
                format!(
                    "{} hook #{i} ({}): {why}",
                    kind.name(),
                    hook.path().display()
                )
            })
        })
        .collect()
}

fn run_one(hook: &Hook, state: &[u8]) -> std::result::Result<(), String> {
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t.unsigned_abs()));
    let Some((status, stderr)) = wait_feeding(&mut child, state, deadline)? else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "timed out after {}s",
            hook.timeout().unwrap_or_default()
        ));
    };
    if status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr = stderr.trim();
    Err(if stderr.is_empty() {
        format!("{status}")
    } else {
        format!("{status}: {stderr}")
    })
}

/// The most of a hook's stderr kept for its error message.
const STDERR_KEPT: usize = 64 << 10;

/// Wait for the hook to end (its pidfd), writing `state` to its stdin and reading its stderr
/// as it goes, each only when its pipe is ready: a hook that reads no stdin (with a state
/// larger than a pipe holds), writes much to stderr, or leaves a process holding stderr open,
/// never stalls the runtime past `deadline`. `None` when the deadline came first.
fn wait_feeding(
    child: &mut Child,
    state: &[u8],
    deadline: Option<Instant>,
) -> std::result::Result<Option<(ExitStatus, Vec<u8>)>, String> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let pidfd = crate::sys::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let mut stdin = child.stdin.take().filter(|_| !state.is_empty());
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(AsFd::as_fd),
        stderr.as_ref().map(AsFd::as_fd),
    ]
    .into_iter()
    .flatten()
    {
        nonblocking(fd)?;
    }
    let (mut fed, mut err) = (0, Vec::new());
    loop {
        if let Some(i) = &stdin {
            // EAGAIN: the pipe is full; any other error (EPIPE: a hook that does not read its
            // stdin is fine) or all written: close it, so the hook sees EOF.
            match nix::unistd::write(i, &state[fed..]) {
                Ok(n) if fed + n < state.len() => fed += n,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                _ => stdin = None,
            }
        }
        if stderr.as_ref().is_some_and(|e| !drain(e, &mut err)) {
            stderr = None;
        }
        if let Some(status) = child.try_wait().map_err(|e| format!("waiting: {e}"))? {
            if let Some(e) = &stderr {
                drain(e, &mut err);
            }
            return Ok(Some((status, err)));
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Ok(None);
        }
        let timeout = left.map_or(PollTimeout::NONE, |l| {
            PollTimeout::try_from(l.as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX)
        });
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(i) = &stdin {
            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLOUT));
        }
        if let Some(e) = &stderr {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("waiting: {e}")),
        }
    }
}

/// Read what `pipe` holds now into `out` (up to [`STDERR_KEPT`], the rest is dropped); false
/// at EOF or on an error.
fn drain(pipe: &impl AsFd, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(pipe.as_fd(), &mut buf) {
            Ok(0) => return false,
            Ok(n) => out.extend_from_slice(&buf[..n.min(STDERR_KEPT.saturating_sub(out.len()))]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
}

fn nonblocking(fd: BorrowedFd<'_>) -> std::result::Result<(), String> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("fcntl: {e}"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(|e| format!("fcntl: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(json: &str) -> Option<Hooks> {
        Some(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn success_failure_and_timeout() {
        let h = hooks(
            r#"{"poststart":[
                {"path":"/bin/sh","args":["sh","-c","read x; [ \"$x\" = state ] && [ \"$E\" = 1 ]"],"env":["E=1"]},
                {"path":"/bin/sh","args":["sh","-c","echo oops >&2; exit 3"]},
                {"path":"/bin/sh","args":["sh","-c","sleep 5"],"timeout":1}
            ]}"#,
        );
        let warnings = run_all(Kind::Poststart, &h, b"state\n");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("#1") && warnings[0].contains("oops"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("timed out after 1s"), "{warnings:?}");
        let err = run(Kind::Poststart, &h, b"state\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("poststart hook #1 (/bin/sh)"), "{err}");
        assert!(run(Kind::Prestart, &h, b"").is_ok());
    }

    #[test]
    fn missing_binary_is_reported() {
        let h = hooks(r#"{"createRuntime":[{"path":"/no/such/hook"}]}"#);
        let err = run(Kind::CreateRuntime, &h, b"").unwrap_err().to_string();
        assert!(err.contains("cannot run"), "{err}");
    }
}
