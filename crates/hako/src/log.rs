//! runc's log formats. Errors always go to stderr (logrus text, as runc prints them) and, with
//! `--log FILE`, to that file in the chosen format, where engines read the last error line.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use crate::LogFormat;

/// Where and how to log.
#[derive(Clone)]
pub struct Logger {
    /// `--log FILE`, opened at start for appending (close-on-exec). A container init, a copy of
    /// the runtime, writes its `--debug` steps through the same open file: after pivot_root
    /// the path is out of its view.
    file: Option<Arc<std::fs::File>>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    /// A logger for the global flags. As runc, the log file is made (0644, appended to) now,
    /// whether or not anything is logged; one that cannot be opened is an error naming it.
    pub fn new(file: Option<&Path>, format: LogFormat, debug: bool) -> Result<Self, String> {
        // runc's default: "/dev/stderr" is stderr itself.
        let file = match file.filter(|f| *f != Path::new("/dev/stderr")) {
            None => None,
            Some(path) => Some(Arc::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o644)
                    .open(path)
                    .map_err(|e| {
                        let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
                        format!(
                            "open {}: {}",
                            path.display(),
                            libhako::error::errno_text(errno)
                        )
                    })?,
            )),
        };
        Ok(Logger {
            file,
            format,
            debug,
        })
    }

    /// A logger to stderr alone, in text, without debug.
    pub fn plain() -> Self {
        Logger {
            file: None,
            format: LogFormat::Text,
            debug: false,
        }
    }

    /// Whether `--debug` is on.
    pub fn debugging(&self) -> bool {
        self.debug
    }

    /// Log an error: stderr and the log file.
    pub fn error(&self, msg: &str) {
        let now = now_seconds();
        let _ = writeln!(std::io::stderr(), "{}", text_line(&now, "error", msg));
        self.to_file(&now, "error", msg);
    }

    /// Log a warning: stderr and the log file.
    pub fn warn(&self, msg: &str) {
        let now = now_seconds();
        let _ = writeln!(std::io::stderr(), "{}", text_line(&now, "warning", msg));
        self.to_file(&now, "warning", msg);
    }

    /// Log a debug message to the log file (or stderr without one), with `--debug` only.
    pub fn debug(&self, msg: &str) {
        if !self.debug {
            return;
        }
        let now = now_seconds();
        if self.file.is_some() {
            self.to_file(&now, "debug", msg);
        } else {
            let _ = writeln!(std::io::stderr(), "{}", text_line(&now, "debug", msg));
        }
    }

    fn to_file(&self, now: &str, level: &str, msg: &str) {
        let Some(f) = &self.file else { return };
        let line = match self.format {
            LogFormat::Text => text_line(now, level, msg),
            LogFormat::Json => json_line(now, level, msg),
        };
        // One write of the whole line: O_APPEND keeps lines of several processes whole.
        let _ = (&**f).write_all(format!("{line}\n").as_bytes());
    }
}

/// RFC 3339 to the second, as logrus prints it.
fn now_seconds() -> String {
    let full = libhako::state::now_rfc3339();
    format!("{}Z", &full[..19])
}

/// logrus's text line; the message is quoted as Go's %q would.
pub fn text_line(time: &str, level: &str, msg: &str) -> String {
    format!("time=\"{time}\" level={level} msg={}", go_quote(msg))
}

/// runc's JSON log line, keys in logrus's order.
pub fn json_line(time: &str, level: &str, msg: &str) -> String {
    let obj = serde_json::json!({ "level": level, "msg": msg, "time": time });
    obj.to_string()
}

fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_runc() {
        assert_eq!(
            text_line("2026-11-29T13:29:31Z", "error", "container does not exist"),
            r#"time="2026-11-29T13:29:31Z" level=error msg="container does not exist""#
        );
        assert_eq!(
            json_line("2026-11-29T13:21:34Z", "error", "container does not exist"),
            r#"{"level":"error","msg":"container does not exist","time":"2026-11-29T13:21:34Z"}"#
        );
        assert_eq!(
            go_quote("unknown signal \"FOO\""),
            r#""unknown signal \"FOO\"""#
        );
        assert_eq!(go_quote("a\nb"), r#""a\nb""#);
    }
}
