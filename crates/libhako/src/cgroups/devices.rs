//! The v2 device controller: cgroup v2 has no `devices.allow`; access to device nodes is decided
//! by an eBPF program (`BPF_PROG_TYPE_CGROUP_DEVICE`) attached to the cgroup. This builds that
//! program from the same rules v1 writes (the spec's `linux.resources.devices`, then runc's
//! default allow-list): the rules are tested last-first and the first match decides, so a later
//! rule overrides an earlier one as on v1; no match means deny. Runs in the runtime at create.

use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxDeviceCgroup;

use super::resources::{device_rule, DEFAULT_DEVICE_RULES};
use crate::error::{Error, Result};

/// One device rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub allow: bool,
    /// `BPF_DEVCG_DEV_BLOCK` (1), `BPF_DEVCG_DEV_CHAR` (2), or `None` for every type.
    pub kind: Option<u32>,
    /// Major number, `None` = any.
    pub major: Option<u32>,
    /// Minor number, `None` = any.
    pub minor: Option<u32>,
    /// `BPF_DEVCG_ACC_MKNOD` (1) | `READ` (2) | `WRITE` (4).
    pub access: u32,
}

const ALL_ACCESS: u32 = 7;

/// Parse the kernel's v1 rule text (`c 1:3 rwm`, `a`); FIFO rules (`p`) do not apply.
pub fn parse(allow: bool, text: &str) -> Option<Rule> {
    let mut parts = text.split_whitespace();
    let kind = match parts.next()? {
        "a" => {
            return Some(Rule {
                allow,
                kind: None,
                major: None,
                minor: None,
                access: ALL_ACCESS,
            })
        }
        "b" => 1,
        "c" | "u" => 2,
        _ => return None,
    };
    let (maj, min) = parts.next()?.split_once(':')?;
    let num = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    let access = parts.next().unwrap_or("rwm").chars().fold(0, |a, c| {
        a | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    });
    Some(Rule {
        allow,
        kind: Some(kind),
        major: num(maj)?,
        minor: num(min)?,
        access,
    })
}

/// The spec's rules followed by runc's default allow-list.
pub fn rules(spec: &[LinuxDeviceCgroup]) -> Vec<Rule> {
    spec.iter()
        .filter_map(|d| parse(d.allow(), &device_rule(d)?))
        .chain(DEFAULT_DEVICE_RULES.iter().filter_map(|r| parse(true, r)))
        .collect()
}

/// One `struct bpf_insn`: opcode, dst and src registers, offset, immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | (dst & 0xf);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// The program. `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, with
/// `access_type = access << 16 | type`; R2 = type, R3 = access, R4 = major, R5 = minor.
pub fn program(rules: &[Rule]) -> Vec<[u8; 8]> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // Each check is a few instructions ending in "jump past this rule if it does not match".
        let mut checks: Vec<Vec<(u8, u8, u8, i32)>> = Vec::new();
        if let Some(k) = r.kind {
            checks.push(vec![(JNE_K, 2, 0, k as i32)]);
        }
        if r.access != ALL_ACCESS {
            // Asked-for access bits outside the rule's: no match.
            checks.push(vec![
                (MOV32_X, 1, 3, 0),
                (AND32_K, 1, 0, (!r.access & ALL_ACCESS) as i32),
                (JNE_K, 1, 0, 0),
            ]);
        }
        if let Some(m) = r.major {
            checks.push(vec![(JNE_K, 4, 0, m as i32)]);
        }
        if let Some(m) = r.minor {
            checks.push(vec![(JNE_K, 5, 0, m as i32)]);
        }
        let unconditional = checks.is_empty();
        let mut left: usize = checks.iter().map(Vec::len).sum::<usize>() + 2;
        for check in checks {
            for (code, dst, src, imm) in check {
                left -= 1;
                let off = if code == JNE_K { left as i16 } else { 0 };
                p.push(insn(code, dst, src, off, imm));
            }
        }
        p.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
        // A rule that matches everything decides alone; the verifier refuses dead code after it.
        if unconditional {
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Load the program for `rules` and attach it to the cgroup `dir`.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    let fail = |what: &str, e| {
        Error::config(
            "linux.resources.devices",
            format!(
                "the host cannot honour it: {what} the cgroup v2 device program for {}: {}",
                dir.display(),
                crate::error::errno_text(e)
            ),
        )
    };
    let prog = crate::sys::bpf_load_device_program(&program(rules), c"Apache")
        .map_err(|e| fail("loading", e))?;
    let cg = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("opening the cgroup for", e))?;
    use std::os::fd::AsFd;
    crate::sys::bpf_attach_device_program(cg.as_fd(), prog.as_fd())
        .map_err(|e| fail("attaching", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the program on one access, as the kernel would (enough of eBPF for our opcodes).
    fn eval(p: &[[u8; 8]], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let mem = [access << 16 | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0;
        loop {
            let i = p[pc];
            let (dst, src) = ((i[1] & 0xf) as usize, (i[1] >> 4) as usize);
            let off = i16::from_le_bytes([i[2], i[3]]);
            let imm = i32::from_le_bytes([i[4], i[5], i[6], i[7]]);
            pc += 1;
            match i[0] {
                LDX_W => r[dst] = u64::from(mem[off as usize / 4]),
                AND32_K => r[dst] = (r[dst] as u32 & imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> imm) as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                MOV64_K => r[dst] = imm as u64,
                JNE_K if r[dst] != imm as u32 as u64 => pc += off as usize,
                JNE_K => {}
                EXIT => return r[0],
                op => panic!("opcode {op:#x}"),
            }
        }
    }

    #[test]
    fn parses_kernel_rule_text() {
        assert_eq!(
            parse(true, "c 1:3 rw"),
            Some(Rule {
                allow: true,
                kind: Some(2),
                major: Some(1),
                minor: Some(3),
                access: 6
            })
        );
        assert_eq!(
            parse(false, "b *:* m").map(|r| (r.major, r.access)),
            Some((None, 1))
        );
        assert_eq!(parse(false, "a").map(|r| r.kind), Some(None));
        assert_eq!(parse(true, "p 1:1 rwm"), None);
    }

    #[test]
    fn program_follows_the_rules() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":8,"minor":0,"access":"r"}]"#,
        )
        .unwrap();
        let p = program(&rules(&spec));
        let (blk, chr) = (1, 2);
        let (m, r, w) = (1, 2, 4);
        assert_eq!(eval(&p, chr, r | w, 1, 3), 1, "/dev/null rw");
        assert_eq!(eval(&p, chr, r, 136, 5), 1, "a pty");
        assert_eq!(eval(&p, chr, m, 99, 99), 1, "mknod of anything");
        assert_eq!(eval(&p, chr, r, 99, 99), 0, "an unlisted device");
        assert_eq!(eval(&p, blk, r, 8, 0), 1, "sda read");
        assert_eq!(eval(&p, blk, w, 8, 0), 0, "sda write");
        assert_eq!(eval(&p, blk, r, 8, 1), 0, "sda1");
        // Nothing after the catch-all deny (the verifier rejects unreachable instructions).
        assert_eq!(p.last().map(|i| i[0]), Some(EXIT));
        assert_eq!(
            p.iter().filter(|i| i[0] == EXIT).count(),
            rules(&spec).len()
        );
        // A later deny overrides an earlier allow.
        let p = program(&[parse(true, "a").unwrap(), parse(false, "c 1:3 w").unwrap()]);
        assert_eq!(eval(&p, chr, w, 1, 3), 0);
        assert_eq!(eval(&p, chr, r, 1, 3), 1);
        assert_eq!(eval(&p, blk, w, 8, 0), 1);
    }
}
