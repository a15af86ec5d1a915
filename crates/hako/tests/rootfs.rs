//! The container's root filesystem seen from inside: configured mounts and their options (as
//! /proc/self/mountinfo shows them), propagation, the root's own options, symlinks in the image
//! that try to send a mount destination outside the rootfs, /dev (default and extra devices,
//! symlinks), masked and read-only paths, sysctls, `--no-pivot` and the cgroup mount. runc's
//! output is compared where both runtimes support the config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Bundle, Out, World};
use serde_json::json;

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
struct Mnt {
    root: String,
    point: String,
    opts: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    source: String,
    super_opts: Vec<String>,
}

impl Mnt {
    fn has(&self, opt: &str) -> bool {
        self.opts.iter().any(|o| o == opt)
    }
    fn has_super(&self, opt: &str) -> bool {
        self.super_opts.iter().any(|o| o == opt)
    }
}

fn parse_mountinfo(text: &str) -> Vec<Mnt> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some(Mnt {
                root: pre[3].into(),
                point: pre[4].into(),
                opts: pre[5].split(',').map(Into::into).collect(),
                optional: pre[6..].iter().map(|s| s.to_string()).collect(),
                fstype: post[0].into(),
                source: post[1].into(),
                super_opts: post[2].split(',').map(Into::into).collect(),
            })
        })
        .collect()
}

/// What a container printed: its mountinfo, then the rest of the script's output.
struct Seen {
    mounts: Vec<Mnt>,
    rest: String,
}

impl Seen {
    /// The topmost mount at `point`.
    #[track_caller]
    fn at(&self, point: &str) -> &Mnt {
        self.mounts
            .iter()
            .rev()
            .find(|m| m.point == point)
            .unwrap_or_else(|| panic!("no mount at {point}: {:#?}", self.mounts))
    }
    fn lines(&self) -> Vec<&str> {
        self.rest.lines().collect()
    }
}

const SEP: &str = "=====";

/// A bundle whose container prints its mountinfo, then runs `script`.
fn script_bundle(w: &World, script: &str) -> Bundle {
    w.bundle(&[
        "sh",
        "-c",
        &format!("cat /proc/self/mountinfo; echo {SEP}; {script}"),
    ])
}

fn split(out: &str) -> Seen {
    let (mi, rest) = out
        .split_once(&format!("{SEP}\n"))
        .unwrap_or_else(|| panic!("no separator in {out}"));
    Seen {
        mounts: parse_mountinfo(mi),
        rest: rest.to_string(),
    }
}

fn run(w: &World, b: &Bundle, extra: &[&str]) -> Out {
    let id = w.id("rootfs");
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--bundle", b.path(), &id]);
    w.hako(&args)
}

/// `hako run`, asserting success.
fn seen(w: &World, b: &Bundle) -> Seen {
    split(&run(w, b, &[]).ok().stdout())
}

/// `runc run` with a private root; returns its output.
fn runc(w: &World, b: &Bundle, extra: &[&str]) -> Out {
    w.runc_run(&common::runc_bin(), extra, b)
}

fn runc_seen(w: &World, b: &Bundle) -> Seen {
    split(&runc(w, b, &[]).ok().stdout())
}

fn add_mount(b: &mut Bundle, dest: &str, typ: &str, source: &str, options: &[&str]) {
    let m = json!({"destination": dest, "type": typ, "source": source, "options": options});
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m.clone()));
}

fn writable_root(b: &mut Bundle) {
    b.edit(|c| c["root"]["readonly"] = json!(false));
}

/// A host directory with a file `hello` containing "from the host".
fn host_dir(w: &World, name: &str) -> PathBuf {
    let d = w.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("hello"), "from the host\n").unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Unmounts a host mount made by a test, before the world's dir is removed.
struct HostMount(PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn bind_mount_of_a_host_dir() {
    let w = World::new("rootfs-bind");
    let src = host_dir(&w, "src");
    let mut b = script_bundle(&w, "cat /mnt/data/hello");
    add_mount(&mut b, "/mnt/data", "bind", s(&src), &["bind"]);
    let seen = seen(&w, &b);
    assert_eq!(seen.rest, "from the host\n");
    let m = seen.at("/mnt/data");
    assert!(m.has("rw"), "{m:?}");
    assert!(
        m.root
            .ends_with(src.strip_prefix("/tmp").unwrap_or(&src).to_str().unwrap()),
        "{m:?}"
    );
    // The missing /mnt was made in the rootfs, not anywhere else.
    assert!(b.rootfs().join("mnt/data").is_dir());
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let w = World::new("rootfs-rbind");
    let src = host_dir(&w, "src");
    let sub = src.join("sub");
    std::fs::create_dir(&sub).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let _guard = HostMount(sub.clone());
    std::fs::write(sub.join("inner"), "submount\n").unwrap();
    let mut b = script_bundle(
        &w,
        "cat /r/sub/inner; echo; ls -A /b/sub | wc -l; cat /b/hello",
    );
    add_mount(&mut b, "/r", "bind", s(&src), &["rbind"]);
    add_mount(&mut b, "/b", "bind", s(&src), &["bind"]);
    let seen = seen(&w, &b);
    assert_eq!(seen.lines(), ["submount", "", "0", "from the host"]);
    assert_eq!(seen.at("/r/sub").fstype, "tmpfs");
    assert!(seen.mounts.iter().all(|m| m.point != "/b/sub"));
}

#[test]
fn bind_mount_of_a_single_file() {
    let w = World::new("rootfs-file");
    let src = host_dir(&w, "src");
    let mut b = script_bundle(&w, "cat /etc/deep/hostfile; ls -l /etc/deep/hostfile");
    add_mount(
        &mut b,
        "/etc/deep/hostfile",
        "bind",
        s(&src.join("hello")),
        &["bind", "ro"],
    );
    let seen = seen(&w, &b);
    let lines = seen.lines();
    assert_eq!(lines[0], "from the host");
    assert!(lines[1].starts_with("-r"), "a regular file: {}", lines[1]);
    assert!(seen.at("/etc/deep/hostfile").has("ro"));
    assert!(b.rootfs().join("etc/deep/hostfile").is_file());
}

#[test]
fn ro_nosuid_nodev_flags() {
    let w = World::new("rootfs-flags");
    let src = host_dir(&w, "src");
    let mut b = script_bundle(
        &w,
        "touch /ro/new 2>/dev/null && echo ro-writable || echo ro-refused; \
         touch /rw/new && echo rw-writable",
    );
    writable_root(&mut b);
    add_mount(&mut b, "/ro", "bind", s(&src), &["bind", "ro"]);
    add_mount(&mut b, "/rw", "bind", s(&src), &["bind", "nosuid", "nodev"]);
    add_mount(&mut b, "/t", "tmpfs", "tmpfs", &["nosuid", "nodev", "ro"]);
    let seen = seen(&w, &b);
    assert_eq!(seen.lines(), ["ro-refused", "rw-writable"]);
    let ro = seen.at("/ro");
    assert!(
        ro.has("ro") && !ro.has("nosuid") && !ro.has("nodev"),
        "{ro:?}"
    );
    let rw = seen.at("/rw");
    assert!(
        rw.has("rw") && rw.has("nosuid") && rw.has("nodev"),
        "{rw:?}"
    );
    let t = seen.at("/t");
    assert!(t.has("ro") && t.has("nosuid") && t.has("nodev"), "{t:?}");
    assert!(
        src.join("new").exists(),
        "the rw bind writes through to the host"
    );
    let r = runc_seen(&w, &b);
    for p in ["/ro", "/rw", "/t"] {
        assert_eq!(seen.at(p).opts, r.at(p).opts, "{p} differs from runc");
    }
}

#[test]
fn noexec_refuses_exec() {
    let w = World::new("rootfs-noexec");
    let mut b = script_bundle(
        &w,
        "cp /bin/busybox /x/true && /x/true && echo exec-ok; \
         cp /bin/busybox /nx/true && /nx/true 2>/dev/null; echo nx=$?",
    );
    add_mount(&mut b, "/x", "tmpfs", "tmpfs", &["exec"]);
    add_mount(&mut b, "/nx", "tmpfs", "tmpfs", &["noexec"]);
    let seen = seen(&w, &b);
    assert_eq!(seen.lines(), ["exec-ok", "nx=126"]);
    assert!(seen.at("/nx").has("noexec"));
    assert!(!seen.at("/x").has("noexec"));
}

#[test]
fn atime_options() {
    let w = World::new("rootfs-atime");
    let mut b = script_bundle(&w, "true");
    add_mount(&mut b, "/rel", "tmpfs", "tmpfs", &["relatime"]);
    add_mount(&mut b, "/noa", "tmpfs", "tmpfs", &["noatime"]);
    add_mount(&mut b, "/strict", "tmpfs", "tmpfs", &["strictatime"]);
    add_mount(
        &mut b,
        "/nodir",
        "tmpfs",
        "tmpfs",
        &["nodiratime", "strictatime"],
    );
    let seen = seen(&w, &b);
    assert!(seen.at("/rel").has("relatime"));
    assert!(seen.at("/noa").has("noatime"));
    let st = seen.at("/strict");
    assert!(!st.has("relatime") && !st.has("noatime"), "{st:?}");
    assert!(seen.at("/nodir").has("nodiratime"));
    let r = runc_seen(&w, &b);
    for p in ["/rel", "/noa", "/strict", "/nodir"] {
        assert_eq!(seen.at(p).opts, r.at(p).opts, "{p} differs from runc");
    }
}

#[test]
fn tmpfs_size_and_mode() {
    let w = World::new("rootfs-tmpfs");
    let mut b = script_bundle(&w, "stat -c %a /data/t; df -k /data/t | tail -n 1");
    add_mount(
        &mut b,
        "/data/t",
        "tmpfs",
        "mytmp",
        &["nosuid", "size=2m", "mode=0700"],
    );
    let seen = seen(&w, &b);
    let m = seen.at("/data/t");
    assert_eq!(m.fstype, "tmpfs");
    assert_eq!(m.source, "mytmp");
    assert!(
        m.has_super("size=2048k") && m.has_super("mode=700"),
        "{m:?}"
    );
    let lines = seen.lines();
    assert_eq!(lines[0], "700");
    let total: u64 = lines[1].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(total, 2048);
}

/// A tmpfs mounted on the host under the world's dir and made shared (the host's own mounts
/// are all private here), so that propagation inside the container has a peer to follow.
fn shared_host_tmpfs(w: &World, name: &str) -> (PathBuf, HostMount) {
    use nix::mount::{mount, MsFlags};
    let d = w.dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    mount(
        Some("tmpfs"),
        &d,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let guard = HostMount(d.clone());
    mount(
        None::<&str>,
        &d,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .unwrap();
    std::fs::write(d.join("hello"), "from the host\n").unwrap();
    (d, guard)
}

/// The kinds of propagation tags of a mount (`shared`, `master`, `unbindable`).
fn kinds(m: &Mnt) -> Vec<String> {
    let mut k: Vec<String> = m
        .optional
        .iter()
        .map(|o| o.split(':').next().unwrap().to_string())
        .collect();
    k.sort();
    k
}

#[test]
fn mount_propagation_options() {
    let w = World::new("rootfs-prop");
    let (src, _guard) = shared_host_tmpfs(&w, "shared-src");
    let mut b = script_bundle(&w, "true");
    add_mount(&mut b, "/plain", "bind", s(&src), &["rbind"]);
    add_mount(&mut b, "/priv", "bind", s(&src), &["rbind", "rprivate"]);
    add_mount(&mut b, "/slave", "bind", s(&src), &["rbind", "rslave"]);
    add_mount(&mut b, "/shared", "bind", s(&src), &["rbind", "rshared"]);
    add_mount(&mut b, "/tshared", "tmpfs", "tmpfs", &["shared"]);
    add_mount(&mut b, "/unb", "tmpfs", "tmpfs", &["unbindable"]);
    let seen = seen(&w, &b);
    // The container's copy of the host's shared mount is a slave ("/" is made rslave first).
    assert_eq!(kinds(seen.at("/plain")), ["master"]);
    assert_eq!(kinds(seen.at("/priv")), Vec::<String>::new());
    assert_eq!(kinds(seen.at("/slave")), ["master"]);
    assert_eq!(kinds(seen.at("/shared")), ["master", "shared"]);
    assert_eq!(kinds(seen.at("/tshared")), ["shared"]);
    assert_eq!(kinds(seen.at("/unb")), ["unbindable"]);
    let r = runc_seen(&w, &b);
    for p in ["/plain", "/priv", "/slave", "/shared", "/tshared", "/unb"] {
        assert_eq!(kinds(seen.at(p)), kinds(r.at(p)), "{p} differs from runc");
    }
}

#[test]
fn rootfs_propagation() {
    let w = World::new("rootfs-rootprop");
    let (shared, _guard) = shared_host_tmpfs(&w, "shared-root");
    let mut b = script_bundle(&w, "true");
    // The rootfs lives on the host's shared mount.
    let rootfs = shared.join("rootfs");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(b.rootfs())
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(cp.success());
    b.edit(|c| c["root"]["path"] = json!(s(&rootfs)));
    // As runc 1.5.1 (and crun): the mount holding the rootfs is made private before the
    // rootfs is bound, so "/" starts private whatever the host's propagation; runc 1.1 made it
    // private only if it was shared, which left "/" a slave of the host's mount (compared
    // with an older runc, those rows are not).
    let older = common::reference_runc().is_none();
    for (prop, want, runc_agrees) in [
        (None, vec![], !older),
        (Some("rslave"), vec![], !older),
        (Some("slave"), vec![], true),
        (Some("private"), vec![], true),
        (Some("rprivate"), vec![], true),
        // As runc: "/" gets the shared propagation in place of rslave, the rootfs's own
        // mount is made private, and "/" is made shared again after pivot_root, in a new
        // peer group (runc 1.1 leaves it private).
        (Some("shared"), vec!["shared"], !older),
        (Some("rshared"), vec!["shared"], !older),
    ] {
        b.edit(|c| match prop {
            Some(p) => c["linux"]["rootfsPropagation"] = json!(p),
            None => {
                c["linux"]
                    .as_object_mut()
                    .unwrap()
                    .remove("rootfsPropagation");
            }
        });
        let seen = seen(&w, &b);
        assert_eq!(kinds(seen.at("/")), want, "{prop:?}: {:?}", seen.at("/"));
        if runc_agrees {
            let r = runc_seen(&w, &b);
            assert_eq!(
                kinds(seen.at("/")),
                kinds(r.at("/")),
                "{prop:?} differs from runc"
            );
        }
    }
}

#[test]
fn readonly_root() {
    let w = World::new("rootfs-ro");
    let mut b = script_bundle(
        &w,
        "touch /newfile 2>/dev/null && echo writable || echo refused",
    );
    let seen_ro = seen(&w, &b);
    assert_eq!(seen_ro.rest, "refused\n");
    assert!(seen_ro.at("/").has("ro"));
    assert!(!b.rootfs().join("newfile").exists());
    writable_root(&mut b);
    let seen_rw = seen(&w, &b);
    assert_eq!(seen_rw.rest, "writable\n");
    assert!(seen_rw.at("/").has("rw"));
    assert!(b.rootfs().join("newfile").exists());
}

#[test]
fn root_path_relative_and_absolute() {
    let w = World::new("rootfs-path");
    let mut b = w.bundle(&["cat", "/marker"]);
    std::fs::write(b.rootfs().join("marker"), "the rootfs\n").unwrap();
    // Relative to the bundle (the default "rootfs"), and through a longer relative path.
    let id = w.id("rel");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    assert_eq!(out.stdout(), "the rootfs\n");
    b.edit(|c| c["root"]["path"] = json!("./rootfs/../rootfs"));
    let id = w.id("rel2");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    assert_eq!(out.stdout(), "the rootfs\n");
    // Absolute, elsewhere: a rootfs outside the bundle.
    let elsewhere = w.dir.join("elsewhere-rootfs");
    std::fs::rename(b.rootfs(), &elsewhere).unwrap();
    b.edit(|c| c["root"]["path"] = json!(s(&elsewhere)));
    let id = w.id("abs");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok();
    assert_eq!(out.stdout(), "the rootfs\n");
}

#[test]
fn missing_nested_destinations_are_created() {
    let w = World::new("rootfs-nested");
    let mut b = script_bundle(&w, "ls -ld /a/b/c/d | cut -c1-10");
    add_mount(&mut b, "/a/b/c/d", "tmpfs", "tmpfs", &[]);
    let seen = seen(&w, &b);
    assert_eq!(seen.at("/a/b/c/d").fstype, "tmpfs");
    assert_eq!(seen.rest, "drwxrwxrwt\n");
    assert!(b.rootfs().join("a/b/c/d").is_dir());
}

#[test]
fn symlink_to_root_as_destination_stays_inside() {
    let w = World::new("rootfs-evil");
    let name = common::unique("hako-escape");
    let host_target = Path::new("/").join(&name);
    let mut b = script_bundle(&w, &format!("ls -A /{name} | wc -l"));
    std::os::unix::fs::symlink("/", b.rootfs().join("evil")).unwrap();
    add_mount(&mut b, &format!("/evil/{name}"), "tmpfs", "tmpfs", &[]);
    let seen = seen(&w, &b);
    assert!(
        !host_target.exists(),
        "created {} on the host",
        host_target.display()
    );
    // The mount landed at the symlink's in-root target: /<name> of the rootfs.
    assert_eq!(seen.at(&format!("/{name}")).fstype, "tmpfs");
    assert!(b.rootfs().join(&name).is_dir());
    assert_eq!(seen.rest, "0\n");
}

#[test]
fn relative_symlink_escape_stays_inside() {
    let w = World::new("rootfs-evilrel");
    // A host dir the symlink would reach if followed on the host: <world>/outside-dir.
    let outside = w.dir.join("outside-dir");
    std::fs::create_dir(&outside).unwrap();
    let mut b = script_bundle(&w, "cat /etc/f 2>/dev/null; echo done");
    let up = "../".repeat(12);
    let rel = format!("{up}{}", s(&outside).trim_start_matches('/'));
    std::os::unix::fs::symlink(&rel, b.rootfs().join("evil")).unwrap();
    // And one through /tmp, as images do.
    let tmp_out = format!("outside-{}", common::unique("dir"));
    std::os::unix::fs::symlink(
        format!("../../../../tmp/{tmp_out}"),
        b.rootfs().join("evil2"),
    )
    .unwrap();
    let src = host_dir(&w, "src");
    add_mount(&mut b, "/evil/x", "tmpfs", "tmpfs", &[]);
    add_mount(
        &mut b,
        "/evil/file",
        "bind",
        s(&src.join("hello")),
        &["bind"],
    );
    add_mount(&mut b, "/evil2/y", "tmpfs", "tmpfs", &[]);
    let seen = seen(&w, &b);
    assert_eq!(seen.rest, "done\n");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "something was made in the host dir"
    );
    assert!(!Path::new("/tmp").join(&tmp_out).exists());
    // Inside, the targets resolved within the rootfs.
    let inside = format!("{}/x", s(&outside));
    assert_eq!(seen.at(&inside).fstype, "tmpfs");
    assert!(b
        .rootfs()
        .join(outside.strip_prefix("/").unwrap())
        .join("file")
        .is_file());
    assert_eq!(seen.at(&format!("/tmp/{tmp_out}/y")).fstype, "tmpfs");
    assert!(b.rootfs().join("tmp").join(&tmp_out).join("y").is_dir());
    // The host's mount table has none of it.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains(s(&outside)));
}

#[test]
fn symlinked_bind_source_dir_is_the_hosts() {
    // A bind *source* is a host path: a symlink there is the host's business (runc follows it).
    let w = World::new("rootfs-srclink");
    let src = host_dir(&w, "src");
    let link = w.dir.join("srclink");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let mut b = script_bundle(&w, "cat /m/hello");
    add_mount(&mut b, "/m", "bind", s(&link), &["bind"]);
    assert_eq!(seen(&w, &b).rest, "from the host\n");
}

const DEVICES: &str = "for d in null zero full random urandom tty; do \
     stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done";

#[test]
fn default_devices() {
    let w = World::new("rootfs-dev");
    let b = script_bundle(&w, DEVICES);
    let seen = seen(&w, &b);
    assert_eq!(
        seen.lines(),
        [
            "/dev/null character special file 1:3 666 0:0",
            "/dev/zero character special file 1:5 666 0:0",
            "/dev/full character special file 1:7 666 0:0",
            "/dev/random character special file 1:8 666 0:0",
            "/dev/urandom character special file 1:9 666 0:0",
            "/dev/tty character special file 5:0 666 0:0",
        ]
    );
    assert_eq!(seen.rest, runc_seen(&w, &b).rest, "differs from runc");
    let dev = seen.at("/dev");
    assert_eq!(dev.fstype, "tmpfs");
}

#[test]
fn extra_devices_with_owner_and_mode() {
    let w = World::new("rootfs-xdev");
    let mut b = script_bundle(
        &w,
        "stat -c '%n %F %t:%T %a %u:%g' /dev/mynull /dev/sub/myblk /dev/myfifo",
    );
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/sub/myblk", "type": "b", "major": 7, "minor": 200,
             "fileMode": 0o600, "uid": 0, "gid": 6},
            {"path": "/dev/myfifo", "type": "p", "fileMode": 0o620, "uid": 5, "gid": 5},
        ])
    });
    let seen = seen(&w, &b);
    assert_eq!(
        seen.lines(),
        [
            "/dev/mynull character special file 1:3 640 1000:1001",
            "/dev/sub/myblk block special file 7:c8 600 0:6",
            "/dev/myfifo fifo 0:0 620 5:5",
        ]
    );
    assert_eq!(seen.rest, runc_seen(&w, &b).rest, "differs from runc");
}

#[test]
fn dev_symlinks() {
    let w = World::new("rootfs-devlinks");
    let b = script_bundle(
        &w,
        "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done",
    );
    let seen = seen(&w, &b);
    assert_eq!(
        seen.lines(),
        [
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2",
            "ptmx pts/ptmx",
        ]
    );
    assert_eq!(seen.rest, runc_seen(&w, &b).rest, "differs from runc");
}

#[test]
fn masked_paths() {
    let w = World::new("rootfs-masked");
    let mut b = script_bundle(
        &w,
        "echo file=[$(cat /secret.txt)]; echo dir=$(ls -A /secretdir | wc -l); \
         touch /secretdir/x 2>/dev/null && echo dir-writable || echo dir-ro; \
         echo > /secret.txt && echo file-writable; \
         echo keys=$(wc -c < /proc/keys); touch /other && echo root-writable",
    );
    writable_root(&mut b);
    let r = b.rootfs();
    std::fs::write(r.join("secret.txt"), "top secret\n").unwrap();
    std::fs::create_dir(r.join("secretdir")).unwrap();
    std::fs::write(r.join("secretdir/inner"), "hidden\n").unwrap();
    b.edit(|c| {
        let m = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        m.push(json!("/secret.txt"));
        m.push(json!("/secretdir"));
        m.push(json!("/does/not/exist"));
    });
    let seen = seen(&w, &b);
    assert_eq!(
        seen.lines(),
        [
            "file=[]",
            "dir=0",
            "dir-ro",
            "file-writable",
            "keys=0",
            "root-writable"
        ]
    );
    assert!(seen.at("/secretdir").has("ro"));
    // Writing the masked file went to /dev/null, not to the image's file.
    assert_eq!(
        std::fs::read_to_string(r.join("secret.txt")).unwrap(),
        "top secret\n"
    );
    assert_eq!(seen.rest, runc_seen(&w, &b).rest, "differs from runc");
}

#[test]
fn readonly_paths() {
    let w = World::new("rootfs-ropaths");
    let mut b = script_bundle(
        &w,
        "touch /data/x 2>/dev/null && echo data-writable || echo data-ro; \
         echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-writable || echo sys-ro; \
         touch /tmp/x && echo tmp-writable",
    );
    writable_root(&mut b);
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    b.edit(|c| {
        let m = c["linux"]["readonlyPaths"].as_array_mut().unwrap();
        m.push(json!("/data"));
        m.push(json!("/not/there"));
    });
    let seen = seen(&w, &b);
    assert_eq!(seen.lines(), ["data-ro", "sys-ro", "tmp-writable"]);
    assert!(seen.at("/data").has("ro"));
    assert!(seen.at("/proc/sys").has("ro"));
    assert!(!b.rootfs().join("data/x").exists());
    assert_eq!(seen.rest, runc_seen(&w, &b).rest, "differs from runc");
}

#[test]
fn sysctls_are_set_in_the_container_only() {
    let w = World::new("rootfs-sysctl");
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let mut b = script_bundle(
        &w,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced",
    );
    let want_fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let want_shm = if host_shm.trim() == "1" { "0" } else { "1" };
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({
            "net.ipv4.ip_forward": want_fwd,
            "kernel.shm_rmid_forced": want_shm,
        })
    });
    let seen = seen(&w, &b);
    assert_eq!(seen.rest, format!("{want_fwd}\n{want_shm}\n"));
    assert_eq!(seen.rest, runc_seen(&w, &b).rest, "differs from runc");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
        host_shm
    );
}

#[test]
fn no_pivot() {
    let w = World::new("rootfs-nopivot");
    let b = script_bundle(&w, "cat /marker; ls /proc/1/root/ | grep -c marker");
    std::fs::write(b.rootfs().join("marker"), "in the rootfs\n").unwrap();
    let out = split(&run(&w, &b, &["--no-pivot"]).ok().stdout());
    assert_eq!(out.lines(), ["in the rootfs", "1"]);
    assert!(out.at("/").has("ro"));
    let r = split(&runc(&w, &b, &["--no-pivot"]).ok().stdout());
    assert_eq!(out.rest, r.rest);
}

#[test]
fn cgroup_mount_shows_the_hierarchies() {
    let w = World::new("rootfs-cgroup");
    let b = script_bundle(&w, "cat /proc/self/cgroup; echo; ls /sys/fs/cgroup");
    let seen = seen(&w, &b);
    let (own, listed) = seen.rest.split_once("\n\n").unwrap();
    let inside: Vec<&str> = listed.lines().collect();
    // runc's layout: a read-write tmpfs holding the hierarchies.
    let top = seen.at("/sys/fs/cgroup");
    assert_eq!(
        (top.fstype.as_str(), top.source.as_str()),
        ("tmpfs", "tmpfs")
    );
    for o in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(top.has(o), "{top:?}");
    }
    // Every v1 hierarchy of the host (a cgroup mount right under /sys/fs/cgroup) is there.
    let host = parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
    let v1: Vec<String> = host
        .iter()
        .filter(|m| m.fstype == "cgroup")
        .filter_map(|m| m.point.strip_prefix("/sys/fs/cgroup/").map(String::from))
        .collect();
    assert!(!v1.is_empty(), "the host has no v1 hierarchies");
    for h in &v1 {
        assert!(inside.contains(&h.as_str()), "{h} missing: {inside:?}");
        let m = seen.at(&format!("/sys/fs/cgroup/{h}"));
        assert_eq!(m.fstype, "cgroup");
        assert!(m.has("ro") && m.has("nosuid") && m.has("noexec"), "{m:?}");
        // Each shows the container's own cgroup in that hierarchy.
        let path = own
            .lines()
            .find_map(|l| {
                let (_, rest) = l.split_once(':')?;
                let (ctrls, path) = rest.split_once(':')?;
                let first = ctrls.split(',').next()?;
                (!first.is_empty() && m.has_super(first)).then_some(path)
            })
            .unwrap_or_else(|| panic!("{h} not in /proc/self/cgroup: {own}"));
        assert_eq!(m.root, path, "{h}");
    }
    let r = runc_seen(&w, &b);
    for h in &v1 {
        assert!(r.rest.lines().any(|l| l == h), "runc lacks {h}?");
    }
}

#[test]
fn bind_mount_of_missing_source_fails() {
    let w = World::new("rootfs-nosrc");
    let mut b = w.bundle(&["true"]);
    let missing = w.dir.join("no-such-source");
    add_mount(&mut b, "/m", "bind", s(&missing), &["bind"]);
    let id = w.id("nosrc");
    let out = w.hako(&["run", "--bundle", b.path(), &id]);
    assert_ne!(out.code(), Some(0));
    assert!(!w.state_dir(&id).exists());
}

/// A read-only `/dev` and a read-only tmpfs with a mount inside it: as runc, they are mounted
/// writable (the devices, /dev/pts, the nested mount point are made in them) and made
/// read-only at the end, with their other flags.
#[test]
fn read_only_dev_and_tmpfs_are_made_read_only_last() {
    let w = World::new("rootfs-rodev");
    let vol = host_dir(&w, "vol");
    let mut b = script_bundle(
        &w,
        "ls /dev; touch /dev/x /data/x 2>/dev/null || echo refused; cat /data/sub/hello",
    );
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
    });
    add_mount(
        &mut b,
        "/data",
        "tmpfs",
        "tmpfs",
        &["ro", "nosuid", "mode=700"],
    );
    add_mount(&mut b, "/data/sub", "bind", s(&vol), &["rbind"]);
    let r = runc_seen(&w, &b);
    let h = seen(&w, &b);
    assert!(
        r.rest.ends_with("refused\nfrom the host\n"),
        "runc: {}",
        r.rest
    );
    assert_eq!(h.rest, r.rest);
    for point in ["/dev", "/data", "/dev/pts", "/data/sub"] {
        let opts = |s: &Seen| {
            let mut o = s.at(point).opts.clone();
            o.sort();
            o
        };
        assert_eq!(opts(&h), opts(&r), "{point}");
    }
    assert!(h.at("/dev").has("ro") && h.at("/dev").has("nosuid"));
    assert!(h.at("/data").has("ro") && h.at("/data").has("nosuid"));
}

/// `--no-pivot` keeps the host's mounts under the chroot: as runc, the host's procfs and
/// sysfs are taken out first, so that a new user namespace inside cannot mount a procfs (the
/// kernel allows it only where a whole one is visible); with pivot_root it cannot either.
#[test]
fn no_pivot_leaves_no_whole_host_proc_for_a_new_user_namespace() {
    let w = World::new("rootfs-nopivot-proc");
    let mut b = script_bundle(
        &w,
        "mkdir -p /tmp/m; unshare -mrpf sh -c 'mount -t proc proc /tmp/m && echo mounted || echo refused'",
    );
    writable_root(&mut b);
    // Mapping uid 0 into a new user namespace needs CAP_SETFCAP (Linux 5.12+).
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
            caps.push(json!("CAP_SETFCAP"));
        }
    });
    for extra in [&["--no-pivot"][..], &[]] {
        let h = split(&run(&w, &b, extra).ok().stdout());
        let r = split(&runc(&w, &b, extra).ok().stdout());
        assert_eq!(r.rest, "refused\n", "runc {extra:?}");
        assert_eq!(h.rest, r.rest, "hako {extra:?}");
    }
}

/// `rootfsPropagation: rshared` with an rshared volume (Kubernetes' Bidirectional mount
/// propagation): the volume stays in the host's peer group, so a mount made in the container
/// under it shows on the host, as under runc.
#[test]
fn rshared_root_keeps_a_bidirectional_volume_in_the_hosts_peer_group() {
    let w = World::new("rootfs-bidir");
    let (vol, _guard) = shared_host_tmpfs(&w, "bidir");
    let host_group = |point: &Path| {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        parse_mountinfo(&info)
            .into_iter()
            .rev()
            .find(|m| Path::new(&m.point) == point)
            .map(|m| m.optional)
    };
    let shared = host_group(&vol).unwrap();
    for rt in ["runc", "hako"] {
        let sub = format!("from-{rt}");
        let mut b = script_bundle(
            &w,
            &format!(
                "mkdir /vol/{sub} && mount -t tmpfs tmpfs /vol/{sub} && touch /vol/{sub}/seen"
            ),
        );
        b.edit(|c| {
            c["linux"]["rootfsPropagation"] = json!("rshared");
            for set in ["bounding", "effective", "permitted"] {
                let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
                caps.push(json!("CAP_SYS_ADMIN"));
            }
        });
        add_mount(&mut b, "/vol", "bind", s(&vol), &["rbind", "rshared"]);
        let out = match rt {
            "runc" => runc(&w, &b, &[]),
            _ => run(&w, &b, &[]),
        };
        let seen = split(&out.ok().stdout());
        // The host's own peer group, not a new one mastered by it.
        assert_eq!(
            seen.at("/vol").optional,
            shared,
            "{rt}: {:?}",
            seen.at("/vol")
        );
        let on_host = vol.join(&sub);
        let _unmount = HostMount(on_host.clone());
        assert!(
            on_host.join("seen").exists(),
            "{rt}: the container's mount is not on the host"
        );
    }
}

/// With a user namespace, a bind source the container's root cannot reach (under a 0700
/// directory of the host's root) is opened by the runtime, which can, as runc does; a file
/// source as well as a directory, recursive or not; a missing source still fails.
#[test]
fn userns_bind_sources_the_mapped_root_cannot_reach() {
    let w = World::new("rootfs-userns-src");
    let locked = w.dir.join("locked");
    std::fs::create_dir_all(locked.join("dir/sub")).unwrap();
    std::fs::write(locked.join("dir/foo.txt"), "in a locked dir\n").unwrap();
    std::fs::write(locked.join("file.txt"), "a locked file\n").unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut b = script_bundle(&w, "cat /m/dir/foo.txt /m/file.txt /m/rdir/foo.txt");
    // The container's root may not write the rootfs (the host's root owns it): the mount
    // points are there already.
    let m = b.rootfs().join("m");
    for d in ["dir", "rdir", "none"] {
        std::fs::create_dir_all(m.join(d)).unwrap();
    }
    std::fs::write(m.join("file.txt"), "").unwrap();
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    add_mount(
        &mut b,
        "/m/dir",
        "bind",
        s(&locked.join("dir")),
        &["bind", "ro"],
    );
    add_mount(
        &mut b,
        "/m/file.txt",
        "bind",
        s(&locked.join("file.txt")),
        &["bind"],
    );
    add_mount(
        &mut b,
        "/m/rdir",
        "bind",
        s(&locked.join("dir")),
        &["rbind"],
    );
    let r = runc_seen(&w, &b);
    let h = seen(&w, &b);
    assert_eq!(r.rest, "in a locked dir\na locked file\nin a locked dir\n");
    assert_eq!(h.rest, r.rest);
    assert!(h.at("/m/dir").has("ro"), "{:?}", h.at("/m/dir"));
    add_mount(
        &mut b,
        "/m/none",
        "bind",
        s(&locked.join("none")),
        &["bind"],
    );
    let out = run(&w, &b, &[]);
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr().contains("none"), "{}", out.stderr());
}
