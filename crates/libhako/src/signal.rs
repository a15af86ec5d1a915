//! Signal names and numbers as `kill` accepts them: `9`, `KILL`, `SIGKILL`, `sigkill`,
//! `RTMIN+3`. Pure logic, unit-tested.

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

/// Parse a signal the way runc does; the error is runc's `unknown signal "X"`. A number is
/// taken as it is, as runc does: 0 checks that the init is alive, and kill(2) refuses the
/// numbers that are no signal (runc's `unable to signal init: invalid argument`). Numbers
/// beyond an `int` (which Go would cut to their low 32 bits) are unknown.
pub fn parse(s: &str) -> Result<i32> {
    let unknown = || Error::Lifecycle(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i64>() {
        return i32::try_from(n).map_err(|_| unknown());
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rt) = name.strip_prefix("RTMIN") {
        return realtime(libc::SIGRTMIN(), rt, 1).ok_or_else(unknown);
    }
    if let Some(rt) = name.strip_prefix("RTMAX") {
        return realtime(libc::SIGRTMAX(), rt, -1).ok_or_else(unknown);
    }
    let full = format!("SIG{name}");
    full.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| unknown())
}

fn realtime(base: i32, rest: &str, dir: i32) -> Option<i32> {
    let off = match rest {
        "" => 0,
        r => {
            let (sign, digits) = r.split_at(1);
            let n: i32 = digits.parse().ok()?;
            match (sign, dir) {
                ("+", 1) | ("-", -1) => n * dir,
                _ => return None,
            }
        }
    };
    let sig = base + off;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&sig)
        .then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9").ok(), Some(9));
        assert_eq!(parse("KILL").ok(), Some(9));
        assert_eq!(parse("SIGKILL").ok(), Some(9));
        assert_eq!(parse("sigterm").ok(), Some(15));
        assert_eq!(parse("hup").ok(), Some(1));
        assert_eq!(parse("USR1").ok(), Some(10));
        assert_eq!(parse("0").ok(), Some(0));
        assert_eq!(parse("+9").ok(), Some(9));
        assert_eq!(parse("99").ok(), Some(99));
        assert_eq!(parse("-1").ok(), Some(-1));
    }

    #[test]
    fn realtime_signals() {
        assert_eq!(parse("RTMIN").ok(), Some(libc::SIGRTMIN()));
        assert_eq!(parse("SIGRTMIN+2").ok(), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse("RTMAX-1").ok(), Some(libc::SIGRTMAX() - 1));
        assert!(parse("RTMIN-1").is_err());
    }

    #[test]
    fn rejects_unknown() {
        for bad in ["FOO", "SIGFOO", " 9", "99999999999", "", "SIG"] {
            let err = parse(bad).err().map(|e| e.to_string());
            assert_eq!(err, Some(format!("unknown signal {bad:?}")), "{bad}");
        }
    }
}
