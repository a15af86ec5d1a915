//! Builds the exec trampoline (`trampoline/trampoline.c`, see `src/exeguard.rs`) for the target
//! with the target's C compiler (the one Rust links with), freestanding and static. Where it
//! cannot be built (another architecture, no compiler) an empty file is embedded instead and
//! the runtime falls back to re-executing itself from a sealed view of its binary.
//!
//! Also `HAKO_SECCOMP_BUILD`: a hash of what turns a seccomp profile into a program here (the
//! sources of `src/seccomp/` and `Cargo.lock`, which pins the libseccomp binding), part of the
//! key of the compiled-program cache (`src/seccomp/cache.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "trampoline/trampoline.c";

fn main() {
    seccomp_build_id();
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CC");
    let Some(out) = std::env::var_os("OUT_DIR").map(|d| PathBuf::from(d).join("trampoline")) else {
        panic!("cargo sets OUT_DIR for build scripts");
    };
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let supported = os == "linux" && matches!(arch.as_str(), "x86_64" | "aarch64");
    if supported {
        match compile(&out) {
            Ok(()) => return,
            Err(e) => println!(
                "cargo:warning=exec trampoline not built ({e}): hako will re-exec itself instead"
            ),
        }
    }
    if let Err(e) = std::fs::write(&out, b"") {
        panic!("writing {}: {e}", out.display());
    }
}

fn compile(out: &Path) -> Result<(), String> {
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .try_get_compiler()
        .map_err(|e| e.to_string())?;
    let status = Command::new(compiler.path())
        .args([
            "-Os",
            "-static",
            "-nostdlib",
            "-no-pie",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
            "-fno-tree-loop-distribute-patterns",
            "-fno-stack-clash-protection",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wl,--build-id=none",
            "-Wl,-z,norelro",
            "-Wl,-z,noexecstack",
            "-Wl,-z,max-page-size=4096",
            "-Wl,-z,noseparate-code",
            "-s",
            "-o",
        ])
        .arg(out)
        .arg(SOURCE)
        .status()
        .map_err(|e| format!("running {}: {e}", compiler.path().display()))?;
    if !status.success() {
        return Err(format!(
            "{} exited with {status}",
            compiler.path().display()
        ));
    }
    Ok(())
}

/// Hash `src/seccomp/*` and the workspace's `Cargo.lock` into `HAKO_SECCOMP_BUILD`: a changed
/// compiler (even in an uncommitted tree) never reads a program another one cached.
fn seccomp_build_id() {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<PathBuf> = std::fs::read_dir("src/seccomp")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.push(PathBuf::from("../../Cargo.lock"));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        f.file_name().hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rerun-if-changed=src/seccomp");
    println!("cargo:rustc-env=HAKO_SECCOMP_BUILD={:016x}", h.finish());
}
