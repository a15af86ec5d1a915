//! Nothing in config.json is accepted and then ignored. Every field of the runtime-spec, as
//! oci-spec's `Spec` deserializes it (walked through its `Deserialize` impl, so a field added
//! by an oci-spec upgrade shows up here) plus the fields hako reads from the raw JSON that
//! oci-spec lacks ([`RAW_FIELDS`]), has a row in `coverage.tsv`: applied, with the test that
//! shows its effect, or refused, with the test that shows the one-line error. These tests fail
//! on a field without a row, a row for a field that does not exist, a named test that does not
//! exist, and on `features` claiming something the table does not apply.
//!
//! The other tests here prove fields no other test covered: every `linux.resources` field
//! against the v1 and v2 conversions, the refused fields of other platforms, and
//! `checkBeforeUpdate`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::World;
use libhako::cgroups::resources::{self, V1Host};
use oci_spec::runtime::{ExecCPUAffinity, LinuxResources, Spec, Windows};
use serde_json::{json, Value};
use serde_reflection::{ContainerFormat, Format, Registry, Samples, Tracer, TracerConfig};

/// Fields of runtime-spec 1.3 that oci-spec's `Spec` lacks and hako reads from the raw JSON
/// (`spec::idmap`, `intelrdt::from_raw`), or refuses there (`spec::refused`).
const RAW_FIELDS: [&str; 11] = [
    "mounts[].uidMappings[].containerID",
    "mounts[].uidMappings[].hostID",
    "mounts[].uidMappings[].size",
    "mounts[].gidMappings[].containerID",
    "mounts[].gidMappings[].hostID",
    "mounts[].gidMappings[].size",
    "linux.intelRdt.schemata",
    "linux.intelRdt.enableMonitoring",
    "linux.intelRdt.enableCMT",
    "linux.intelRdt.enableMBM",
    "freebsd",
];

/// What a row may say about a field.
const STATUSES: [&str; 3] = ["applied", "refused", "warned"];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every field path of oci-spec's `Spec`: `a.b`, `[]` for a list's items, `{}` for a map's
/// values.
fn oci_spec_fields() -> BTreeSet<String> {
    // Capability names are checked by their Deserialize, execCPUAffinity strings by a pattern,
    // and windows.credentialSpec is untyped JSON (the tracer cannot walk it; the section is
    // refused whole): give the tracer values they accept.
    let config = TracerConfig::default()
        .record_samples_for_structs(true)
        .default_string_value("CAP_CHOWN".into());
    let mut tracer = Tracer::new(config);
    let mut samples = Samples::new();
    let affinity: ExecCPUAffinity =
        serde_json::from_value(json!({"initial": "0", "final": "0"})).unwrap();
    tracer.trace_value(&mut samples, &affinity).unwrap();
    tracer
        .trace_value(&mut samples, &Windows::default())
        .unwrap();
    tracer.trace_type::<Spec>(&samples).unwrap();
    let registry = tracer.registry_unchecked();
    let mut out = BTreeSet::new();
    walk(&registry, &Format::TypeName("Spec".into()), "", &mut out);
    out
}

fn walk(reg: &Registry, format: &Format, path: &str, out: &mut BTreeSet<String>) {
    match format {
        Format::TypeName(name) => match reg.get(name) {
            Some(ContainerFormat::Struct(fields)) => {
                for f in fields {
                    let p = if path.is_empty() {
                        f.name.clone()
                    } else {
                        format!("{path}.{}", f.name)
                    };
                    out.insert(p.clone());
                    walk(reg, &f.value, &p, out);
                }
            }
            Some(ContainerFormat::NewTypeStruct(inner)) => walk(reg, inner, path, out),
            _ => {}
        },
        Format::Option(inner) => walk(reg, inner, path, out),
        Format::Seq(inner) => walk(reg, inner, &format!("{path}[]"), out),
        Format::Map { value, .. } => walk(reg, value, &format!("{path}{{}}"), out),
        _ => {}
    }
}

/// The walk plus [`RAW_FIELDS`] and their parents.
fn all_fields() -> BTreeSet<String> {
    let mut all = oci_spec_fields();
    for f in RAW_FIELDS {
        for (i, c) in f.char_indices() {
            if c == '.' || c == '[' {
                all.insert(f[..i].to_string());
            }
        }
        all.insert(f.to_string());
    }
    all
}

/// Whether `child` is a field below `parent`.
fn below(child: &str, parent: &str) -> bool {
    child.len() > parent.len()
        && child.starts_with(parent)
        && matches!(child.as_bytes()[parent.len()], b'.' | b'[' | b'{')
}

fn leaves(fields: &BTreeSet<String>) -> BTreeSet<String> {
    fields
        .iter()
        .filter(|f| !fields.iter().any(|g| below(g, f)))
        .cloned()
        .collect()
}

/// One row of coverage.tsv.
#[derive(Debug)]
struct Row {
    line: usize,
    status: String,
    test: String,
}

fn table() -> BTreeMap<String, Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/coverage.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rows = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').filter(|c| !c.is_empty()).collect();
        assert!(
            cols.len() >= 3,
            "coverage.tsv:{line_no}: path, status, test"
        );
        let row = Row {
            line: line_no,
            status: cols[1].to_string(),
            test: cols[2].to_string(),
        };
        let dup = rows.insert(cols[0].to_string(), row);
        assert!(dup.is_none(), "coverage.tsv:{line_no}: {} twice", cols[0]);
    }
    rows
}

/// Whether `crates/<file>` defines `fn <name>(` (the table's `file::name`).
fn test_exists(spec: &str) -> bool {
    let Some((file, name)) = spec.rsplit_once("::") else {
        return false;
    };
    std::fs::read_to_string(crates_dir().join(file)).is_ok_and(|src| {
        src.lines()
            .any(|l| l.trim_start().starts_with(&format!("fn {name}(")))
    })
}

/// What is wrong with the table against the fields; empty when nothing is.
fn table_problems(fields: &BTreeSet<String>, rows: &BTreeMap<String, Row>) -> Vec<String> {
    let mut problems = Vec::new();
    let refused: Vec<&String> = rows
        .iter()
        .filter(|(_, r)| r.status == "refused")
        .map(|(p, _)| p)
        .collect();
    let under_refused = |f: &str| refused.iter().any(|r| below(f, r));
    for leaf in leaves(fields) {
        if !rows.contains_key(&leaf) && !under_refused(&leaf) {
            problems.push(format!("{leaf}: no row (applied or refused, and its test)"));
        }
    }
    for (path, row) in rows {
        let at = format!("coverage.tsv:{}: {path}", row.line);
        if !fields.contains(path) {
            problems.push(format!("{at}: no such field"));
        } else if fields.iter().any(|g| below(g, path)) && row.status != "refused" {
            problems.push(format!("{at}: only leaves and refused sections have rows"));
        }
        if under_refused(path) {
            problems.push(format!("{at}: below a refused section"));
        }
        if !STATUSES.contains(&row.status.as_str()) {
            problems.push(format!(
                "{at}: status {:?} not one of {STATUSES:?}",
                row.status
            ));
        }
        if !test_exists(&row.test) {
            problems.push(format!("{at}: test {} not found", row.test));
        }
    }
    problems
}

#[test]
fn every_field_is_applied_or_refused_with_a_named_test() {
    let fields = all_fields();
    let rows = table();
    let problems = table_problems(&fields, &rows);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    let count = |s: &str| rows.values().filter(|r| r.status == s).count();
    eprintln!(
        "{} fields, {} leaves: {} rows applied, {} refused, {} warned",
        fields.len(),
        leaves(&fields).len(),
        count("applied"),
        count("refused"),
        count("warned"),
    );
}

#[test]
fn the_check_finds_missing_unknown_and_untested_rows() {
    let fields: BTreeSet<String> = ["process", "process.cwd", "process.env", "windows"]
        .map(String::from)
        .into();
    let row = |status: &str, test: &str| Row {
        line: 1,
        status: status.into(),
        test: test.into(),
    };
    let real = "hako/tests/coverage.rs::the_check_finds_missing_unknown_and_untested_rows";
    let mut rows = BTreeMap::from([
        ("process.cwd".to_string(), row("applied", real)),
        ("process.bogus".to_string(), row("applied", real)),
        (
            "windows".to_string(),
            row("refused", "hako/tests/x.rs::nope"),
        ),
    ]);
    let p = table_problems(&fields, &rows).join("\n");
    assert!(p.contains("process.env: no row"), "{p}");
    assert!(p.contains("process.bogus: no such field"), "{p}");
    assert!(p.contains("hako/tests/x.rs::nope not found"), "{p}");
    rows.clear();
    rows.insert("process".into(), row("applied", real));
    let p = table_problems(&fields, &rows).join("\n");
    assert!(p.contains("only leaves and refused sections"), "{p}");
}

#[test]
fn raw_fields_are_ones_oci_spec_lacks() {
    let walked = oci_spec_fields();
    for f in RAW_FIELDS {
        assert!(
            !walked.contains(f),
            "{f} is in oci-spec now: drop it from RAW_FIELDS"
        );
    }
}

/// The field paths of runtime-spec's Go types (`specs-go/config.go`): struct fields by their
/// json names, embedded structs inlined.
fn go_fields(src: &str) -> BTreeSet<String> {
    let mut structs: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut current: Option<(&str, Vec<(String, String)>)> = None;
    for line in src.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("type ") {
            if let Some(name) = rest.strip_suffix(" struct {") {
                current = Some((name, Vec::new()));
            }
            continue;
        }
        let Some((_, fields)) = current.as_mut() else {
            continue;
        };
        if t == "}" {
            let (name, fields) = current.take().unwrap();
            structs.insert(name, fields);
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        match words.as_slice() {
            [embedded] if !embedded.starts_with("//") => {
                fields.push((String::new(), embedded.to_string()));
            }
            [_, ty, tag, ..] if tag.starts_with("`json:\"") => {
                let name = tag["`json:\"".len()..].split([',', '"']).next().unwrap();
                if name != "-" {
                    fields.push((name.to_string(), ty.to_string()));
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    go_walk(&structs, "Spec", "", &mut out);
    out
}

fn go_walk(
    structs: &BTreeMap<&str, Vec<(String, String)>>,
    ty: &str,
    path: &str,
    out: &mut BTreeSet<String>,
) {
    for (name, field_ty) in structs.get(ty).into_iter().flatten() {
        if name.is_empty() {
            go_walk(structs, field_ty, path, out);
            continue;
        }
        let p = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        out.insert(p.clone());
        let (mut base, mut suffix) = (field_ty.trim_start_matches('*'), String::new());
        loop {
            if let Some(b) = base.strip_prefix("[]") {
                (base, suffix) = (b.trim_start_matches('*'), suffix + "[]");
            } else if let Some(b) = base.strip_prefix("map[") {
                let b = b.split_once(']').map_or(b, |(_, v)| v);
                (base, suffix) = (b.trim_start_matches('*'), suffix + "{}");
            } else {
                break;
            }
        }
        go_walk(structs, base, &(p + &suffix), out);
    }
}

#[test]
fn the_walk_covers_runtime_spec_1_3() {
    // runtime-tools vendors runtime-spec 1.3's Go types: the spec's own list of fields.
    let Some(tarball) = common::shared_dir()
        .map(|d| d.join("conformance/runtime-tools-5e63903.tar.gz"))
        .filter(|t| t.exists())
    else {
        eprintln!("skipped: no ../shared/conformance/runtime-tools-5e63903.tar.gz here");
        return;
    };
    let inner = "runtime-tools/vendor/github.com/opencontainers/runtime-spec/specs-go/config.go";
    let out = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&tarball)
        .arg(inner)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let go = go_fields(&String::from_utf8_lossy(&out.stdout));
    assert!(go.contains("linux.resources.memory.limit"), "{go:?}");
    let ours = all_fields();
    let rows = table();
    let refused: Vec<&String> = rows
        .iter()
        .filter(|(_, r)| r.status == "refused")
        .map(|(p, _)| p)
        .collect();
    let missing: Vec<&String> = go
        .iter()
        .filter(|f| !ours.contains(*f) && !refused.iter().any(|r| below(f, r)))
        .collect();
    assert!(
        missing.is_empty(),
        "runtime-spec 1.3 fields neither walked nor in RAW_FIELDS: {missing:?}"
    );
}

#[test]
fn features_agree_with_the_table() {
    let w = World::new("coverage-features");
    let f: Value = serde_json::from_str(&w.hako(&["features"]).ok().stdout()).unwrap();
    let rows = table();
    let applied = |p: &str| rows.get(p).is_some_and(|r| r.status == "applied");
    let non_empty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    let l = &f["linux"];
    let mut claims: Vec<(&str, bool, Vec<String>)> = vec![
        (
            "mountOptions",
            non_empty(&f["mountOptions"]),
            vec!["mounts[].options".into()],
        ),
        (
            "linux.namespaces",
            non_empty(&l["namespaces"]),
            vec!["linux.namespaces[].type".into()],
        ),
        (
            "linux.capabilities",
            non_empty(&l["capabilities"]),
            [
                "ambient",
                "bounding",
                "effective",
                "inheritable",
                "permitted",
            ]
            .map(|s| format!("process.capabilities.{s}"))
            .into(),
        ),
        (
            "linux.seccomp.enabled",
            l["seccomp"]["enabled"] == true,
            vec![
                "linux.seccomp.defaultAction".into(),
                "linux.seccomp.syscalls[].names".into(),
            ],
        ),
        (
            "linux.seccomp.actions",
            non_empty(&l["seccomp"]["actions"]),
            vec!["linux.seccomp.syscalls[].action".into()],
        ),
        (
            "linux.seccomp.operators",
            non_empty(&l["seccomp"]["operators"]),
            vec!["linux.seccomp.syscalls[].args[].op".into()],
        ),
        (
            "linux.seccomp.archs",
            non_empty(&l["seccomp"]["archs"]),
            vec!["linux.seccomp.architectures".into()],
        ),
        (
            "linux.seccomp.supportedFlags",
            non_empty(&l["seccomp"]["supportedFlags"]),
            vec!["linux.seccomp.flags".into()],
        ),
        (
            "linux.apparmor.enabled",
            l["apparmor"]["enabled"] == true,
            vec!["process.apparmorProfile".into()],
        ),
        (
            "linux.selinux.enabled",
            l["selinux"]["enabled"] == true,
            vec!["process.selinuxLabel".into(), "linux.mountLabel".into()],
        ),
        (
            "linux.intelRdt.enabled",
            l["intelRdt"]["enabled"] == true,
            vec![
                "linux.intelRdt.closID".into(),
                "linux.intelRdt.l3CacheSchema".into(),
                "linux.intelRdt.memBwSchema".into(),
            ],
        ),
        (
            "linux.intelRdt.schemata",
            l["intelRdt"]["schemata"] == true,
            vec!["linux.intelRdt.schemata".into()],
        ),
        (
            "linux.intelRdt.monitoring",
            l["intelRdt"]["monitoring"] == true,
            vec!["linux.intelRdt.enableMonitoring".into()],
        ),
        (
            "linux.memoryPolicy.modes",
            non_empty(&l["memoryPolicy"]["modes"]),
            vec![
                "linux.memoryPolicy.mode".into(),
                "linux.memoryPolicy.nodes".into(),
            ],
        ),
        (
            "linux.memoryPolicy.flags",
            non_empty(&l["memoryPolicy"]["flags"]),
            vec!["linux.memoryPolicy.flags".into()],
        ),
        (
            "linux.mountExtensions.idmap.enabled",
            l["mountExtensions"]["idmap"]["enabled"] == true,
            ["uid", "gid"]
                .iter()
                .flat_map(|k| {
                    ["containerID", "hostID", "size"].map(|f| format!("mounts[].{k}Mappings[].{f}"))
                })
                .collect(),
        ),
        (
            "linux.netDevices.enabled",
            l["netDevices"]["enabled"] == true,
            vec!["linux.netDevices{}.name".into()],
        ),
        (
            "linux.cgroup.rdma",
            l["cgroup"]["rdma"] == true,
            vec![
                "linux.resources.rdma{}.hcaHandles".into(),
                "linux.resources.rdma{}.hcaObjects".into(),
            ],
        ),
    ];
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let listed = f["hooks"].as_array().unwrap().iter().any(|h| h == kind);
        let fields = ["path", "args", "env", "timeout"].map(|x| format!("hooks.{kind}[].{x}"));
        claims.push(("hooks", listed, fields.into()));
    }
    let mut wrong = Vec::new();
    for (claim, claimed, fields) in &claims {
        for field in fields {
            if *claimed != applied(field) {
                wrong.push(format!(
                    "features {claim} = {claimed}, but the table has {field} {}",
                    rows.get(field).map_or("missing", |r| r.status.as_str())
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// A value for a `linux.resources` leaf, inside the smallest object that makes the conversion
/// write something for it.
fn resources_sample(leaf: &str) -> Option<Value> {
    let device = json!({"major": 8, "minor": 0});
    let with = |mut base: Value, k: &str, v: Value| {
        base[k] = v;
        base
    };
    let key = leaf.rsplit(['.', ']', '}']).next()?;
    let path = leaf.strip_prefix("linux.resources.")?;
    Some(match path {
        "blockIO.weightDevice[].major" | "blockIO.weightDevice[].minor" => {
            json!({"blockIO": {"weightDevice": [with(device, "weight", json!(500))]}})
        }
        p if p.starts_with("blockIO.weightDevice[]") => {
            json!({"blockIO": {"weightDevice": [with(device, key, json!(500))]}})
        }
        p if p.starts_with("blockIO.throttle") => {
            let list = p.split('[').next()?.strip_prefix("blockIO.")?;
            json!({"blockIO": {list: [with(device, "rate", json!(1000))]}})
        }
        "blockIO.weight" | "blockIO.leafWeight" => json!({"blockIO": {key: 500}}),
        "cpu.cpus" | "cpu.mems" => json!({"cpu": {key: "0"}}),
        "cpu.idle" => json!({"cpu": {"idle": 1}}),
        p if p.starts_with("cpu.") => json!({"cpu": {key: 100_000}}),
        "devices[].access" | "devices[].allow" | "devices[].major" | "devices[].minor"
        | "devices[].type" => json!({"devices": [
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]}),
        "hugepageLimits[].limit" | "hugepageLimits[].pageSize" => {
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2_097_152}]})
        }
        "memory.swappiness" => json!({"memory": {"swappiness": 50}}),
        "memory.disableOOMKiller" => json!({"memory": {"disableOOMKiller": true}}),
        "memory.useHierarchy" => json!({"memory": {"useHierarchy": false}}),
        "memory.checkBeforeUpdate" => json!({"memory": {"checkBeforeUpdate": true}}),
        p if p.starts_with("memory.") => json!({"memory": {key: 1_073_741_824}}),
        "network.classID" => json!({"network": {"classID": 1}}),
        "network.priorities[].name" | "network.priorities[].priority" => {
            json!({"network": {"priorities": [{"name": "eth0", "priority": 5}]}})
        }
        "pids.limit" => json!({"pids": {"limit": 100}}),
        "rdma{}.hcaHandles" | "rdma{}.hcaObjects" => json!({"rdma": {"mlx5_0": {key: 1}}}),
        "unified" => json!({"unified": {"memory.max": "1073741824"}}),
        _ => return None,
    })
}

/// Whether a conversion applied (a setting from the field) or refused (an error naming it)
/// `leaf`.
fn converted(leaf: &str, result: Result<Vec<resources::Setting>, libhako::Error>) -> bool {
    let field = leaf.replace("[]", "").replace("{}", "");
    let names = |f: &str| field.starts_with(f) || f.starts_with(&field);
    match result {
        Ok(settings) => settings.iter().any(|s| names(&s.field)),
        Err(e) => {
            // Named first (`field: reason`), or inside runc's words (`... (field: ...)`).
            let msg = e.to_string();
            msg.contains(&field) || msg.split(':').next().is_some_and(names)
        }
    }
}

#[test]
fn every_resources_field_is_written_or_refused_on_v1_and_v2() {
    let rows = table();
    let leaves: Vec<String> = leaves(&all_fields())
        .into_iter()
        .filter(|l| l.starts_with("linux.resources."))
        .collect();
    assert!(leaves.len() > 40, "{leaves:?}");
    let host = V1Host {
        mem_limit: 0,
        exists: &|_| true,
    };
    let mut ignored = Vec::new();
    for leaf in &leaves {
        // Rows naming another test are shown there: applied outside the file conversions
        // (the v2 device program, update's usage check) or not settled here (pending, warned).
        let here =
            "hako/tests/coverage.rs::every_resources_field_is_written_or_refused_on_v1_and_v2";
        if rows.get(leaf).is_some_and(|r| r.test != here) {
            continue;
        }
        let sample = resources_sample(leaf).unwrap_or_else(|| panic!("no sample for {leaf}"));
        let r: LinuxResources = serde_json::from_value(sample.clone()).unwrap();
        let v1 = resources::v1(&r, &host, false);
        let v2 = resources::v2(&r, &|_| true);
        for (name, result) in [("v1", v1), ("v2", v2)] {
            let shown = format!("{result:?}");
            if !converted(leaf, result) {
                ignored.push(format!("{leaf} on {name}: {sample} gave {shown}"));
            }
        }
    }
    assert!(
        ignored.is_empty(),
        "accepted and ignored:\n{}",
        ignored.join("\n")
    );
}

/// `create` refuses `edit`'s config in one line starting with `field`, leaving no state dir.
fn refused(w: &World, edit: impl FnOnce(&mut Value), field: &str) -> String {
    let mut b = w.bundle(&["true"]);
    b.edit(edit);
    let id = w.id("refused");
    let msg = w
        .hako(&["create", "--bundle", b.path(), &id])
        .fails()
        .error_msg();
    assert!(msg.starts_with(&format!("{field}: ")), "{msg}");
    assert!(!w.state_dir(&id).exists(), "{field}: a state dir was left");
    msg
}

#[test]
fn other_platforms_and_windows_only_fields_are_refused() {
    let w = World::new("coverage-refused");
    for section in ["solaris", "windows", "vm", "zos", "freebsd"] {
        let msg = refused(&w, |c| c[section] = json!({}), section);
        assert!(msg.contains("hako runs"), "{msg}");
    }
    for top in ["uidMappings", "gidMappings"] {
        let m = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let msg = refused(&w, |c| c[top] = m, top);
        assert!(msg.contains(&format!("linux.{top}")), "{msg}");
    }
    refused(
        &w,
        |c| c["process"]["commandLine"] = json!("sh"),
        "process.commandLine",
    );
    refused(
        &w,
        |c| c["process"]["user"]["username"] = json!("root"),
        "process.user.username",
    );
    for flag in ["enableCMT", "enableMBM"] {
        let msg = refused(
            &w,
            |c| c["linux"]["intelRdt"] = json!({flag: true}),
            &format!("linux.intelRdt.{flag}"),
        );
        assert!(msg.contains("enableMonitoring"), "{msg}");
    }
    // null is absent, as for every optional field.
    let mut b = w.bundle(&["true"]);
    b.edit(|c| c["windows"] = Value::Null);
    w.hako(&["run", "--bundle", b.path(), &w.id("null")]).ok();
}

#[test]
fn check_before_update_from_the_config_holds_for_updates() {
    let w = World::new("coverage-cbu");
    let cg = format!("/hako-test/{}", common::unique("cbu"));
    let mut b = w.bundle(&[
        "sh",
        "-c",
        "head -c 8000000 /dev/zero | tail -c 1 >/dev/null; sleep 60",
    ]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        c["linux"]["resources"] =
            json!({"memory": {"limit": 268_435_456, "checkBeforeUpdate": true}});
    });
    let id = w.id("cbu");
    w.hako(&["run", "-d", "--bundle", b.path(), &id]).ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Far below any process's usage: refused, the limit unchanged.
    let msg = w
        .hako(&["update", "--memory", "4096", &id])
        .fails()
        .error_msg();
    assert!(
        msg.starts_with("linux.resources.memory.limit: rejecting memory limit 4096 below usage"),
        "{msg}"
    );
    // The update may say otherwise.
    let mut child = w
        .cmd()
        .args(["update", "-r", "-", &id])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory":{"limit":134217728,"checkBeforeUpdate":false}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    w.hako(&["delete", "--force", &id]).ok();
}

#[test]
fn sched_deadline_parameters_reach_the_kernel() {
    let w = World::new("coverage-deadline");
    // SCHED_DEADLINE (6) with runtime <= deadline <= period: the init runs under it (it cannot
    // fork, so the program reads its own stat).
    let mut b = w.bundle(&["cat", "/proc/self/stat"]);
    b.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE",
            "runtime": 10_000_000, "deadline": 50_000_000, "period": 100_000_000});
    });
    let out = w
        .hako(&["run", "--bundle", b.path(), &w.id("dl")])
        .ok()
        .stdout();
    let policy = out.rsplit(')').next().unwrap().split(' ').nth(39);
    assert_eq!(policy, Some("6"), "{out}");
    // The kernel refuses a runtime longer than the deadline: the values are the config's.
    let mut b = w.bundle(&["true"]);
    b.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE",
            "runtime": 50_000_000, "deadline": 10_000_000, "period": 100_000_000});
    });
    w.hako(&["run", "--bundle", b.path(), &w.id("dl-bad")])
        .fails();
}
