//! OCI hooks: all six kinds run at their point, in their namespace, with the state on stdin,
//! their args and env (or runc's environment and working directory for each kind);
//! failure semantics (create-time hooks fail the create and leave nothing; poststart/poststop
//! only warn) and timeouts, in runc's words; a hook can block the runtime neither through a
//! full pipe nor through a state it never reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bundle, World};
use serde_json::{json, Value};

/// A hook that saves its stdin as `<dir>/<kind>.json` and appends
/// `<kind> <mnt ns> <argv1> <E> <exe of the state's pid>` to `<dir>/log`. `sh` is the host's,
/// except for startContainer (the container's).
fn hook(kind: &str, dir: &str) -> Value {
    let script = format!(
        "s=$(cat); echo \"$s\" > {dir}/{kind}.json; \
         p=$(echo \"$s\" | sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); \
         x=$(readlink /proc/$p/exe 2>/dev/null | sed 's|.*/||'); \
         echo {kind} $(readlink /proc/self/ns/mnt) $1 $E ${{x:-none}} >> {dir}/log"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script, "sh", "arg-ok"], "env": ["E=env-ok"]})
}

#[test]
fn all_six_hooks_in_order_with_state_args_env_and_namespaces() {
    let w = World::new("hooks");
    let shared = w.dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let host_dir = shared.to_str().unwrap().to_string();
    let mut b = w.bundle(&["sleep", "1000"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": host_dir, "options": ["rbind"]
        }));
        let hooks = json!({
            "prestart": [hook("prestart", &host_dir)],
            "createRuntime": [hook("createRuntime", &host_dir)],
            "createContainer": [hook("createContainer", &host_dir)],
            "startContainer": [hook("startContainer", "/shared")],
            "poststart": [hook("poststart", &host_dir)],
            "poststop": [hook("poststop", &host_dir)],
        });
        c["hooks"] = hooks;
    });
    let id = w.id("hooks");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let pid = w.state(&id)["pid"].as_i64().unwrap();
    w.hako(&["start", &id]).ok();
    w.hako(&["delete", "--force", &id]).ok();

    let log = std::fs::read_to_string(shared.join("log")).unwrap();
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l[0]).collect();
    assert_eq!(
        kinds,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let host_mnt = host_mnt.to_str().unwrap();
    for l in &lines {
        assert_eq!(l[2], "arg-ok", "{l:?}");
        assert_eq!(l[3], "env-ok", "{l:?}");
        let in_container = matches!(l[0], "createContainer" | "startContainer");
        assert_eq!(l[1] != host_mnt, in_container, "namespace of {l:?}");
        // What the init runs at that point: still hako before start, the program after.
        match l[0] {
            "prestart" | "createRuntime" | "createContainer" => assert_eq!(l[4], "hako", "{l:?}"),
            "poststart" => assert_eq!(l[4], "busybox", "{l:?}"),
            "poststop" => assert_eq!(l[4], "none", "{l:?}"),
            _ => {}
        }
    }
    // runtime.md: `creating` is lifecycle step 2 (the environment), `created` after it; the
    // create-time hooks are steps 3-5, so "created" (runc says "creating"; crun and the OCI
    // validation suite's hooks_stdin say "created").
    for (kind, status) in [
        ("prestart", "created"),
        ("createRuntime", "created"),
        ("createContainer", "created"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let state: Value =
            serde_json::from_slice(&std::fs::read(shared.join(format!("{kind}.json"))).unwrap())
                .unwrap();
        assert_eq!(state["id"], id.as_str(), "{kind}");
        assert_eq!(state["status"], status, "{kind}");
        assert_eq!(state["bundle"], b.path(), "{kind}");
        if kind != "poststop" {
            assert_eq!(state["pid"], pid, "{kind}");
        }
    }
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let w = World::new("hook-fail");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo no-network >&2; exit 7"]}
        ]});
    });
    let id = w.id("fail");
    let out = w.hako(&["create", "--bundle", b.path(), &id]).fails();
    let msg = out.error_msg();
    // As runc 1.5.1: what fails while the init is set up, under its prefix.
    assert_eq!(
        msg,
        "unable to start container process: error during container init: \
         error running createRuntime hook #0: exit status 7, stdout: , stderr: no-network\n"
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn hook_timeout_is_enforced() {
    let w = World::new("hook-timeout");
    let mut b = w.bundle(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}
        ]});
    });
    let id = w.id("timeout");
    let t = std::time::Instant::now();
    let out = w.hako(&["run", "--bundle", b.path(), &id]).fails();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(
        out.error_msg(),
        "unable to start container process: error during container init: \
         error running prestart hook #0: hook ran past specified timeout of 1.0s"
    );
    assert!(!w.state_dir(&id).exists());
}

#[test]
fn failing_poststart_and_poststop_only_warn() {
    let w = World::new("hook-warn");
    let mut b = w.bundle(&["sh", "-c", "exit 5"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [{"path": "/bin/false"}],
            "poststop": [{"path": "/bin/false"}],
        });
    });
    let id = w.id("warn");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code(), Some(5), "{}", out.stderr());
    let err = out.stderr();
    assert!(
        err.contains("level=warning msg=\"error running poststart hook #0: exit status 1"),
        "{err}"
    );
    assert!(
        err.contains("level=warning msg=\"error running poststop hook #0: exit status 1"),
        "{err}"
    );
    assert!(!w.state_dir(&id).exists());
}

/// `<rt> --root <root> run --bundle <b> <id>` from `cwd` with only `FOO` and `PATH` in its
/// environment, killed if it has not finished after `limit`: its exit code (`None` when it
/// had to be killed), stderr, and how long it took.
fn run_bounded(
    rt: &Path,
    root: &Path,
    b: &Bundle,
    id: &str,
    limit: Duration,
) -> (Option<i32>, String, Duration) {
    let err = b.dir.join(format!("{id}.err"));
    let mut child = Command::new(rt)
        .arg("--root")
        .arg(root)
        .args(["run", "--bundle", b.path(), id])
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("FOO", "from-the-caller")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = common::wait_within(&mut child, limit).and_then(|s| s.code());
    let took = start.elapsed();
    let _ = Command::new(rt)
        .arg("--root")
        .arg(root)
        .args(["delete", "--force", id])
        .output();
    (
        code,
        std::fs::read_to_string(&err).unwrap_or_default(),
        took,
    )
}

/// The one `msg="..."` of an error line, unquoted.
fn error_msg(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("level=error"))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    let msg = line.split_once("msg=").unwrap().1;
    serde_json::from_str(msg).unwrap_or_else(|_| msg.to_string())
}

/// The error line from its first "error running", without the prefixes (runc's `runc run
/// failed: `, and `unable to start container process: error during container init: `).
fn runc_reason(stderr: &str) -> String {
    let msg = error_msg(stderr);
    msg[msg.find("error running").unwrap_or(0)..].to_string()
}

/// A hook without `env` gets the environment of the process that runs it, and every kind runs
/// in runc's working directory: the bundle (create and run work there), the rootfs for
/// createContainer, process.cwd for startContainer; createContainer's environment is empty
/// (runc's init has none of its own yet), startContainer's is the process's. Both runtimes
/// run the same bundle from `/` with the same environment; what each hook saw must match.
#[test]
fn hooks_get_runc_environment_and_directory() {
    let w = World::new("hook-env");
    // runc 1.5.1 first, when it is here (a bare clone has only Debian's 1.1.5).
    let runc = common::reference_runc();
    let mut seen = Vec::new();
    let hako = Path::new(common::hako_bin());
    for rt in runc.as_deref().into_iter().chain([hako]) {
        let out = w.dir.join(format!("seen-{}", seen.len()));
        std::fs::create_dir_all(&out).unwrap();
        let mut b = w.bundle(&["true"]);
        let dump = |kind: &str, dir: &str| {
            let script = format!("{{ pwd; env | grep -v '^_=' | sort; }} > {dir}/{kind}");
            json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
        };
        let dir = out.to_str().unwrap();
        b.edit(|c| {
            c["root"]["readonly"] = json!(false);
            c["process"]["cwd"] = json!("/etc");
            c["hooks"] = json!({
                "prestart": [dump("prestart", dir)],
                "createRuntime": [dump("createRuntime", dir)],
                "createContainer": [dump("createContainer", dir)],
                "startContainer": [dump("startContainer", "/tmp")],
                "poststart": [dump("poststart", dir)],
                "poststop": [dump("poststop", dir)],
            });
        });
        let id = w.id("env");
        let (code, err, _) =
            run_bounded(rt, &w.dir.join("roots"), &b, &id, Duration::from_secs(60));
        assert_eq!(code, Some(0), "{}: {err}", rt.display());
        std::fs::rename(
            b.rootfs().join("tmp/startContainer"),
            out.join("startContainer"),
        )
        .unwrap();
        let mut all = String::new();
        for kind in [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ] {
            let text = std::fs::read_to_string(out.join(kind)).unwrap();
            all.push_str(&format!("[{kind}]\n{}", text.replace(b.path(), "<bundle>")));
        }
        seen.push(all);
    }
    let mine = seen.last().unwrap();
    for want in [
        "[prestart]\n<bundle>\nFOO=from-the-caller\n",
        "[createContainer]\n<bundle>/rootfs\nPWD=<bundle>/rootfs\n[startContainer]",
        "[startContainer]\n/etc\n",
        "[poststop]\n<bundle>\nFOO=from-the-caller\n",
    ] {
        assert!(mine.contains(want), "{want:?} not in {mine}");
    }
    if runc.is_some() {
        assert_eq!(
            seen[1], seen[0],
            "hako (left) and runc (right) hooks saw different things"
        );
    }
}

/// Failures in runc's words: a hook killed by a signal (here SIGSYS, as a seccomp kill), an
/// exit status, a timeout of 0 or less (runc times out at once; it is not "no timeout").
#[test]
fn hook_failures_read_as_runc_reports_them() {
    let w = World::new("hook-words");
    let runc = common::reference_runc();
    for (kind, hook) in [
        (
            "createContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "kill -SYS $$"]}),
        ),
        (
            "prestart",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "kill -KILL $$"]}),
        ),
        (
            "createRuntime",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "echo o; echo e >&2; exit 3"]}),
        ),
        (
            "prestart",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 2"], "timeout": 0}),
        ),
        (
            "prestart",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 2"], "timeout": -1}),
        ),
    ] {
        let mut b = w.bundle(&["true"]);
        b.edit(|c| c["hooks"] = json!({kind: [hook.clone()]}));
        let (hc, h_err, _) = run_bounded(
            Path::new(common::hako_bin()),
            &w.root,
            &b,
            &w.id("h"),
            Duration::from_secs(30),
        );
        assert_eq!(hc, Some(1), "{hook}: hako {h_err}");
        let msg = error_msg(&h_err);
        assert!(
            msg.starts_with(&format!(
                "unable to start container process: error during container init: \
                 error running {kind} hook #0: "
            )),
            "{msg}"
        );
        // runc 1.5.1's words exactly, when it is here.
        if let Some(runc) = &runc {
            let (rc, r_err, _) = run_bounded(
                runc,
                &w.dir.join("runc"),
                &b,
                &w.id("r"),
                Duration::from_secs(30),
            );
            assert_eq!(rc, Some(1), "{hook}: runc {r_err}");
            assert_eq!(runc_reason(&h_err), runc_reason(&r_err), "{hook}");
        }
    }
}

/// A full pipe never stalls the runtime (issue 19.3): a hook that reads no stdin while the
/// state is larger than a pipe holds (big annotations) still times out on time (the write is
/// bounded by the same deadline; hako used to block in it before the timeout even started),
/// and a hook that writes more to stderr than a pipe holds, with no timeout, still finishes
/// (hako read stderr only after the hook's end: both waited forever). As runc, which feeds
/// and drains the pipes as the hook runs.
#[test]
fn full_hook_pipes_stall_nothing_as_runc() {
    let w = World::new("hooks-pipes");
    let big = "x".repeat(200_000);
    let mut deaf = w.bundle(&["true"]);
    deaf.edit(|c| {
        c["annotations"] = json!({"big": big});
        let hook = json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1});
        c["hooks"] = json!({"prestart": [hook]});
    });
    let mut loud = w.bundle(&["true"]);
    loud.edit(|c| {
        let script = "head -c 300000 /dev/zero | tr '\\0' x >&2; exit 0";
        let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", script]});
        c["hooks"] = json!({"prestart": [hook]});
    });
    let runc_root = w.dir.join("runc");
    let limit = Duration::from_secs(20);
    for (runtime, root) in [
        (common::runc_bin(), runc_root.clone()),
        (std::path::PathBuf::from(common::hako_bin()), w.root.clone()),
    ] {
        let who = runtime.display().to_string();
        let (code, err, took) = run_bounded(&runtime, &root, &deaf, &w.id("deaf"), limit);
        assert_eq!(code, Some(1), "{who}: {err}");
        assert!(err.contains("timeout"), "{who}: {err}");
        assert!(took < Duration::from_secs(10), "{who} took {took:?}");
        let (code, err, _) = run_bounded(&runtime, &root, &loud, &w.id("loud"), limit);
        assert_eq!(code, Some(0), "{who}: {err}");
    }
}

/// Kubernetes allows 256 KiB of annotations on a pod, and they are in the state every hook
/// reads. The init's own hooks (createContainer, startContainer) get that state from the
/// runtime over the sync socket, so it must carry a state of any size an engine sends: the
/// same bundle with 40 annotations of 8 KiB (320 KiB) runs under runc, and every hook under
/// both runtimes reads all of them.
#[test]
fn large_annotations_reach_every_hook_as_runc() {
    let w = World::new("hook-big-state");
    let annotations: serde_json::Map<String, Value> = (0..40)
        .map(|i| {
            (
                format!("org.example.a{i}"),
                json!(format!("{i}:").repeat(2730)),
            )
        })
        .collect();
    let hako = Path::new(common::hako_bin());
    let runc = common::runc_bin();
    for rt in [runc.as_path(), hako] {
        let out = w.dir.join(format!(
            "seen-{}",
            rt.file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&out).unwrap();
        let dir = out.to_str().unwrap();
        let save = |kind: &str, dir: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {dir}/{kind}.json")]});
        let mut b = w.bundle(&["true"]);
        b.edit(|c| {
            c["root"]["readonly"] = json!(false);
            c["annotations"] = Value::Object(annotations.clone());
            c["hooks"] = json!({
                "createRuntime": [save("createRuntime", dir)],
                "createContainer": [save("createContainer", dir)],
                "startContainer": [save("startContainer", "/tmp")],
                "poststop": [save("poststop", dir)],
            });
        });
        let id = w.id("big");
        let (code, err, _) =
            run_bounded(rt, &w.dir.join("roots"), &b, &id, Duration::from_secs(60));
        assert_eq!(code, Some(0), "{}: {err}", rt.display());
        std::fs::rename(
            b.rootfs().join("tmp/startContainer.json"),
            out.join("startContainer.json"),
        )
        .unwrap();
        for kind in [
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststop",
        ] {
            let text = std::fs::read_to_string(out.join(format!("{kind}.json"))).unwrap();
            let state: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {kind} read no state: {e}", rt.display()));
            assert_eq!(
                state["annotations"],
                Value::Object(annotations.clone()),
                "{}: {kind}",
                rt.display()
            );
        }
    }
}
