//! runc's `org.systemd.property.<Name>` annotations: with `--systemd-cgroup` each becomes a
//! property of the container's new unit (`org.systemd.property.CollectMode:
//! "'inactive-or-failed'"` -> `CollectMode=inactive-or-failed`), with runc's rules:
//! * the name is at least 3 ASCII letters and nothing else;
//! * the value is GVariant text ([`super::gvariant`]): `uint64 5`, `'text'`, `true`...;
//! * a name ending in a lowercase letter and `Sec` (`TimeoutStopSec`) is systemd's documented
//!   spelling of a `USec` property: the name becomes `...USec` and the number of seconds a
//!   `uint64` of microseconds.
//!
//! A name or value it cannot take fails `create` in one line naming the annotation. Without
//! `--systemd-cgroup` these annotations are plain annotations, as with runc. Unlike runc, a
//! negative or too large number of seconds is refused (runc wraps it around). Pure; runs in
//! the runtime process.

use std::collections::HashMap;

use super::dbus::Value;
use super::gvariant;
use crate::error::{Error, Result};

/// The annotation prefix runc reads.
pub const PREFIX: &str = "org.systemd.property.";

/// The unit properties the annotations ask for, in the order of their keys (runc's follows
/// Go's map order, which is random).
pub fn properties(annotations: &HashMap<String, String>) -> Result<Vec<(String, Value)>> {
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|k| property(k, &annotations[k]))
        .collect()
}

/// One annotation as a property.
fn property(key: &str, text: &str) -> Result<(String, Value)> {
    let field = format!("annotations[{key:?}]");
    let name = &key[PREFIX.len()..];
    check_name(name).map_err(|why| {
        Error::config(
            &field,
            format!("systemd property name {name:?} incorrect: {why}"),
        )
    })?;
    let bad_value =
        |why: String| Error::config(&field, format!("value {text:?} parse error: {why}"));
    let value = gvariant::parse(text).map_err(bad_value)?;
    match name.strip_suffix("Sec") {
        Some(stem) if stem.ends_with(|c: char| c.is_ascii_lowercase()) => {
            let usec = seconds_to_usec(&value).map_err(|why| bad_value(why.into()))?;
            Ok((format!("{stem}USec"), usec))
        }
        _ => Ok((name.to_string(), value)),
    }
}

/// runc's `checkPropertyName`.
fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.len() < 3 {
        return Err("too short");
    }
    if !name.bytes().all(|c| c.is_ascii_alphabetic()) {
        return Err("contains non-alphabetic character");
    }
    Ok(())
}

/// A number of seconds (any number type) as a `uint64` of microseconds.
fn seconds_to_usec(v: &Value) -> std::result::Result<Value, &'static str> {
    const M: i128 = 1_000_000;
    let whole = match *v {
        Value::Byte(n) => i128::from(n),
        Value::I16(n) => i128::from(n),
        Value::U16(n) => i128::from(n),
        Value::I32(n) => i128::from(n),
        Value::U32(n) => i128::from(n),
        Value::I64(n) => i128::from(n),
        Value::U64(n) => i128::from(n),
        Value::Double(d) => {
            let us = d * M as f64;
            if !(0.0..u64::MAX as f64).contains(&us) {
                return Err("a number of seconds out of range");
            }
            return Ok(Value::U64(us as u64));
        }
        _ => return Err("not a number"),
    };
    u64::try_from(whole * M)
        .map(Value::U64)
        .map_err(|_| "a number of seconds out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Result<Vec<(String, Value)>> {
        let map = pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect();
        properties(&map)
    }

    fn err(k: &str, v: &str) -> String {
        props(&[(k, v)]).unwrap_err().to_string()
    }

    #[test]
    fn runc_conversions() {
        let mut all = HashMap::from([("other.annotation".to_string(), "x".to_string())]);
        all.insert(
            format!("{PREFIX}CollectMode"),
            "'inactive-or-failed'".into(),
        );
        all.insert(format!("{PREFIX}TimeoutStopSec"), "uint64 7".into());
        all.insert(format!("{PREFIX}RuntimeMaxSec"), "1.5".into());
        all.insert(format!("{PREFIX}CPUWeight"), "uint64 50".into());
        all.insert(format!("{PREFIX}TimeoutSec"), "3".into());
        all.insert(format!("{PREFIX}IOSec"), "'kept'".into());
        let p = properties(&all).unwrap();
        let expect = [
            ("CPUWeight", Value::U64(50)),
            ("CollectMode", Value::Str("inactive-or-failed".into())),
            // Only a lowercase letter before "Sec" makes it seconds.
            ("IOSec", Value::Str("kept".into())),
            ("RuntimeMaxUSec", Value::U64(1_500_000)),
            ("TimeoutUSec", Value::U64(3_000_000)),
            ("TimeoutStopUSec", Value::U64(7_000_000)),
        ];
        let expect: Vec<(String, Value)> = expect
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(p, expect);
        assert_eq!(props(&[]).unwrap(), []);
    }

    #[test]
    fn refusals_name_the_annotation() {
        let key = format!("annotations[\"{PREFIX}");
        let e = err("Ab", "1");
        assert_eq!(
            e,
            format!("{key}Ab\"]: systemd property name \"Ab\" incorrect: too short")
        );
        assert!(err("Foo1", "1").ends_with("contains non-alphabetic character"));
        assert!(err("", "1").ends_with("too short"));
        assert_eq!(
            err("TimeoutStopSec", "true"),
            format!("{key}TimeoutStopSec\"]: value \"true\" parse error: not a number")
        );
        assert!(err("TimeoutStopSec", "-1").ends_with("out of range"));
        assert!(err("TimeoutStopSec", "1e300").ends_with("out of range"));
        assert!(err("CollectMode", "bogus").ends_with("unrecognized type \"bogus\""));
        assert!(err("CollectMode", "'open").ends_with("unterminated string"));
    }
}
