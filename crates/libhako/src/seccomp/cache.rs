//! Compiled seccomp programs, cached by profile.
//!
//! libseccomp takes ~17 ms on this kind of machine to compile Docker's default profile, more
//! than all the rest of `create` together; engines give every container the same few profiles.
//! A program compiled once is kept in `<root>/@seccomp-cache/` (`@` cannot be in a container
//! id, so `list` and the ids never meet it) and read back by the next `create` or `exec` that
//! brings the same profile.
//!
//! The entry is found by a hash of its key, but used only when the whole key stored in it is
//! equal to the wanted one, byte for byte: a hash collision, chosen or not, costs a compile,
//! never the wrong filter. The key is everything the program depends on: the profile (its
//! JSON, with object keys in order), the hako binary (device, inode, size, mtime, ctime of
//! `/proc/self/exe`: a rebuilt or reinstalled hako compiles again), the libseccomp version and
//! the kernel (release, build, machine: libseccomp and [`super::flags`] probe what it offers).
//! Only programs that compiled are stored: an invalid profile fails the same way each time.
//!
//! An entry is written to a temporary file and renamed into place, so parallel creates read
//! either nothing or a whole entry; it is read only if it is a regular file owned by the
//! caller's euid and writable by no one else, like the state dir beside it. At most [`KEEP`]
//! entries are kept: the oldest go first. A cache that cannot be read or written costs time,
//! never a create.

use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The cache directory under a state root.
pub const DIR: &str = "@seccomp-cache";
/// Entries kept; the oldest beyond it are removed when one is added.
pub const KEEP: usize = 64;
/// First bytes of an entry (and its format version).
const MAGIC: &[u8; 16] = b"hako-seccomp-v1\n";
/// Entries larger than this are not read.
const MAX_ENTRY: u64 = 4 << 20;

/// A profile's place in the cache: where its entry is and what the entry must hold.
#[derive(Debug)]
pub struct Entry {
    path: PathBuf,
    key: Vec<u8>,
    /// Whether the program came from this entry (nothing to store then).
    pub hit: bool,
}

/// What a program is compiled with besides the profile; `None` when the binary cannot be
/// identified (nothing is cached then).
fn compiler() -> Option<String> {
    let exe = std::fs::metadata("/proc/self/exe").ok()?;
    let lib = libseccomp::ScmpVersion::current().ok()?;
    let uts = nix::sys::utsname::uname().ok()?;
    Some(format!(
        "hako {}\nexe {}:{} {} {}.{} {}.{}\nlibseccomp {}.{}.{}\nkernel {} {} {}\n",
        env!("CARGO_PKG_VERSION"),
        exe.dev(),
        exe.ino(),
        exe.size(),
        exe.mtime(),
        exe.mtime_nsec(),
        exe.ctime(),
        exe.ctime_nsec(),
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

/// The file name of `key`: 64 bits of SipHash (with fixed keys), in hex.
fn file_name(key: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key);
    format!("{:016x}", h.finish())
}

impl Entry {
    /// The entry of `profile` in the cache `dir`.
    pub fn new(dir: &Path, profile: &Value) -> Option<Entry> {
        let key = key(&compiler()?, profile)?;
        Some(Entry {
            path: dir.join(file_name(&key)),
            key,
            hit: false,
        })
    }

    /// The program and flags stored for this key, if a valid entry holds exactly this key.
    pub fn load(&self) -> Option<(Vec<libc::sock_filter>, u32)> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.path)
            .ok()?;
        let meta = file.metadata().ok()?;
        let trusted = meta.file_type().is_file()
            && meta.uid() == nix::unistd::geteuid().as_raw()
            && meta.mode() & 0o022 == 0
            && meta.len() <= MAX_ENTRY;
        if !trusted {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
        file.read_to_end(&mut bytes).ok()?;
        decode(&bytes, &self.key)
    }

    /// Keep `program` and `flags` for this key. Failures are ignored: the cache only saves
    /// time.
    pub fn store(&self, program: &[libc::sock_filter], flags: u32) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() => {}
            _ => return,
        }
        let tmp = self
            .path
            .with_extension(format!("{}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&encode(&self.key, program, flags)))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        evict(dir, KEEP);
    }
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

/// Remove the oldest entries of `dir` beyond `keep`.
fn evict(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        let _ = std::fs::remove_file(path);
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
        assert_eq!(file_name(&k).len(), 16);
        let c = compiler().unwrap();
        assert!(c.contains("libseccomp ") && c.contains("kernel "), "{c}");
    }

    #[test]
    fn the_oldest_entries_are_evicted() {
        let dir = std::env::temp_dir().join(format!("hako-evict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..5u64 {
            let f = dir.join(format!("e{i}"));
            std::fs::write(&f, b"x").unwrap();
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        evict(&dir, 3);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(left, ["e2", "e3", "e4"]);
    }
}
