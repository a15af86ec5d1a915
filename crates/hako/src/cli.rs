//! The command line, parsed as runc parses it (urfave/cli v1 over Go's `flag` package), from
//! tables of flags: `-f`, `--f`, `-flag`, `--flag`, `--flag=value`, `--flag value`; booleans
//! take only `--flag` or `--flag=BOOL`; flags stop at the first argument or at `--`; each
//! verb but `exec` and `ps` also takes its flags after its arguments (urfave's reordering).
//! Usage errors have runc's words and exit status 1; help is in runc's layout.
//!
//! Hand-written rather than clap: building clap's command tree at every call cost ~0.2 ms and
//! ~0.25 MiB of heap, and its code ~0.3 MiB of binary, for a CLI that is a fixed table.

use std::fmt::Write as _;

/// What a flag's value must be, checked while parsing as Go's flag types are.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A switch: no value, or `=BOOL`.
    Bool,
    /// Any string.
    Text,
    /// A signed integer (Go `int`).
    Int,
    /// An unsigned integer (Go `uint`).
    Uint,
    /// Checked by this function.
    Check(fn(&str) -> bool),
}

/// One flag: `--long`, and `-short` if any, as urfave's `"long, short"`.
pub struct Flag {
    /// The long name.
    pub long: &'static str,
    /// The one-letter name.
    pub short: Option<&'static str>,
    /// Its value's kind.
    pub kind: Kind,
    /// The help line; empty for a flag taken but not shown (runc's hidden flags).
    pub help: &'static str,
}

impl Flag {
    /// A switch.
    pub const fn switch(
        long: &'static str,
        short: Option<&'static str>,
        help: &'static str,
    ) -> Flag {
        Flag {
            long,
            short,
            kind: Kind::Bool,
            help,
        }
    }

    /// A flag with a value of `kind`.
    pub const fn value(
        long: &'static str,
        short: Option<&'static str>,
        kind: Kind,
        help: &'static str,
    ) -> Flag {
        Flag {
            long,
            short,
            kind,
            help,
        }
    }

    fn named(&self, name: &str) -> bool {
        self.long == name || self.short == Some(name)
    }
}

/// How many arguments a verb takes (runc's `checkArgs`).
#[derive(Clone, Copy)]
pub enum Arity {
    /// Exactly this many.
    Exact(usize),
    /// At least this many.
    Min(usize),
    /// Between these, inclusive.
    Range(usize, usize),
    /// Any number.
    Any,
}

/// One verb of the command line.
pub struct Verb {
    /// Its name.
    pub name: &'static str,
    /// Another name for it (`h`, `ps-list`).
    pub alias: Option<&'static str>,
    /// The one-line summary of `hako help`.
    pub summary: &'static str,
    /// What follows `hako NAME ` on its USAGE line.
    pub usage: &'static str,
    /// Its DESCRIPTION section ("" for none).
    pub description: &'static str,
    /// Its flags.
    pub flags: &'static [Flag],
    /// Its arguments.
    pub arity: Arity,
    /// Whether flags after its arguments are moved before them (all verbs but `exec`, `ps`).
    pub reorder: bool,
}

impl Verb {
    /// A verb that takes one container id and no flag (`start`, `state`, `pause`, `resume`).
    pub const fn on_one_container(
        name: &'static str,
        summary: &'static str,
        description: &'static str,
    ) -> Verb {
        Verb {
            name,
            alias: None,
            summary,
            usage: "<container-id>",
            description,
            flags: &[],
            arity: Arity::Exact(1),
            reorder: true,
        }
    }
}

/// A command-line mistake: exit status 1, runc's message on stderr, and the help on stdout
/// after `Incorrect Usage` (runc's `Incorrect Usage.` alone when the count of arguments is
/// wrong).
#[derive(Debug, PartialEq, Eq)]
pub struct Usage {
    /// The error line.
    pub msg: String,
    /// Whether `msg` is shown after `Incorrect Usage: ` (not for a wrong count of arguments).
    pub shown: bool,
}

impl Usage {
    fn flag(msg: String) -> Usage {
        Usage { msg, shown: true }
    }
}

/// The flags given (by long name, in order, values as given; `true`/`false` for switches) and
/// the arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Matches {
    set: Vec<(&'static str, String)>,
    /// The arguments after the flags.
    pub args: Vec<String>,
}

impl Matches {
    /// Whether the switch `long` is on.
    pub fn on(&self, long: &str) -> bool {
        self.value(long) == Some("true")
    }

    /// The last value of `long`.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.set
            .iter()
            .rev()
            .find(|(n, _)| *n == long)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `long`, in order (a repeatable flag).
    pub fn values(&self, long: &str) -> Vec<String> {
        self.set
            .iter()
            .filter(|(n, _)| *n == long)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The last value of `long` as a `T` (checked while parsing: see [`Kind`]; this catches
    /// a `T` narrower than the kind).
    pub fn parsed<T: std::str::FromStr>(&self, long: &str) -> Result<Option<T>, Usage> {
        self.value(long).map(|v| parse_value(long, v)).transpose()
    }

    /// Every value of `long` as a `T`, in order (a repeatable flag).
    pub fn parsed_all<T: std::str::FromStr>(&self, long: &str) -> Result<Vec<T>, Usage> {
        self.set
            .iter()
            .filter(|(n, _)| *n == long)
            .map(|(_, v)| parse_value(long, v))
            .collect()
    }

    /// The arguments from the `i`-th on (none if there are fewer).
    pub fn args_from(&self, i: usize) -> Vec<String> {
        self.args
            .get(i..)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// The `i`-th argument ("" if there are fewer; arity is checked before a verb runs).
    pub fn arg(&self, i: usize) -> String {
        self.args.get(i).cloned().unwrap_or_default()
    }
}

/// `v`, the value of flag `long`, as a `T`, or Go's error for it.
fn parse_value<T: std::str::FromStr>(long: &str, v: &str) -> Result<T, Usage> {
    v.parse()
        .map_err(|_| Usage::flag(format!("invalid value {v:?} for flag -{long}: parse error")))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What one parse of flags found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Flags and arguments.
    Flags(Matches),
    /// `-h`/`--help` was given.
    Help,
}

/// Parse `args` against `flags` (then `extra`, the global flags hako also takes after the
/// verb) as Go's `flag.FlagSet.Parse`: flags until the first argument or `--`.
pub fn parse_flags(flags: &[Flag], extra: &[Flag], args: &[String]) -> Result<Parsed, Usage> {
    let mut m = Matches::default();
    let mut forms: Vec<(&'static str, &str)> = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        i += 1;
        if arg == "--" {
            break;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(Usage::flag(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(flag) = flags.iter().chain(extra).find(|f| f.named(name)) else {
            if name == "help" || name == "h" {
                return Ok(Parsed::Help);
            }
            return Err(Usage::flag(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (flag.kind, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Bool, Some(v)) => match parse_bool(v) {
                Some(b) => b.to_string(),
                None => {
                    return Err(Usage::flag(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    )))
                }
            },
            (kind, v) => {
                let v = match v {
                    Some(v) => v.to_string(),
                    None => {
                        let next = args.get(i).ok_or_else(|| {
                            Usage::flag(format!("flag needs an argument: -{name}"))
                        })?;
                        i += 1;
                        next.clone()
                    }
                };
                let ok = match kind {
                    Kind::Int => v.parse::<i64>().is_ok(),
                    Kind::Uint => v.parse::<u64>().is_ok(),
                    Kind::Check(f) => f(&v),
                    Kind::Bool | Kind::Text => true,
                };
                if !ok {
                    return Err(Usage::flag(format!(
                        "invalid value {v:?} for flag -{name}: parse error"
                    )));
                }
                v
            }
        };
        if !forms.contains(&(flag.long, name)) {
            forms.push((flag.long, name));
        }
        m.set.push((flag.long, value));
    }
    // urfave's normalizeFlags: `-b X --bundle Y` is refused.
    for f in flags.iter().chain(extra) {
        let (Some(short), true) = (f.short, forms.contains(&(f.long, f.long))) else {
            continue;
        };
        if forms.contains(&(f.long, short)) {
            return Err(Usage::flag(format!(
                "Cannot use two forms of the same flag: {short} {}",
                f.long
            )));
        }
    }
    m.args = args[i..].to_vec();
    Ok(Parsed::Flags(m))
}

/// urfave's `reorderArgs` (v1.22.2 and later, runc's): the known flags, each with the word
/// after it when it has no `=` and that word is not a known flag, move before the other
/// arguments; a `--` goes first among those, and nothing after it moves.
pub fn reorder(flags: &[Flag], extra: &[Flag], args: &[String]) -> Vec<String> {
    let known = |arg: &str| {
        if arg == "-" || !arg.starts_with('-') {
            return false;
        }
        let name = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let name = name.split('=').next().unwrap_or(name);
        name == "help" || name == "h" || flags.iter().chain(extra).any(|f| f.named(name))
    };
    let (mut moved, mut rest) = (Vec::new(), Vec::new());
    let mut value_may_follow = false;
    for (i, arg) in args.iter().enumerate() {
        if value_may_follow && !known(arg) {
            value_may_follow = false;
            moved.push(arg.clone());
        } else if arg == "--" {
            rest.insert(0, arg.clone());
            rest.extend_from_slice(&args[i + 1..]);
            break;
        } else if known(arg) {
            moved.push(arg.clone());
            value_may_follow = !arg.contains('=');
        } else {
            rest.push(arg.clone());
        }
    }
    moved.extend(rest);
    moved
}

/// Parse a verb's part of the command line; `Ok(None)` is a request for its help. `prog` (the
/// program as called, `argv[0]`) names it in an error about the count of arguments, as runc.
pub fn parse_verb(
    prog: &str,
    verb: &Verb,
    extra: &[Flag],
    args: &[String],
) -> Result<Option<Matches>, Usage> {
    let args = if verb.reorder {
        reorder(verb.flags, extra, args)
    } else {
        args.to_vec()
    };
    let m = match parse_flags(verb.flags, extra, &args)? {
        Parsed::Help => return Ok(None),
        Parsed::Flags(m) => m,
    };
    let n = m.args.len();
    let wrong = match verb.arity {
        Arity::Exact(k) if n != k => Some(format!("exactly {k}")),
        Arity::Min(k) | Arity::Range(k, _) if n < k => Some(format!("a minimum of {k}")),
        Arity::Range(_, k) if n > k => Some(format!("a maximum of {k}")),
        _ => None,
    };
    match wrong {
        Some(w) => Err(Usage {
            msg: format!("{prog}: {:?} requires {w} argument(s)", verb.name),
            shown: false,
        }),
        None => Ok(Some(m)),
    }
}

/// The `  NAMES  help` lines of a help section, names padded as urfave's tabwriter.
fn columns(out: &mut String, rows: &[(String, &str)]) {
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0) + 2;
    for (names, help) in rows {
        let _ = writeln!(out, "   {names:width$}{help}");
    }
}

/// A flag's names as urfave shows them: `--bundle value, -b value`, `--force, -f`.
fn flag_names(f: &Flag) -> String {
    let v = if matches!(f.kind, Kind::Bool) {
        ""
    } else {
        " value"
    };
    let dashes = |n: &str| if n.len() == 1 { "-" } else { "--" };
    let mut s = format!("--{}{v}", f.long);
    if let Some(short) = f.short {
        let _ = write!(s, ", {}{short}{v}", dashes(short));
    }
    s
}

/// `hako help VERB`, in runc's layout.
pub fn verb_help(v: &Verb) -> String {
    let mut s = format!(
        "NAME:\n   hako {} - {}\n\nUSAGE:\n   hako {} {}\n",
        v.name, v.summary, v.name, v.usage
    );
    if !v.description.is_empty() {
        let _ = write!(s, "\nDESCRIPTION:\n   {}\n", v.description);
    }
    let rows = shown(v.flags);
    if !rows.is_empty() {
        s.push_str("\nOPTIONS:\n");
        columns(&mut s, &rows);
    }
    s
}

/// `hako help`, in runc's layout: NAME, USAGE, VERSION, COMMANDS, GLOBAL OPTIONS.
pub fn main_help(about: &str, version: &str, verbs: &[Verb], globals: &[Flag]) -> String {
    let mut s = format!(
        "NAME:\n   hako - {about}\n\nUSAGE:\n   hako [global options] command [command options] \
         [arguments...]\n\nVERSION:\n   {version}\n\nCOMMANDS:\n"
    );
    let rows: Vec<_> = verbs
        .iter()
        .map(|v| {
            let names = match v.alias {
                Some(a) => format!("{}, {a}", v.name),
                None => v.name.to_string(),
            };
            (names, v.summary)
        })
        .collect();
    columns(&mut s, &rows);
    s.push_str("\nGLOBAL OPTIONS:\n");
    columns(&mut s, &shown(globals));
    s
}

/// The help rows of the flags that are not hidden.
fn shown(flags: &[Flag]) -> Vec<(String, &'static str)> {
    flags
        .iter()
        .filter(|f| !f.help.is_empty())
        .map(|f| (flag_names(f), f.help))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag::value("bundle", Some("b"), Kind::Text, "bundle"),
        Flag::switch("force", Some("f"), "force"),
        Flag::value("preserve-fds", None, Kind::Uint, "fds"),
        Flag::value("env", Some("e"), Kind::Text, "env"),
    ];
    const GLOBAL: &[Flag] = &[Flag::value("root", None, Kind::Text, "root")];

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn flags(s: &str) -> Result<Matches, Usage> {
        match parse_flags(FLAGS, GLOBAL, &argv(s))? {
            Parsed::Flags(m) => Ok(m),
            Parsed::Help => Err(Usage::flag("help".into())),
        }
    }

    fn err(s: &str) -> String {
        flags(s).err().map(|u| u.msg).unwrap_or_default()
    }

    #[test]
    fn go_flag_forms() {
        for s in [
            "-b x id",
            "--b x id",
            "-bundle x id",
            "--bundle=x id",
            "-b=x id",
        ] {
            let m = flags(s).unwrap();
            assert_eq!(
                (m.value("bundle"), m.args.clone()),
                (Some("x"), argv("id")),
                "{s}"
            );
        }
        let m = flags("--force=false -e A=1 -e B=2 --root /r id cmd -f").unwrap();
        assert!(!m.on("force"));
        assert_eq!(m.values("env"), ["A=1", "B=2"]);
        assert_eq!(m.value("root"), Some("/r"));
        assert_eq!(
            m.args,
            argv("id cmd -f"),
            "flags stop at the first argument"
        );
        assert!(flags("-f=T x").unwrap().on("force"));
        assert_eq!(flags("-- -f").unwrap().args, ["-f"]);
        assert_eq!(flags("- x").unwrap().args, ["-", "x"]);
        assert_eq!(
            parse_flags(FLAGS, GLOBAL, &argv("-f --help x")),
            Ok(Parsed::Help)
        );
    }

    #[test]
    fn go_flag_errors_in_gos_words() {
        assert_eq!(err("--bogus x"), "flag provided but not defined: -bogus");
        assert_eq!(err("-b"), "flag needs an argument: -b");
        assert_eq!(
            err("--force=yes"),
            "invalid boolean value \"yes\" for -force: parse error"
        );
        assert_eq!(
            err("--preserve-fds -1"),
            "invalid value \"-1\" for flag -preserve-fds: parse error"
        );
        assert_eq!(err("---x"), "bad flag syntax: ---x");
        assert_eq!(err("-=x"), "bad flag syntax: -=x");
        assert_eq!(
            err("--bundle a -b b"),
            "Cannot use two forms of the same flag: b bundle"
        );
        assert!(flags("-b a -b b").is_ok(), "one form twice is fine");
    }

    #[test]
    fn flags_after_arguments_move_first_as_urfave_reorders() {
        let r = |s: &str| reorder(FLAGS, GLOBAL, &argv(s)).join(" ");
        assert_eq!(r("id --force"), "--force id");
        assert_eq!(r("id -b dir x"), "-b dir id x");
        assert_eq!(r("id --bogus -f"), "-f id --bogus");
        assert_eq!(r("id -- -f"), "-- id -f");
        assert_eq!(
            r("-e - id"),
            "-e - id",
            "a value may be -, as in `update -r - ID`"
        );
        assert_eq!(r("id -e -1"), "-e -1 id");
        assert_eq!(r("-b -f id"), "-b -f id", "a known flag is not a value");
        // urfave's quirk, kept: the word after a switch moves with it.
        assert_eq!(r("x -f id"), "-f id x");
        assert_eq!(r("a --bundle=x b"), "--bundle=x a b");
    }

    #[test]
    fn arity_is_checked_in_runcs_words() {
        let verb = |arity, reorder| Verb {
            name: "kill",
            alias: None,
            summary: "",
            usage: "",
            description: "",
            flags: FLAGS,
            arity,
            reorder,
        };
        let msg = |v: &Verb, s: &str| parse_verb("hako", v, GLOBAL, &argv(s)).err().map(|u| u.msg);
        let kill = verb(Arity::Range(1, 2), true);
        assert_eq!(
            msg(&kill, ""),
            Some("hako: \"kill\" requires a minimum of 1 argument(s)".into())
        );
        assert_eq!(
            msg(&kill, "a b c"),
            Some("hako: \"kill\" requires a maximum of 2 argument(s)".into())
        );
        assert_eq!(msg(&kill, "a -f b"), None);
        let exact = verb(Arity::Exact(1), true);
        assert_eq!(
            msg(&exact, "a b"),
            Some("hako: \"kill\" requires exactly 1 argument(s)".into())
        );
        assert_eq!(
            msg(&verb(Arity::Exact(1), false), "a -f"),
            Some("hako: \"kill\" requires exactly 1 argument(s)".into()),
            "no reordering: -f is an argument"
        );
        assert_eq!(parse_verb("hako", &exact, GLOBAL, &argv("a -h")), Ok(None));
    }

    #[test]
    fn help_in_urfaves_columns() {
        let v = Verb {
            name: "delete",
            alias: None,
            summary: "delete it",
            usage: "[command options] <container-id>",
            description: "",
            flags: &FLAGS[..2],
            arity: Arity::Exact(1),
            reorder: true,
        };
        assert_eq!(
            verb_help(&v),
            "NAME:\n   hako delete - delete it\n\nUSAGE:\n   hako delete [command options] \
             <container-id>\n\nOPTIONS:\n   --bundle value, -b value  bundle\n   \
             --force, -f               force\n"
        );
    }
}
