//! The integration-test harness: builds busybox bundles in private temp dirs, runs the built
//! `hako` binary against a private `--root`, and removes every container, state dir and temp
//! dir it made when dropped, even when the test fails. Tests must run as root.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Path of the hako binary under test.
pub fn hako_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hako")
}

/// `../shared` beside the repository (CI has it; a bare clone does not), when present. In a
/// `git worktree`, beside the main checkout the worktree's `.git` file points to.
pub fn shared_dir() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let main = std::fs::read_to_string(repo.join(".git"))
        .ok()
        .and_then(|g| {
            let gitdir = PathBuf::from(g.strip_prefix("gitdir:")?.trim());
            // <main>/.git/worktrees/<name>
            Some(gitdir.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or(repo);
    let d = main.join("../shared");
    d.is_dir().then(|| d.canonicalize().unwrap_or(d))
}

/// `HAKO_TEST_RUNC`: the runc to compare with instead of the default one (to check that the
/// differential tests hold against Debian's runc too while the reference is present).
fn runc_override() -> Option<PathBuf> {
    std::env::var_os("HAKO_TEST_RUNC")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// runc 1.5.1, the reference (`../shared/reference/runc`), when present (and not overridden
/// by another `HAKO_TEST_RUNC`).
pub fn reference_runc() -> Option<PathBuf> {
    let reference = shared_dir()
        .map(|d| d.join("reference/runc"))
        .filter(|p| p.is_file())?;
    match runc_override() {
        Some(o) if o != reference => None,
        _ => Some(reference),
    }
}

/// The reference runc 1.5.1, to compare with for what Debian's runc 1.1.5 does not have or does
/// otherwise (runtime-spec 1.1-1.3 fields, runc 1.2+ checks); `None` where it is not here (a
/// bare clone has no ../shared), after a line saying that `what` is checked on hako alone.
pub fn reference_runc_for(what: &str) -> Option<PathBuf> {
    let r = reference_runc();
    if r.is_none() {
        eprintln!(
            "NOTE: no runc 1.5.1 (../shared/reference/runc) here: {what} is checked on hako alone"
        );
    }
    r
}

/// The runc to compare with: `HAKO_TEST_RUNC` if set, else the reference (1.5.1) when
/// present, else Debian's (`/usr/sbin/runc`, 1.1.5), else the first `runc` on PATH. Where the
/// two runcs differ, 1.5.1 is the reference: hako does as 1.5.1, and a test that compares with
/// an older runc allows those differences only then (see [`reference_runc`]).
pub fn runc_bin() -> PathBuf {
    if let Some(r) = runc_override().or_else(reference_runc) {
        return r;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/sbin/runc"))
        .chain(std::env::split_paths(&path).map(|d| d.join("runc")))
        .find(|p| p.is_file())
        .expect("runc not found: apt-get install runc (scripts/deps.sh)")
}

/// The static busybox the rootfs is made from (Debian's busybox-static).
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: apt-get install busybox-static");
}

/// Fail loudly (never skip) when not root: these tests need real namespaces and mounts.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "integration tests must run as root"
    );
}

/// A unique name for this test process and call.
pub fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A private test world: a temp dir with a state root and any number of bundles.
pub struct World {
    /// The temp dir.
    pub dir: PathBuf,
    /// `--root` for hako.
    pub root: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
}

impl World {
    /// A new world, tagged for easier debugging.
    pub fn new(tag: &str) -> World {
        require_root();
        let dir = std::env::temp_dir().join(format!("hako-it-{}", unique(tag)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let root = dir.join("state");
        World {
            dir,
            root,
            ids: Default::default(),
        }
    }

    /// A fresh container id, deleted (with --force) when the world is dropped.
    pub fn id(&self, tag: &str) -> String {
        let id = unique(tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A busybox bundle running `args`, from `hako spec` with terminal off.
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let dir = self.dir.join(unique("bundle"));
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dirs");
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(busybox())
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
            }
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").expect("group");
        let out = Command::new(hako_bin())
            .args(["spec", "--bundle"])
            .arg(&dir)
            .output()
            .expect("hako spec");
        assert!(
            out.status.success(),
            "hako spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut b = Bundle { dir };
        b.edit(|c| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
        });
        b
    }

    /// `RUNC run [EXTRA...] --bundle B <fresh id>` with the world's own runc root
    /// (`<dir>/runc-state`) and stdin /dev/null: the control run of a differential test. A
    /// foreground `run` deletes its container when it ends.
    pub fn runc_run(&self, runc: &Path, extra: &[&str], b: &Bundle) -> Out {
        let out = Command::new(runc)
            .arg("--root")
            .arg(self.dir.join("runc-state"))
            .arg("run")
            .args(extra)
            .args(["--bundle", b.path(), &unique("runc")])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", runc.display()));
        Out(out)
    }

    /// A `hako` command with `--root` set.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(hako_bin());
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Run hako with these args; stdin is /dev/null.
    ///
    /// stdout and stderr go to files, not pipes, and only hako's own exit is waited for: a
    /// container started by `create` or `run -d` inherits them (as with runc), so waiting for
    /// EOF on a pipe would wait for the container.
    pub fn hako(&self, args: &[&str]) -> Out {
        let n = unique("out");
        let (out_path, err_path) = (
            self.dir.join(format!("{n}.out")),
            self.dir.join(format!("{n}.err")),
        );
        let out_file = std::fs::File::create(&out_path).expect("stdout file");
        let err_file = std::fs::File::create(&err_path).expect("stderr file");
        let status = self
            .cmd()
            .args(args)
            .stdout(out_file)
            .stderr(err_file)
            .status()
            .expect("spawn hako");
        let stdout = std::fs::read(&out_path).expect("read stdout");
        let stderr = std::fs::read(&err_path).expect("read stderr");
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        Out(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// `create` + `start` of `bundle` as `id`, asserting success.
    pub fn start(&self, id: &str, bundle: &Bundle) {
        self.hako(&["create", "--bundle", bundle.path(), id]).ok();
        self.hako(&["start", id]).ok();
    }

    /// `state` parsed as JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = self.hako(&["state", id]).ok();
        serde_json::from_str(&out.stdout()).expect("state json")
    }

    /// Poll until `state` reports `status` (or panic after 10 s).
    pub fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..1000 {
            let out = self.hako(&["state", id]);
            if out.0.status.success() {
                let v: Value = serde_json::from_str(&out.stdout()).expect("state json");
                if v["status"] == status {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never reached {status}");
    }

    /// The state dir of `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.hako(&["delete", "--force", id]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait for `child` at most `limit`; `None` when it had to be killed (it hung), and then it
/// is reaped too.
pub fn wait_within(child: &mut std::process::Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A runtime binary with a state root of its own: the same bundle run under runc and hako side
/// by side.
pub struct Runtime {
    /// The binary.
    pub bin: PathBuf,
    /// Its `--root`.
    pub root: PathBuf,
}

impl Runtime {
    /// The hako under test, on the world's root (whose containers the world deletes).
    pub fn hako(w: &World) -> Runtime {
        Runtime {
            bin: PathBuf::from(hako_bin()),
            root: w.root.clone(),
        }
    }

    /// A runc, on the root `<world>/runc`.
    pub fn runc(w: &World, bin: PathBuf) -> Runtime {
        Runtime {
            bin,
            root: w.dir.join("runc"),
        }
    }

    /// Its name in messages: the binary's path.
    pub fn who(&self) -> String {
        self.bin.display().to_string()
    }

    /// Whether this is the hako under test.
    pub fn is_hako(&self) -> bool {
        self.bin == Path::new(hako_bin())
    }

    /// `BIN --root ROOT ARGS...` with stdin /dev/null; its output.
    pub fn output(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.who()))
    }

    /// `run -d --bundle B ID`, asserting it succeeds. Its stdout and stderr go to /dev/null:
    /// the container inherits them, and a pipe would be held open by it.
    pub fn run_detached(&self, b: &Bundle, id: &str) {
        let status = Command::new(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(["run", "-d", "--bundle", b.path(), id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.who()));
        assert!(status.success(), "{}: run -d {id}", self.who());
    }
}

/// A bundle directory.
pub struct Bundle {
    /// The bundle dir (config.json + rootfs/).
    pub dir: PathBuf,
}

impl Bundle {
    /// The bundle path as a str for command lines.
    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8 path")
    }

    /// The rootfs path.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Edit config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        let path = self.dir.join("config.json");
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read config")).expect("json");
        f(&mut v);
        std::fs::write(&path, serde_json::to_vec_pretty(&v).expect("json")).expect("write config");
    }

    /// Write raw bytes as config.json (for malformed-input tests).
    pub fn write_raw(&self, bytes: &[u8]) {
        std::fs::write(self.dir.join("config.json"), bytes).expect("write config");
    }
}

/// A finished command with assertion helpers.
pub struct Out(pub Output);

impl Out {
    /// Assert success; returns self.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(
            self.0.status.success(),
            "expected success, got {:?}\nstdout: {}\nstderr: {}",
            self.0.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Assert failure with exit code 1; returns self.
    #[track_caller]
    pub fn fails(self) -> Out {
        assert_eq!(
            self.0.status.code(),
            Some(1),
            "expected exit 1\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Exit code.
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    /// Stdout as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// Stderr as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// The `msg="..."` of the single error line on stderr.
    #[track_caller]
    pub fn error_msg(&self) -> String {
        let err = self.stderr();
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("level=error")).collect();
        assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
        let msg = lines[0].split_once("msg=").expect("msg=").1;
        serde_json::from_str(msg).unwrap_or_else(|_| msg.to_string())
    }
}

/// Directories named `name` under /sys/fs/cgroup, on every hierarchy (not following links):
/// the default cgroup of container `name`, or one a test named itself.
pub fn cgroups_named(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if e.file_name() == name {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 8, &mut out);
    out
}

impl World {
    /// `hako <args>` with `input` written to its stdin, then stdin closed (EOF must reach the
    /// container); stdout and stderr are captured separately.
    pub fn with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hako");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait hako")
    }
}

/// Compile the C `source` into a static `/bin/<name>` of `rootfs` (for what busybox cannot
/// do: raw syscalls); gcc and libc6-dev come from scripts/deps.sh.
pub fn install_c_helper(rootfs: &Path, name: &str, source: &str) {
    let src = rootfs.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write the helper's source");
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(rootfs.join("bin").join(name))
        .arg(&src)
        .output()
        .expect("cc (gcc and libc6-dev, scripts/deps.sh) runs");
    assert!(
        out.status.success(),
        "cc {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The unprivileged user of the rootless tests (tests/rootless.rs, tests/engines.rs).
pub const ROOTLESS_USER: &str = "hako-rootless";

/// The unprivileged test user and its delegated ranges `(start, count)`.
pub struct TestUser {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
    /// Its first /etc/subuid range.
    pub subuid: (u64, u64),
    /// Its first /etc/subgid range.
    pub subgid: (u64, u64),
}

/// The test user, made (useradd, usermod --add-subuids/--add-subgids) if missing.
pub fn rootless_user() -> &'static TestUser {
    static USER_ONCE: std::sync::OnceLock<TestUser> = std::sync::OnceLock::new();
    USER_ONCE.get_or_init(|| {
        require_root();
        if rootless_lookup().is_none() {
            let out = Command::new("useradd")
                .args(["-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin"])
                .args(["-c", "hako rootless tests", ROOTLESS_USER])
                .output()
                .expect("useradd (package passwd)");
            // Another test process may have made it meanwhile.
            assert!(
                out.status.success() || rootless_lookup().is_some(),
                "useradd {ROOTLESS_USER}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let user = rootless_lookup().expect("test user");
        let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
        let subuid = subid_range("/etc/subuid", uid).unwrap_or_else(|| add_subid_range("uid", uid));
        let subgid = subid_range("/etc/subgid", uid).unwrap_or_else(|| add_subid_range("gid", uid));
        TestUser {
            uid,
            gid,
            subuid,
            subgid,
        }
    })
}

fn rootless_lookup() -> Option<nix::unistd::User> {
    nix::unistd::User::from_name(ROOTLESS_USER).ok().flatten()
}

/// The user's first range in /etc/subuid or /etc/subgid.
fn subid_range(file: &str, uid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        let owner_ok =
            f.first() == Some(&ROOTLESS_USER) || f.first() == Some(&uid.to_string().as_str());
        (owner_ok && f.len() == 3).then(|| Some((f[1].parse().ok()?, f[2].parse().ok()?)))?
    })
}

/// Delegate 65536 ids past every range in use to the test user.
fn add_subid_range(kind: &str, uid: u32) -> (u64, u64) {
    let file = format!("/etc/sub{kind}");
    let end = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0)
        .max(100_000);
    let range = format!("{end}-{}", end + 65535);
    let out = Command::new("usermod")
        .arg(format!("--add-sub{kind}s"))
        .arg(&range)
        .arg(ROOTLESS_USER)
        .output()
        .expect("usermod");
    assert!(
        out.status.success(),
        "usermod --add-sub{kind}s {range}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    subid_range(&file, uid).expect("range just added")
}
