//! The GVariant text format (GLib's `g_variant_parse` syntax), as far as godbus's
//! `ParseVariant` reads it: runc reads the values of `org.systemd.property.*` annotations with
//! it, so `uint64 5`, `'inactive-or-failed'`, `true`, `[1, 2]`, `@as []`, `<5>` or
//! `{'a': 1}` mean here what they mean to runc. A value without a type annotation gets
//! godbus's type: a whole number is `int32`, one with `.` or an exponent `double`, a quoted
//! text a `string`; an array or dictionary takes the type of its first typed element.
//!
//! Two deliberate differences: text after the first value is an error (godbus drops it
//! silently), and `double` is `d` (godbus maps the keyword to the invalid type `f`).
//! Pure functions; runs in the runtime process.

use std::collections::BTreeSet;

use super::dbus::Value;

/// Nesting deeper than this is refused (a config is input; recursion must stay bounded).
const MAX_DEPTH: usize = 32;

type Sigs = BTreeSet<String>;

/// Parse `text` into a D-Bus value of the type it states or implies.
pub fn parse(text: &str) -> Result<Value, String> {
    let tokens = lex(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let node = p.node(0)?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(format!("unexpected {:?} after the value", t.text()));
    }
    let sig = infer(&node)?;
    value(&node, &sig)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(String),
    /// A quoted string, unescaped.
    Str(String),
    Bool(bool),
    /// A `b'...'` byte string, unescaped (with GVariant's trailing NUL).
    Bytes(Vec<u8>),
    /// A type keyword or `@signature`, as a signature.
    Type(String),
    Punct(char),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Num(s) | Tok::Str(s) | Tok::Type(s) => s.clone(),
            Tok::Bool(b) => b.to_string(),
            Tok::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Tok::Punct(c) => c.to_string(),
        }
    }
}

/// The type keywords and their signatures.
const KEYWORDS: [(&str, &str); 12] = [
    ("boolean", "b"),
    ("byte", "y"),
    ("int16", "n"),
    ("uint16", "q"),
    ("int32", "i"),
    ("uint32", "u"),
    ("int64", "x"),
    ("uint64", "t"),
    ("double", "d"),
    ("string", "s"),
    ("objectpath", "o"),
    ("signature", "g"),
];

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let (tok, used) = match c {
            '[' | ']' | '{' | '}' | '<' | '>' | ':' | ',' => (Tok::Punct(c), 1),
            '\'' | '"' => {
                let (raw, used) = quoted(rest)?;
                (Tok::Str(unescape(raw)?), used)
            }
            'b' if rest[1..].starts_with(['\'', '"']) => {
                let (raw, used) = quoted(&rest[1..])?;
                (Tok::Bytes(unescape_bytes(raw)?), used + 1)
            }
            '@' => {
                let word = word(rest);
                let sig = &word[1..];
                if !is_single_type(sig) {
                    return Err(format!("invalid type signature {sig:?}"));
                }
                (Tok::Type(sig.into()), word.len())
            }
            '0'..='9' | '+' | '-' => number(rest)?,
            _ if rest.starts_with("true") => (Tok::Bool(true), 4),
            _ if rest.starts_with("false") => (Tok::Bool(false), 5),
            _ => {
                let word = word(rest);
                match KEYWORDS.iter().find(|(k, _)| *k == word) {
                    Some((_, sig)) => (Tok::Type((*sig).into()), word.len()),
                    None => return Err(format!("unrecognized type {word:?}")),
                }
            }
        };
        out.push(tok);
        rest = &rest[used..];
    }
    Ok(out)
}

/// The text up to the next whitespace.
fn word(s: &str) -> &str {
    s.split(char::is_whitespace).next().unwrap_or(s)
}

/// A quoted string at the start of `s`: its raw inside and the bytes used with the quotes.
fn quoted(s: &str) -> Result<(&str, usize), String> {
    let q = s.as_bytes()[0];
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q => return Ok((&s[1..i], i + 1)),
            _ => i += 1,
        }
    }
    Err("unterminated string".into())
}

/// A number at the start of `s` (godbus's lexer: sign, `0x` hex or `0` octal digits, a
/// fraction, an exponent; a letter right after it is an error).
fn number(s: &str) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let run = |i: &mut usize, ok: fn(u8) -> bool| {
        while *i < b.len() && ok(b[*i]) {
            *i += 1;
        }
    };
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if b.get(i..i + 2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"0x"))
    {
        i += 2;
        run(&mut i, |c| c.is_ascii_hexdigit());
    } else {
        run(&mut i, |c| c.is_ascii_digit());
        if b.get(i) == Some(&b'.') {
            i += 1;
            run(&mut i, |c| c.is_ascii_digit());
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            run(&mut i, |c| c.is_ascii_digit());
        }
    }
    if s[i..].starts_with(char::is_alphabetic) {
        let end = i + s[i..].chars().next().map_or(0, char::len_utf8);
        return Err(format!("bad number syntax: {:?}", &s[..end]));
    }
    Ok((Tok::Num(s[..i].into()), i))
}

/// GVariant string escapes (`\n`, `\t`, `\uXXXX`, `\UXXXXXXXX`, `\` + any other character).
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| {
            let digits: String = chars.by_ref().take(n).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|_| digits.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad unicode escape \\{e}{digits}"))
        };
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '\n' => {}
            'u' => out.push(hex(&mut chars, 4)?),
            'U' => out.push(hex(&mut chars, 8)?),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Byte-string escapes (`\xHH`, `\0OOO`, the C ones); GVariant ends a bytestring with NUL.
fn unescape_bytes(raw: &str) -> Result<Vec<u8>, String> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (radix, len) = match b[i + 1] {
            b'x' => (16, 2),
            b'0' => (8, 3),
            c => {
                let map = [
                    (b'a', 7),
                    (b'b', 8),
                    (b'f', 12),
                    (b'n', 10),
                    (b'r', 13),
                    (b't', 9),
                ];
                out.push(map.iter().find(|(k, _)| *k == c).map_or(c, |(_, v)| *v));
                i += 2;
                continue;
            }
        };
        let digits = raw.get(i + 2..i + 2 + len).ok_or("short escape")?;
        out.push(u8::from_str_radix(digits, radix).map_err(|_| format!("bad escape {digits:?}"))?);
        i += 2 + len;
    }
    out.push(0);
    Ok(out)
}

/// Whether `sig` is exactly one complete D-Bus type (file descriptors aside).
fn is_single_type(sig: &str) -> bool {
    matches!(single_type(sig.as_bytes(), 0), Some(n) if n == sig.len())
}

/// The length of the complete type at the start of `s`.
fn single_type(s: &[u8], depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *s.first()? {
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o' | b'g'
        | b'v' => Some(1),
        b'a' if s.get(1) == Some(&b'{') => {
            let key = s.get(2).filter(|c| b"ybnqiuxtdsog".contains(c))?;
            let _ = key;
            let val = single_type(&s[3..], depth + 1)?;
            (s.get(3 + val) == Some(&b'}')).then_some(4 + val)
        }
        b'a' => single_type(&s[1..], depth + 1).map(|n| n + 1),
        b'(' => {
            let mut i = 1;
            while *s.get(i)? != b')' {
                i += single_type(&s[i..], depth + 1)?;
            }
            (i > 1).then_some(i + 1)
        }
        _ => None,
    }
}

/// A parsed value whose type may still be open (a bare `5` may be any number type).
#[derive(Debug)]
enum Node {
    Num {
        text: String,
        sig: Option<String>,
    },
    Str {
        text: String,
        sig: Option<String>,
    },
    Bool(bool),
    Bytes(Vec<u8>),
    /// The elements and the array types they allow (empty: no element says).
    Array {
        items: Vec<Node>,
        sigs: Sigs,
    },
    Variant(Box<Node>),
    Dict {
        entries: Vec<(Node, Node)>,
        keys: Sigs,
        vals: Sigs,
    },
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn next(&mut self) -> Result<Tok, String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t.ok_or_else(|| "unexpected end of the value".into())
    }

    fn peek_is(&self, c: char) -> bool {
        self.tokens.get(self.pos) == Some(&Tok::Punct(c))
    }

    /// One value, with an optional leading type annotation.
    fn node(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let mut sig: Option<String> = None;
        loop {
            let t = self.next()?;
            let given = |ok: &dyn Fn(&str) -> bool| match &sig {
                Some(s) if !ok(s) => Err(format!("can't parse {:?} as type {s:?}", t.text())),
                _ => Ok(()),
            };
            return match t {
                Tok::Type(s) if sig.is_none() => {
                    sig = Some(s);
                    continue;
                }
                Tok::Type(_) => Err("unexpected type annotation".into()),
                Tok::Num(ref text) => {
                    if let Some(s) = &sig {
                        number_as(text, s)?;
                    }
                    Ok(Node::Num {
                        text: text.clone(),
                        sig,
                    })
                }
                Tok::Str(ref text) => {
                    given(&|s| matches!(s, "s" | "o" | "g"))?;
                    Ok(Node::Str {
                        text: text.clone(),
                        sig,
                    })
                }
                Tok::Bool(b) => given(&|s| s == "b").map(|()| Node::Bool(b)),
                Tok::Bytes(ref b) => given(&|s| s == "ay").map(|()| Node::Bytes(b.clone())),
                Tok::Punct('[') => {
                    given(&|s| s.starts_with('a') && !s.starts_with("a{"))?;
                    self.array(sig, depth)
                }
                Tok::Punct('{') => {
                    given(&|s| s.starts_with("a{"))?;
                    self.dict(sig, depth)
                }
                Tok::Punct('<') => {
                    given(&|s| s == "v")?;
                    let inner = self.node(depth + 1)?;
                    match self.next()? {
                        Tok::Punct('>') => Ok(Node::Variant(Box::new(inner))),
                        t => Err(format!("unexpected {:?} in a variant", t.text())),
                    }
                }
                t => Err(format!("unexpected {:?}", t.text())),
            };
        }
    }

    /// After `[`: elements separated by `,` up to `]`.
    fn array(&mut self, sig: Option<String>, depth: usize) -> Result<Node, String> {
        let mut sigs: Sigs = sig.into_iter().collect();
        let mut items = Vec::new();
        if self.peek_is(']') {
            self.pos += 1;
            return Ok(Node::Array { items, sigs });
        }
        loop {
            let item = self.node(depth + 1)?;
            let allowed: Sigs = sigs_of(&item).iter().map(|s| format!("a{s}")).collect();
            narrow(&mut sigs, allowed, &item)?;
            items.push(item);
            match self.next()? {
                Tok::Punct(']') => return Ok(Node::Array { items, sigs }),
                Tok::Punct(',') => {}
                t => return Err(format!("unexpected {:?} in an array", t.text())),
            }
        }
    }

    /// After `{`: `key: value` entries separated by `,` up to `}`.
    fn dict(&mut self, sig: Option<String>, depth: usize) -> Result<Node, String> {
        let (mut keys, mut vals) = (Sigs::new(), Sigs::new());
        if let Some(s) = sig {
            keys.insert(s[2..3].to_string());
            vals.insert(s[3..s.len() - 1].to_string());
        }
        let mut entries = Vec::new();
        if self.peek_is('}') {
            self.pos += 1;
            return Ok(Node::Dict {
                entries,
                keys,
                vals,
            });
        }
        loop {
            let k = self.node(depth + 1)?;
            narrow(&mut keys, sigs_of(&k), &k)?;
            match self.next()? {
                Tok::Punct(':') => {}
                t => return Err(format!("unexpected {:?} in a dictionary", t.text())),
            }
            let v = self.node(depth + 1)?;
            narrow(&mut vals, sigs_of(&v), &v)?;
            entries.push((k, v));
            match self.next()? {
                Tok::Punct('}') => {
                    return Ok(Node::Dict {
                        entries,
                        keys,
                        vals,
                    })
                }
                Tok::Punct(',') => {}
                t => return Err(format!("unexpected {:?} in a dictionary", t.text())),
            }
        }
    }
}

/// Narrow the types a container allows to those `item` allows too.
fn narrow(sigs: &mut Sigs, allowed: Sigs, item: &Node) -> Result<(), String> {
    if allowed.is_empty() {
        return Ok(());
    }
    if sigs.is_empty() {
        *sigs = allowed;
        return Ok(());
    }
    sigs.retain(|s| allowed.contains(s));
    if sigs.is_empty() {
        return Err(format!(
            "can't parse {:?} with given type information",
            show(item)
        ));
    }
    Ok(())
}

fn is_float(text: &str) -> bool {
    let t = text.trim_start_matches(['+', '-']);
    !t.starts_with("0x") && !t.starts_with("0X") && t.contains(['.', 'e', 'E'])
}

/// The types a node may take (empty: anything).
fn sigs_of(n: &Node) -> Sigs {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    match n {
        Node::Num { sig: Some(s), .. } | Node::Str { sig: Some(s), .. } => set(&[s]),
        Node::Num { text, .. } if is_float(text) => set(&["d"]),
        Node::Num { .. } => set(&["y", "n", "q", "i", "u", "x", "t", "d"]),
        Node::Str { .. } => set(&["s", "g", "o"]),
        Node::Bool(_) => set(&["b"]),
        Node::Bytes(_) => set(&["ay"]),
        Node::Array { sigs, .. } => sigs.clone(),
        Node::Variant(_) => set(&["v"]),
        Node::Dict { keys, vals, .. } => keys
            .iter()
            .flat_map(|k| vals.iter().map(move |v| format!("a{{{k}{v}}}")))
            .collect(),
    }
}

/// The type a node gets: its only possible one, else godbus's default.
fn infer(n: &Node) -> Result<String, String> {
    let sigs = sigs_of(n);
    if sigs.len() == 1 {
        return Ok(sigs.into_iter().next().unwrap_or_default());
    }
    let found = match n {
        Node::Num { text, .. } => Some(if is_float(text) { "d" } else { "i" }.to_string()),
        Node::Str { .. } => Some("s".to_string()),
        Node::Array { items, .. } => items
            .iter()
            .find_map(|i| infer(i).ok())
            .map(|s| format!("a{s}")),
        Node::Dict { entries, .. } => entries
            .iter()
            .find_map(|(k, v)| Some(format!("a{{{}{}}}", infer(k).ok()?, infer(v).ok()?))),
        _ => None,
    };
    found.ok_or_else(|| format!("can't infer type for {:?}", show(n)))
}

/// The node as text, for error messages.
fn show(n: &Node) -> String {
    let list = |v: Vec<String>| v.join(", ");
    match n {
        Node::Num { text, .. } | Node::Str { text, .. } => text.clone(),
        Node::Bool(b) => b.to_string(),
        Node::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Node::Array { items, .. } => format!("[{}]", list(items.iter().map(show).collect())),
        Node::Variant(v) => format!("<{}>", show(v)),
        Node::Dict { entries, .. } => format!(
            "{{{}}}",
            list(
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                    .collect()
            )
        ),
    }
}

/// The node's value as type `sig`.
fn value(n: &Node, sig: &str) -> Result<Value, String> {
    let mismatch = || format!("can't parse {:?} as type {sig:?}", show(n));
    match n {
        Node::Num { sig: Some(s), .. } | Node::Str { sig: Some(s), .. } if s != sig => {
            Err(mismatch())
        }
        Node::Num { text, .. } => number_as(text, sig),
        Node::Str { text, .. } => match sig {
            "s" => Ok(Value::Str(text.clone())),
            "o" => Ok(Value::Path(text.clone())),
            "g" => Ok(Value::Sig(text.clone())),
            _ => Err(mismatch()),
        },
        Node::Bool(b) if sig == "b" => Ok(Value::Bool(*b)),
        Node::Bytes(b) if sig == "ay" => Ok(Value::Array(
            "y".into(),
            b.iter().copied().map(Value::Byte).collect(),
        )),
        Node::Variant(inner) if sig == "v" => {
            Ok(Value::Variant(Box::new(value(inner, &infer(inner)?)?)))
        }
        Node::Array { items, sigs } if sig.starts_with('a') => {
            if !sigs.is_empty() && !sigs.contains(sig) {
                return Err(mismatch());
            }
            let elem = &sig[1..];
            let items = items.iter().map(|i| value(i, elem));
            Ok(Value::Array(elem.into(), items.collect::<Result<_, _>>()?))
        }
        Node::Dict { entries, .. } if sig.starts_with("a{") => {
            if !sigs_of(n).is_empty() && !sigs_of(n).contains(sig) {
                return Err(mismatch());
            }
            let (k, v) = (&sig[2..3], &sig[3..sig.len() - 1]);
            let entry = |(a, b): &(Node, Node)| -> Result<Value, String> {
                Ok(Value::DictEntry(
                    Box::new(value(a, k)?),
                    Box::new(value(b, v)?),
                ))
            };
            let items = entries.iter().map(entry).collect::<Result<_, _>>()?;
            Ok(Value::Array(sig[1..].into(), items))
        }
        _ => Err(mismatch()),
    }
}

/// A number token as type `sig` (godbus: `0x` hex, a leading `0` octal, else decimal).
fn number_as(text: &str, sig: &str) -> Result<Value, String> {
    let bad = |why: &str| format!("can't parse {text:?} as type {sig:?}: {why}");
    if sig == "d" {
        return text
            .parse::<f64>()
            .map(Value::Double)
            .map_err(|_| bad("not a number"));
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, h)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    let mag = u64::from_str_radix(digits, radix).map_err(|_| bad("invalid syntax"))?;
    let n = if neg {
        -i128::from(mag)
    } else {
        i128::from(mag)
    };
    let range = || bad("out of range");
    Ok(match sig {
        "y" => Value::Byte(u8::try_from(n).map_err(|_| range())?),
        "n" => Value::I16(i16::try_from(n).map_err(|_| range())?),
        "q" => Value::U16(u16::try_from(n).map_err(|_| range())?),
        "i" => Value::I32(i32::try_from(n).map_err(|_| range())?),
        "u" => Value::U32(u32::try_from(n).map_err(|_| range())?),
        "x" => Value::I64(i64::try_from(n).map_err(|_| range())?),
        "t" => Value::U64(u64::try_from(n).map_err(|_| range())?),
        _ => return Err(format!("can't parse {text:?} as type {sig:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Value {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn strs(v: &[&str]) -> Value {
        Value::Array(
            "s".into(),
            v.iter().map(|s| Value::Str(s.to_string())).collect(),
        )
    }

    #[test]
    fn scalars_take_godbus_types() {
        assert_eq!(ok("5"), Value::I32(5));
        assert_eq!(ok("-5"), Value::I32(-5));
        assert_eq!(ok("1.5"), Value::Double(1.5));
        assert_eq!(ok("2e3"), Value::Double(2000.0));
        assert_eq!(ok("uint64 5"), Value::U64(5));
        assert_eq!(ok("@t 5"), Value::U64(5));
        assert_eq!(ok("  uint32   0x1f "), Value::U32(31));
        assert_eq!(ok("int64 010"), Value::I64(8));
        assert_eq!(ok("byte 255"), Value::Byte(255));
        assert_eq!(ok("int16 -3"), Value::I16(-3));
        assert_eq!(ok("uint16 3"), Value::U16(3));
        assert_eq!(ok("double 2"), Value::Double(2.0));
        assert_eq!(ok("true"), Value::Bool(true));
        assert_eq!(ok("false"), Value::Bool(false));
        assert_eq!(ok("boolean false"), Value::Bool(false));
        assert_eq!(
            ok("'inactive-or-failed'"),
            Value::Str("inactive-or-failed".into())
        );
        assert_eq!(ok(r#""a\tb\u00e9""#), Value::Str("a\tb\u{e9}".into()));
        assert_eq!(ok("objectpath '/a/b'"), Value::Path("/a/b".into()));
        assert_eq!(ok("@g 'as'"), Value::Sig("as".into()));
        let bytes = [b'h', b'i', b'\n', 0];
        assert_eq!(
            ok(r"b'hi\x0a'"),
            Value::Array("y".into(), bytes.iter().copied().map(Value::Byte).collect())
        );
    }

    #[test]
    fn containers() {
        assert_eq!(ok("['a', 'b']"), strs(&["a", "b"]));
        assert_eq!(ok("@as []"), strs(&[]));
        assert_eq!(
            ok("[1, uint64 2]"),
            Value::Array("t".into(), vec![Value::U64(1), Value::U64(2)])
        );
        assert_eq!(ok("@a(sv) []"), Value::Array("(sv)".into(), Vec::new()));
        assert_eq!(ok("<5>"), Value::Variant(Box::new(Value::I32(5))));
        assert_eq!(
            ok("{'a': 1}"),
            Value::Array(
                "{si}".into(),
                vec![Value::DictEntry(
                    Box::new(Value::Str("a".into())),
                    Box::new(Value::I32(1))
                )]
            )
        );
        assert_eq!(
            ok("[[1], [2, 3]]").signature(),
            "aai",
            "nested arrays infer from the first element"
        );
    }

    #[test]
    fn refusals_say_why() {
        let err = |s: &str| parse(s).expect_err(s);
        assert_eq!(err("bogus"), "unrecognized type \"bogus\"");
        assert_eq!(err("\"open"), "unterminated string");
        assert_eq!(err("[]"), "can't infer type for \"[]\"");
        assert_eq!(err(""), "unexpected end of the value");
        assert_eq!(err("5 6"), "unexpected \"6\" after the value");
        assert_eq!(err("12abc"), "bad number syntax: \"12a\"");
        assert_eq!(err("@zz 1"), "invalid type signature \"zz\"");
        assert!(err("byte 256").contains("out of range"));
        assert!(err("uint64 -1").contains("out of range"));
        assert!(err("uint64 'x'").contains("can't parse"));
        assert!(err("[1, 'a']").contains("given type information"));
        assert!(err("uint64 uint64 1").contains("unexpected type annotation"));
        assert!(err("[1 2]").contains("in an array"));
        assert!(err(&"[".repeat(100)).contains("nested deeper"));
    }
}
