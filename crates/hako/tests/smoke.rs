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
