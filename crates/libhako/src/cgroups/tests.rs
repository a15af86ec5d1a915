//! Driver tests against a temp-dir fake cgroupfs: the directories are plain directories and
//! the kernel's files are pre-created empty files, so what the drivers write can be read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::layout::parse_mountinfo;
use super::testing::tempdir;
use super::*;

fn touch(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (f, c) in files {
        std::fs::write(dir.join(f), c).unwrap();
    }
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn hybrid_plan_covers_every_hierarchy_and_the_unified_tree() {
    let info = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    let own = "3:memory:/sandbox\n2:cpu,cpuacct:/\n1:name=systemd:/\n0::/u\n";
    let m = parse_mountinfo(info);
    let abs = Cgroup::plan_from(&m, own, Some(Path::new("/hako/c1")), "c1").unwrap();
    let p = abs.paths();
    assert_eq!(p[""], PathBuf::from("/sys/fs/cgroup/unified/hako/c1"));
    assert_eq!(
        p["cpu"],
        PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/hako/c1")
    );
    assert_eq!(p["cpu"], p["cpuacct"]);
    assert_eq!(
        p["name=systemd"],
        PathBuf::from("/sys/fs/cgroup/systemd/hako/c1")
    );
    let rel = Cgroup::plan_from(&m, own, None, "c1").unwrap().paths();
    assert_eq!(
        rel["memory"],
        PathBuf::from("/sys/fs/cgroup/memory/sandbox/c1")
    );
    assert_eq!(rel[""], PathBuf::from("/sys/fs/cgroup/unified/u/c1"));
    // state.json round trip gives the same driver.
    let back = Cgroup::from_paths(&p).unwrap();
    assert_eq!(back.paths(), p);
    assert!(Cgroup::from_paths(&BTreeMap::new()).is_none());
}

#[test]
fn v2_creates_enables_controllers_and_writes_limits() {
    let root = tempdir("v2");
    touch(
        &root,
        &[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let dir = root.join("hako/c1");
    let v2 = V2 {
        mount: root.clone(),
        dir: dir.clone(),
    };
    let cg = Cgroup::new(Box::new(v2));
    // The fake kernel: the new directories and their files exist once made.
    touch(
        &root.join("hako"),
        &[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    std::fs::remove_dir_all(root.join("hako")).unwrap();
    // (Not `setup`: attaching the device program needs a real cgroup.)
    cg.driver().create_clone_target().unwrap();
    assert!(dir.is_dir());
    assert_eq!(
        read(root.join("cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    touch(
        &dir,
        &[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("pids.max", ""),
            ("memory.max", ""),
            ("memory.swap.max", ""),
            ("cpu.weight", ""),
            ("cpu.max", ""),
        ],
    );
    let r = res(
        r#"{"pids":{"limit":20},"memory":{"limit":1048576,"swap":2097152},"cpu":{"shares":2048,"quota":1000}}"#,
    );
    cg.driver().apply(&r, true).unwrap();
    assert_eq!(read(dir.join("pids.max")), "20");
    assert_eq!(read(dir.join("memory.max")), "1048576");
    assert_eq!(read(dir.join("memory.swap.max")), "1048576");
    assert_eq!(read(dir.join("cpu.weight")), "79");
    assert_eq!(read(dir.join("cpu.max")), "1000");
    // A controller the cgroup does not have: the error names the field and the controller.
    let e = cg
        .driver()
        .apply(&res(r#"{"cpu":{"cpus":"0"}}"#), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.cpu.cpus") && e.contains("cpuset controller"),
        "{e}"
    );
    // A knob the kernel does not offer (no file).
    let e = cg
        .driver()
        .apply(&res(r#"{"cpu":{"burst":5}}"#), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.cpu.burst") && e.contains("cpu.max.burst"),
        "{e}"
    );
    assert_eq!(cg.paths(), BTreeMap::from([(String::new(), dir.clone())]));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn v2_freeze_state_and_procs() {
    let dir = tempdir("v2f");
    touch(
        &dir,
        &[
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
            ("cgroup.procs", "10\n11\n"),
        ],
    );
    touch(&dir.join("sub"), &[("cgroup.procs", "12\n")]);
    let v2 = V2 {
        mount: dir.clone(),
        dir: dir.clone(),
    };
    v2.set_frozen(true).unwrap();
    assert!(v2.frozen());
    assert!(super::frozen(&v2.paths()));
    let mut pids = v2.pids().unwrap();
    pids.sort();
    assert_eq!(pids, [10, 11, 12]);
    assert!(
        v2.kill_now().is_none(),
        "no cgroup.kill file: fall back to signalling"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn v1_writes_to_the_right_hierarchy_and_names_missing_ones() {
    let root = tempdir("v1");
    let (mem, cpu, fr) = (
        root.join("memory/c"),
        root.join("cpu,cpuacct/c"),
        root.join("freezer/c"),
    );
    touch(
        &mem,
        &[
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", ""),
            ("cgroup.procs", ""),
        ],
    );
    touch(
        &cpu,
        &[
            ("cpu.shares", ""),
            ("cpu.cfs_quota_us", ""),
            ("cpu.cfs_period_us", ""),
            ("cgroup.procs", ""),
        ],
    );
    touch(&fr, &[("freezer.state", "THAWED\n"), ("cgroup.procs", "")]);
    let dirs = BTreeMap::from([
        ("memory".to_string(), mem.clone()),
        ("cpu".to_string(), cpu.clone()),
        ("cpuacct".to_string(), cpu.clone()),
        ("freezer".to_string(), fr.clone()),
    ]);
    let v1 = V1 { dirs };
    let r = res(
        r#"{"memory":{"limit":1000000,"swap":2000000},"cpu":{"shares":100,"quota":5000,"period":10000}}"#,
    );
    v1.apply(&r, true).unwrap();
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "1000000");
    assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "2000000");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "5000");
    let e = v1
        .apply(&res(r#"{"pids":{"limit":5}}"#), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.resources.pids.limit") && e.contains("pids controller"),
        "{e}"
    );
    v1.add_pid(42).unwrap();
    assert_eq!(read(fr.join("cgroup.procs")), "42");
    assert_eq!(read(cpu.join("cgroup.procs")), "42");
    v1.set_frozen(true).unwrap();
    assert!(v1.frozen());
    v1.set_frozen(false).unwrap();
    assert!(!v1.frozen());
    let e = v1
        .apply(&res(r#"{"unified":{"memory.high":"1"}}"#), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.resources.unified"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cgroupns_moves_from_clone_to_unshare() {
    let mut s = Strategy {
        at_clone: CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWCGROUP,
        early: CloneFlags::empty(),
        unshare: CloneFlags::empty(),
        fork: false,
    };
    defer_cgroupns(&mut s);
    assert_eq!(s.at_clone, CloneFlags::CLONE_NEWPID);
    assert_eq!(s.unshare, CloneFlags::CLONE_NEWCGROUP);
    assert!(
        !s.fork,
        "a cgroup namespace applies to the caller: no fork needed"
    );
}

#[test]
fn v1_cpuset_is_filled_up_an_empty_chain() {
    let root = tempdir("cpuset");
    let mount = root.join("cpuset");
    let (pod, ctr) = (mount.join("pod"), mount.join("pod/mid/ctr"));
    touch(&mount, &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")]);
    for d in [pod.clone(), mount.join("pod/mid"), ctr.clone()] {
        touch(&d, &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")]);
    }
    let v1 = V1 {
        dirs: BTreeMap::from([("cpuset".to_string(), ctr.clone())]),
    };
    v1.create().unwrap();
    for d in [&pod, &ctr] {
        assert_eq!(read(d.join("cpuset.cpus")), "0-3");
        assert_eq!(read(d.join("cpuset.mems")), "0");
    }
    // A parent with values of its own gives them; nothing above it is read or changed.
    std::fs::write(mount.join("pod/mid/cpuset.cpus"), "1").unwrap();
    std::fs::write(pod.join("cpuset.cpus"), "").unwrap();
    std::fs::write(ctr.join("cpuset.cpus"), "").unwrap();
    v1.create().unwrap();
    assert_eq!(read(ctr.join("cpuset.cpus")), "1");
    assert_eq!(read(pod.join("cpuset.cpus")), "");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn exec_sub_cgroups_as_runc_reads_them() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = parse_sub_cgroups(&args(&["memory:m", "cpu,cpuacct:c"])).unwrap();
    assert_eq!(p["memory"], "m");
    assert_eq!((p["cpu"].as_str(), p["cpuacct"].as_str()), ("c", "c"));
    assert_eq!(parse_sub_cgroups(&args(&["sub"])).unwrap()[""], "sub");
    for (bad, why) in [
        (&["a", "b"][..], "missing <controller>: prefix"),
        (&[":x"][..], "empty <controller> prefix"),
        (
            &["memory,memory:x"][..],
            "controller memory specified multiple times",
        ),
        (&["memory:a", "memory:b"][..], "specified multiple times"),
    ] {
        let e = parse_sub_cgroups(&args(bad)).unwrap_err().to_string();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
    let paths = BTreeMap::from([
        ("memory".to_string(), PathBuf::from("/cg/memory/ctr")),
        ("cpu".to_string(), PathBuf::from("/cg/cpu/ctr")),
        (String::new(), PathBuf::from("/cg/unified/ctr")),
    ]);
    let all = sub_paths(&paths, &parse_sub_cgroups(&args(&["a/../s"])).unwrap()).unwrap();
    assert_eq!(all["memory"], PathBuf::from("/cg/memory/ctr/s"));
    assert_eq!(all[""], PathBuf::from("/cg/unified/ctr/s"));
    let one = sub_paths(&paths, &parse_sub_cgroups(&args(&["memory:s"])).unwrap()).unwrap();
    assert_eq!(one["memory"], PathBuf::from("/cg/memory/ctr/s"));
    assert_eq!(one["cpu"], paths["cpu"]);
    assert_eq!(one[""], paths[""]);
    let top = sub_paths(&paths, &parse_sub_cgroups(&args(&["/"])).unwrap()).unwrap();
    assert_eq!(top, paths);
    for (bad, why) in [
        ("..", "bad sub cgroup path: .."),
        ("../ctr2", "bad sub cgroup path"),
        ("memory:../x", "bad sub cgroup path"),
        ("whaaat:/", "unknown controller whaaat in SubCgroupPaths"),
    ] {
        let sub = parse_sub_cgroups(&args(&[bad])).unwrap();
        let e = sub_paths(&paths, &sub).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}
