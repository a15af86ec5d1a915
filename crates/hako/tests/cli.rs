//! The command line surface: `hako features` against the runtime-spec schema and against this
//! host (namespaces and capabilities of this kernel; every listed seccomp action, operator,
//! architecture and flag loads in a real container), the `--version`/`help` layout, and a
//! differential table of every verb's normal and wrong uses against runc (the reference 1.5.1
//! in `../shared` when present, else Debian's; `common::runc_bin`): the exit
//! code under hako equals runc's, and where both log an error, hako's `msg=` equals runc's once
//! runc's `runc <verb> failed: ` prefix is removed. The cases where hako deliberately differs
//! are listed in [`ALLOWED`], each with its reason, and printed when the table runs.
//!
//! runc must be installed (CI installs it): without it these tests fail, they never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Bundle, Out, World};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// features
// ---------------------------------------------------------------------------------------------

/// `hako features`, parsed.
fn features(w: &World) -> Value {
    let out = w.hako(&["features"]).ok();
    assert!(out.stdout().ends_with("}\n"), "{}", out.stdout());
    serde_json::from_str(&out.stdout()).expect("features is JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .into()
        })
        .collect()
}

/// The runtime-spec's schema (schema/features-schema.json, features-linux.json, the enums of
/// defs-linux.json), checked by hand; plus the keys hako promises to fill.
#[test]
fn features_has_every_key_of_the_schema() {
    let w = World::new("features-keys");
    let f = features(&w);
    for key in ["ociVersionMin", "ociVersionMax"] {
        let v = f[key].as_str().expect(key);
        let parts: Vec<_> = v.split('.').collect();
        assert_eq!(parts.len(), 3, "{key}: {v}");
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()), "{v}");
    }
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(
        strings(&f["hooks"]),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let opts = strings(&f["mountOptions"]);
    for o in [
        "ro",
        "rw",
        "bind",
        "rbind",
        "rslave",
        "private",
        "nosuid",
        "strictatime",
    ] {
        assert!(opts.contains(&o.to_string()), "{o} in {opts:?}");
    }
    let l = &f["linux"];
    let ns_enum = [
        "mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time",
    ];
    assert!(strings(&l["namespaces"])
        .iter()
        .all(|n| ns_enum.contains(&n.as_str())));
    for c in strings(&l["capabilities"]) {
        let rest = c.strip_prefix("CAP_").expect("CAP_ prefix");
        assert!(
            rest.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{c}"
        );
    }
    for key in ["v1", "v2", "systemd", "systemdUser", "rdma"] {
        assert!(l["cgroup"][key].is_boolean(), "cgroup.{key}");
    }
    assert_eq!(l["cgroup"]["systemd"], true);
    // Rootless containers through the user's systemd instance (tests/systemd_cgroup.rs).
    assert_eq!(l["cgroup"]["systemdUser"], true);
    if let Some(runc) = common::reference_runc() {
        let out = std::process::Command::new(runc)
            .arg("features")
            .output()
            .unwrap();
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["systemd", "systemdUser"] {
            assert_eq!(
                l["cgroup"][key], theirs["linux"]["cgroup"][key],
                "cgroup.{key}"
            );
        }
    }
    let sc = &l["seccomp"];
    assert_eq!(sc["enabled"], true);
    let enums: [(&str, &[&str]); 5] = [
        ("actions", &SPEC_ACTIONS),
        ("operators", &SPEC_OPERATORS),
        ("archs", &SPEC_ARCHS),
        ("knownFlags", &SPEC_FLAGS),
        ("supportedFlags", &SPEC_FLAGS),
    ];
    for (key, allowed) in enums {
        let list = strings(&sc[key]);
        assert!(
            !list.is_empty() || key == "supportedFlags",
            "seccomp.{key} empty"
        );
        for n in &list {
            assert!(allowed.contains(&n.as_str()), "seccomp.{key}: {n}");
        }
    }
    let known = strings(&sc["knownFlags"]);
    assert!(strings(&sc["supportedFlags"])
        .iter()
        .all(|f| known.contains(f)));
    assert_eq!(l["apparmor"]["enabled"], true);
    assert_eq!(l["selinux"]["enabled"], true);
    assert_eq!(l["intelRdt"]["enabled"], true);
    assert!(l["mountExtensions"]["idmap"]["enabled"].is_boolean());
    let a = f["annotations"].as_object().expect("annotations");
    assert!(a.values().all(Value::is_string));
    assert_eq!(a["org.hako.version"], env!("CARGO_PKG_VERSION"));
    let v = a["io.github.seccomp.libseccomp.version"].as_str().unwrap();
    assert_eq!(v.split('.').count(), 3, "{v}");
}

/// Seccomp names of the runtime-spec (defs-linux.json): the schema's enums.
const SPEC_ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
const SPEC_OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
const SPEC_ARCHS: [&str; 23] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];
const SPEC_FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Capability names by number (linux/capability.h).
const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `linux.namespaces` is what `/proc/self/ns` has; `linux.capabilities` is every capability up
/// to `cap_last_cap`, and a container given all of them (those the test itself holds: a
/// runtime cannot grant more) has exactly those.
#[test]
fn features_namespaces_and_capabilities_are_this_kernels() {
    let w = World::new("features-kernel");
    let f = features(&w);
    let mut expected: Vec<String> = std::fs::read_dir("/proc/self/ns")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with("_for_children"))
        .map(|n| match n.as_str() {
            "mnt" => "mount".to_string(),
            "net" => "network".to_string(),
            "cgroup" | "ipc" | "pid" | "time" | "user" | "uts" => n,
            other => panic!("a namespace this test does not know: {other}"),
        })
        .collect();
    expected.sort();
    assert_eq!(strings(&f["linux"]["namespaces"]), expected);

    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let caps = strings(&f["linux"]["capabilities"]);
    assert_eq!(caps.len(), last + 1, "{caps:?}");
    assert_eq!(caps, CAPS[..=last]);

    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let own = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:\t"))
        .map(|m| u64::from_str_radix(m, 16).unwrap())
        .unwrap();
    let held: Vec<&String> = caps
        .iter()
        .enumerate()
        .filter(|(i, _)| own & (1 << i) != 0)
        .map(|(_, c)| c)
        .collect();
    let mut b = w.bundle(&["grep", "^CapBnd:", "/proc/self/status"]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(held);
        }
    });
    let id = w.id("allcaps");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    let mask = own & ((1u64 << (last + 1)) - 1);
    assert_eq!(out.stdout(), format!("CapBnd:\t{mask:016x}\n"));
    assert!(!out.stderr().contains("level=warning"), "{}", out.stderr());
}

/// Every listed namespace type (user with an identity mapping) is made for a container.
#[test]
fn features_namespaces_are_all_made() {
    let w = World::new("features-ns");
    let f = features(&w);
    let names = strings(&f["linux"]["namespaces"]);
    let proc_name = |n: &str| match n {
        "mount" => "mnt".to_string(),
        "network" => "net".to_string(),
        other => other.to_string(),
    };
    let script: String = names
        .iter()
        .map(|n| format!("readlink /proc/self/ns/{}; ", proc_name(n)))
        .collect();
    let mut b = w.bundle(&["sh", "-c", &script]);
    let list: Vec<Value> = names.iter().map(|n| json!({"type": n})).collect();
    b.edit(|c| {
        c["linux"]["namespaces"] = json!(list);
        let map = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    let id = w.id("allns");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    let stdout = out.stdout();
    let seen: Vec<&str> = stdout.lines().collect();
    assert_eq!(seen.len(), names.len(), "{}", out.stdout());
    for (n, link) in names.iter().zip(seen) {
        let host = std::fs::read_link(format!("/proc/self/ns/{}", proc_name(n))).unwrap();
        assert_ne!(Path::new(link), host, "{n} is the host's");
    }
}

/// What `mkdir /tmp/x` as the container's program does under a rule with each action.
fn expected_under(action: &str) -> (i32, &'static str) {
    const SIGSYS: i32 = 31;
    match action {
        // No rule: the default action allows.
        "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" => (0, ""),
        "SCMP_ACT_ERRNO" => (1, "Operation not permitted"),
        // No tracer attached: the syscall fails with ENOSYS.
        "SCMP_ACT_TRACE" => (1, "Function not implemented"),
        // The test's agent answers EACCES.
        "SCMP_ACT_NOTIFY" => (1, "Permission denied"),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_TRAP" => {
            (128 + SIGSYS, "")
        }
        other => panic!("no expectation for the listed action {other}: add one"),
    }
}

/// A seccomp agent for `listenerPath`: takes the listener fd, answers one notification with
/// EACCES, and hangs up.
fn agent(sock: &Path) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .expect("the listener fd");
        let req = libseccomp::ScmpNotifReq::receive(fd).unwrap();
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -(nix::errno::Errno::EACCES as i32),
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(fd)
        .unwrap();
        nix::unistd::close(fd).unwrap();
    })
}

/// Each action `features` lists is used by a rule on mkdir in a real container, whose program
/// then succeeds, fails or is killed as that action says.
#[test]
fn every_listed_seccomp_action_loads_in_a_container() {
    let w = World::new("features-actions");
    let f = features(&w);
    let actions = strings(&f["linux"]["seccomp"]["actions"]);
    assert!(actions.len() >= 7, "{actions:?}");
    for action in &actions {
        let mut b = w.bundle(&["mkdir", "/tmp/x"]);
        let sock = w.dir.join(common::unique("agent.sock"));
        let agent = (action == "SCMP_ACT_NOTIFY").then(|| agent(&sock));
        let profile = if action == "SCMP_ACT_ALLOW" {
            json!({"defaultAction": "SCMP_ACT_ALLOW"})
        } else {
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": sock,
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action}],
            })
        };
        b.edit(|c| {
            c["linux"]["seccomp"] = profile;
            // /tmp of the read-only rootfs: a tmpfs to write into.
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
            // No core dump for the killing actions.
            c["process"]["rlimits"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "RLIMIT_CORE", "hard": 0, "soft": 0}));
        });
        let id = w.id("action");
        let out = w.hako(&["run", "--bundle", b.path(), &id]);
        if let Some(a) = agent {
            a.join().unwrap();
        }
        let (code, text) = expected_under(action);
        assert_eq!(
            out.code(),
            Some(code),
            "{action}: stdout {} stderr {}",
            out.stdout(),
            out.stderr()
        );
        assert!(out.stderr().contains(text), "{action}: {}", out.stderr());
        assert!(!out.stderr().contains("level=error"), "{}", out.stderr());
    }
}

/// One container under a profile with every listed architecture and a rule per listed
/// operator; one per supported flag.
#[test]
fn every_listed_seccomp_arch_operator_and_flag_loads() {
    let w = World::new("features-seccomp");
    let f = features(&w);
    let sc = &f["linux"]["seccomp"];
    let rules: Vec<Value> = strings(&sc["operators"])
        .iter()
        .map(|op| {
            json!({"names": ["acct"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 1, "value": 7, "valueTwo": 7, "op": op}]})
        })
        .chain([json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"})])
        .collect();
    let mut profiles = vec![json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": strings(&sc["archs"]),
        "syscalls": rules,
    })];
    for flag in strings(&sc["supportedFlags"]) {
        profiles.push(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": [flag],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
        }));
    }
    for p in profiles {
        let mut b = w.bundle(&["sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /x"]);
        b.edit(|c| c["linux"]["seccomp"] = p.clone());
        let id = w.id("sc");
        let out = w.hako(&["run", "--bundle", b.path(), &id]);
        assert_eq!(out.code(), Some(1), "{p}: {}", out.stderr());
        assert_eq!(out.stdout(), "Seccomp:\t2\n", "{p}");
        assert!(out.stderr().contains("Operation not permitted"), "{p}");
    }
}

/// `ociVersionMin` and `ociVersionMax` run without a warning; a newer minor warns.
#[test]
fn features_oci_version_range_is_what_create_accepts() {
    let w = World::new("features-version");
    let f = features(&w);
    let max = f["ociVersionMax"].as_str().unwrap().to_string();
    let minor: u32 = max.split('.').nth(1).unwrap().parse().unwrap();
    for (v, warns) in [
        (f["ociVersionMin"].as_str().unwrap().to_string(), false),
        (max, false),
        (format!("1.{}.0", minor + 1), true),
    ] {
        let mut b = w.bundle(&["true"]);
        b.edit(|c| c["ociVersion"] = json!(v));
        let id = w.id("ociver");
        let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
        assert_eq!(
            out.stderr().contains("level=warning"),
            warns,
            "{v}: {}",
            out.stderr()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// --version and help
// ---------------------------------------------------------------------------------------------

/// `--version` and `-v` print runc's block (runtime version, commit, spec, libseccomp; runc's
/// `go:` line has no counterpart), `help` ends with the same block as runc's VERSION section.
/// Flags runc 1.5.1 takes but no longer shows in its help (runc 1.1 showed them).
const HIDDEN_SINCE_151: [&str; 3] = ["all", "kernel-memory", "kernel-memory-tcp"];

#[test]
fn version_and_help_in_runcs_layout() {
    let w = World::new("version");
    // Compared with a runc older than the reference: what 1.5.1 changed is allowed to differ.
    let older = common::reference_runc().is_none();
    let runc = Runtime::runc(&w);
    let r = runc.run(&w, &["--version"]).ok().stdout();
    let keys = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split([':', ' ']).next().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys(&r), ["runc", "commit", "spec", "go", "libseccomp"]);
    let f = features(&w);
    let libseccomp = f["annotations"]["io.github.seccomp.libseccomp.version"]
        .as_str()
        .unwrap();
    let b = w.bundle(&["true"]);
    let id = w.id("ver");
    w.hako(&["create", "--bundle", b.path(), &id]).ok();
    let spec = w.state(&id)["ociVersion"].as_str().unwrap().to_string();
    let commit = f["annotations"]["org.hako.commit"].as_str().unwrap();
    assert!(
        commit == "unknown" || commit.bytes().all(|c| c.is_ascii_hexdigit()),
        "{commit}"
    );
    let block = format!("commit: {commit}\nspec: {spec}\nlibseccomp: {libseccomp}\n");
    for flag in ["--version", "-v"] {
        let out = w.hako(&[flag]).ok().stdout();
        assert_eq!(
            out,
            format!("hako version {}\n{block}", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
    // runc's sections, in runc's order.
    let sections = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| {
                l.ends_with(':')
                    && l.chars()
                        .all(|c| c.is_ascii_uppercase() || " :".contains(c))
            })
            .map(String::from)
            .collect()
    };
    // The first word of each line of the COMMANDS section.
    let commands = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .lines()
            .skip_while(|l| *l != "COMMANDS:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| {
                l.split([' ', ','])
                    .find(|w| !w.is_empty())
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    let runc_help = runc.run(&w, &["help"]).ok().stdout();
    assert_eq!(
        sections(&runc_help),
        [
            "NAME:",
            "USAGE:",
            "VERSION:",
            "COMMANDS:",
            "GLOBAL OPTIONS:"
        ]
    );
    for args in [&["help"][..], &["--help"], &["-h"], &["h"], &[]] {
        let out = w.hako(args).ok().stdout();
        let section = format!("VERSION:\n   {}\n{block}\n", env!("CARGO_PKG_VERSION"));
        assert!(out.contains(&section), "{args:?}: {out}");
        assert_eq!(sections(&out), sections(&runc_help), "{args:?}");
        assert_eq!(commands(&out), commands(&runc_help), "{args:?}");
    }
    // A verb's help has runc's sections too, and each flag runc lists.
    for verb in [
        "create", "run", "exec", "delete", "kill", "list", "ps", "update", "events",
    ] {
        let r = runc.run(&w, &[verb, "--help"]).ok().stdout();
        let h = w.hako(&[verb, "--help"]).ok().stdout();
        assert_eq!(w.hako(&["help", verb]).ok().stdout(), h);
        let flags = |s: &str| -> Vec<String> {
            s.lines()
                .filter_map(|l| l.strip_prefix("   --"))
                .map(|l| l.split([' ', ',']).next().unwrap().to_string())
                .filter(|f| f != "help")
                .collect()
        };
        let mut missing = flags(&r);
        missing.retain(|f| !flags(&h).contains(f));
        // Flags runc 1.5.1 hides (hako as 1.5.1), still shown by an older runc.
        missing.retain(|f| !(older && HIDDEN_SINCE_151.contains(&f.as_str())));
        assert!(missing.is_empty(), "{verb}: hako lacks {missing:?}\n{h}");
        let hs = sections(&h);
        assert!(
            hs.starts_with(&["NAME:".into(), "USAGE:".into()]),
            "{verb}: {h}"
        );
        // OPTIONS last, where runc has one (runc 1.5.1's kill has none: --all is hidden).
        let options = "OPTIONS:".to_string();
        if !(older && verb == "kill") {
            assert_eq!(
                sections(&r).contains(&options),
                hs.contains(&options),
                "{verb}: {h}"
            );
        }
        assert!(
            !hs.contains(&options) || hs.ends_with(&[options]),
            "{verb}: {h}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The differential table
// ---------------------------------------------------------------------------------------------

/// One runtime under test: its binary, its own state root, and its own container ids (a
/// prefix keeps them apart, so the two runtimes never share a cgroup). Every container it made
/// is resumed and force-deleted on drop, even when the test fails.
struct Runtime {
    name: &'static str,
    bin: PathBuf,
    root: PathBuf,
    ids: RefCell<Vec<String>>,
}

impl Runtime {
    /// runc, with its state root made (runc 1.5.1's `list` fails on a missing one).
    fn runc(w: &World) -> Runtime {
        let root = w.dir.join("runc-state");
        std::fs::create_dir_all(&root).unwrap();
        Runtime {
            name: "runc",
            bin: common::runc_bin(),
            root,
            ids: Default::default(),
        }
    }

    /// hako, with its state root made.
    fn hako(w: &World) -> Runtime {
        let root = w.dir.join("hako-state");
        std::fs::create_dir_all(&root).unwrap();
        Runtime {
            name: "hako",
            bin: PathBuf::from(common::hako_bin()),
            root,
            ids: Default::default(),
        }
    }

    /// A fresh container id of this runtime, deleted on drop.
    fn id(&self, tag: &str) -> String {
        let id = common::unique(&format!("{}-{tag}", self.name));
        self.ids.borrow_mut().push(id.clone());
        id
    }

    fn cmd(&self, w: &World) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        // runc's `restore` reads ./config.json: the same empty directory for both.
        c.current_dir(&w.dir).stdin(Stdio::null());
        c
    }

    /// Run with stdout and stderr in files: a created container inherits them and would hold
    /// a pipe open.
    fn run(&self, w: &World, args: &[&str]) -> Out {
        let (o, e) = (
            w.dir.join(common::unique("stdout")),
            w.dir.join(common::unique("stderr")),
        );
        let status = self
            .cmd(w)
            .args(args)
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        let read = |p: &Path| {
            let b = std::fs::read(p).unwrap();
            let _ = std::fs::remove_file(p);
            b
        };
        Out(std::process::Output {
            status,
            stdout: read(&o),
            stderr: read(&e),
        })
    }

    /// `args`, which must succeed.
    fn must(&self, w: &World, args: &[&str]) {
        let out = self.run(w, args);
        assert_eq!(
            out.code(),
            Some(0),
            "{} {args:?}: {}",
            self.name,
            out.stderr()
        );
    }

    fn status(&self, w: &World, id: &str) -> String {
        let out = self.run(w, &["state", id]);
        let v: Value = serde_json::from_str(&out.stdout()).unwrap_or(Value::Null);
        v["status"].as_str().unwrap_or("").to_string()
    }

    /// A new container in state `s`, made from `sleep` (or `true` for stopped).
    fn make(&self, w: &World, b: &Bundles, s: State) -> String {
        let id = self.id(s.name());
        let bundle = if s == State::Stopped {
            &b.exit0
        } else {
            &b.sleep
        };
        self.must(w, &["create", "--bundle", bundle.path(), &id]);
        if s != State::Created {
            self.must(w, &["start", &id]);
        }
        if s == State::Paused {
            self.must(w, &["pause", &id]);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status(w, &id) != s.name() {
            assert!(
                Instant::now() < deadline,
                "{} {id} never {}",
                self.name,
                s.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        id
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            // A paused container is thawed first, so that nothing is left frozen.
            for args in [&["resume", id][..], &["delete", "--force", id]] {
                let _ = Command::new(&self.bin)
                    .arg("--root")
                    .arg(&self.root)
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// The bundles of the table, shared by both runtimes (read-only rootfs).
struct Bundles {
    sleep: Bundle,
    exit0: Bundle,
    exit3: Bundle,
    missing: Bundle,
}

/// Container states a case can start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Created,
    Running,
    Paused,
    Stopped,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Stopped => "stopped",
        }
    }
}

/// What `{id}` in a case's arguments is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// No container: `{id}` is an id that was never created.
    Unknown,
    /// An id not in use yet, for `create` and `run`.
    New,
    /// A container in this state, shared with the other cases that leave it as it is.
    Shared(State),
    /// A container in this state made for this case alone (the case changes it).
    Fresh(State),
}

/// One row: a label, what `{id}` is, and the arguments (`{id}`, `{sleep}`, `{exit0}`,
/// `{exit3}`, `{missing}` for bundles; `{dir}` for a new empty directory and `{nodir}` for a
/// path that does not exist, also within an argument).
struct Case {
    label: &'static str,
    target: Target,
    args: &'static [&'static str],
}

const fn case(label: &'static str, target: Target, args: &'static [&'static str]) -> Case {
    Case {
        label,
        target,
        args,
    }
}

use State::{Created, Paused, Running, Stopped};
use Target::{Fresh, New, Shared, Unknown};

/// Normal and wrong uses of every verb.
const CASES: &[Case] = &[
    // create
    case("create", New, &["create", "--bundle", "{sleep}", "{id}"]),
    case(
        "create --no-new-keyring",
        New,
        &["create", "--no-new-keyring", "--bundle", "{sleep}", "{id}"],
    ),
    case(
        "create: id in use",
        Shared(Running),
        &["create", "--bundle", "{sleep}", "{id}"],
    ),
    case(
        "create: bad id",
        Unknown,
        &["create", "--bundle", "{sleep}", "a/b"],
    ),
    case(
        "create: no bundle",
        New,
        &["create", "--bundle", "/nonexistent", "{id}"],
    ),
    case(
        "create: program not found",
        New,
        &["create", "--bundle", "{missing}", "{id}"],
    ),
    case("create: no id", Unknown, &["create", "--bundle", "{sleep}"]),
    case("create: unknown flag", New, &["create", "--bogus", "{id}"]),
    // start
    case("start created", Fresh(Created), &["start", "{id}"]),
    case("start running", Shared(Running), &["start", "{id}"]),
    case("start paused", Shared(Paused), &["start", "{id}"]),
    case("start stopped", Shared(Stopped), &["start", "{id}"]),
    case("start unknown", Unknown, &["start", "{id}"]),
    case("start: no id", Unknown, &["start"]),
    // state
    case("state created", Shared(Created), &["state", "{id}"]),
    case("state running", Shared(Running), &["state", "{id}"]),
    case("state paused", Shared(Paused), &["state", "{id}"]),
    case("state stopped", Shared(Stopped), &["state", "{id}"]),
    case("state unknown", Unknown, &["state", "{id}"]),
    case("state: bad id", Unknown, &["state", "a/b"]),
    case("state: no id", Unknown, &["state"]),
    case(
        "state: two ids",
        Shared(Running),
        &["state", "{id}", "{id}"],
    ),
    case(
        "state: unknown flag",
        Shared(Running),
        &["state", "--bogus", "{id}"],
    ),
    // kill
    case("kill running", Fresh(Running), &["kill", "{id}"]),
    case(
        "kill running KILL",
        Fresh(Running),
        &["kill", "{id}", "KILL"],
    ),
    case("kill running 9", Fresh(Running), &["kill", "{id}", "9"]),
    case(
        "kill created SIGKILL",
        Fresh(Created),
        &["kill", "{id}", "SIGKILL"],
    ),
    case(
        "kill --all running",
        Fresh(Running),
        &["kill", "--all", "{id}", "KILL"],
    ),
    case("kill stopped", Shared(Stopped), &["kill", "{id}"]),
    case(
        "kill stopped KILL",
        Shared(Stopped),
        &["kill", "{id}", "KILL"],
    ),
    case(
        "kill --all stopped",
        Shared(Stopped),
        &["kill", "--all", "{id}", "KILL"],
    ),
    case(
        "kill: bad signal",
        Shared(Running),
        &["kill", "{id}", "BOGUS"],
    ),
    case("kill: signal 0", Shared(Running), &["kill", "{id}", "0"]),
    case(
        "kill: signal 0 created",
        Shared(Created),
        &["kill", "{id}", "0"],
    ),
    case(
        "kill: signal 0 stopped",
        Shared(Stopped),
        &["kill", "{id}", "0"],
    ),
    case("kill: signal 99", Shared(Running), &["kill", "{id}", "99"]),
    case("kill: signal -1", Shared(Running), &["kill", "{id}", "-1"]),
    case("kill: signal +0", Shared(Running), &["kill", "{id}", "+0"]),
    case(
        "kill: signal \" 9\"",
        Shared(Running),
        &["kill", "{id}", " 9"],
    ),
    case(
        "kill --all: signal 99",
        Shared(Running),
        &["kill", "--all", "{id}", "99"],
    ),
    case(
        "kill --all: signal 0",
        Shared(Running),
        &["kill", "--all", "{id}", "0"],
    ),
    case("kill unknown", Unknown, &["kill", "{id}", "KILL"]),
    case("kill: no id", Unknown, &["kill"]),
    // delete
    case("delete stopped", Fresh(Stopped), &["delete", "{id}"]),
    case("delete created", Fresh(Created), &["delete", "{id}"]),
    case("delete running", Shared(Running), &["delete", "{id}"]),
    case("delete paused", Shared(Paused), &["delete", "{id}"]),
    case(
        "delete --force running",
        Fresh(Running),
        &["delete", "--force", "{id}"],
    ),
    case("delete unknown", Unknown, &["delete", "{id}"]),
    case(
        "delete --force unknown",
        Unknown,
        &["delete", "--force", "{id}"],
    ),
    case("delete: no id", Unknown, &["delete"]),
    // list
    case("list", Shared(Running), &["list"]),
    case("list -q", Shared(Running), &["list", "-q"]),
    case(
        "list --format json",
        Shared(Running),
        &["list", "--format", "json"],
    ),
    case("list: bad format", Unknown, &["list", "--format", "bogus"]),
    case(
        "list: no such root",
        Unknown,
        &["--root", "{nodir}", "list"],
    ),
    case(
        "list -q: no such root",
        Unknown,
        &["--root={nodir}", "list", "-q"],
    ),
    case("list: extra argument", Unknown, &["list", "extra"]),
    // run
    case("run", New, &["run", "--bundle", "{exit0}", "{id}"]),
    case(
        "run: exit status",
        New,
        &["run", "--bundle", "{exit3}", "{id}"],
    ),
    case(
        "run --detach",
        New,
        &["run", "-d", "--bundle", "{sleep}", "{id}"],
    ),
    case(
        "run --keep",
        New,
        &["run", "--keep", "--bundle", "{exit0}", "{id}"],
    ),
    case(
        "run --no-subreaper",
        New,
        &["run", "--no-subreaper", "--bundle", "{exit0}", "{id}"],
    ),
    case(
        "run: id in use",
        Shared(Running),
        &["run", "--bundle", "{exit0}", "{id}"],
    ),
    case(
        "run: program not found",
        New,
        &["run", "--bundle", "{missing}", "{id}"],
    ),
    case("run: no id", Unknown, &["run", "--bundle", "{exit0}"]),
    case("run: unknown flag", New, &["run", "--bogus", "{id}"]),
    // spec
    case("spec", Unknown, &["spec", "--bundle", "{dir}"]),
    case(
        "spec --rootless",
        Unknown,
        &["spec", "--rootless", "--bundle", "{dir}"],
    ),
    case(
        "spec: config exists",
        Unknown,
        &["spec", "--bundle", "{sleep}"],
    ),
    case(
        "spec: no directory",
        Unknown,
        &["spec", "--bundle", "/nonexistent"],
    ),
    case("spec: unknown flag", Unknown, &["spec", "--bogus"]),
    // exec
    case("exec running", Shared(Running), &["exec", "{id}", "true"]),
    case(
        "exec: exit status",
        Shared(Running),
        &["exec", "{id}", "sh", "-c", "exit 7"],
    ),
    case("exec created", Shared(Created), &["exec", "{id}", "true"]),
    case("exec paused", Shared(Paused), &["exec", "{id}", "true"]),
    case("exec stopped", Shared(Stopped), &["exec", "{id}", "true"]),
    case("exec unknown", Unknown, &["exec", "{id}", "true"]),
    case(
        "exec: program not found",
        Shared(Running),
        &["exec", "{id}", "nope"],
    ),
    case("exec: no id", Unknown, &["exec"]),
    // ps
    case("ps running", Shared(Running), &["ps", "{id}"]),
    case(
        "ps --format json",
        Shared(Running),
        &["ps", "--format", "json", "{id}"],
    ),
    case("ps stopped", Shared(Stopped), &["ps", "{id}"]),
    case("ps unknown", Unknown, &["ps", "{id}"]),
    case("ps: no id", Unknown, &["ps"]),
    // pause
    case("pause running", Fresh(Running), &["pause", "{id}"]),
    case("pause created", Fresh(Created), &["pause", "{id}"]),
    case("pause paused", Shared(Paused), &["pause", "{id}"]),
    case("pause stopped", Shared(Stopped), &["pause", "{id}"]),
    case("pause unknown", Unknown, &["pause", "{id}"]),
    case("pause: no id", Unknown, &["pause"]),
    // resume
    case("resume paused", Fresh(Paused), &["resume", "{id}"]),
    case("resume running", Shared(Running), &["resume", "{id}"]),
    case("resume stopped", Shared(Stopped), &["resume", "{id}"]),
    case("resume unknown", Unknown, &["resume", "{id}"]),
    case("resume: no id", Unknown, &["resume"]),
    // events
    case(
        "events --stats running",
        Shared(Running),
        &["events", "--stats", "{id}"],
    ),
    case(
        "events --stats stopped",
        Shared(Stopped),
        &["events", "--stats", "{id}"],
    ),
    case("events stopped", Shared(Stopped), &["events", "{id}"]),
    case("events unknown", Unknown, &["events", "--stats", "{id}"]),
    case("events: no id", Unknown, &["events"]),
    // update
    case(
        "update running",
        Shared(Running),
        &["update", "--pids-limit", "100", "{id}"],
    ),
    case(
        "update stopped",
        Shared(Stopped),
        &["update", "--pids-limit", "100", "{id}"],
    ),
    case(
        "update unknown",
        Unknown,
        &["update", "--pids-limit", "100", "{id}"],
    ),
    case("update: no id", Unknown, &["update"]),
    // features
    case("features", Unknown, &["features"]),
    case("features: extra argument", Unknown, &["features", "extra"]),
    case("features: unknown flag", Unknown, &["features", "--bogus"]),
    // checkpoint and restore
    case("checkpoint unknown", Unknown, &["checkpoint", "{id}"]),
    case(
        "checkpoint stopped",
        Shared(Stopped),
        &["checkpoint", "{id}"],
    ),
    case("checkpoint: no id", Unknown, &["checkpoint"]),
    case("restore", New, &["restore", "{id}"]),
    case("restore: no id", Unknown, &["restore"]),
    // global flags, help, version
    case("no arguments", Unknown, &[]),
    case("help", Unknown, &["help"]),
    case("h", Unknown, &["h"]),
    case("--help", Unknown, &["--help"]),
    case("help create", Unknown, &["help", "create"]),
    case("create --help", Unknown, &["create", "--help"]),
    case("help: unknown verb", Unknown, &["help", "bogus"]),
    case("unknown verb", Unknown, &["bogus"]),
    case("--version", Unknown, &["--version"]),
    case("-v", Unknown, &["-v"]),
    case("--rootless auto", Unknown, &["--rootless", "auto", "list"]),
    case("--rootless true", Unknown, &["--rootless", "true", "list"]),
    case(
        "--rootless false",
        Unknown,
        &["--rootless", "false", "list"],
    ),
    case("--criu", Unknown, &["--criu", "/usr/sbin/criu", "list"]),
    case(
        "--log-format json",
        Unknown,
        &["--log-format", "json", "list"],
    ),
    case(
        "--log-format bogus",
        Unknown,
        &["--log-format", "bogus", "list"],
    ),
    case("--systemd-cgroup", Unknown, &["--systemd-cgroup", "list"]),
    case("unknown global flag", Unknown, &["--bogus", "list"]),
    // Go's flag syntax and urfave/cli's rules
    case("-root single dash", Unknown, &["-root", "{dir}", "list"]),
    case("--root=", Unknown, &["--root={dir}", "list"]),
    case("bad flag syntax", Unknown, &["---x", "list"]),
    case("list -format json", Unknown, &["list", "-format", "json"]),
    case("list -q=true", Unknown, &["list", "-q=true"]),
    case(
        "delete: flag after id",
        Fresh(Running),
        &["delete", "{id}", "--force"],
    ),
    case(
        "delete: --force=false",
        Shared(Running),
        &["delete", "--force=false", "{id}"],
    ),
    case(
        "kill: bad boolean",
        Shared(Running),
        &["kill", "--all=bogus", "{id}"],
    ),
    case(
        "kill: three arguments",
        Shared(Running),
        &["kill", "{id}", "KILL", "x"],
    ),
    case(
        "create: two forms of a flag",
        New,
        &["create", "--bundle", "{sleep}", "-b", "{sleep}", "{id}"],
    ),
    case(
        "create: flag needs an argument",
        Unknown,
        &["create", "{id}", "-b"],
    ),
    case(
        "create: bad number",
        New,
        &["create", "--preserve-fds", "x", "{id}"],
    ),
    case(
        "run: bundle after id",
        New,
        &["run", "{id}", "--bundle", "{exit0}"],
    ),
    case(
        "events: bad interval",
        Shared(Running),
        &["events", "--interval", "x", "{id}"],
    ),
    case(
        "exec: flag after the command",
        Shared(Running),
        &["exec", "{id}", "true", "--user"],
    ),
    case(
        "ps: format after id",
        Shared(Running),
        &["ps", "{id}", "--format", "json"],
    ),
];

/// What may differ in an allowed case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Differs {
    /// The error line (exit codes equal).
    Message,
    /// Anything, but only from a runc older than the reference 1.5.1, which changed there:
    /// hako does as 1.5.1, and against 1.5.1 itself the case must agree.
    BeforeRunc151,
}

/// Where hako deliberately differs from the runc of `common::runc_bin` (the reference 1.5.1
/// when present): (case label, what differs, why).
const ALLOWED: &[(&str, Differs, &str)] = &[
    // runc 1.5.1 removed the global --criu (1.2 ignored it): engines no longer pass it, and
    // criu is found on PATH.
    ("--criu", Differs::BeforeRunc151, "refused as by runc 1.5.1"),
    // runc 1.1 made the state root on every command and listed it empty; 1.5.1 fails to
    // open a --root that does not exist (an empty list only for the default root).
    (
        "list: no such root",
        Differs::BeforeRunc151,
        "runc 1.5.1's open error",
    ),
    (
        "list -q: no such root",
        Differs::BeforeRunc151,
        "runc 1.5.1's open error",
    ),
    // runc 1.5.1 looks the program up in the init, under "error during container init".
    (
        "create: program not found",
        Differs::BeforeRunc151,
        "runc 1.5.1's prefix",
    ),
    (
        "run: program not found",
        Differs::BeforeRunc151,
        "runc 1.5.1's prefix",
    ),
    // runc 1.5.1 sends --all's signal to the init (then to the rest): a number that is no
    // signal fails; runc 1.1 ignored the error of each process.
    (
        "kill --all: signal 99",
        Differs::BeforeRunc151,
        "runc 1.5.1's unable to signal init",
    ),
    // hako does not chdir into the bundle: it names the bundle it could not open.
    (
        "create: no bundle",
        Differs::Message,
        "\"bundle /nonexistent: ...\" for runc's \"chdir /nonexistent: ...\"",
    ),
    (
        "spec: no directory",
        Differs::Message,
        "names the config.json it could not create, runc the chdir",
    ),
    // restore names the config.json it could not read, as create does.
    (
        "restore",
        Differs::Message,
        "names the config.json it could not read",
    ),
];

/// The `msg` of each `level=error` line (logrus text), in order.
fn error_msgs(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("level=error"))
        .filter_map(|l| l.split_once(" msg=").map(|(_, m)| m))
        .map(|m| serde_json::from_str(m).unwrap_or_else(|_| m.to_string()))
        .collect()
}

/// urfave/cli's `PROGRAM: "state" requires exactly 1 argument(s)` names the program as called
/// (argv[0]): `{prog}` stands for it.
fn unname_program(msg: &str) -> String {
    match msg.split_once(": \"") {
        Some((_, rest)) if rest.ends_with(" argument(s)") => format!("{{prog}}: \"{rest}"),
        _ => msg.to_string(),
    }
}

/// runc's message without its `runc <verb> failed: ` prefix.
fn strip_runc_prefix(msg: &str) -> String {
    match msg
        .strip_prefix("runc ")
        .and_then(|r| r.split_once(" failed: "))
    {
        Some((verb, rest)) if !verb.contains(' ') => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// What one runtime did for one case.
struct Seen {
    code: Option<i32>,
    msgs: Vec<String>,
    status: Option<String>,
    stderr: String,
}

/// Run `case` under `rt`: make its container, expand its arguments, and run it with the
/// runtime's ids replaced by `{id}` in the error lines.
fn play(w: &World, rt: &Runtime, b: &Bundles, shared: &BTreeMap<State, String>, c: &Case) -> Seen {
    let id = match c.target {
        Target::Unknown => common::unique(&format!("{}-nope", rt.name)),
        Target::New => rt.id("new"),
        Target::Shared(s) => shared[&s].clone(),
        Target::Fresh(s) => rt.make(w, b, s),
    };
    let dir = w.dir.join(common::unique("spec-dir"));
    std::fs::create_dir_all(&dir).unwrap();
    // Its own (runc 1.1 makes a --root that does not exist).
    let nodir = w
        .dir
        .join(common::unique("no-such-dir"))
        .display()
        .to_string();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match *a {
            "{id}" => id.clone(),
            "{sleep}" => b.sleep.path().into(),
            "{exit0}" => b.exit0.path().into(),
            "{exit3}" => b.exit3.path().into(),
            "{missing}" => b.missing.path().into(),
            other => other
                .replace("{dir}", &dir.display().to_string())
                .replace("{nodir}", &nodir),
        })
        .collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = rt.run(w, &argv);
    let stderr = out.stderr();
    let msgs = error_msgs(&stderr)
        .into_iter()
        .map(|m| unname_program(&m.replace(&id, "{id}").replace(&nodir, "{nodir}")))
        .map(|m| {
            if rt.name == "runc" {
                strip_runc_prefix(&m)
            } else {
                m
            }
        })
        .collect();
    let status = (c.args.first() == Some(&"state") && out.code() == Some(0))
        .then(|| serde_json::from_str::<Value>(&out.stdout()).ok())
        .flatten()
        .and_then(|v| v["status"].as_str().map(String::from));
    Seen {
        code: out.code(),
        msgs,
        status,
        stderr,
    }
}

/// Every verb's normal and wrong uses, under runc and hako: same exit code, same error line,
/// except the deliberate differences of [`ALLOWED`] (which must still differ).
#[test]
fn every_verb_exits_and_fails_as_runc_does() {
    let w = World::new("cli-diff");
    let runc = Runtime::runc(&w);
    let hako = Runtime::hako(&w);
    let mk = |args: &[&str]| {
        let mut b = w.bundle(args);
        b.edit(|c| c["hostname"] = json!("cli"));
        b
    };
    let b = Bundles {
        sleep: mk(&["sleep", "1000"]),
        exit0: mk(&["true"]),
        exit3: mk(&["sh", "-c", "exit 3"]),
        missing: mk(&["nope"]),
    };
    let states = [Created, Running, Paused, Stopped];
    let shared = |rt: &Runtime| -> BTreeMap<State, String> {
        states.iter().map(|s| (*s, rt.make(&w, &b, *s))).collect()
    };
    let (runc_shared, hako_shared) = (shared(&runc), shared(&hako));
    // Compared with a runc older than the reference: its version differences are allowed.
    let older = common::reference_runc().is_none();

    let mut failures = Vec::new();
    let mut report = Vec::new();
    for c in CASES {
        let r = play(&w, &runc, &b, &runc_shared, c);
        let h = play(&w, &hako, &b, &hako_shared, c);
        let allowed = ALLOWED
            .iter()
            .find(|a| a.0 == c.label)
            .filter(|a| a.1 != Differs::BeforeRunc151 || older);
        let code_differs = r.code != h.code;
        let msg_differs = !r.msgs.is_empty() && r.msgs != h.msgs;
        let differs = allowed.map(|a| a.1);
        let detail = || {
            format!(
                "{}: runc exit {:?} {:?}, hako exit {:?} {:?}\n  runc stderr: {}\n  hako stderr: {}",
                c.label,
                r.code,
                r.msgs,
                h.code,
                h.msgs,
                r.stderr.trim(),
                h.stderr.trim()
            )
        };
        match differs {
            None if code_differs || msg_differs => failures.push(detail()),
            Some(Differs::Message) if code_differs => failures.push(detail()),
            Some(Differs::Message) if !msg_differs && !h.msgs.is_empty() => {
                failures.push(format!("stale allow-list entry (now equal): {}", detail()))
            }
            Some(Differs::BeforeRunc151) if !code_differs && !msg_differs => {
                failures.push(format!("stale allow-list entry (now equal): {}", detail()))
            }
            _ => {}
        }
        if r.status != h.status {
            failures.push(format!(
                "state: runc {:?}, hako {:?}: {}",
                r.status,
                h.status,
                detail()
            ));
        }
        if let Some(a) = allowed {
            report.push(format!("{} ({:?}: {}): {}", a.0, a.1, a.2, detail()));
        }
    }
    for label in ALLOWED.iter().map(|a| a.0) {
        assert!(
            CASES.iter().any(|c| c.label == label),
            "allow-list entry without a case: {label}"
        );
    }
    eprintln!("deliberate differences from runc:\n{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `--log FILE` as runc's: made at start even when nothing is logged, refused with its name
/// when it cannot be opened; `--debug` logs each step at debug level there, the init's too
/// (after pivot_root, through the file it inherited), in the chosen format, and on stderr
/// without `--log`.
#[test]
fn log_file_is_always_made_and_debug_logs_each_step() {
    let w = World::new("cli-log");
    let b = w.bundle(&["true"]);
    for rt in [Runtime::runc(&w), Runtime::hako(&w)] {
        let name = rt.name;
        let quiet = w.dir.join(format!("{name}-quiet.log"));
        rt.must(&w, &["--log", quiet.to_str().unwrap(), "list"]);
        assert_eq!(
            std::fs::read_to_string(&quiet).ok().as_deref(),
            Some(""),
            "{name}"
        );
        let out = rt.run(&w, &["--log", "/nonexistent/hako.log", "list"]);
        assert_eq!(out.code(), Some(1), "{name}: {}", out.stderr());
        assert!(
            out.stderr().contains("/nonexistent/hako.log"),
            "{name}: {}",
            out.stderr()
        );
        for format in ["text", "json"] {
            let log = w.dir.join(format!("{name}-debug.{format}"));
            let id = rt.id("dbg");
            let args = [
                "--debug",
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                format,
                "run",
                "--bundle",
                b.path(),
                &id,
            ];
            rt.must(&w, &args);
            let text = std::fs::read_to_string(&log).unwrap();
            let debug: Vec<&str> = text
                .lines()
                .filter(|l| match format {
                    "text" => l.contains(" level=debug "),
                    _ => serde_json::from_str::<Value>(l).is_ok_and(|v| v["level"] == "debug"),
                })
                .collect();
            assert!(debug.len() >= 5, "{name} {format}: {text}");
            if name == "hako" {
                for step in ["config validated", "init: credentials", "init ready"] {
                    assert!(text.contains(step), "{format}: no {step:?} in {text}");
                }
            }
        }
        let id = rt.id("dbg-stderr");
        let out = rt.run(&w, &["--debug", "run", "--bundle", b.path(), &id]);
        let debug = out
            .ok()
            .stderr()
            .lines()
            .filter(|l| l.contains(" level=debug "))
            .count();
        assert!(debug >= 5, "{name}: {debug} debug lines on stderr");
    }
}
