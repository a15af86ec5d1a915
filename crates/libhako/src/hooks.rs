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

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t.unsigned_abs()));
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or_default()
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let stderr = stderr.trim();
    Err(if stderr.is_empty() {
        format!("{status}")
    } else {
        format!("{status}: {stderr}")
    })
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
