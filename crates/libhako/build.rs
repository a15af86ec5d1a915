//! Builds the exec trampoline (`trampoline/trampoline.c`, see `src/exeguard.rs`) for the target
//! with the target's C compiler (the one Rust links with), freestanding and static. Where it
//! cannot be built (another architecture, no compiler) an empty file is embedded instead and
//! the runtime falls back to re-executing itself from a sealed view of its binary.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "trampoline/trampoline.c";

fn main() {
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
