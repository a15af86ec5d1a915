//! The smallest end-to-end check: one container runs, sees itself as PID 1, and exits with
//! its own status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn run_reports_pid1_and_exit_code() {
    let w = common::World::new("smoke");
    let b = w.bundle(&["sh", "-c", "echo pid=$$; exit 7"]);
    let id = w.id("smoke");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code(), Some(7), "stderr: {}", out.stderr());
    assert_eq!(out.stdout(), "pid=1\n");
    assert!(!w.state_dir(&id).exists(), "run must delete the container");
}

/// `HAKO_TRACE=FILE` records each step of `run`, in order, from both the runtime and the
/// container's init, each with its duration and the running total.
#[test]
fn trace_names_every_step_of_run() {
    let w = common::World::new("trace");
    let b = w.bundle(&["true"]);
    let id = w.id("trace");
    let file = w.dir.join("trace.log");
    let status = w
        .cmd()
        .env("HAKO_TRACE", &file)
        .args(["run", "--bundle", b.path(), &id])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    let steps: Vec<&str> = text
        .lines()
        .map(|l| {
            let rest = l.strip_prefix("hako-trace pid=").unwrap();
            let (_, rest) = rest.split_once(' ').unwrap();
            let (name, times) = rest.split_once(" +").unwrap();
            let (step, total) = times.split_once("ms  total").unwrap();
            for t in [step, total.trim_end_matches("ms")] {
                assert!(t.trim().parse::<f64>().unwrap() >= 0.0, "{l}");
            }
            name.trim()
        })
        .collect();
    // The init's lines interleave with the runtime's; each process's own order is fixed.
    // `run` needs no exec fifo: its init execs right after Ready.
    // On a v1 or hybrid host the runtime builds the container's /sys/fs/cgroup after Go.
    let pure_v2 = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    let tree: &[&str] = if pure_v2 { &[] } else { &["cgroup tree"] };
    let runtime = [
        &[
            "config validated",
            "state dir",
            "cgroup: clone target",
            "cgroup: directories",
            "clone, maps, cgroup",
        ][..],
        tree,
        &["init ready", "run: container exited", "run: deleted"],
    ]
    .concat();
    let init = [
        "init: early mounts",
        "init: namespaces",
        "init: mounts, pivot_root",
        "init: credentials",
        "init: released, exec",
    ];
    for order in [&runtime[..], &init[..]] {
        let seen: Vec<&str> = steps
            .iter()
            .copied()
            .filter(|s| order.contains(s))
            .collect();
        assert_eq!(seen, order, "{text}");
    }
    assert_eq!(steps.len(), runtime.len() + init.len(), "{text}");
}
