//! Compiled seccomp programs, cached by profile.
//!
//! libseccomp takes ~17 ms on this kind of machine to compile Docker's default profile, more
//! than all the rest of `create` together; engines give every container the same few profiles.
//! A program compiled once is kept as a file `@seccomp-<hash>` in the state root and read back
//! by the next `create` or `exec` that brings the same profile. Files, not a directory: the
//! root is shared with runc where engines keep every runtime's containers in one directory,
//! and runc takes each directory there for a container (`list` complains of one it cannot
//! load); it skips files. `@` is in no container id.
//!
//! The entry is found by a hash of its key, but used only when the whole key stored in it is
//! equal to the wanted one, byte for byte: a hash collision, chosen or not, costs a compile,
//! never the wrong filter. The key is what decides the program, not where the binary sits (on
//! the re-exec path hako runs from a fresh sealed copy each time, see exeguard): the profile
//! (its JSON, with object keys in order), hako's version and the hash of its seccomp compiler's
//! sources and locked dependencies (`HAKO_SECCOMP_BUILD`, from build.rs), the libseccomp
//! version and the kernel (release, build, machine: libseccomp and [`super::flags`] probe what
//! it offers). Only programs that compiled are stored: an invalid profile fails the same way
//! each time.
//!
//! Everything is done relative to the root's fd (opened and checked once, see
//! [`crate::state::Root`]), with `O_NOFOLLOW`: an entry is written to a temporary file made
//! `O_EXCL` and renamed into place, so parallel creates read either nothing or a whole entry;
//! it is read only if it is a regular file owned by the caller's euid and writable by no one
//! else. At most [`KEEP`] entries are kept: the oldest go first. A cache that cannot be read or
//! written costs time, never a create.

use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::{openat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use serde_json::Value;

/// The prefix of an entry's file name in the state root.
pub const PREFIX: &str = "@seccomp-";
/// Where entries were kept before (a directory, which runc's `list` takes for a container):
/// removed when seen.
const OLD_DIR: &str = "@seccomp-cache";
/// Entries kept; the oldest beyond it are removed when one is added.
pub const KEEP: usize = 64;
/// First bytes of an entry (and its format version).
const MAGIC: &[u8; 16] = b"hako-seccomp-v2\n";
/// Entries larger than this are not read.
const MAX_ENTRY: i64 = 4 << 20;

/// A profile's place in the cache: its entry's name and what the entry must hold.
#[derive(Debug)]
pub struct Entry {
    name: String,
    key: Vec<u8>,
    /// Whether the program came from this entry (nothing to store then).
    pub hit: bool,
}

/// What a program is compiled with besides the profile; `None` when it cannot be told (nothing
/// is cached then).
fn compiler() -> Option<String> {
    let lib = libseccomp::ScmpVersion::current().ok()?;
    let uts = nix::sys::utsname::uname().ok()?;
    Some(format!(
        "hako {} seccomp-build {}\nlibseccomp {}.{}.{}\nkernel {} {} {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("HAKO_SECCOMP_BUILD"),
        lib.major,
        lib.minor,
        lib.micro,
        uts.release().to_string_lossy(),
        uts.version().to_string_lossy(),
        uts.machine().to_string_lossy(),
    ))
}

/// The key of `profile` compiled by `compiler`.
fn key(compiler: &str, profile: &Value) -> Option<Vec<u8>> {
    let mut key = compiler.as_bytes().to_vec();
    key.extend(serde_json::to_vec(profile).ok()?);
    Some(key)
}

/// The file name of `key`: the prefix and 64 bits of SipHash (with fixed keys), in hex.
fn file_name(key: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key);
    format!("{PREFIX}{:016x}", h.finish())
}

impl Entry {
    /// The entry of `profile`.
    pub fn new(profile: &Value) -> Option<Entry> {
        let key = key(&compiler()?, profile)?;
        Some(Entry {
            name: file_name(&key),
            key,
            hit: false,
        })
    }

    /// The program and flags stored in the cache `dir` for this key, if a valid entry holds
    /// exactly this key.
    pub fn load(&self, dir: BorrowedFd<'_>) -> Option<(Vec<libc::sock_filter>, u32)> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(dir, self.name.as_str(), flags, Mode::empty()).ok()?;
        let st = fstat(fd.as_fd()).ok()?;
        let trusted = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
            && st.st_uid == nix::unistd::geteuid().as_raw()
            && st.st_mode & 0o022 == 0
            && st.st_size <= MAX_ENTRY;
        if !trusted {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(st.st_size).ok()?);
        std::fs::File::from(fd).read_to_end(&mut bytes).ok()?;
        decode(&bytes, &self.key)
    }

    /// Keep `program` and `flags` for this key in the cache `dir`. Failures are ignored: the
    /// cache only saves time.
    pub fn store(&self, dir: BorrowedFd<'_>, program: &[libc::sock_filter], flags: u32) {
        remove_old_dir(dir);
        let tmp = format!("{}.{}.tmp", self.name, std::process::id());
        let oflags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let written = openat(dir, tmp.as_str(), oflags, Mode::from_bits_truncate(0o600))
            .map_err(std::io::Error::from)
            .and_then(|fd| std::fs::File::from(fd).write_all(&encode(&self.key, program, flags)))
            .and_then(|()| {
                renameat(dir, tmp.as_str(), dir, self.name.as_str()).map_err(std::io::Error::from)
            });
        if written.is_err() {
            let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            return;
        }
        evict(dir, KEEP);
    }
}

/// The entries' directory of older versions, emptied and removed (only if it is ours).
fn remove_old_dir(root: BorrowedFd<'_>) {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let Ok(fd) = openat(root, OLD_DIR, flags, Mode::empty()) else {
        return;
    };
    if fstat(fd.as_fd()).map_or(true, |st| st.st_uid != nix::unistd::geteuid().as_raw()) {
        return;
    }
    for name in names(fd.as_fd()) {
        let _ = unlinkat(fd.as_fd(), name.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    let _ = unlinkat(root, OLD_DIR, UnlinkatFlags::RemoveDir);
}

/// The names in the directory `dir` (without `.` and `..`).
fn names(dir: BorrowedFd<'_>) -> Vec<String> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(mut d) = nix::dir::Dir::openat(dir, ".", flags, Mode::empty()) else {
        return Vec::new();
    };
    d.iter()
        .flatten()
        .filter_map(|e| e.file_name().to_str().ok().map(String::from))
        .filter(|n| n != "." && n != "..")
        .collect()
}

/// An entry: magic, key length (u32 LE), key, flags (u32 LE), the program (`sock_filter`s,
/// native endian as the kernel takes them).
fn encode(key: &[u8], program: &[libc::sock_filter], flags: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + key.len() + program.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&flags.to_le_bytes());
    for insn in program {
        out.extend_from_slice(&insn.code.to_ne_bytes());
        out.push(insn.jt);
        out.push(insn.jf);
        out.extend_from_slice(&insn.k.to_ne_bytes());
    }
    out
}

/// The program and flags of an entry, if it is well formed and its key is `want`.
fn decode(bytes: &[u8], want: &[u8]) -> Option<(Vec<libc::sock_filter>, u32)> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (key, rest) = rest.split_at(len);
    if key != want {
        return None;
    }
    let (flags, program) = rest.split_first_chunk::<4>()?;
    let insns = program.len() / 8;
    if program.len() % 8 != 0 || insns == 0 || insns > super::MAX_INSNS {
        return None;
    }
    Some((super::parse_program(program), u32::from_le_bytes(*flags)))
}

/// Remove the oldest entries (files named with [`PREFIX`]) of the cache `dir` beyond `keep`.
fn evict(dir: BorrowedFd<'_>, keep: usize) {
    let mut files: Vec<(i64, i64, String)> = names(dir)
        .into_iter()
        .filter(|n| n.starts_with(PREFIX) && n != OLD_DIR)
        .filter_map(|n| {
            let st = fstatat(dir, n.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
            let file = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
            file.then_some((st.st_mtime, st.st_mtime_nsec, n))
        })
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, _, name) in &files[..files.len() - keep] {
        let _ = unlinkat(dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code,
            jt: 1,
            jf: 2,
            k,
        }
    }

    fn same(a: &[libc::sock_filter], b: &[libc::sock_filter]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
    }

    #[test]
    fn an_entry_reads_back_only_under_its_own_key() {
        let program = [insn(0x20, 4), insn(0x06, 0x7fff_0000)];
        let bytes = encode(b"key one", &program, 5);
        let (read, flags) = decode(&bytes, b"key one").unwrap();
        assert!(same(&read, &program));
        assert_eq!(flags, 5);
        assert!(decode(&bytes, b"key two").is_none());
        assert!(decode(&bytes, b"key on").is_none());
    }

    #[test]
    fn truncated_or_foreign_entries_are_refused() {
        let bytes = encode(b"k", &[insn(0x06, 0)], 0);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], b"k").is_none(), "cut at {cut}");
        }
        let mut odd = bytes.clone();
        odd.push(0);
        assert!(decode(&odd, b"k").is_none());
        let mut magic = bytes.clone();
        magic[0] ^= 1;
        assert!(decode(&magic, b"k").is_none());
        assert!(decode(&encode(b"k", &[], 0), b"k").is_none());
    }

    #[test]
    fn the_key_holds_the_compiler_and_the_profile() {
        let p1 = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"});
        let p2 = serde_json::json!({"defaultAction": "SCMP_ACT_LOG"});
        let k = key("c1", &p1).unwrap();
        assert_ne!(k, key("c2", &p1).unwrap());
        assert_ne!(k, key("c1", &p2).unwrap());
        assert_eq!(file_name(&k), file_name(&key("c1", &p1).unwrap()));
        assert_eq!(file_name(&k).len(), PREFIX.len() + 16);
        let c = compiler().unwrap();
        assert!(
            c.contains("libseccomp ") && c.contains("kernel ") && c.contains("seccomp-build "),
            "{c}"
        );
        assert!(
            !c.contains("exe"),
            "the binary's place is no part of the key: {c}"
        );
    }

    #[test]
    fn the_oldest_entries_are_evicted_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("hako-evict-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a-container")).unwrap();
        std::fs::write(dir.join("other-file"), b"x").unwrap();
        for i in 0..5u64 {
            let f = dir.join(format!("{PREFIX}e{i}"));
            std::fs::write(&f, b"x").unwrap();
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let fd =
            nix::fcntl::open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        evict(fd.as_fd(), 3);
        let mut left = names(fd.as_fd());
        left.sort();
        std::fs::remove_dir_all(&dir).unwrap();
        let want: Vec<String> = [
            "@seccomp-e2",
            "@seccomp-e3",
            "@seccomp-e4",
            "a-container",
            "other-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(left, want);
    }
}
