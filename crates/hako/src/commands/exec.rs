//! `hako exec [options] ID [COMMAND [ARG...]]` or `hako exec --process FILE ID`, with runc's
//! flags: the process is the container's, with the flags' overrides.

use std::path::PathBuf;

use anyhow::Context;
use libhako::container::{self, ExecOptions};
use oci_spec::runtime::{Capability, Process};

use super::Ctx;

/// `exec` arguments.
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// A process JSON (as engines send), instead of COMMAND and the flags below.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Do not wait for the process.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's host PID to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=value), repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional gids, repeatable.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective and permitted sets, repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    no_new_privs: bool,
    /// AppArmor profile to run the process in (default: the container's).
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label to run the process with (default: the container's).
    #[arg(long)]
    process_label: Option<String>,
    /// Pass N extra fds (3..3+N).
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Allow exec in a paused container.
    #[arg(long)]
    ignore_paused: bool,
    /// Sub-cgroup to run in (refused: not supported yet; the container's cgroup is used).
    #[arg(long)]
    cgroup: Option<String>,
    /// Container id.
    id: String,
    /// The command and its arguments.
    command: Vec<String>,
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
    if let Some(sub) = &a.cgroup {
        anyhow::bail!("--cgroup {sub:?}: exec into a sub-cgroup is not supported yet");
    }
    let process = match &a.process {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing process {}", path.display()))?
        }
        None => from_flags(&a, container::container_process(&ctx.root, &a.id)?)?,
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
    })?;
    Ok(code)
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
        if let Some(g) = gid {
            user.set_gid(g.parse().with_context(|| format!("--user {u:?}: gid"))?);
        }
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
