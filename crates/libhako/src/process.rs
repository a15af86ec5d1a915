//! The init's last steps before exec: the user and groups, the working directory, and finding
//! the program on the container's `PATH`. Runs in the container init, after pivot_root.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::Mode;
use nix::unistd::{access, AccessFlags, Gid, Uid};
use oci_spec::runtime::{Process, User};

use crate::error::{Error, Result, SysContext};
use crate::security;
use crate::sync::{Channel, Msg};

/// The common steps of the init and of an exec'd process that come before the container's
/// seccomp filter, which may deny any syscall (`getcwd`, `close_range`...): the cwd (checked),
/// rlimits, the bounding set (needs CAP_SETPCAP, so before the uid switch), keep-caps, and
/// the runtime's fds marked close-on-exec. Returns whether setgroups(2) may be called.
pub fn before_seccomp(proc: &Process, in_userns: bool, preserve_fds: u32) -> Result<bool> {
    enter_cwd(proc.cwd())?;
    security::set_rlimits(proc.rlimits().as_deref().unwrap_or_default())?;
    if let Some(caps) = proc.capabilities() {
        security::limit_bounding(caps)?;
    }
    crate::sys::set_keepcaps().ctx(|| "setting keep-caps".into())?;
    let may_setgroups = !in_userns || setgroups_allowed();
    close_runtime_fds(preserve_fds)?;
    Ok(may_setgroups)
}

/// The credential steps, after [`before_seccomp`] and, without no_new_privs, after the
/// filter (loading it then needs CAP_SYS_ADMIN, runc's order): groups, gid, uid, the other
/// capability sets, no_new_privs, umask.
pub fn finalize(proc: &Process, may_setgroups: bool) -> Result<()> {
    switch_user(proc.user(), may_setgroups)?;
    if let Some(caps) = proc.capabilities() {
        security::set_capabilities(caps)?;
    }
    if proc.no_new_privileges().unwrap_or(false) {
        security::no_new_privs()?;
    }
    nix::sys::stat::umask(Mode::from_bits_truncate(
        proc.user().umask().unwrap_or(0o022),
    ));
    Ok(())
}

fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow")
}

/// Find the program on the container's PATH, load `seccomp` (the filter that goes last, with
/// no_new_privs), and tell the runtime we are Ready. Returns the program to execve.
pub fn ready(
    args: &[CString],
    env: &[CString],
    chan: &Channel,
    seccomp: Option<&crate::seccomp::Filter>,
) -> Result<CString> {
    let arg0 = args
        .first()
        .ok_or_else(|| Error::config("process.args", "must not be empty"))?;
    let program = find_program(arg0, env)?;
    if let Some(filter) = seccomp {
        load_seccomp(filter, chan)?;
    }
    chan.send(&Msg::Ready)?;
    Ok(program)
}

/// The fds from 3 on a process gets besides stdio: `listen` socket-activation fds, then
/// `preserve` more (`--preserve-fds`), each of which must be open in the runtime, as runc
/// checks. A count that would run past the largest fd is refused, never taken modulo 2^32
/// (`3 + 4294967293` is 0: every fd, stdio included, would be closed at exec).
pub fn preserved_fds(listen: u32, preserve: u32) -> Result<u32> {
    let fits = |t: u32| i64::from(t) + 3 <= i64::from(i32::MAX);
    let Some(total) = listen.checked_add(preserve).filter(|t| fits(*t)) else {
        return Err(Error::config(
            "--preserve-fds",
            format!("{preserve}: more fds than a process can have"),
        ));
    };
    let base = 3 + listen;
    for i in 0..preserve {
        if let Err(e) = crate::sys::fd_flags(base + i) {
            return Err(Error::config(
                "--preserve-fds",
                format!(
                    "unable to stat preserved-fd {i} (of {preserve}): {}",
                    crate::error::errno_text(e)
                ),
            ));
        }
    }
    Ok(total)
}

/// Mark every fd from `3 + preserve_fds` close-on-exec, so no runtime fd reaches the program.
/// Called before the container's seccomp filter is loaded (a profile may deny `close_range`
/// or answer ENOSYS for it); where the kernel lacks `close_range` with `CLOSE_RANGE_CLOEXEC`
/// (before Linux 5.11), each fd listed in /proc/self/fd is marked with `fcntl`. fds the runtime
/// opens after this are opened close-on-exec.
fn close_runtime_fds(preserve_fds: u32) -> Result<()> {
    let first = preserve_fds
        .checked_add(3)
        .ok_or_else(|| Error::Init(format!("{preserve_fds} preserved fds: too many")))?;
    match crate::sys::cloexec_from(first) {
        Ok(()) => Ok(()),
        Err(Errno::ENOSYS | Errno::EINVAL) => cloexec_listed(first),
        Err(e) => Err(Error::sys("closing runtime fds", e)),
    }
}

/// `close_range`'s fallback: every fd from `first` listed in /proc/self/fd gets FD_CLOEXEC
/// (the directory's own fd among them, harmlessly).
fn cloexec_listed(first: u32) -> Result<()> {
    let dir =
        std::fs::read_dir("/proc/self/fd").map_err(|e| Error::io("listing", "/proc/self/fd", e))?;
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| u32::try_from(*fd).is_ok_and(|fd| fd >= first))
        .collect();
    for fd in fds {
        // The listing's own fd, closed since, gives EBADF.
        match crate::sys::set_cloexec_raw(fd) {
            Ok(()) | Err(Errno::EBADF) => {}
            Err(e) => return Err(Error::sys(format!("marking fd {fd} close-on-exec"), e)),
        }
    }
    Ok(())
}

/// Load the container's seccomp filter into this process (the init or an exec'd process)
/// and, when a rule notifies, send the listener fd to the runtime, which relays it to
/// `listenerPath`. The fd is closed here once sent: the program never holds it.
pub fn load_seccomp(filter: &crate::seccomp::Filter, chan: &Channel) -> Result<()> {
    if let Some(fd) = crate::seccomp::install(filter)? {
        chan.send_with_fd(&Msg::SeccompListener, std::os::fd::AsFd::as_fd(&fd))?;
    }
    Ok(())
}

/// Switch to `user`'s ids: supplementary groups, then gid, then uid (while still allowed).
/// `may_setgroups` is false in a user namespace where setgroups(2) is denied (when the
/// container made it; one the runtime already ran in is found out on EPERM).
pub fn switch_user(user: &User, may_setgroups: bool) -> Result<()> {
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .copied()
        .map(Gid::from_raw)
        .collect();
    if may_setgroups || !groups.is_empty() {
        match nix::unistd::setgroups(&groups) {
            // The runtime itself runs in a user namespace that denies setgroups (rootless
            // Podman, `unshare -U -r`): nothing was asked for, nothing to do (as runc).
            Err(nix::errno::Errno::EPERM) if groups.is_empty() && !setgroups_allowed() => {}
            r => r.ctx(|| format!("setgroups to {groups:?}"))?,
        }
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("setgid to {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("setuid to {uid}"))
}

/// The value of `key` in a `KEY=value` environment.
fn env_value<'a>(env: &'a [CString], key: &str) -> Option<&'a str> {
    env.iter().find_map(|e| {
        let s = e.to_str().ok()?;
        s.strip_prefix(key)?.strip_prefix('=')
    })
}

/// `env` with `HOME` added when it has none, as runc does: the home of `uid` in the
/// container's /etc/passwd, or "/" when it has no entry.
pub fn with_home(env: &[CString], uid: u32) -> Vec<CString> {
    let mut out = env.to_vec();
    if env_value(env, "HOME").is_none() {
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| crate::passwd::entry(&text, uid).map(|f| f[5].to_string()))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into());
        if let Ok(c) = CString::new(format!("HOME={home}")) {
            out.push(c);
        }
    }
    out
}

/// Find the program as execvp would, on the container's PATH; errors use runc's wording.
pub fn find_program(arg0: &CStr, env: &[CString]) -> Result<CString> {
    let name = arg0.to_bytes();
    let shown = String::from_utf8_lossy(name);
    if name.contains(&b'/') {
        let p = Path::new(std::ffi::OsStr::from_bytes(name));
        let meta = std::fs::metadata(p).map_err(|e| {
            Error::Init(format!(
                "exec: {shown:?}: stat {shown}: {}",
                crate::error::errno_text(nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(0)
                ))
            ))
        })?;
        // As runc (Go's exec.LookPath): a directory or a file without any x bit is refused at
        // create, so engines map it to their "permission denied" exit code (126).
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        if meta.is_dir() || mode & 0o111 == 0 {
            return Err(Error::Init(format!("exec: {shown:?}: permission denied")));
        }
        return Ok(arg0.to_owned());
    }
    // As runc (Go's exec.LookPath on the process's env): no PATH, or an empty one, has no
    // directory to look in.
    let path = env_value(env, "PATH").unwrap_or_default();
    for dir in path.split(':').filter(|_| !path.is_empty()) {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate: PathBuf = Path::new(dir).join(std::ffi::OsStr::from_bytes(name));
        let is_file = std::fs::metadata(&candidate).is_ok_and(|m| m.is_file());
        if is_file && access(&candidate, AccessFlags::X_OK).is_ok() {
            return CString::new(candidate.as_os_str().as_bytes())
                .map_err(|_| Error::Init(format!("exec: {shown:?}: invalid path")));
        }
    }
    Err(Error::Init(format!(
        "exec: {shown:?}: executable file not found in $PATH"
    )))
}

/// chdir to `process.cwd`, with runc's error wording, then check that the new cwd is inside
/// the container's root (CVE-2024-21626: a cwd such as `/proc/self/fd/N` follows a runtime fd
/// still open at this point to a host directory; the kernel then has no path from the root to
/// it, and `getcwd` fails with ENOENT instead of returning one).
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).ctx(|| {
        format!(
            "chdir to cwd ({:?}) set in config.json failed",
            cwd.display().to_string()
        )
    })?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::Init(format!(
            "cwd {:?}: current working directory is outside of container mount namespace root \
             -- possible container breakout detected",
            cwd.display().to_string()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    #[test]
    fn path_lookup_uses_the_given_env() {
        let env = [c("FOO=1"), c("PATH=/nonexistent:/bin:/usr/bin")];
        let found = find_program(&c("sh"), &env).unwrap();
        assert!(found.to_bytes().ends_with(b"/sh"));
        let err = find_program(&c("no-such-program-hako"), &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"no-such-program-hako\": executable file not found in $PATH"
        );
        let err = find_program(&c("/no/such"), &env).unwrap_err();
        assert!(find_program(&c("sh"), &[c("FOO=1")]).is_err());
        assert!(find_program(&c("sh"), &[c("PATH=")]).is_err());
        assert!(err.to_string().contains("no such file or directory"));
        assert_eq!(env_value(&env, "FOO"), Some("1"));
        assert_eq!(env_value(&env, "FO"), None);
    }
}
