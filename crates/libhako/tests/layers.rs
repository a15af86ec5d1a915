//! libhako's modules form layers: a module may use the ones below it, never one that uses it
//! back (ARCHITECTURE.md, Layers). This reads the sources, builds the graph of `crate::<module>`
//! references between top-level modules (comments and `#[cfg(test)] mod tests` left out) and
//! fails on any cycle, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module a source file belongs to (`container/exec.rs` -> `container`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The top-level modules `code` names as `crate::<module>`.
fn references(code: &str) -> BTreeSet<String> {
    let code = match code.find("#[cfg(test)]\nmod tests") {
        Some(i) => &code[..i],
        None => code,
    };
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn collect(dir: &Path, base: &Path, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("cannot read {}", dir.display());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, base, graph);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(base).unwrap_or(&path);
            let Some(module) = module_of(rel) else {
                continue;
            };
            let code = std::fs::read_to_string(&path).unwrap_or_default();
            let refs = references(&code);
            let deps = graph.entry(module.clone()).or_default();
            deps.extend(refs.into_iter().filter(|r| *r != module));
        }
    }
}

/// A cycle through `start`, if there is one, as the list of modules on it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn modules_form_layers_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    collect(&src, &src, &mut graph);
    assert!(
        graph.contains_key("state") && graph.contains_key("spec"),
        "{graph:?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut graph = BTreeMap::new();
    for (a, b) in [
        ("state", "cgroups"),
        ("cgroups", "error"),
        ("cgroups", "state"),
    ] {
        graph
            .entry(a.to_string())
            .or_insert_with(BTreeSet::new)
            .insert(b.to_string());
    }
    assert!(cycle_from(&graph, "state").is_some());
    assert!(cycle_from(&graph, "error").is_none());
    let refs = references("use crate::sys;\n// crate::init\nfn f() { crate::error::x() }");
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["error", "sys"]);
}
