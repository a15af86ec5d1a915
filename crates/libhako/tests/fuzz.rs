//! Hostile input, fuzzed in bounded time: config.json parsing and validation, the sync
//! protocol's messages, mount option lists, state.json and container ids. Every input must give
//! a value or an error, never a panic (nor a hang: each target has a time budget).
//!
//! A hand-rolled, deterministic generator (no extra dependency): a fixed seed, byte-level
//! mutations (flips, interesting bytes, cuts, splices) and JSON-aware ones (a node replaced by
//! an odd value, a key dropped or renamed, deep nesting) of the seed corpus in
//! `tests/fuzz-corpus/<target>/`. Add a file there to keep a found input as a regression seed.
//!
//! `HAKO_FUZZ_SEED=<n>` changes the seed, `HAKO_FUZZ_SECS=<s>` the budget per target (default 2);
//! a failing input is written under the test's tmp dir and its path printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// The generator

/// splitmix64: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Rng {
        let seed = std::env::var("HAKO_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x6861_6b6f_2d31_3000);
        Rng(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ODD_BYTES: [u8; 16] = [
    0, 0xff, 0x80, 0xc3, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'\n', b'/', b'.', b'-',
];

const ODD_STRINGS: [&str; 22] = [
    "",
    "\u{0}",
    "a\u{0}b",
    "..",
    "../../../../etc/passwd",
    "/",
    "//",
    "/proc/self/fd/0",
    "/dev/../dev/null",
    "\n",
    " ",
    "\u{202e}gnp.exe",
    "\u{feff}",
    "ÿ",
    "-1",
    "0x10",
    "SIGKILL",
    "RTMIN+99",
    "rbind",
    "max",
    "%s%n",
    "\u{fffd}\u{fffd}",
];

/// A JSON value that tends to break assumptions.
fn odd_value(r: &mut Rng, depth: usize) -> Value {
    match r.below(if depth > 3 { 12 } else { 15 }) {
        0 => Value::Null,
        1 => json!(r.chance(2)),
        2 => json!(*r.pick(&[0i64, -1, 1, i64::MIN, i64::MAX, i32::MIN as i64, 65536])),
        3 => json!(*r.pick(&[u64::MAX, u32::MAX as u64 + 1, 4_294_967_295])),
        4 => json!(*r.pick(&[1e308, -0.0, 0.5, -1.5e-300])),
        5 | 6 => json!(*r.pick(&ODD_STRINGS)),
        7 => json!("x".repeat(r.below(5000))),
        8 => {
            let s: String = (0..r.below(40))
                .map(|_| char::from_u32(r.below(0x3000) as u32).unwrap_or('?'))
                .collect();
            json!(s)
        }
        9 => json!([]),
        10 => json!({}),
        11 => {
            // Deep nesting, up to and past serde_json's recursion limit.
            let n = r.below(200);
            let text = format!("{}{}", "[".repeat(n), "]".repeat(n));
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
        12 => Value::Array((0..r.below(4)).map(|_| odd_value(r, depth + 1)).collect()),
        13 => {
            let mut m = Map::new();
            for _ in 0..r.below(4) {
                m.insert(r.pick(&ODD_STRINGS).to_string(), odd_value(r, depth + 1));
            }
            Value::Object(m)
        }
        _ => json!(r.next() as i64),
    }
}

/// Every node of `v`, by JSON pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// A structural mutation of a JSON document.
fn mutate_json(r: &mut Rng, mut v: Value) -> Value {
    for _ in 0..=r.below(3) {
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let at = r.pick(&all).clone();
        let (parent_ptr, key) = match at.rfind('/') {
            Some(i) => (
                at[..i].to_string(),
                at[i + 1..].replace("~1", "/").replace("~0", "~"),
            ),
            None => (String::new(), String::new()),
        };
        match r.below(6) {
            // Drop the node from its object or array.
            0 if !at.is_empty() => match v.pointer_mut(&parent_ptr) {
                Some(Value::Object(m)) => drop(m.remove(&key)),
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        if i < a.len() {
                            a.remove(i);
                        }
                    }
                }
                _ => {}
            },
            // Rename a key.
            1 if !at.is_empty() => {
                if let Some(Value::Object(m)) = v.pointer_mut(&parent_ptr) {
                    if let Some(x) = m.remove(&key) {
                        m.insert(r.pick(&ODD_STRINGS).to_string(), x);
                    }
                }
            }
            // Duplicate an array's element many times.
            2 => {
                if let Some(Value::Array(a)) = v.pointer_mut(&at) {
                    if let Some(x) = a.first().cloned() {
                        let n = r.below(64);
                        a.extend(std::iter::repeat_n(x, n));
                    }
                }
            }
            // Add an odd key to an object.
            3 => {
                if let Some(Value::Object(m)) = v.pointer_mut(&at) {
                    m.insert(r.pick(&ODD_STRINGS).to_string(), odd_value(r, 0));
                }
            }
            // Replace the node by an odd value.
            _ => {
                if let Some(x) = v.pointer_mut(&at) {
                    *x = odd_value(r, 0);
                }
            }
        }
    }
    v
}

/// A byte-level mutation.
fn mutate_bytes(r: &mut Rng, mut b: Vec<u8>, corpus: &[Vec<u8>]) -> Vec<u8> {
    for _ in 0..=r.below(4) {
        let len = b.len();
        match r.below(7) {
            0 if len > 0 => {
                let i = r.below(len);
                b[i] ^= 1 << r.below(8);
            }
            1 if len > 0 => {
                let i = r.below(len);
                b[i] = *r.pick(&ODD_BYTES);
            }
            2 => {
                let i = r.below(len + 1);
                let n = r.below(8) + 1;
                let bytes: Vec<u8> = (0..n).map(|_| *r.pick(&ODD_BYTES)).collect();
                b.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = r.below(len);
                let j = (i + r.below(64)).min(len);
                b.drain(i..j);
            }
            4 => b.truncate(r.below(len + 1)),
            5 if !corpus.is_empty() => {
                // Splice a piece of another seed in.
                let other = r.pick(corpus);
                let i = r.below(other.len() + 1);
                let j = (i + r.below(200)).min(other.len());
                let at = r.below(len + 1);
                b.splice(at..at, other[i..j].iter().copied());
            }
            _ => {
                let i = r.below(len + 1);
                let j = (i + r.below(32)).min(len);
                let piece = b[i..j].to_vec();
                b.splice(i..i, piece);
            }
        }
    }
    b
}

/// The next input for a JSON target: a seed, mutated structurally, in bytes, or both.
fn next_input(r: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let seed = r.pick(corpus).clone();
    match r.below(4) {
        0 => mutate_bytes(r, seed, corpus),
        1 | 2 => match serde_json::from_slice::<Value>(&seed) {
            Ok(v) => serde_json::to_vec(&mutate_json(r, v)).unwrap(),
            Err(_) => mutate_bytes(r, seed, corpus),
        },
        _ => match serde_json::from_slice::<Value>(&seed) {
            Ok(v) => {
                let bytes = serde_json::to_vec(&mutate_json(r, v)).unwrap();
                mutate_bytes(r, bytes, corpus)
            }
            Err(_) => (0..r.below(256)).map(|_| r.next() as u8).collect(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The driver

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn budget() -> Duration {
    let secs = std::env::var("HAKO_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// Feed `check` every seed, then generated inputs until the budget is spent. A panic fails the
/// test with the input saved to a file; returns how many inputs ran and how many were accepted.
fn fuzz(
    target: &str,
    salt: u64,
    inputs: impl FnMut(&mut Rng) -> Vec<u8>,
    check: impl Fn(&[u8]) -> bool,
) -> (usize, usize) {
    fuzz_with(target, salt, corpus(target), inputs, check)
}

fn fuzz_with(
    target: &str,
    salt: u64,
    seeds: Vec<Vec<u8>>,
    mut inputs: impl FnMut(&mut Rng) -> Vec<u8>,
    check: impl Fn(&[u8]) -> bool,
) -> (usize, usize) {
    let mut r = Rng::new(salt);
    let deadline = Instant::now() + budget();
    let (mut runs, mut accepted) = (0, 0);
    let mut queue = seeds.into_iter();
    loop {
        let input = match queue.next() {
            Some(seed) => seed,
            None if Instant::now() < deadline => inputs(&mut r),
            None => break,
        };
        runs += 1;
        match catch_unwind(AssertUnwindSafe(|| check(&input))) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
                std::fs::create_dir_all(&dir).unwrap();
                let file = dir.join(format!("{target}-{runs}.bin"));
                std::fs::write(&file, &input).unwrap();
                panic!(
                    "{target}: input #{runs} panicked; saved to {}",
                    file.display()
                );
            }
        }
    }
    eprintln!("fuzz {target}: {runs} inputs, {accepted} accepted");
    (runs, accepted)
}

// ---------------------------------------------------------------------------------------------
// The targets

#[test]
fn config_parse_and_validate_never_panic() {
    let bundle =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-bundle-{}", std::process::id()));
    std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let seeds = corpus("config");
    let (runs, accepted) = fuzz(
        "config",
        1,
        |r| next_input(r, &seeds),
        |bytes| match libhako::spec::parse_config(bytes) {
            Ok(config) => {
                // Validation reads the host (rootfs, namespace paths) but creates nothing.
                let _ = libhako::spec::validate(config, &bundle, None);
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        },
    );
    std::fs::remove_dir_all(&bundle).unwrap();
    assert!(runs > 100 && accepted > 0, "{runs} runs, {accepted} parsed");
}

#[test]
fn sync_messages_never_panic_and_valid_ones_roundtrip() {
    use libhako::sync::{decode, Msg};
    let seeds = corpus("sync");
    for seed in &seeds {
        let msg = decode(seed)
            .unwrap_or_else(|e| panic!("seed {:?}: {e}", String::from_utf8_lossy(seed)));
        assert_eq!(decode(&serde_json::to_vec(&msg).unwrap()).unwrap(), msg);
    }
    let (runs, _) = fuzz(
        "sync",
        2,
        |r| {
            if r.chance(8) {
                // Pure noise, up to the protocol's packet size.
                (0..r.below(8192)).map(|_| r.next() as u8).collect()
            } else {
                next_input(r, &seeds)
            }
        },
        |bytes| match decode(bytes) {
            // Whatever decodes must encode back to the same message.
            Ok(msg) => {
                let again: Msg = decode(&serde_json::to_vec(&msg).unwrap()).unwrap();
                assert_eq!(again, msg);
                true
            }
            Err(e) => {
                assert!(e.to_string().starts_with("malformed sync message"), "{e}");
                false
            }
        },
    );
    assert!(runs > 100);
}

#[test]
fn systemd_annotations_never_panic() {
    use libhako::cgroups::unit_annotations::{properties, PREFIX};
    let seeds = corpus("annotations");
    let inputs = |r: &mut Rng| {
        let seed = r.pick(&seeds).clone();
        mutate_bytes(r, seed, &seeds)
    };
    let (_, accepted) = fuzz("annotations", 6, inputs, |bytes| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        // The value both as it is and as a number of seconds (a `...Sec` name).
        let map = ["CollectMode", "TimeoutStopSec"]
            .map(|k| (format!("{PREFIX}{k}"), text.clone()))
            .into_iter()
            .collect();
        match properties(&map) {
            Ok(props) => props.iter().all(|(_, v)| !v.signature().is_empty()),
            Err(e) => {
                assert!(e.to_string().starts_with("annotations[\""), "{e}");
                false
            }
        }
    });
    assert!(accepted > 0, "no annotation value was accepted");
}

#[test]
fn mount_options_never_panic() {
    use libhako::mountopts::{names, parse, propagation};
    let known: Vec<&str> = names().collect();
    let mut r = Rng::new(3);
    let deadline = Instant::now() + budget();
    let mut runs = 0;
    while Instant::now() < deadline || runs < 1000 {
        runs += 1;
        let opts: Vec<String> = (0..r.below(12))
            .map(|_| match r.below(4) {
                0 | 1 => r.pick(&known).to_string(),
                2 => r.pick(&ODD_STRINGS).to_string(),
                _ => {
                    let base = r.pick(&known).to_string();
                    let mut b = mutate_bytes(&mut r, base.into_bytes(), &[]);
                    b.retain(|c| *c != 0);
                    String::from_utf8_lossy(&b).into_owned()
                }
            })
            .collect();
        let parsed = catch_unwind(|| parse(&opts))
            .unwrap_or_else(|_| panic!("mountopts::parse panicked on {opts:?}"));
        // Every propagation name is kept, in order; nothing else is.
        let props: Vec<_> = opts.iter().filter_map(|o| propagation(o)).collect();
        assert_eq!(parsed.propagation, props, "{opts:?}");
        // Whatever is not a known name ends up as filesystem data, untouched.
        for o in opts.iter().filter(|o| !known.contains(&o.as_str())) {
            assert!(
                parsed.data.contains(o),
                "{o:?} lost from {opts:?}: {parsed:?}"
            );
        }
        let _ = parsed.data_string();
    }
    eprintln!("fuzz mountopts: {runs} option lists");
}

#[test]
fn state_files_never_panic() {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let r = libhako::state::Root::create(&root).unwrap();
    let sd = libhako::state::StateDir::create(&r, "fz").unwrap();
    let file = sd.path.join("state.json");
    let seeds = corpus("state");
    let (runs, accepted) = fuzz(
        "state",
        4,
        |r| next_input(r, &seeds),
        |bytes| {
            std::fs::write(&file, bytes).unwrap();
            match sd.load() {
                Ok(stored) => {
                    // Status and the printed state of whatever parses (reads /proc and the
                    // recorded cgroup paths only; nothing is signalled or written).
                    let _ = libhako::container::status(&sd, &stored);
                    let entry = libhako::container::state(&root, "fz").unwrap();
                    serde_json::to_string(&entry.oci("")).unwrap();
                    true
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("corrupt state file")
                            || msg.contains("does not exist")
                            || msg.contains("is not a hako container"),
                        "{msg}"
                    );
                    false
                }
            }
        },
    );
    drop(sd);
    std::fs::remove_dir_all(&root).unwrap();
    assert!(runs > 100 && accepted > 0, "{runs} runs, {accepted} loaded");
}

#[test]
fn container_ids_never_escape_the_root() {
    use libhako::state::validate_id;
    let root = Path::new("/run/hako-fuzz-root");
    let seeds: Vec<Vec<u8>> = [
        "abc",
        "a-b_c.d+e",
        "..",
        "../x",
        "a/b",
        "x".repeat(1024).as_str(),
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let corpus = seeds.clone();
    let (runs, accepted) = fuzz_with(
        "id",
        5,
        seeds,
        |r| {
            let seed = r.pick(&corpus).clone();
            mutate_bytes(r, seed, &corpus)
        },
        |bytes| {
            let Ok(id) = std::str::from_utf8(bytes) else {
                return false;
            };
            let ok = validate_id(id).is_ok();
            let allowed = !id.is_empty()
                && id.len() <= 1024
                && id != "."
                && id != ".."
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
            assert_eq!(ok, allowed, "{id:?}");
            if ok {
                // An accepted id names exactly one entry directly under the root.
                let p = root.join(id);
                assert_eq!(p.parent(), Some(root), "{id:?}");
                assert_eq!(
                    p.components().count(),
                    root.components().count() + 1,
                    "{id:?}"
                );
            }
            ok
        },
    );
    assert!(runs > 100 && accepted > 0);
}
