//! A minimal D-Bus client: just what the systemd cgroup driver needs, over one blocking unix
//! socket. EXTERNAL authentication (the kernel vouches for our uid), method calls with their
//! replies, and the signals that arrive in between (systemd's `JobRemoved`). No threads, no
//! async runtime, no library to load: this code costs nothing unless `--systemd-cgroup` is
//! given. The basic types but file descriptors, arrays, structs, dict entries and variants
//! are encoded (the `org.systemd.property.*` annotations can carry any of them).
//!
//! Runs in the runtime process only, never in the container init.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A D-Bus value. Arrays carry their element signature so that an empty one encodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `n`
    I16(i16),
    /// `q`
    U16(u16),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `d`
    Double(f64),
    /// `s`
    Str(String),
    /// `o`
    Path(String),
    /// `g`
    Sig(String),
    /// `a<sig>`
    Array(String, Vec<Value>),
    /// `(...)`
    Struct(Vec<Value>),
    /// `{kv}`, an element of a dictionary (`a{kv}`)
    DictEntry(Box<Value>, Box<Value>),
    /// `v`
    Variant(Box<Value>),
}

impl Value {
    /// The value's type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I16(_) => "n".into(),
            Value::U16(_) => "q".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Double(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(v) => format!("({})", v.iter().map(Value::signature).collect::<String>()),
            Value::DictEntry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
        }
    }

    /// The string inside `s`, `o`, `g` (or a variant holding one).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            Value::Variant(v) => v.as_str(),
            _ => None,
        }
    }

    /// An `a(sv)` property list, as systemd takes it.
    pub fn props(props: Vec<(String, Value)>) -> Value {
        let items = props
            .into_iter()
            .map(|(k, v)| Value::Struct(vec![Value::Str(k), Value::Variant(Box::new(v))]))
            .collect();
        Value::Array("(sv)".into(), items)
    }
}

/// Alignment of the type starting with `c`.
fn align_of(c: u8) -> usize {
    match c {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b't' | b'x' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// Marshals values little-endian; offsets are relative to the start of the buffer, which is
/// always 8-aligned in the message (header, then body).
#[derive(Default)]
struct Enc {
    buf: Vec<u8>,
}

impl Enc {
    fn pad(&mut self, n: usize) {
        self.buf.resize(self.buf.len().next_multiple_of(n), 0);
    }
    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn fixed<const N: usize>(&mut self, bytes: [u8; N]) {
        self.pad(N);
        self.buf.extend_from_slice(&bytes);
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn put(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I16(n) => self.fixed(n.to_le_bytes()),
            Value::U16(n) => self.fixed(n.to_le_bytes()),
            Value::I32(n) => self.fixed(n.to_le_bytes()),
            Value::U32(n) => self.u32(*n),
            Value::I64(n) => self.fixed(n.to_le_bytes()),
            Value::U64(n) => self.fixed(n.to_le_bytes()),
            Value::Double(n) => self.fixed(n.to_le_bytes()),
            Value::Str(s) | Value::Path(s) => self.string(s),
            Value::Sig(s) => self.sig(s),
            Value::Array(elem, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                self.pad(align_of(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for i in items {
                    self.put(i);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.put(f);
                }
            }
            Value::DictEntry(k, v) => {
                self.pad(8);
                self.put(k);
                self.put(v);
            }
            Value::Variant(inner) => {
                self.sig(&inner.signature());
                self.put(inner);
            }
        }
    }
}

/// Unmarshals values of a known signature; `le` is the message's byte order.
struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    le: bool,
}

fn malformed(what: &str) -> Error {
    Error::Lifecycle(format!("D-Bus: malformed message from the bus ({what})"))
}

impl Dec<'_> {
    fn align(&mut self, n: usize) -> Result<()> {
        self.pos = self.pos.div_ceil(n) * n;
        (self.pos <= self.buf.len())
            .then_some(())
            .ok_or_else(|| malformed("truncated"))
    }
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| malformed("length"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| malformed("truncated"))?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        let le = self.le;
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| malformed("u32"))?;
        Ok(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u16(&mut self) -> Result<u16> {
        self.align(2)?;
        let le = self.le;
        let b: [u8; 2] = self.take(2)?.try_into().map_err(|_| malformed("u16"))?;
        Ok(if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u64(&mut self) -> Result<u64> {
        self.align(8)?;
        let le = self.le;
        let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| malformed("u64"))?;
        Ok(if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    fn text(&mut self, len: usize) -> Result<String> {
        let s = String::from_utf8(self.take(len)?.to_vec()).map_err(|_| malformed("utf-8"))?;
        self.take(1)?;
        Ok(s)
    }
    /// One complete type from the front of `sig`; returns it and the rest.
    fn split_type(sig: &str) -> Result<(&str, &str)> {
        let b = sig.as_bytes();
        let mut i = 0;
        while b.get(i) == Some(&b'a') {
            i += 1;
        }
        let end = match b.get(i) {
            Some(b'(') | Some(b'{') => {
                let mut depth = 0;
                let mut j = i;
                loop {
                    match b.get(j) {
                        Some(b'(') | Some(b'{') => depth += 1,
                        Some(b')') | Some(b'}') => {
                            depth -= 1;
                            if depth == 0 {
                                break j + 1;
                            }
                        }
                        Some(_) => {}
                        None => return Err(malformed("signature")),
                    }
                    j += 1;
                }
            }
            Some(_) => i + 1,
            None => return Err(malformed("signature")),
        };
        Ok((&sig[..end], &sig[end..]))
    }
    fn all(&mut self, mut sig: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        while !sig.is_empty() {
            let (t, rest) = Self::split_type(sig)?;
            out.push(self.get(t)?);
            sig = rest;
        }
        Ok(out)
    }
    fn get(&mut self, t: &str) -> Result<Value> {
        let c = t.as_bytes().first().copied().unwrap_or(0);
        Ok(match c {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'n' => Value::I16(self.u16()? as i16),
            b'q' => Value::U16(self.u16()?),
            b'i' => Value::I32(self.u32()? as i32),
            b'u' | b'h' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' => Value::U64(self.u64()?),
            b'd' => Value::Double(f64::from_bits(self.u64()?)),
            b's' | b'o' => {
                let n = self.u32()? as usize;
                let s = self.text(n)?;
                if c == b's' {
                    Value::Str(s)
                } else {
                    Value::Path(s)
                }
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Value::Sig(self.text(n)?)
            }
            b'v' => {
                let n = self.take(1)?[0] as usize;
                let s = self.text(n)?;
                let (one, rest) = Self::split_type(&s)?;
                if !rest.is_empty() {
                    return Err(malformed("variant signature"));
                }
                Value::Variant(Box::new(self.get(one)?))
            }
            b'a' => {
                let elem = &t[1..];
                let len = self.u32()? as usize;
                self.align(align_of(elem.as_bytes().first().copied().unwrap_or(b'y')))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .ok_or_else(|| malformed("array"))?;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.get(elem)?);
                }
                Value::Array(elem.into(), items)
            }
            b'(' => {
                self.align(8)?;
                Value::Struct(self.all(&t[1..t.len() - 1])?)
            }
            b'{' => {
                self.align(8)?;
                match <[Value; 2]>::try_from(self.all(&t[1..t.len() - 1])?) {
                    Ok([k, v]) => Value::DictEntry(Box::new(k), Box::new(v)),
                    Err(_) => return Err(malformed("dict entry")),
                }
            }
            _ => return Err(malformed(&format!("unsupported type {t:?}"))),
        })
    }
}

/// Message types.
const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

/// A received message (the header fields hako looks at, and the body).
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// 1 call, 2 return, 3 error, 4 signal.
    pub kind: u8,
    /// The serial of the call this answers.
    pub reply_serial: u32,
    /// Object path (signals).
    pub path: String,
    /// Interface (signals).
    pub interface: String,
    /// Member (signals).
    pub member: String,
    /// Error name (errors).
    pub error: String,
    /// The body's values.
    pub body: Vec<Value>,
}

impl Message {
    /// The error text of an error reply: its name and message.
    fn error_text(&self) -> String {
        match self.body.first().and_then(Value::as_str) {
            Some(m) => format!("{}: {m}", self.error),
            None => self.error.clone(),
        }
    }
}

/// A method call's destination.
pub struct Target<'a> {
    /// Bus name (ignored on a peer-to-peer connection).
    pub dest: &'a str,
    /// Object path.
    pub path: &'a str,
    /// Interface.
    pub interface: &'a str,
}

/// A call failed: either the bus said so (`name` is the D-Bus error name) or the transport did.
#[derive(Debug)]
pub enum CallError {
    /// An error reply: its name and the full text.
    Reply {
        /// The D-Bus error name (`org.freedesktop.systemd1.NoSuchUnit`).
        name: String,
        /// The name and the message.
        text: String,
    },
    /// Anything else.
    Other(Error),
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Other(e)
    }
}

impl CallError {
    /// As the library's error, prefixed with what was being done.
    pub fn context(self, what: &str) -> Error {
        match self {
            CallError::Reply { text, .. } => Error::Lifecycle(format!("{what}: {text}")),
            CallError::Other(Error::Lifecycle(m)) => Error::Lifecycle(format!("{what}: {m}")),
            CallError::Other(e) => Error::Lifecycle(format!("{what}: {e}")),
        }
    }
    /// The D-Bus error name of an error reply.
    pub fn name(&self) -> Option<&str> {
        match self {
            CallError::Reply { name, .. } => Some(name),
            CallError::Other(_) => None,
        }
    }
}

/// One authenticated connection.
pub struct Conn {
    sock: UnixStream,
    /// Where it is connected, for error messages.
    pub address: PathBuf,
    serial: u32,
    /// Whether this is a message bus (calls need a destination, signals an AddMatch).
    pub is_bus: bool,
    /// Signals read while waiting for replies, oldest first.
    pub signals: Vec<Message>,
    timeout: Duration,
}

impl Conn {
    /// Connect to `path`, authenticate as our uid and, on a message bus, say Hello.
    pub fn open(path: &Path, is_bus: bool, timeout: Duration) -> Result<Conn> {
        let sock = UnixStream::connect(path).map_err(|e| Error::io("connecting to", path, e))?;
        let mut c = Conn {
            sock,
            address: path.into(),
            serial: 0,
            is_bus,
            signals: Vec::new(),
            timeout,
        };
        c.auth()?;
        if is_bus {
            let bus = Target {
                dest: "org.freedesktop.DBus",
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
            };
            c.call(&bus, "Hello", &[])
                .map_err(|e| e.context(&format!("D-Bus Hello on {}", path.display())))?;
        }
        Ok(c)
    }

    fn io_err(&self, op: &'static str, e: std::io::Error) -> Error {
        Error::io(op, &self.address, e)
    }

    /// SASL EXTERNAL: the server checks our uid with SO_PEERCRED. `BEGIN` goes in the same
    /// write as `AUTH` (as sd-bus's own clients do): systemd's server reads both at once and is
    /// running before it answers `OK`, so the first call arrives as new data. Sent after the
    /// `OK`, `BEGIN` and the first call could land in one read of the server, and systemd then
    /// may not look at the call until something else arrives on the socket (seen as calls that
    /// time out now and then).
    fn auth(&mut self) -> Result<()> {
        let uid = nix::unistd::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n");
        self.sock
            .write_all(hello.as_bytes())
            .map_err(|e| self.io_err("authenticating to", e))?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(Error::Lifecycle(format!(
                "D-Bus authentication on {} refused: {line:?}",
                self.address.display()
            )));
        }
        Ok(())
    }

    fn read_line(&mut self) -> Result<String> {
        self.sock
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| self.io_err("setting a timeout on", e))?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 4096 {
                return Err(malformed("authentication line too long"));
            }
            self.sock
                .read_exact(&mut b)
                .map_err(|e| self.io_err("reading from", e))?;
            line.push(b[0]);
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }

    /// Call `member` and wait for its reply; signals read meanwhile are kept in `signals`.
    pub fn call(
        &mut self,
        t: &Target<'_>,
        member: &str,
        args: &[Value],
    ) -> std::result::Result<Vec<Value>, CallError> {
        let serial = self.send(t, member, args)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.recv(deadline)?;
            match m.kind {
                METHOD_RETURN if m.reply_serial == serial => return Ok(m.body),
                ERROR if m.reply_serial == serial => {
                    return Err(CallError::Reply {
                        text: m.error_text(),
                        name: m.error,
                    })
                }
                SIGNAL => self.signals.push(m),
                _ => {}
            }
        }
    }

    fn send(&mut self, t: &Target<'_>, member: &str, args: &[Value]) -> Result<u32> {
        self.serial += 1;
        let mut body = Enc::default();
        for a in args {
            body.put(a);
        }
        let sig: String = args.iter().map(Value::signature).collect();
        let field = |code: u8, v: Value| {
            Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))])
        };
        let mut fields = vec![
            field(1, Value::Path(t.path.into())),
            field(2, Value::Str(t.interface.into())),
            field(3, Value::Str(member.into())),
        ];
        if self.is_bus {
            fields.push(field(6, Value::Str(t.dest.into())));
        }
        if !sig.is_empty() {
            fields.push(field(8, Value::Sig(sig)));
        }
        let mut msg = Enc::default();
        msg.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
        msg.u32(body.buf.len() as u32);
        msg.u32(self.serial);
        msg.put(&Value::Array("(yv)".into(), fields));
        msg.pad(8);
        msg.buf.extend_from_slice(&body.buf);
        self.sock
            .write_all(&msg.buf)
            .map_err(|e| self.io_err("writing to", e))?;
        Ok(self.serial)
    }

    /// Whether a message starts arriving before `by` (then read it whole with [`Conn::recv`]).
    pub fn readable_by(&self, by: Instant) -> Result<bool> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let left = by.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(false),
            Err(e) => Err(Error::sys(format!("poll on {}", self.address.display()), e)),
        }
    }

    /// Read one message, waiting until `deadline`.
    pub fn recv(&mut self, deadline: Instant) -> Result<Message> {
        let mut fixed = [0u8; 16];
        self.read_until(&mut fixed, deadline)?;
        let le = match fixed[0] {
            b'l' => true,
            b'B' => false,
            _ => return Err(malformed("byte order")),
        };
        let word = |i: usize| {
            let b = [fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]];
            if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let (body_len, fields_len) = (word(4) as usize, word(12) as usize);
        // The spec caps a message at 128 MiB.
        if body_len > 1 << 27 || fields_len > 1 << 27 {
            return Err(malformed("message too large"));
        }
        let header_end = (16 + fields_len).div_ceil(8) * 8;
        let mut rest = vec![0u8; header_end - 16 + body_len];
        self.read_until(&mut rest, deadline)?;
        let mut all = fixed.to_vec();
        all.extend_from_slice(&rest);
        let mut d = Dec {
            buf: &all[..header_end],
            pos: 12,
            le,
        };
        let mut m = Message {
            kind: fixed[1],
            ..Message::default()
        };
        let mut sig = String::new();
        if let Value::Array(_, fields) = d.get("a(yv)")? {
            for f in fields {
                let Value::Struct(f) = f else { continue };
                let (Some(Value::Byte(code)), Some(v)) = (f.first(), f.get(1)) else {
                    continue;
                };
                let s = v.as_str().unwrap_or_default().to_string();
                match code {
                    1 => m.path = s,
                    2 => m.interface = s,
                    3 => m.member = s,
                    4 => m.error = s,
                    5 => {
                        if let Value::Variant(b) = v {
                            if let Value::U32(n) = **b {
                                m.reply_serial = n;
                            }
                        }
                    }
                    8 => sig = s,
                    _ => {}
                }
            }
        }
        let mut body = Dec {
            buf: &all[header_end..],
            pos: 0,
            le,
        };
        m.body = body.all(&sig)?;
        Ok(m)
    }

    fn read_until(&mut self, buf: &mut [u8], deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Lifecycle(format!(
                "timed out waiting for {}",
                self.address.display()
            )));
        }
        self.sock
            .set_read_timeout(Some(left))
            .map_err(|e| self.io_err("setting a timeout on", e))?;
        self.sock.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Error::Lifecycle(format!("timed out waiting for {}", self.address.display()))
            }
            _ => self.io_err("reading from", e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let mut e = Enc::default();
        e.put(&v);
        let sig = v.signature();
        let mut d = Dec {
            buf: &e.buf,
            pos: 0,
            le: true,
        };
        assert_eq!(d.all(&sig).unwrap(), vec![v]);
        assert_eq!(d.pos, e.buf.len());
    }

    #[test]
    fn encodes_and_decodes() {
        roundtrip(Value::Str("hako-x.scope".into()));
        roundtrip(Value::props(vec![
            ("Delegate".into(), Value::Bool(true)),
            ("MemoryMax".into(), Value::U64(1 << 30)),
            (
                "PIDs".into(),
                Value::Array("u".into(), vec![Value::U32(42)]),
            ),
            (
                "AllowedCPUs".into(),
                Value::Array("y".into(), vec![Value::Byte(3)]),
            ),
            ("Slice".into(), Value::Str("system.slice".into())),
        ]));
        roundtrip(Value::Array("(sa(sv))".into(), vec![]));
        roundtrip(Value::Struct(vec![
            Value::Byte(1),
            Value::I16(-2),
            Value::U16(3),
            Value::I32(-4),
            Value::I64(-5),
            Value::Double(0.5),
            Value::Array(
                "{sv}".into(),
                vec![Value::DictEntry(
                    Box::new(Value::Str("k".into())),
                    Box::new(Value::Variant(Box::new(Value::U16(6)))),
                )],
            ),
        ]));
        roundtrip(Value::Struct(vec![
            Value::U32(7),
            Value::Path("/org/freedesktop/systemd1/job/7".into()),
            Value::Str("u".into()),
            Value::Sig("a(sv)".into()),
        ]));
    }

    #[test]
    fn wire_layout() {
        // a(sv) with one (s "A", v b true): the struct starts 8-aligned, the bool 4-aligned.
        let mut e = Enc::default();
        e.put(&Value::props(vec![("A".into(), Value::Bool(true))]));
        assert_eq!(
            e.buf,
            [
                16, 0, 0, 0, 0, 0, 0, 0, // array length, pad to 8
                1, 0, 0, 0, b'A', 0, // "A"
                1, b'b', 0, // signature "b"
                0, 0, 0, // pad to 4
                1, 0, 0, 0 // true
            ]
        );
        assert_eq!(Dec::split_type("a(sv)s").unwrap(), ("a(sv)", "s"));
        assert_eq!(Dec::split_type("uoss").unwrap(), ("u", "oss"));
        assert!(Dec::split_type("(s").is_err());
    }

    #[test]
    fn refuses_garbage() {
        let mut d = Dec {
            buf: &[200, 0, 0, 0, b'x'],
            pos: 0,
            le: true,
        };
        assert!(d.get("s").is_err());
        let mut d = Dec {
            buf: &[1, b'q', 0],
            pos: 0,
            le: true,
        };
        assert!(d.get("v").is_err());
    }
}
