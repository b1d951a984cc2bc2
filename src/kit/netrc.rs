//! The netrc file that Ray's runtime_env downloads read for credentials (Ray's guide:
//! never put credentials in URIs, put them in ~/.netrc). We parse it the way Python's
//! `netrc` module and curl do, keep the byte span of every entry, and edit one entry by
//! splicing its span, so every other byte of the file (comments, other entries, macdefs)
//! stays exactly as it was.
//!
//! Messages never contain a password or any word that might be one.
use std::ops::Range;

use crate::error::{Error, Result};

/// One entry: `machine NAME ...`, `default ...` or `macdef NAME` with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Bytes from the first keyword to the end of the last token (macdef: of its body).
    pub span: Range<usize>,
    /// 1-based line of the first keyword.
    pub line: usize,
    pub login: Option<String>,
    pub has_password: bool,
    /// The `account` token exactly as written, kept when the entry is rewritten.
    pub account_raw: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Machine(String),
    Default,
    Macdef,
}

/// Something `raytls netrc check` reports. `malformed` problems make readers disagree
/// about what the file says, so `netrc set` refuses to edit such a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
    pub malformed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
}

impl Netrc {
    pub fn machines(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::Machine(name) => Some((name.as_str(), e)),
            _ => None,
        })
    }

    pub fn malformed(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.malformed)
    }
}

const KEYWORDS: [&str; 6] = [
    "machine", "default", "login", "password", "account", "macdef",
];

/// Words people write by mistake, with the keyword they meant. Only these are echoed in
/// messages: any other stray word may be (part of) a password.
const TYPOS: [(&str, &str); 10] = [
    ("user", "login"),
    ("username", "login"),
    ("passwd", "password"),
    ("pass", "password"),
    ("pwd", "password"),
    ("token", "password"),
    ("host", "machine"),
    ("hostname", "machine"),
    ("server", "machine"),
    ("port", "machine (host name only: netrc has no ports)"),
];

struct Token {
    text: String,
    span: Range<usize>,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    /// The text ends in a lone `\` inside a word: an escape of nothing.
    dangling_escape: bool,
}

impl<'a> Lexer<'a> {
    /// The next token, skipping whitespace and `#` comments (as Python's netrc: a `#` that
    /// starts a token comments out the rest of the line). `Err` is an unterminated quote.
    fn next(&mut self) -> Option<Result<Token, usize>> {
        let bytes = self.src.as_bytes();
        loop {
            while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos >= bytes.len() {
                return None;
            }
            if bytes[self.pos] == b'#' {
                while self.pos < bytes.len() && bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
                continue;
            }
            break;
        }
        let start = self.pos;
        let mut text = String::new();
        let mut chars = self.src[start..].char_indices();
        if self.src[start..].starts_with('"') {
            // Quoted token (curl >= 7.84, Python >= 3.11): backslash escapes the next char.
            chars.next();
            let mut escaped = false;
            for (i, c) in chars {
                if escaped {
                    text.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    self.pos = start + i + 1;
                    return Some(Ok(Token {
                        text,
                        span: start..self.pos,
                    }));
                } else {
                    text.push(c);
                }
            }
            self.pos = bytes.len();
            return Some(Err(start));
        }
        let mut end = self.src.len();
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                text.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c.is_ascii_whitespace() {
                end = start + i;
                break;
            } else {
                text.push(c);
            }
        }
        self.pos = end;
        self.dangling_escape = escaped;
        Some(Ok(Token {
            text,
            span: start..end,
        }))
    }

    /// Skip a macdef body: the rest of this line, then lines up to an empty one.
    fn skip_macdef_body(&mut self) {
        let rest = &self.src[self.pos..];
        let first_nl = match rest.find('\n') {
            Some(i) => i + 1,
            None => {
                self.pos = self.src.len();
                return;
            }
        };
        let mut at = self.pos + first_nl;
        while at < self.src.len() {
            let line_end = self.src[at..]
                .find('\n')
                .map_or(self.src.len(), |i| at + i + 1);
            if self.src[at..line_end].trim().is_empty() {
                self.pos = at;
                return;
            }
            at = line_end;
        }
        self.pos = self.src.len();
    }
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parse netrc text. Never fails: what it cannot read becomes a `Problem`.
pub fn parse(src: &str) -> Netrc {
    let mut lx = Lexer {
        src,
        pos: 0,
        dangling_escape: false,
    };
    let mut out = Netrc::default();
    let mut cur: Option<Entry> = None;
    let mut seen_keys: Vec<&'static str> = Vec::new();
    let problem = |out: &mut Netrc, at: usize, message: String, malformed: bool| {
        out.problems.push(Problem {
            line: line_of(src, at),
            message,
            malformed,
        });
    };
    let close = |out: &mut Netrc, cur: &mut Option<Entry>| {
        if let Some(e) = cur.take() {
            out.entries.push(e);
        }
    };
    while let Some(tok) = lx.next() {
        let tok = match tok {
            Ok(t) => t,
            Err(at) => {
                problem(
                    &mut out,
                    at,
                    "a quoted word has no closing '\"'".into(),
                    true,
                );
                break;
            }
        };
        match tok.text.as_str() {
            kw @ ("machine" | "default" | "macdef") => {
                close(&mut out, &mut cur);
                seen_keys.clear();
                let mut entry = Entry {
                    kind: EntryKind::Default,
                    span: tok.span.clone(),
                    line: line_of(src, tok.span.start),
                    login: None,
                    has_password: false,
                    account_raw: None,
                };
                if kw != "default" {
                    match lx.next() {
                        Some(Err(at)) => {
                            problem(
                                &mut out,
                                at,
                                "a quoted word has no closing '\"'".into(),
                                true,
                            );
                            break;
                        }
                        Some(Ok(name)) if !KEYWORDS.contains(&name.text.as_str()) => {
                            entry.span.end = name.span.end;
                            entry.kind = if kw == "machine" {
                                EntryKind::Machine(name.text)
                            } else {
                                EntryKind::Macdef
                            };
                        }
                        _ => {
                            problem(
                                &mut out,
                                tok.span.start,
                                format!("`{kw}` is not followed by a name"),
                                true,
                            );
                            break;
                        }
                    }
                }
                if kw == "macdef" {
                    lx.skip_macdef_body();
                    entry.span.end = lx.pos;
                    out.entries.push(entry);
                } else {
                    cur = Some(entry);
                }
            }
            kw @ ("login" | "password" | "account") => {
                let kw: &'static str = match kw {
                    "login" => "login",
                    "password" => "password",
                    _ => "account",
                };
                let Some(entry) = cur.as_mut() else {
                    problem(
                        &mut out,
                        tok.span.start,
                        format!("`{kw}` comes before any `machine` or `default` line"),
                        true,
                    );
                    // Skip its value so it is not reported (and possibly echoed) as well.
                    let _ = lx.next();
                    continue;
                };
                let value = match lx.next() {
                    Some(Ok(v)) if !KEYWORDS.contains(&v.text.as_str()) => v,
                    Some(Err(at)) => {
                        problem(
                            &mut out,
                            at,
                            "a quoted word has no closing '\"'".into(),
                            true,
                        );
                        break;
                    }
                    _ => {
                        problem(
                            &mut out,
                            tok.span.start,
                            format!("`{kw}` has no value"),
                            true,
                        );
                        break;
                    }
                };
                if seen_keys.contains(&kw) {
                    problem(
                        &mut out,
                        tok.span.start,
                        format!(
                            "`{kw}` appears twice in one entry; readers disagree on which wins"
                        ),
                        true,
                    );
                }
                seen_keys.push(kw);
                entry.span.end = value.span.end;
                match kw {
                    "login" => entry.login = Some(value.text),
                    "password" => entry.has_password = true,
                    _ => entry.account_raw = Some(src[value.span.clone()].to_string()),
                }
            }
            other => {
                let lower = other.to_ascii_lowercase();
                let message = match TYPOS.iter().find(|(typo, _)| *typo == lower) {
                    Some((typo, meant)) => {
                        format!("`{typo}` is not a netrc keyword; use `{meant}`")
                    }
                    None => "unexpected word (not shown: it may be a secret); netrc expects \
                             machine, default, login, password, account or macdef here, and a \
                             password with spaces must be quoted"
                        .to_string(),
                };
                problem(&mut out, tok.span.start, message, true);
            }
        }
    }
    if lx.dangling_escape {
        // Whatever is appended to such a file (`netrc set` adds a newline and an entry)
        // joins its last word: a machine name or password would silently change.
        problem(
            &mut out,
            src.len().saturating_sub(1),
            "the file ends with a lone backslash, which escapes nothing; anything added after \
             it joins the last word: remove it or end the file with a newline"
                .into(),
            true,
        );
    }
    close(&mut out, &mut cur);
    check_entries(&mut out);
    out.problems.sort_by_key(|p| p.line);
    out
}

/// Problems of meaning rather than syntax: names, duplicates, order, missing passwords.
fn check_entries(out: &mut Netrc) {
    let mut problems = Vec::new();
    let mut first_line: Vec<(&str, usize)> = Vec::new();
    let mut default_line: Option<usize> = None;
    for entry in &out.entries {
        match &entry.kind {
            EntryKind::Machine(name) => {
                if let Some(why) = machine_name_problem(name) {
                    problems.push(Problem {
                        line: entry.line,
                        message: why,
                        malformed: false,
                    });
                }
                if let Some((_, first)) = first_line.iter().find(|(n, _)| *n == name) {
                    problems.push(Problem {
                        line: entry.line,
                        message: format!(
                            "machine {name} appears again (first on line {first}); curl uses the \
                             first entry and Python's netrc the last: keep one"
                        ),
                        malformed: false,
                    });
                } else {
                    first_line.push((name, entry.line));
                }
                if let Some(d) = default_line {
                    problems.push(Problem {
                        line: entry.line,
                        message: format!(
                            "machine {name} comes after the `default` entry on line {d}; \
                             `default` must be last or some readers never reach this entry"
                        ),
                        malformed: false,
                    });
                }
                if !entry.has_password {
                    problems.push(Problem {
                        line: entry.line,
                        message: format!("machine {name} has no password"),
                        malformed: false,
                    });
                }
            }
            EntryKind::Default => default_line = Some(entry.line),
            EntryKind::Macdef => {}
        }
    }
    out.problems.extend(problems);
}

/// Why `name` cannot be a netrc machine name, if it cannot: readers match the host name of
/// the URL exactly, so a scheme, a path or a port never matches.
pub fn machine_name_problem(name: &str) -> Option<String> {
    if name.contains("://") || name.contains('/') {
        return Some(format!(
            "machine {name:?} is a URL; netrc matches the host name only (e.g. github.com)"
        ));
    }
    let unbracketed = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if name.contains(':') && unbracketed.parse::<std::net::Ipv6Addr>().is_err() {
        return Some(format!(
            "machine {name:?} has a port; netrc matches the host name only, without a port"
        ));
    }
    if name.contains('@') {
        return Some(format!(
            "machine {name:?} holds a user; put the user in `login` and the host in `machine`"
        ));
    }
    None
}

/// Check a value for `netrc set` so that every reader (Python's netrc, curl) reads it back
/// unchanged: no whitespace, no quote or backslash, no leading `#`.
pub fn check_value(flag: &str, value: &str, secret: bool) -> Result<()> {
    let shown = if secret {
        "(hidden)".to_string()
    } else {
        value.to_string()
    };
    let bad = |why: &str| Error::InvalidValue {
        source_name: flag.to_string(),
        value: shown.clone(),
        what: "netrc value",
        why: why.to_string(),
    };
    if value.is_empty() {
        return Err(bad("it is empty"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "it contains whitespace or a control character, which netrc readers split on or mangle",
        ));
    }
    if value.contains('"') || value.contains('\\') {
        return Err(bad(
            "it contains '\"' or '\\', which Python's netrc and curl read as quoting",
        ));
    }
    if value.starts_with('#') {
        return Err(bad(
            "it starts with '#', which Python's netrc reads as a comment",
        ));
    }
    if KEYWORDS.contains(&value) {
        return Err(bad("it is a netrc keyword"));
    }
    Ok(())
}

/// What `set_machine` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    pub text: String,
    pub updated: bool,
    pub removed_duplicates: usize,
}

/// Create or update the entry for `machine`, leaving every other byte alone. Later entries
/// for the same machine are removed (curl and Python would disagree on which one counts).
/// Refuses a file with malformed lines: we could not be sure what we are replacing.
pub fn set_machine(
    src: &str,
    machine: &str,
    login: &str,
    password: &str,
    path_for_errors: &std::path::Path,
) -> Result<SetOutcome> {
    let outcome = splice_machine(src, machine, login, password, path_for_errors)?;
    // Splicing text is only right if the result reads back as intended: our entry once,
    // every other entry as it was. A backslash that escapes the newline after a macdef name
    // (found by the netrc fuzz target) made the macdef body swallow an appended entry.
    let others = |n: &Netrc| -> Vec<(EntryKind, Option<String>, bool, Option<String>)> {
        n.entries
            .iter()
            .filter(|e| !matches!(&e.kind, EntryKind::Machine(m) if m == machine))
            .map(|e| {
                let (k, l, a) = (e.kind.clone(), e.login.clone(), e.account_raw.clone());
                (k, l, e.has_password, a)
            })
            .collect()
    };
    let after = parse(&outcome.text);
    let ours: Vec<&Entry> = after
        .machines()
        .filter(|(m, _)| *m == machine)
        .map(|(_, e)| e)
        .collect();
    let reads_back = after.malformed().next().is_none()
        && matches!(ours.as_slice(), [e] if e.login.as_deref() == Some(login) && e.has_password)
        && others(&parse(src)) == others(&after);
    if !reads_back {
        return Err(Error::Other(format!(
            "{}: cannot set machine {machine} without changing how readers see the rest of the \
             file; edit it by hand (run `raytls netrc check --file {}` afterwards)",
            path_for_errors.display(),
            path_for_errors.display()
        )));
    }
    Ok(outcome)
}

fn splice_machine(
    src: &str,
    machine: &str,
    login: &str,
    password: &str,
    path_for_errors: &std::path::Path,
) -> Result<SetOutcome> {
    let parsed = parse(src);
    if let Some(p) = parsed.malformed().next() {
        return Err(Error::Other(format!(
            "{}:{}: {}; not editing a malformed netrc (run `raytls netrc check --file {}` and fix it first)",
            path_for_errors.display(),
            p.line,
            p.message,
            path_for_errors.display()
        )));
    }
    let matching: Vec<&Entry> = parsed
        .machines()
        .filter(|(name, _)| *name == machine)
        .map(|(_, e)| e)
        .collect();
    let mut text = src.to_string();
    let mut render = format!("machine {machine}\nlogin {login}\npassword {password}");
    if let Some(first) = matching.first() {
        if let Some(account) = &first.account_raw {
            render.push_str(&format!("\naccount {account}"));
        }
        // Splice from the back so earlier spans stay valid.
        for dup in matching.iter().skip(1).rev() {
            let span = widen_to_lines(&text, dup.span.clone());
            text.replace_range(span, "");
        }
        text.replace_range(first.span.clone(), &render);
        return Ok(SetOutcome {
            text,
            updated: true,
            removed_duplicates: matching.len() - 1,
        });
    }
    // New entry: before `default` (which must stay last), else at the end after a blank
    // line (a blank line also ends a macdef body, which would otherwise swallow us).
    if let Some(default) = parsed.entries.iter().find(|e| e.kind == EntryKind::Default) {
        text.insert_str(default.span.start, &format!("{render}\n\n"));
    } else {
        if !text.is_empty() {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.ends_with("\n\n") {
                text.push('\n');
            }
        }
        text.push_str(&render);
        text.push('\n');
    }
    Ok(SetOutcome {
        text,
        updated: false,
        removed_duplicates: 0,
    })
}

/// Widen a span to whole lines when it is alone on them, so removing it leaves no blank
/// debris; otherwise leave it as is.
fn widen_to_lines(src: &str, span: Range<usize>) -> Range<usize> {
    let line_start = src[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[span.end..]
        .find('\n')
        .map_or(src.len(), |i| span.end + i + 1);
    let before_blank = src[line_start..span.start].trim().is_empty();
    let after_blank = src[span.end..line_end].trim().is_empty();
    if before_blank && after_blank {
        line_start..line_end
    } else {
        span
    }
}

/// Problems of the file itself (not its text): who may read it and who owns it. Python's
/// netrc refuses a file that others can read or that another user owns; Ray's guide asks
/// for `chmod 600`.
pub fn file_problems(path: &std::path::Path, meta: &std::fs::Metadata) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    if !meta.is_file() {
        out.push(format!("{} is not a regular file", path.display()));
        return out;
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        out.push(format!(
            "mode {mode:04o} lets other users read it; run `chmod 600 {}` (Python's netrc refuses it)",
            path.display()
        ));
    }
    // The owner of /proc/self is this process's effective uid; without /proc we skip this.
    if let Ok(me) = std::fs::metadata("/proc/self") {
        if me.uid() != meta.uid() {
            out.push(format!(
                "it is owned by uid {}, not by this user (uid {}); Python's netrc refuses it",
                meta.uid(),
                me.uid()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_multi_and_single_line_entries() {
        let n = parse(
            "# creds\nmachine a.com\n  login u\n  password p\nmachine b.com login v password q\n",
        );
        let names: Vec<_> = n.machines().map(|(m, _)| m.to_string()).collect();
        assert_eq!(names, ["a.com", "b.com"]);
        assert!(n.problems.is_empty(), "{:?}", n.problems);
        assert_eq!(n.entries[1].line, 5);
    }

    #[test]
    fn macdef_body_is_skipped() {
        let n = parse("macdef init\nuser x\npass y\n\nmachine a login u password p\n");
        assert!(n.problems.is_empty(), "{:?}", n.problems);
        assert_eq!(n.machines().count(), 1);
    }

    #[test]
    fn reports_malformed_lines_without_echoing_secrets() {
        let n = parse("machine a login u password hunter2 extra\nuser bob\nlogin x password y\n");
        let msgs: Vec<_> = n
            .problems
            .iter()
            .map(|p| (p.line, p.message.clone()))
            .collect();
        assert!(msgs
            .iter()
            .any(|(l, m)| *l == 1 && m.contains("unexpected word")));
        assert!(msgs
            .iter()
            .any(|(l, m)| *l == 2 && m.contains("`user` is not a netrc keyword")));
        assert!(msgs
            .iter()
            .all(|(_, m)| !m.contains("extra") && !m.contains("hunter2")));
    }

    #[test]
    fn login_before_machine_and_missing_value_are_malformed() {
        assert!(parse("login x password y\n").malformed().count() >= 1);
        assert!(parse("machine a login u password").malformed().count() == 1);
        assert!(parse("machine\n").malformed().count() == 1);
        let n = parse("machine a password \"open");
        assert_eq!(n.malformed().count(), 1);
        assert!(n.problems[0].message.contains("no closing"));
    }

    #[test]
    fn set_updates_in_place_and_keeps_the_rest() {
        let src = "# top\nmachine a.com login u password old account acc\n# mid\nmachine b.com login v password q\n";
        let out = set_machine(src, "a.com", "u2", "new", Path::new("n")).unwrap();
        assert!(out.updated);
        assert_eq!(
            out.text,
            "# top\nmachine a.com\nlogin u2\npassword new\naccount acc\n# mid\nmachine b.com login v password q\n"
        );
    }

    #[test]
    fn set_appends_and_goes_before_default() {
        let out = set_machine(
            "machine a login u password p",
            "b",
            "l",
            "w",
            Path::new("n"),
        )
        .unwrap();
        assert_eq!(
            out.text,
            "machine a login u password p\n\nmachine b\nlogin l\npassword w\n"
        );
        let out = set_machine(
            "default login anonymous password x\n",
            "b",
            "l",
            "w",
            Path::new("n"),
        )
        .unwrap();
        assert!(out
            .text
            .starts_with("machine b\nlogin l\npassword w\n\ndefault"));
        let out = set_machine("", "b", "l", "w", Path::new("n")).unwrap();
        assert_eq!(out.text, "machine b\nlogin l\npassword w\n");
    }

    #[test]
    fn set_removes_duplicates() {
        let src = "machine a login u password p\nmachine b login v password q\nmachine a login x password y\n";
        let out = set_machine(src, "a", "n", "w", Path::new("n")).unwrap();
        assert_eq!(out.removed_duplicates, 1);
        assert_eq!(
            out.text,
            "machine a\nlogin n\npassword w\nmachine b login v password q\n"
        );
    }

    #[test]
    fn regression_netrc_set_after_trailing_backslash() {
        // Found by fuzz/fuzz_targets/netrc.rs: a file whose last byte is a backslash (no
        // newline). `set` appended "\n\nmachine ..." and the backslash escaped that newline,
        // so the file's last word (a machine name here, a password as easily) changed.
        let src = "machine a.example login u password p\\";
        let parsed = parse(src);
        let problem = parsed
            .malformed()
            .next()
            .expect("a lone final backslash is malformed");
        assert!(problem.message.contains("backslash"), "{problem:?}");
        assert_eq!(problem.line, 1);
        let err = set_machine(src, "b.example", "v", "q", Path::new("netrc")).unwrap_err();
        assert!(err.to_string().contains("backslash"), "{err}");
        // An escaped character, or a backslash before the final newline, is no problem.
        for fine in [
            "machine a login u password p\\q",
            "machine a login u password p\\\n",
        ] {
            assert!(parse(fine).malformed().next().is_none(), "{fine:?}");
        }
    }

    #[test]
    fn regression_netrc_set_swallowed_by_macdef() {
        // Found by fuzz/fuzz_targets/netrc.rs: a macdef name ending in a backslash escapes
        // the newline after it, so the blank line `set` puts before an appended entry
        // became the end of the macdef line instead, and the macdef body swallowed the new
        // entry: `set` reported success and the machine was not in the file for any reader.
        let src = "machine a.example login u password p\nmacdef init\\\n";
        let err = set_machine(src, "b.example", "v", "q", Path::new("netrc")).unwrap_err();
        assert!(err.to_string().contains("edit it by hand"), "{err}");
        // The ordinary shapes are still edited.
        let ok = set_machine("macdef init\n", "b.example", "v", "q", Path::new("n")).unwrap();
        assert!(parse(&ok.text).machines().any(|(m, _)| m == "b.example"));
    }

    #[test]
    fn set_refuses_malformed_file() {
        assert!(set_machine("login x\n", "a", "n", "w", Path::new("n")).is_err());
    }

    #[test]
    fn values_that_readers_would_mangle_are_refused() {
        for bad in ["", "a b", "a\"b", "a\\b", "#x", "password"] {
            assert!(check_value("--login", bad, false).is_err(), "{bad:?}");
        }
        assert!(check_value("--login", "ghp_abc-123.x", false).is_ok());
        let err = check_value("--password-file", "a b", true)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("a b"));
    }

    #[test]
    fn machine_names_that_never_match() {
        assert!(machine_name_problem("https://github.com").is_some());
        assert!(machine_name_problem("github.com:443").is_some());
        assert!(machine_name_problem("::1").is_none());
        assert!(machine_name_problem("[::1]").is_none());
        assert!(machine_name_problem("github.com").is_none());
    }
}
