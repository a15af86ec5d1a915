//! Safe resolution of paths inside the container's rootfs (init process, before pivot_root).
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` against an
//! fd of the rootfs, so a symlink planted in the image (`/proc -> /`, `../../etc`) resolves
//! inside the rootfs and can never send a mount or a write outside it. Mounts then target the
//! resolved fd through `/proc/self/fd/N` (the host's procfs, still visible before pivot_root).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

/// `path` made relative (leading `/` dropped; empty becomes `.`).
fn relative(path: &Path) -> &Path {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// Open `path` inside the rootfs `root` with `flags` (`O_CLOEXEC` is always added).
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    // openat2 answers EAGAIN when a rename raced the lookup; retrying is the documented cure.
    let mut tries = 0;
    loop {
        match openat2(root, relative(path), how) {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            r => return r,
        }
    }
}

/// Open `path` inside the rootfs `root` like [`open_in_root`], but refuse (ELOOP) any symlink
/// on the way: for destinations that must be exactly the path named (`/proc`, `/sys`).
pub fn open_no_symlinks(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
        ResolveFlag::RESOLVE_IN_ROOT
            | ResolveFlag::RESOLVE_NO_MAGICLINKS
            | ResolveFlag::RESOLVE_NO_SYMLINKS,
    );
    let mut tries = 0;
    loop {
        match openat2(root, relative(path), how) {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            r => return r,
        }
    }
}

/// Open a directory of the rootfs as an `O_PATH` handle, creating missing components (0755),
/// each created relative to its already safely resolved parent. A dangling symlink on the way
/// (`/var/run -> /run` with no `/run`) has its target created inside the rootfs, as runc does.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    mkdir_all_depth(root, path, 0)
}

/// Symlinks followed while creating one path, as the kernel's own limit.
const MAX_SYMLINKS: u32 = 40;

fn mkdir_all_depth(root: BorrowedFd<'_>, path: &Path, depth: u32) -> Result<OwnedFd, Errno> {
    let dir = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in_root(root, path, dir) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let names: Vec<&std::ffi::OsStr> = relative(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    // Start at the deepest directory that exists (usually the parent: one more lookup) rather
    // than at the root: each step down is a mkdir and an in-root lookup of the whole prefix.
    let prefix = |n: usize| -> PathBuf {
        std::iter::once(std::ffi::OsStr::new("/"))
            .chain(names[..n].iter().copied())
            .collect()
    };
    let mut have = names.len().saturating_sub(1);
    let mut cur = loop {
        match open_in_root(root, &prefix(have), dir) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if have > 0 => have -= 1,
            Err(e) => return Err(e),
        }
    };
    let mut sofar = prefix(have);
    for name in &names[have..] {
        let name = *name;
        sofar.push(name);
        match mkdirat(cur.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        cur = match open_in_root(root, &sofar, dir) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if depth < MAX_SYMLINKS => {
                // Only a dangling symlink gets here: create its target, resolved in the root.
                let target = readlinkat(cur.as_fd(), name).map_err(|_| Errno::ENOENT)?;
                let parent = sofar.parent().unwrap_or(Path::new("/"));
                mkdir_all_depth(root, &lexical_join(parent, Path::new(&target)), depth + 1)?;
                open_in_root(root, &sofar, dir)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// `base` joined with `target` as the kernel would resolve it with `base` inside a chroot:
/// an absolute target starts from the root, `..` never climbs above it.
pub fn lexical_join(base: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    };
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Open (creating an empty file if missing) a file of the rootfs as an `O_PATH` handle; the
/// parent directories are made with [`mkdir_all`].
pub fn create_file(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let (parent, name) = split(path)?;
    let pfd = mkdir_all(root, parent)?;
    // O_PATH handles cannot be used as the dirfd of a create: reopen the parent as a directory.
    let dfd = open_in_root(root, parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    drop(pfd);
    match openat(
        dfd.as_fd(),
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    open_in_root(root, path, OFlag::O_PATH)
}

/// Split into (parent, last component name).
pub fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), Errno> {
    let name = path.file_name().ok_or(Errno::EINVAL)?;
    Ok((path.parent().unwrap_or(Path::new("/")), name))
}

/// The magic-link path that names what `fd` refers to, for syscalls that take a path.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hako-paths-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tmpdir("escape");
        let root = d.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let outside = d.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        // An absolute and a relative symlink that both point outside when followed naively.
        symlink(&outside, root.join("abs")).unwrap();
        symlink("../../../../outside", root.join("rel")).unwrap();
        let rfd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/abs/made")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/rel/made2")).unwrap();
        create_file(rfd.as_fd(), Path::new("/abs/file")).unwrap();
        assert!(!outside.join("made").exists());
        assert!(!outside.join("made2").exists());
        assert!(!outside.join("file").exists());
        // Both were created inside the rootfs, at the symlink's in-root target.
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("made")
            .is_dir());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn lexical_join_is_clamped() {
        assert_eq!(
            lexical_join(Path::new("/var"), Path::new("../../../run")),
            PathBuf::from("/run")
        );
        assert_eq!(
            lexical_join(Path::new("/a/b"), Path::new("/x/./y")),
            PathBuf::from("/x/y")
        );
        assert_eq!(
            lexical_join(Path::new("/a"), Path::new("b/../c")),
            PathBuf::from("/a/c")
        );
    }

    #[test]
    fn magic_links_refused() {
        let d = tmpdir("magic");
        symlink("/proc/self/root", d.join("m")).unwrap();
        let rfd = nix::fcntl::open(&d, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        // In-root resolution turns /proc/self/root into <root>/proc/..., which does not exist.
        assert!(open_in_root(rfd.as_fd(), Path::new("/m/etc"), OFlag::O_PATH).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
