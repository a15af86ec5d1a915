//! The -ENOSYS stub runc puts in front of the libseccomp program.
//!
//! A profile lists the syscalls its author knew. A syscall newer than all of them (one the
//! kernel added later) would get the profile's default action, typically EPERM, and programs
//! that probe a new syscall and fall back on ENOSYS (glibc's `fchmodat2`, `clone3`, ...) then
//! fail instead of falling back. runc (libcontainer/seccomp/patchbpf) therefore prepends a
//! small BPF program: on each configured architecture, a syscall number above the largest one
//! named in the profile returns ENOSYS; everything else goes on to the filter. hako builds
//! the same stub, under the same conditions: only when the default action refuses (not ALLOW,
//! LOG or TRACE) and `defaultErrnoRet` is not already ENOSYS.
//!
//! Layout (all jumps forward, offsets relative to the next instruction):
//!
//! ```text
//!   ld  [4]                         arch
//!   jeq ARCH_1, 0, len(section_1)   per configured architecture with a known syscall:
//!   section_1: ld [0]; jgt MAX, ENOSYS, FILTER
//!   ...                             (x86_64: jset 0x40000000 picks the x86_64 or x32 maximum;
//!                                    s390/s390x: syscall 0 is the multiplexer, ENOSYS too)
//!   ja  FILTER                      any other architecture
//!   ENOSYS: ret ERRNO(ENOSYS)
//!   FILTER: the libseccomp program
//! ```

use std::collections::BTreeMap;

use libseccomp::{ScmpArch, ScmpSyscall};

use crate::error::{Error, Result};

const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
/// `SECCOMP_RET_ERRNO | ENOSYS`.
const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
/// The x32 ABI marks its syscall numbers with this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch` for a libseccomp
/// architecture (x32 shares x86_64's).
pub fn audit_arch(arch: ScmpArch) -> Option<u32> {
    const B64: u32 = 0x8000_0000;
    const LE: u32 = 0x4000_0000;
    const N32: u32 = 0x2000_0000;
    Some(match arch {
        ScmpArch::X86 => 3 | LE,
        ScmpArch::X8664 | ScmpArch::X32 => 62 | B64 | LE,
        ScmpArch::Arm => 40 | LE,
        ScmpArch::Aarch64 => 183 | B64 | LE,
        ScmpArch::Mips => 8,
        ScmpArch::Mipsel => 8 | LE,
        ScmpArch::Mips64 => 8 | B64,
        ScmpArch::Mipsel64 => 8 | B64 | LE,
        ScmpArch::Mips64N32 => 8 | B64 | N32,
        ScmpArch::Mipsel64N32 => 8 | B64 | LE | N32,
        ScmpArch::Ppc => 20,
        ScmpArch::Ppc64 => 21 | B64,
        ScmpArch::Ppc64Le => 21 | B64 | LE,
        ScmpArch::S390 => 22,
        ScmpArch::S390X => 22 | B64,
        ScmpArch::Parisc => 15,
        ScmpArch::Parisc64 => 15 | B64,
        ScmpArch::Riscv64 => 243 | B64 | LE,
        ScmpArch::Loongarch64 => 258 | B64 | LE,
        ScmpArch::M68k => 4,
        _ => return None,
    })
}

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The largest syscall number among `names` on `arch`, as libseccomp resolves them; names
/// this arch does not have (pseudo numbers, below zero) do not count.
pub fn largest(names: &[&str], arch: ScmpArch) -> Option<u32> {
    names
        .iter()
        .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
        .filter_map(|s| u32::try_from(s.as_raw_syscall()).ok())
        .max()
}

/// The maxima of one audit arch: plain, or x86_64 and x32 (told apart by the x32 bit).
#[derive(Debug, Default, Clone, Copy)]
struct Maxima {
    main: Option<u32>,
    x32: Option<u32>,
    s390: bool,
}

/// Build the stub for these architectures and syscall names; empty when no configured
/// architecture names a syscall libseccomp knows.
pub fn stub(arches: &[ScmpArch], names: &[&str]) -> Result<Vec<libc::sock_filter>> {
    let mut by_audit: BTreeMap<u32, Maxima> = BTreeMap::new();
    for &arch in arches {
        let (Some(audit), Some(max)) = (audit_arch(arch), largest(names, arch)) else {
            continue;
        };
        let m = by_audit.entry(audit).or_default();
        if arch == ScmpArch::X32 {
            m.x32 = Some(max);
        } else {
            m.main = Some(max);
        }
        m.s390 |= matches!(arch, ScmpArch::S390 | ScmpArch::S390X);
    }
    if by_audit.is_empty() {
        return Ok(Vec::new());
    }
    // Sections first, with their jumps to ENOSYS/FILTER left symbolic as `Exit`s.
    let sections: Vec<(u32, Vec<Step>)> = by_audit
        .into_iter()
        .map(|(audit, m)| (audit, section(audit, m)))
        .collect();
    let len: usize = 1 + sections.iter().map(|(_, s)| 1 + s.len()).sum::<usize>() + 2;
    let enosys = len - 1;
    let filter = len;
    let mut out = vec![ins(LD_W_ABS, 0, 0, 4)];
    for (audit, steps) in sections {
        let skip = u8::try_from(steps.len()).map_err(|_| too_long())?;
        out.push(ins(JMP_JEQ_K, 0, skip, audit));
        for step in steps {
            let here = out.len() + 1;
            let to = |e: Exit| -> Result<u8> {
                let target = match e {
                    Exit::Next(n) => here + n,
                    Exit::Enosys => enosys,
                    Exit::Filter => filter,
                };
                u8::try_from(target - here).map_err(|_| too_long())
            };
            out.push(match step {
                Step::LoadNr => ins(LD_W_ABS, 0, 0, 0),
                Step::Jump(code, k, jt, jf) => ins(code, to(jt)?, to(jf)?, k),
                Step::ToFilter => {
                    let off = u32::try_from(filter - here).map_err(|_| too_long())?;
                    ins(JMP_JA, 0, 0, off)
                }
            });
        }
    }
    out.push(ins(JMP_JA, 0, 0, 1));
    out.push(ins(RET_K, 0, 0, RET_ENOSYS));
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

fn too_long() -> Error {
    Error::config(
        "linux.seccomp",
        "the ENOSYS stub needs a jump longer than BPF allows",
    )
}

#[derive(Debug, Clone, Copy)]
enum Exit {
    /// Skip this many instructions after the next one.
    Next(usize),
    Enosys,
    Filter,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    LoadNr,
    Jump(u16, u32, Exit, Exit),
    ToFilter,
}

fn above(max: Option<u32>) -> Step {
    match max {
        Some(m) => Step::Jump(JMP_JGT_K, m, Exit::Enosys, Exit::Filter),
        None => Step::ToFilter,
    }
}

fn section(audit: u32, m: Maxima) -> Vec<Step> {
    let mut steps = vec![Step::LoadNr];
    if m.s390 {
        steps.push(Step::Jump(JMP_JEQ_K, 0, Exit::Enosys, Exit::Next(0)));
    }
    if audit_arch(ScmpArch::X8664) == Some(audit) {
        // x32 numbers carry the x32 bit: jump over the x86_64 check to the x32 one.
        steps.push(Step::Jump(
            JMP_JSET_K,
            X32_SYSCALL_BIT,
            Exit::Next(1),
            Exit::Next(0),
        ));
        steps.push(above(m.main));
        steps.push(above(m.x32));
    } else {
        steps.push(above(m.main));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a classic-BPF seccomp program on (nr, arch); returns the action value.
    fn run(prog: &[libc::sock_filter], nr: u32, arch: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => acc = if i.k == 0 { nr } else { arch },
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K | JMP_JGT_K | JMP_JSET_K => {
                    let hit = match i.code {
                        JMP_JEQ_K => acc == i.k,
                        JMP_JGT_K => acc > i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
                RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
            if pc >= prog.len() {
                return u32::MAX; // fell into the filter
            }
        }
    }

    #[test]
    fn above_the_largest_known_syscall_is_enosys() {
        let x86_64 = audit_arch(ScmpArch::X8664).unwrap();
        let x86 = audit_arch(ScmpArch::X86).unwrap();
        let names = ["read", "write", "futex_waitv", "chown32", "no_such_syscall"];
        let p = stub(&[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32], &names).unwrap();
        let max64 = largest(&names, ScmpArch::X8664).unwrap();
        assert_eq!(max64, 449); // futex_waitv
        assert_eq!(run(&p, 0, x86_64), u32::MAX);
        assert_eq!(run(&p, max64, x86_64), u32::MAX);
        assert_eq!(run(&p, max64 + 1, x86_64), RET_ENOSYS);
        assert_eq!(run(&p, 462, x86_64), RET_ENOSYS);
        let max32 = largest(&names, ScmpArch::X86).unwrap();
        assert_eq!(run(&p, max32, x86), u32::MAX);
        assert_eq!(run(&p, max32 + 1, x86), RET_ENOSYS);
        let maxx32 = largest(&names, ScmpArch::X32).unwrap();
        assert!(maxx32 & X32_SYSCALL_BIT != 0);
        assert_eq!(run(&p, maxx32, x86_64), u32::MAX);
        assert_eq!(run(&p, maxx32 + 1, x86_64), RET_ENOSYS);
        // Another architecture goes to the filter untouched.
        let arm = audit_arch(ScmpArch::Arm).unwrap();
        assert_eq!(run(&p, 100_000, arm), u32::MAX);
    }

    #[test]
    fn only_x86_64_configured_leaves_x32_to_the_filter() {
        let x86_64 = audit_arch(ScmpArch::X8664).unwrap();
        let p = stub(&[ScmpArch::X8664], &["read"]).unwrap();
        assert_eq!(run(&p, 1, x86_64), RET_ENOSYS); // write (1) > read (0)
        assert_eq!(run(&p, 0, x86_64), u32::MAX);
        assert_eq!(run(&p, X32_SYSCALL_BIT | 1000, x86_64), u32::MAX);
    }

    #[test]
    fn no_known_syscall_no_stub() {
        assert!(stub(&[ScmpArch::X8664], &["no_such_syscall"])
            .unwrap()
            .is_empty());
        assert!(stub(&[], &["read"]).unwrap().is_empty());
    }
}
