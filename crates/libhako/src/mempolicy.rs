//! `linux.memoryPolicy`: the NUMA memory policy of the container's processes, set with
//! `set_mempolicy(2)` by the init and by exec'd processes (as runc 1.5) and inherited by their
//! children. Checked in the runtime parent during validation with runc's rules ([`check_raw`]
//! for the names, [`Policy::from_spec`] for the nodes), so that only what the kernel alone can
//! refuse (a node that is not online, a flag it does not know) is left to the init, whose
//! error names the field.

use oci_spec::runtime::{Linux, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::error::{Error, Result};

/// Mode names of the runtime spec with their `MPOL_*` numbers (linux/mempolicy.h).
const MODES: [(&str, i32); 7] = [
    ("MPOL_DEFAULT", 0),
    ("MPOL_PREFERRED", 1),
    ("MPOL_BIND", 2),
    ("MPOL_INTERLEAVE", 3),
    ("MPOL_LOCAL", 4),
    ("MPOL_PREFERRED_MANY", 5),
    ("MPOL_WEIGHTED_INTERLEAVE", 6),
];

/// Mode flag names with their bits, or'ed into the mode.
const FLAGS: [(&str, i32); 3] = [
    ("MPOL_F_STATIC_NODES", 1 << 15),
    ("MPOL_F_RELATIVE_NODES", 1 << 14),
    ("MPOL_F_NUMA_BALANCING", 1 << 13),
];

/// The highest node number runc accepts (its CPU-set parser's limit).
const MAX_NODE: usize = 1023;

/// Every mode name, for `features`.
pub fn mode_names() -> impl Iterator<Item = &'static str> {
    MODES.iter().map(|m| m.0)
}

/// Every flag name, for `features`.
pub fn flag_names() -> impl Iterator<Item = &'static str> {
    FLAGS.iter().map(|f| f.0)
}

/// A checked memory policy: `set_mempolicy(mode | flags, nodes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode's name, for messages.
    pub mode_name: &'static str,
    /// Mode number with the flag bits.
    pub mode: i32,
    /// The node mask, one bit per node, 64 nodes a word (empty: no nodes).
    pub nodes: Vec<u64>,
    /// `linux.memoryPolicy.nodes` as written, for messages.
    pub nodes_text: String,
}

/// Check the names of `linux.memoryPolicy` in the raw config before the typed parse, which
/// would refuse the whole config without naming the field.
pub fn check_raw(raw: &serde_json::Value) -> Result<()> {
    let Some(mp) = raw.pointer("/linux/memoryPolicy") else {
        return Ok(());
    };
    let mode = mp.get("mode");
    if !mode
        .and_then(|m| m.as_str())
        .is_some_and(|m| MODES.iter().any(|k| k.0 == m))
    {
        return Err(Error::config(
            "linux.memoryPolicy.mode",
            format!(
                "invalid memory policy mode {}",
                mode.map_or("(missing)".into(), |m| m.to_string())
            ),
        ));
    }
    for (i, f) in mp
        .get("flags")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !f.as_str().is_some_and(|f| FLAGS.iter().any(|k| k.0 == f)) {
            return Err(Error::config(
                format!("linux.memoryPolicy.flags[{i}]"),
                format!("invalid memory policy flag {f}"),
            ));
        }
    }
    Ok(())
}

impl Policy {
    /// The checked policy of `linux`, if it has one (runc's rules: a node list of numbers and
    /// ranges up to 1023; no nodes for `MPOL_DEFAULT` and `MPOL_LOCAL`; at least one for the
    /// modes that need a node set).
    pub fn from_spec(linux: Option<&Linux>) -> Result<Option<Policy>> {
        let Some(mp) = linux.and_then(|l| l.memory_policy().as_ref()) else {
            return Ok(None);
        };
        let mode_name = mode_name(mp.mode());
        let mut mode = MODES.iter().find(|m| m.0 == mode_name).map_or(0, |m| m.1);
        for f in mp.flags().iter().flatten() {
            mode |= FLAGS
                .iter()
                .find(|k| k.0 == flag_name(*f))
                .map_or(0, |k| k.1);
        }
        let nodes_text = mp.nodes().clone().unwrap_or_default();
        let nodes = parse_nodes(&nodes_text).map_err(|why| {
            Error::config(
                "linux.memoryPolicy.nodes",
                format!("invalid memory policy nodes {nodes_text:?}: {why}"),
            )
        })?;
        let count: u32 = nodes.iter().map(|w| w.count_ones()).sum();
        let wanted = match mp.mode() {
            MemoryPolicyModeType::MpolDefault | MemoryPolicyModeType::MpolLocal => Some(0),
            MemoryPolicyModeType::MpolPreferred => None,
            _ => (count == 0).then_some(1),
        };
        match wanted {
            Some(0) if count != 0 => Err(Error::config(
                "linux.memoryPolicy.nodes",
                format!("memory policy mode {mode_name} requires 0 nodes but got {count}"),
            )),
            Some(1) => Err(Error::config(
                "linux.memoryPolicy.nodes",
                format!("memory policy mode {mode_name} requires at least one node but got 0"),
            )),
            _ => Ok(Some(Policy {
                mode_name,
                mode,
                nodes,
                nodes_text,
            })),
        }
    }

    /// Set it on the calling process (the init, an exec'd process); their children inherit it.
    pub fn apply(&self) -> Result<()> {
        crate::sys::set_mempolicy(self.mode, &self.nodes).map_err(|e| {
            Error::config(
                "linux.memoryPolicy",
                format!(
                    "set_mempolicy {} with nodes {:?}: {}",
                    self.mode_name,
                    self.nodes_text,
                    crate::error::errno_text(e)
                ),
            )
        })
    }
}

fn mode_name(m: MemoryPolicyModeType) -> &'static str {
    use MemoryPolicyModeType as M;
    match m {
        M::MpolDefault => "MPOL_DEFAULT",
        M::MpolBind => "MPOL_BIND",
        M::MpolInterleave => "MPOL_INTERLEAVE",
        M::MpolWeightedInterleave => "MPOL_WEIGHTED_INTERLEAVE",
        M::MpolPreferred => "MPOL_PREFERRED",
        M::MpolPreferredMany => "MPOL_PREFERRED_MANY",
        M::MpolLocal => "MPOL_LOCAL",
    }
}

fn flag_name(f: MemoryPolicyFlagType) -> &'static str {
    use MemoryPolicyFlagType as F;
    match f {
        F::MpolFNumaBalancing => "MPOL_F_NUMA_BALANCING",
        F::MpolFRelativeNodes => "MPOL_F_RELATIVE_NODES",
        F::MpolFStaticNodes => "MPOL_F_STATIC_NODES",
    }
}

/// A node list (`0-3,5`) as a bit mask; empty text, no nodes.
fn parse_nodes(text: &str) -> std::result::Result<Vec<u64>, String> {
    let mut mask = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{s:?} is not a node number"))
                .and_then(|n| {
                    (n <= MAX_NODE)
                        .then_some(n)
                        .ok_or_else(|| format!("values larger than {MAX_NODE} are not supported"))
                })
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("invalid range: {part}"));
        }
        for n in lo..=hi {
            if mask.len() <= n / 64 {
                mask.resize(n / 64 + 1, 0);
            }
            mask[n / 64] |= 1 << (n % 64);
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(mp: serde_json::Value) -> Result<Option<Policy>> {
        let raw = json!({"ociVersion": "1.3.0", "linux": {"memoryPolicy": mp}});
        check_raw(&raw)?;
        let spec: oci_spec::runtime::Spec = serde_json::from_value(raw).unwrap();
        Policy::from_spec(spec.linux().as_ref())
    }

    fn err(mp: serde_json::Value) -> String {
        policy(mp).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes(""), Ok(vec![]));
        assert_eq!(parse_nodes("0"), Ok(vec![1]));
        assert_eq!(parse_nodes("0-2,4"), Ok(vec![0b10111]));
        assert_eq!(parse_nodes("64").map(|m| m.len()), Ok(2));
        assert!(parse_nodes("3-1").is_err_and(|e| e == "invalid range: 3-1"));
        assert!(parse_nodes("1024").is_err_and(|e| e.contains("larger than 1023")));
        assert!(parse_nodes("0-x").is_err());
    }

    #[test]
    fn modes_and_flags() {
        let p = policy(json!({"mode": "MPOL_BIND", "nodes": "0",
                              "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap()
        .unwrap();
        assert_eq!(p.mode, 2 | 1 << 15);
        assert_eq!(p.nodes, vec![1]);
        let p = policy(json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0",
                              "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES"]}))
        .unwrap()
        .unwrap();
        assert_eq!(p.mode, 6 | 1 << 13 | 1 << 14);
        // MPOL_PREFERRED with no node is the local node.
        let p = policy(json!({"mode": "MPOL_PREFERRED"})).unwrap().unwrap();
        assert_eq!((p.mode, p.nodes.len()), (1, 0));
    }

    #[test]
    fn refused_in_runcs_words_naming_the_field() {
        assert_eq!(
            err(json!({"mode": "MPOL_NOPE"})),
            "linux.memoryPolicy.mode: invalid memory policy mode \"MPOL_NOPE\""
        );
        assert_eq!(
            err(json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "X"]})),
            "linux.memoryPolicy.flags[1]: invalid memory policy flag \"X\""
        );
        assert_eq!(
            err(json!({"mode": "MPOL_DEFAULT", "nodes": "0"})),
            "linux.memoryPolicy.nodes: memory policy mode MPOL_DEFAULT requires 0 nodes but got 1"
        );
        assert!(err(json!({"mode": "MPOL_LOCAL", "nodes": "0-1"})).contains("got 2"));
        assert_eq!(
            err(json!({"mode": "MPOL_INTERLEAVE"})),
            "linux.memoryPolicy.nodes: memory policy mode MPOL_INTERLEAVE requires at least \
             one node but got 0"
        );
        assert!(err(json!({"mode": "MPOL_BIND", "nodes": "3-1"}))
            .starts_with("linux.memoryPolicy.nodes: invalid memory policy nodes \"3-1\""));
        assert!(policy(json!({"mode": "MPOL_DEFAULT"})).is_ok_and(|p| p.is_some()));
    }
}
