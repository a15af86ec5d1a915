//! `hako exec [options] ID [COMMAND [ARG...]]` or `hako exec --process FILE ID`, with runc's
//! flags: the process is the container's, with the flags' overrides.

use std::path::{Path, PathBuf};

use anyhow::Context;
use libhako::container::{self, ExecOptions};
use oci_spec::runtime::{Capability, Process};
use serde_json::{json, Value};

use super::{Ctx, Parsed};
use crate::cli::{Arity, Flag, Kind, Matches, Verb};

/// `hako exec`.
pub const VERB: Verb = Verb {
    name: "exec",
    alias: None,
    summary: "execute new process inside the container",
    usage: "[command options] <container-id> <command> [command options]  || -p process.json \
<container-id>",
    description: "The exec command runs a new process in the container: the container's process \
with the command and the flags' changes, or the process of --process.",
    flags: &[
        Flag::value("console-socket", None, Kind::Text,
            "path to an AF_UNIX socket which will receive the master end of the console's pseudoterminal"),
        Flag::value("cwd", None, Kind::Text, "current working directory in the container"),
        Flag::value("env", Some("e"), Kind::Text, "set environment variables"),
        Flag::switch("tty", Some("t"), "allocate a pseudo-TTY"),
        Flag::value("user", Some("u"), Kind::Text, "UID (format: <uid>[:<gid>])"),
        Flag::value("additional-gids", Some("g"), Kind::Uint, "additional gids"),
        Flag::value("process", Some("p"), Kind::Text, "path to the process.json"),
        Flag::switch("detach", Some("d"), "detach from the container's process"),
        Flag::value("pid-file", None, Kind::Text, "specify the file to write the process id to"),
        Flag::value("process-label", None, Kind::Text, "set the asm process label for the process commonly used with selinux"),
        Flag::value("apparmor", None, Kind::Text, "set the apparmor profile for the process"),
        Flag::switch("no-new-privs", None, "set the no new privileges value for the process"),
        Flag::value("cap", Some("c"), Kind::Text, "add a capability to the bounding set for the process"),
        Flag::value("preserve-fds", None, Kind::Uint,
            "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)"),
        Flag::value("cgroup", None, Kind::Text, "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>."),
        Flag::switch("ignore-paused", None, "allow exec in a paused container"),
    ],
    arity: Arity::Min(1),
    reorder: false,
};

/// `exec` arguments.
#[derive(Debug)]
pub struct Args {
    process: Option<PathBuf>,
    tty: bool,
    console_socket: Option<PathBuf>,
    detach: bool,
    pid_file: Option<PathBuf>,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
    additional_gids: Vec<u32>,
    cap: Vec<String>,
    no_new_privs: bool,
    apparmor: Option<String>,
    process_label: Option<String>,
    preserve_fds: u32,
    ignore_paused: bool,
    cgroup: Vec<String>,
    id: String,
    command: Vec<String>,
}

impl Args {
    /// From the command line; `ID -- COMMAND` is `ID COMMAND`.
    pub fn from(m: &Matches) -> Parsed<Args> {
        let path = |f: &str| m.value(f).map(PathBuf::from);
        let text = |f: &str| m.value(f).map(String::from);
        let mut command = m.args_from(1);
        if command.first().is_some_and(|c| c == "--") {
            command.remove(0);
        }
        Ok(Args {
            process: path("process"),
            tty: m.on("tty"),
            console_socket: path("console-socket"),
            detach: m.on("detach"),
            pid_file: path("pid-file"),
            cwd: path("cwd"),
            env: m.values("env"),
            user: text("user"),
            additional_gids: m.parsed_all("additional-gids")?,
            cap: m.values("cap"),
            no_new_privs: m.on("no-new-privs"),
            apparmor: text("apparmor"),
            process_label: text("process-label"),
            preserve_fds: m.parsed("preserve-fds")?.unwrap_or(0),
            ignore_paused: m.on("ignore-paused"),
            cgroup: m.values("cgroup"),
            id: m.arg(0),
            command,
        })
    }
}

/// Run the exec; the exit code is the process's. As runc, a failure is `exec failed: ...`
/// with exit status 255.
pub fn run(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    exec(ctx, a).map_err(|e| {
        super::Failure {
            code: 255,
            msg: format!("exec failed: {e}"),
        }
        .into()
    })
}

fn exec(ctx: &Ctx<'_>, a: Args) -> anyhow::Result<i32> {
    let sub_cgroups = libhako::cgroups::parse_sub_cgroups(&a.cgroup)?;
    let base = container::container_process(&ctx.root, &a.id)?;
    let process = match &a.process {
        Some(path) => process_file(ctx, path, base)?,
        None => from_flags(&a, base)?,
    };
    let code = container::exec(&ExecOptions {
        root: ctx.root.clone(),
        id: a.id,
        process,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        sub_cgroups,
    })?;
    Ok(code)
}

/// `--process FILE`, read as runc reads it: a missing `user` is uid 0, gid 0 (Go's zero
/// value), missing `capabilities` are the container's (`base`'s), names of capabilities the
/// kernel does not know are skipped with runc's warning. Every error names the file and the
/// field (`user.uid: invalid type: string "x", expected u32`); `args` and `cwd` are checked
/// with the container's process fields, by `exec`.
fn process_file(ctx: &Ctx<'_>, path: &Path, base: Process) -> anyhow::Result<Process> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {shown}: {e}"))?;
    let mut value: Value =
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let Some(fields) = value.as_object_mut() else {
        anyhow::bail!("{shown}: a process must be a JSON object");
    };
    fields
        .entry("user")
        .or_insert_with(|| json!({"uid": 0, "gid": 0}));
    // No cwd is an empty one, which exec refuses with the field.
    fields.entry("cwd").or_insert_with(|| json!(""));
    let own_caps = fields.contains_key("capabilities");
    let mut wrapped = json!({ "process": value });
    let skipped = libhako::capabilities::sanitize(&mut wrapped)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    if let Some(w) = libhako::capabilities::warning(&skipped) {
        ctx.logger.warn(&w);
    }
    let mut p: Process = serde_path_to_error::deserialize(&wrapped["process"])
        .map_err(|e| anyhow::anyhow!("{shown}: {}: {}", e.path(), e.inner()))?;
    if !own_caps {
        p.set_capabilities(base.capabilities().clone());
    }
    Ok(p)
}

/// The container's process with runc's exec overrides applied.
fn from_flags(a: &Args, mut p: Process) -> anyhow::Result<Process> {
    if a.command.is_empty() {
        anyhow::bail!("exec: a command to run is required (or --process)");
    }
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        user.set_uid(uid.parse().with_context(|| format!("--user {u:?}: uid"))?);
        libhako::spec::check_id("--user", "uid", user.uid())?;
        if let Some(g) = gid {
            user.set_gid(g.parse().with_context(|| format!("--user {u:?}: gid"))?);
            libhako::spec::check_id("--user", "gid", user.gid())?;
        }
    }
    for g in &a.additional_gids {
        libhako::spec::check_id("--additional-gids", "gid", *g)?;
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    // As runc: an empty --apparmor keeps the container's profile.
    if let Some(profile) = a.apparmor.as_ref().filter(|s| !s.is_empty()) {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    // As runc: an empty --process-label keeps the container's label.
    if let Some(label) = a.process_label.as_ref().filter(|s| !s.is_empty()) {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .with_context(|| format!("--cap {name:?}: unknown capability"))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}
