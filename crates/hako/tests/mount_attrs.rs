//! Recursive mount attributes (`rro`, `rnosuid`, `rnosymfollow`... and `nosymfollow`): the
//! flags /proc/self/mountinfo shows on a bind's top mount and on a submount, compared with runc
//! 1.5.1 (the reference, `common::runc_bin`), and a write through an `rro` volume that never
//! reaches the host.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Bundle, Out, World};
use serde_json::json;

/// A host directory `vol` with a file and a tmpfs submount `vol/sub`, unmounted on drop.
struct Volume {
    dir: PathBuf,
}

impl Volume {
    fn new(w: &World) -> Volume {
        let dir = w.dir.join("vol");
        let sub = dir.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(dir.join("hello"), "host\n").unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &sub,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        Volume { dir }
    }

    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir.join("sub"), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The per-mount options (field 6 of mountinfo) of the topmost mount at `point`.
fn opts_at(mountinfo: &str, point: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(4) == Some(&point)).then(|| f[5].split(',').map(String::from).collect())
        })
        .next_back()
        .unwrap_or_else(|| panic!("no mount at {point} in\n{mountinfo}"))
}

/// A bundle binding the volume on /v with `options`, whose container prints its mountinfo
/// and then tries to write into /v and /v/sub.
fn bundle(w: &World, vol: &Volume, options: &[&str]) -> Bundle {
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "cat /proc/self/mountinfo; echo =====; \
         echo x > /v/new 2>/dev/null && echo top-written; \
         echo x > /v/sub/new 2>/dev/null && echo sub-written; \
         echo done",
    ]);
    let m = json!({"destination": "/v", "type": "bind", "source": vol.path(), "options": options});
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
    b
}

/// What the container saw: (top mount options, submount options, writes that succeeded).
struct Seen {
    top: Vec<String>,
    sub: Vec<String>,
    writes: String,
}

fn seen(out: &Out) -> Seen {
    let stdout = out.stdout();
    let (mi, rest) = stdout.split_once("=====\n").expect("separator");
    Seen {
        top: opts_at(mi, "/v"),
        sub: opts_at(mi, "/v/sub"),
        writes: rest.to_string(),
    }
}

fn hako_run(w: &World, b: &Bundle) -> Seen {
    let id = w.id("attrs");
    seen(&w.hako(&["run", "--bundle", b.path(), &id]).ok())
}

/// What the container sees under the reference runc (mount attributes are runc 1.2+).
fn runc_run(w: &World, b: &Bundle) -> Option<Seen> {
    let runc = common::reference_runc_for("the comparison of mount attributes with runc")?;
    Some(seen(&w.runc_run(&runc, &[], b).ok()))
}

fn has(opts: &[String], o: &str) -> bool {
    opts.iter().any(|x| x == o)
}

fn host_untouched(vol: &Volume) {
    for f in ["new", "sub/new"] {
        assert!(
            !Path::new(&vol.dir).join(f).exists(),
            "{f} reached the host"
        );
    }
}

/// The same flags on the top mount and the submount under runc, when it is here; what either
/// run wrote into the volume is removed, for the next case.
fn same_as_runc(w: &World, b: &Bundle, vol: &Volume, h: &Seen, case: &str) {
    if let Some(r) = runc_run(w, b) {
        assert_eq!((&h.top, &h.sub), (&r.top, &r.sub), "{case}: hako vs runc");
    }
    let _ = std::fs::remove_file(vol.dir.join("new"));
    let _ = std::fs::remove_file(vol.dir.join("sub/new"));
}

#[test]
fn rro_makes_the_bind_and_its_submounts_read_only() {
    let w = World::new("attrs-rro");
    let vol = Volume::new(&w);
    let b = bundle(&w, &vol, &["rbind", "rro", "rnosuid", "rnodev", "rnoexec"]);
    let h = hako_run(&w, &b);
    for opts in [&h.top, &h.sub] {
        for o in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(has(opts, o), "{o} missing in {opts:?}");
        }
    }
    assert_eq!(h.writes, "done\n", "a write went through an rro volume");
    host_untouched(&vol);
    if let Some(r) = runc_run(&w, &b) {
        assert_eq!((&h.top, &h.sub), (&r.top, &r.sub), "hako vs runc");
        assert_eq!(h.writes, r.writes);
    }
}

#[test]
fn a_plain_ro_bind_leaves_submounts_writable() {
    // The difference rro makes: `ro` is the top mount's alone (as runc).
    let w = World::new("attrs-ro");
    let vol = Volume::new(&w);
    let b = bundle(&w, &vol, &["rbind", "ro"]);
    let h = hako_run(&w, &b);
    assert!(
        has(&h.top, "ro") && has(&h.sub, "rw"),
        "{:?} {:?}",
        h.top,
        h.sub
    );
    assert_eq!(h.writes, "sub-written\ndone\n");
    let _ = std::fs::remove_file(vol.dir.join("sub/new"));
    if let Some(r) = runc_run(&w, &b) {
        assert_eq!((&h.top, &h.sub), (&r.top, &r.sub), "hako vs runc");
    }
}

#[test]
fn recursive_attributes_come_after_the_remount() {
    // runc 1.5.1 sets them after the bind's remount: `rro,rw` leaves the top read-only and
    // `ro,rrw` leaves it writable.
    let w = World::new("attrs-order");
    let vol = Volume::new(&w);
    for (options, top) in [
        (&["rbind", "rro", "rw"][..], "ro"),
        (&["rbind", "ro", "rrw"][..], "rw"),
        (&["rbind", "rnoatime", "relatime"][..], "noatime"),
    ] {
        let b = bundle(&w, &vol, options);
        let h = hako_run(&w, &b);
        assert!(has(&h.top, top), "{options:?}: {:?}", h.top);
        same_as_runc(&w, &b, &vol, &h, &format!("{options:?}"));
    }
}

#[test]
fn symfollow_options() {
    let w = World::new("attrs-symfollow");
    let vol = Volume::new(&w);
    for (options, top, sub) in [
        (&["rbind", "nosymfollow"][..], true, false),
        (&["rbind", "rnosymfollow"][..], true, true),
        (&["rbind", "rnosymfollow", "rsymfollow"][..], false, false),
    ] {
        let b = bundle(&w, &vol, options);
        let h = hako_run(&w, &b);
        assert_eq!(
            (has(&h.top, "nosymfollow"), has(&h.sub, "nosymfollow")),
            (top, sub),
            "{options:?}: {:?} {:?}",
            h.top,
            h.sub
        );
        same_as_runc(&w, &b, &vol, &h, &format!("{options:?}"));
    }
}

#[test]
fn rro_on_a_tmpfs_is_applied_not_ignored() {
    // runc 1.5.1 silently ignores recursive attributes on anything but a bind; hako applies
    // them (nothing in a config is accepted and then ignored). `rro` on a fresh mount is `ro`,
    // made read-only last like one: a mount point inside it can still be made.
    let w = World::new("attrs-tmpfs");
    let mut b = w.bundle(&["sh", "-c", "grep ' /t ' /proc/self/mountinfo"]);
    let m = json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                   "options": ["rro", "rnosuid"]});
    let inner = json!({"destination": "/t/in", "type": "tmpfs", "source": "tmpfs"});
    b.edit(|c| c["mounts"].as_array_mut().unwrap().extend([m, inner]));
    let id = w.id("attrs");
    let out = w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout();
    let opts = opts_at(&out, "/t");
    assert!(has(&opts, "ro") && has(&opts, "nosuid"), "{opts:?}");
}

#[test]
fn rw_remounts_a_read_only_source_writable() {
    // A flag that is only cleared (`rw`) still remounts the bind, as runc does.
    let w = World::new("attrs-rw");
    let src = w.dir.join("ro-src");
    std::fs::create_dir_all(&src).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &src,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .unwrap();
    let _guard = Unmount(src.clone());
    let mut b = w.bundle(&["sh", "-c", "grep ' /r ' /proc/self/mountinfo"]);
    let m = json!({"destination": "/r", "type": "bind", "source": src, "options": ["bind", "rw"]});
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
    let id = w.id("attrs");
    let ours = opts_at(
        &w.hako(&["run", "--bundle", b.path(), &id]).ok().stdout(),
        "/r",
    );
    assert!(has(&ours, "rw"), "{ours:?}");
    let Some(runc) = common::reference_runc_for("the comparison with runc's remount") else {
        return;
    };
    let theirs = w.runc_run(&runc, &[], &b).ok().stdout();
    assert_eq!(ours, opts_at(&theirs, "/r"), "hako vs runc");
}

/// Unmounts a host mount made by a test.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}
