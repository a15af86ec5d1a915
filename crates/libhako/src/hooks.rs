//! OCI hooks: each hook's `path` runs with its `args` (args[0] is argv[0]) and its `env` (a
//! hook without one gets the environment of the process that runs it, as runc's), gets the
//! container state JSON on stdin, and is killed and reported after `timeout` seconds (at once
//! for 0 or less, as runc). Its stdin is fed and its output read while it runs, so that neither
//! can block the runtime past the deadline. Where they run (working directory and environment
//! as runc's, see [`Context`]):
//!
//! | hook            | process            | when                                 | cwd          | env without `env`  |
//! |-----------------|--------------------|--------------------------------------|--------------|--------------------|
//! | prestart        | runtime (`create`) | mounts done, before pivot_root       | bundle       | the runtime's      |
//! | createRuntime   | runtime (`create`) | right after prestart                 | bundle       | the runtime's      |
//! | createContainer | container init     | after createRuntime, before pivot_root | rootfs     | none               |
//! | startContainer  | container init     | after `start`, just before execve    | process.cwd  | the process's      |
//! | poststart       | runtime (`start`)  | after the program was released       | bundle       | the runtime's      |
//! | poststop        | runtime (`delete`) | after the container is gone          | the caller's | the runtime's      |
//!
//! (runc runs create and run from the bundle directory, and its init has no environment of
//! its own until it takes the process's, after createContainer.)
//!
//! A failing create-time hook fails the create (which then tears everything down); a failing
//! poststart or poststop hook is reported as a warning and changes nothing else.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
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

/// Where hooks run, besides what each hook says: runc's working directory and environment
/// for the hook's kind and process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The working directory; `None`: the calling process's own.
    pub cwd: Option<&'a Path>,
    /// The environment of a hook without `env`; `None`: the calling process's own (runc's
    /// `exec.Cmd` with a nil `Env`).
    pub env: Option<&'a [CString]>,
}

/// Run every hook of `kind` in order, each with `state` on stdin; the first failure is returned.
pub fn run(kind: Kind, hooks: &Option<Hooks>, state: &[u8], ctx: &Context<'_>) -> Result<()> {
    for (i, hook) in kind.of(hooks).iter().enumerate() {
        run_one(hook, state, ctx).map_err(|why| Error::Lifecycle(failure(kind, i, &why)))?;
    }
    Ok(())
}

/// Run every hook of `kind`, collecting failures as warnings instead of stopping.
pub fn run_all(kind: Kind, hooks: &Option<Hooks>, state: &[u8], ctx: &Context<'_>) -> Vec<String> {
    kind.of(hooks)
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_one(hook, state, ctx)
                .err()
                .map(|why| failure(kind, i, &why))
        })
        .collect()
}

/// runc's words for a failed hook.
fn failure(kind: Kind, i: usize, why: &str) -> String {
    format!("error running {} hook #{i}: {why}", kind.name())
}

/// What is kept of a hook's stdout and stderr for the error message.
const KEEP: usize = 64 << 10;

/// A hook's output, read while it runs: a hook that writes more than a pipe holds must not
/// block on the runtime. Beyond [`KEEP`] bytes it is read and dropped.
struct Output {
    fd: Option<OwnedFd>,
    kept: Vec<u8>,
}

impl Output {
    fn new(fd: Option<OwnedFd>) -> Output {
        Output {
            fd,
            kept: Vec::new(),
        }
    }

    /// Read what is there now; at EOF (or an error) the fd is dropped.
    fn drain(&mut self) {
        let Some(fd) = &self.fd else { return };
        let mut buf = [0u8; 16384];
        loop {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => break self.fd = None,
                Ok(n) => {
                    let room = KEEP.saturating_sub(self.kept.len()).min(n);
                    self.kept.extend_from_slice(&buf[..room]);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(_) => break self.fd = None,
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

/// The hook's stdin: the state, written while the hook runs and as far as it reads it.
struct Input<'a> {
    fd: Option<OwnedFd>,
    rest: &'a [u8],
}

impl Input<'_> {
    /// Write what fits now; once all is written (or the hook closed its end) the fd is
    /// dropped, which gives the hook EOF.
    fn feed(&mut self) {
        let Some(fd) = &self.fd else { return };
        while !self.rest.is_empty() {
            match nix::unistd::write(fd, self.rest) {
                Ok(n) => self.rest = &self.rest[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                // EPIPE: a hook that does not read its stdin is fine.
                Err(_) => break,
            }
        }
        self.fd = None;
    }
}

fn nonblocking(fd: Option<OwnedFd>) -> Option<OwnedFd> {
    let fd = fd?;
    let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL).ok()?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags)).ok()?;
    Some(fd)
}

/// The hook as a command: its path, args (args[0] is argv[0]), env (else `ctx`'s), cwd.
fn command(hook: &Hook, ctx: &Context<'_>) -> Command {
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = hook.args().as_deref().and_then(<[String]>::split_first) {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    let env: Option<Vec<&str>> = match (hook.env(), ctx.env) {
        (Some(env), _) => Some(env.iter().map(String::as_str).collect()),
        (None, Some(env)) => Some(env.iter().filter_map(|e| e.to_str().ok()).collect()),
        (None, None) => None,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    if let Some(dir) = ctx.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run one hook to its end, or to its timeout: `timeout` seconds from its start, or at once
/// when it is 0 or less (runc's reading of the field). Its stdin is fed and its stdout and
/// stderr read while it runs, all bounded by that deadline; it is waited for, not the
/// processes it leaves behind with its pipes.
fn run_one(hook: &Hook, state: &[u8], ctx: &Context<'_>) -> std::result::Result<(), String> {
    let mut child = command(hook, ctx).spawn().map_err(|e| e.to_string())?;
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(u64::try_from(t).unwrap_or(0)));
    let mut input = Input {
        fd: nonblocking(child.stdin.take().map(OwnedFd::from)),
        rest: state,
    };
    let mut out = Output::new(nonblocking(child.stdout.take().map(OwnedFd::from)));
    let mut err = Output::new(nonblocking(child.stderr.take().map(OwnedFd::from)));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(-1));
    let exited = crate::sys::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let status = loop {
        input.feed();
        out.drain();
        err.drain();
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "hook ran past specified timeout of {:.1}s",
                        hook.timeout().unwrap_or_default() as f64
                    ));
                }
            },
            None => Duration::from_secs(3600),
        };
        let mut fds = vec![PollFd::new(exited.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = &input.fd {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        for o in [&out, &err] {
            if let Some(fd) = &o.fd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        if fds[0].any().unwrap_or(false) {
            match child.wait() {
                Ok(status) => break status,
                Err(e) => return Err(format!("waiting: {e}")),
            }
        }
    };
    out.drain();
    err.drain();
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{}, stdout: {}, stderr: {}",
        exit_text(status),
        out.text(),
        err.text()
    ))
}

/// An unsuccessful exit status in Go's words (`exit status 3`, `signal: killed`), as runc
/// reports a failed hook.
fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => {
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("signal: {}{core}", signal_text(sig))
        }
        _ => status.to_string(),
    }
}

/// Go's description of a signal (`syscall.Signal.String`).
fn signal_text(sig: i32) -> String {
    const NAMES: [&str; 31] = [
        "hangup",
        "interrupt",
        "quit",
        "illegal instruction",
        "trace/breakpoint trap",
        "aborted",
        "bus error",
        "floating point exception",
        "killed",
        "user defined signal 1",
        "segmentation fault",
        "user defined signal 2",
        "broken pipe",
        "alarm clock",
        "terminated",
        "stack fault",
        "child exited",
        "continued",
        "stopped (signal)",
        "stopped",
        "stopped (tty input)",
        "stopped (tty output)",
        "urgent I/O condition",
        "CPU time limit exceeded",
        "file size limit exceeded",
        "virtual timer expired",
        "profiling timer expired",
        "window changed",
        "I/O possible",
        "power failure",
        "bad system call",
    ];
    usize::try_from(sig)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("signal {sig}"), |n| (*n).to_string())
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
                {"path":"/bin/sh","args":["sh","-c","echo out; echo oops >&2; exit 3"]},
                {"path":"/bin/sh","args":["sh","-c","sleep 5"],"timeout":1},
                {"path":"/bin/sh","args":["sh","-c","kill -9 $$"]},
                {"path":"/bin/sh","args":["sh","-c","sleep 5"],"timeout":0}
            ]}"#,
        );
        let ctx = Context::default();
        let warnings = run_all(Kind::Poststart, &h, b"state\n", &ctx);
        assert_eq!(
            warnings,
            [
                "error running poststart hook #1: exit status 3, stdout: out\n, stderr: oops\n",
                "error running poststart hook #2: hook ran past specified timeout of 1.0s",
                "error running poststart hook #3: signal: killed, stdout: , stderr: ",
                "error running poststart hook #4: hook ran past specified timeout of 0.0s",
            ]
        );
        let err = run(Kind::Poststart, &h, b"state\n", &ctx)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("error running poststart hook #1: "),
            "{err}"
        );
        assert!(run(Kind::Prestart, &h, b"", &ctx).is_ok());
    }

    #[test]
    fn missing_binary_is_reported() {
        let h = hooks(r#"{"createRuntime":[{"path":"/no/such/hook"}]}"#);
        let err = run(Kind::CreateRuntime, &h, b"", &Context::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("error running createRuntime hook #0"), "{err}");
    }

    #[test]
    fn a_full_pipe_or_an_unread_stdin_does_not_block() {
        // 1 MiB on stderr, far more than a pipe holds; 1 MiB of state a hook never reads.
        let h = hooks(
            r#"{"poststop":[
                {"path":"/bin/sh","args":["sh","-c","head -c 1048576 /dev/zero >&2; exit 1"],"timeout":10},
                {"path":"/bin/sh","args":["sh","-c","exec sleep 5"],"timeout":1}
            ]}"#,
        );
        let state = vec![b'x'; 1 << 20];
        let start = Instant::now();
        let w = run_all(Kind::Poststop, &h, &state, &Context::default());
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        assert!(
            w[0].starts_with("error running poststop hook #0: exit status 1"),
            "{w:?}"
        );
        assert!(w[0].len() < KEEP + 200);
        assert!(w[1].ends_with("timeout of 1.0s"), "{w:?}");
    }

    #[test]
    fn environment_and_directory_come_from_the_context() {
        let dir = std::env::temp_dir();
        let out = dir.join(format!("hako-hook-ctx-{}", std::process::id()));
        let script = format!(
            "echo \"$(pwd) ${{HAKO_HOOK_T:-unset}} ${{HOME:+home}}\" > {}",
            out.display()
        );
        let json =
            serde_json::json!({"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
        let h = Some(serde_json::from_value(json).unwrap());
        let env = [CString::new("HAKO_HOOK_T=from-ctx").unwrap()];
        let ctx = Context {
            cwd: Some(Path::new("/")),
            env: Some(&env),
        };
        assert!(run(Kind::Poststart, &h, b"", &ctx).is_ok());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "/ from-ctx \n");
        // No env and no context: this process's environment (HOME) and directory.
        assert!(run(Kind::Poststart, &h, b"", &Context::default()).is_ok());
        let cwd = std::env::current_dir().unwrap();
        let want = format!("{} unset home\n", cwd.display());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
        std::fs::remove_file(&out).unwrap();
    }
}
