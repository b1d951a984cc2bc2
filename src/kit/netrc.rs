//! The netrc file that Ray's runtime_env downloads read for credentials (Ray's guide:
//! never put credentials in URIs, put them in ~/.netrc). We parse it the way Python's
//! `netrc` module and curl do, keep the byte span of every entry, and edit one entry by
//! splicing its span, so every other byte of the file (comments, other entries, macdefs)
//! stays exactly as it was.
//!
//! Messages never contain a password or any word that might be one.
use std::collections::HashMap;
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

/// One word of netrc text (bare or quoted, escapes resolved) and the bytes it came from.
/// Called a word, not a token: "token" in raytls means Ray's auth token.
struct Word {
    text: String,
    span: Range<usize>,
}

/// A quoted word with no closing `"`, starting at this byte.
struct UnclosedQuote(usize);

/// Splits netrc text into words, skipping whitespace and comments.
struct Words<'a> {
    src: &'a str,
    pos: usize,
    /// The text ends in a lone `\` inside a bare word: an escape of nothing.
    dangling_escape: bool,
}

impl<'a> Words<'a> {
    /// The next word, skipping whitespace and `#` comments (as Python's netrc: a `#` that
    /// starts a word comments out the rest of the line).
    fn next_word(&mut self) -> Option<Result<Word, UnclosedQuote>> {
        self.skip_blanks_and_comments();
        if self.pos >= self.src.len() {
            return None;
        }
        if self.src[self.pos..].starts_with('"') {
            Some(self.quoted_word())
        } else {
            Some(Ok(self.bare_word()))
        }
    }

    fn skip_blanks_and_comments(&mut self) {
        let bytes = self.src.as_bytes();
        loop {
            while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos >= bytes.len() || bytes[self.pos] != b'#' {
                return;
            }
            while self.pos < bytes.len() && bytes[self.pos] != b'\n' {
                self.pos += 1;
            }
        }
    }

    /// `"..."` (curl >= 7.84, Python >= 3.11): a backslash escapes the next character.
    fn quoted_word(&mut self) -> Result<Word, UnclosedQuote> {
        let start = self.pos;
        let mut text = String::new();
        let mut escaped = false;
        for (i, c) in self.src[start..].char_indices().skip(1) {
            if escaped {
                text.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                self.pos = start + i + 1;
                return Ok(Word {
                    text,
                    span: start..self.pos,
                });
            } else {
                text.push(c);
            }
        }
        self.pos = self.src.len();
        Err(UnclosedQuote(start))
    }

    /// A run of non-whitespace; a backslash escapes the next character.
    fn bare_word(&mut self) -> Word {
        let start = self.pos;
        let mut text = String::new();
        let mut end = self.src.len();
        let mut escaped = false;
        for (i, c) in self.src[start..].char_indices() {
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
        Word {
            text,
            span: start..end,
        }
    }

    /// Skip a macdef body: the rest of this line, then lines up to an empty one.
    fn skip_macdef_body(&mut self) {
        let rest = &self.src[self.pos..];
        let Some(first_nl) = rest.find('\n') else {
            self.pos = self.src.len();
            return;
        };
        let mut at = self.pos + first_nl + 1;
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

/// Byte offset to 1-based line number, by binary search over where the newlines are
/// (counting newlines from the start for every message made `netrc check` quadratic).
struct Lines(Vec<usize>);

impl Lines {
    fn new(src: &str) -> Self {
        Lines(
            src.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// The value keywords of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Login,
    Password,
    Account,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Login => "login",
            Key::Password => "password",
            Key::Account => "account",
        }
    }
}

/// The file cannot be read further (the problem is already recorded): readers would
/// disagree about everything after this point.
struct Stop;

struct Parser<'a> {
    src: &'a str,
    words: Words<'a>,
    lines: Lines,
    out: Netrc,
    /// The `machine` or `default` entry whose values we are reading.
    entry: Option<Entry>,
    /// The value keywords seen in that entry (a repeat is reported).
    keys_seen: Vec<Key>,
    /// The line of the last password value, while no keyword has followed it: a stray
    /// word there is most likely the rest of an unquoted password, so it is never shown.
    password_line: Option<usize>,
}

/// Parse netrc text. Never fails: what it cannot read becomes a `Problem`. Runs in time
/// linear in the text (up to a log factor), whatever the text holds.
pub fn parse(src: &str) -> Netrc {
    let mut parser = Parser {
        src,
        words: Words {
            src,
            pos: 0,
            dangling_escape: false,
        },
        lines: Lines::new(src),
        out: Netrc::default(),
        entry: None,
        keys_seen: Vec::new(),
        password_line: None,
    };
    // A `Stop` ends reading; what was read so far is still checked and reported.
    let _ = parser.read_entries();
    if parser.words.dangling_escape {
        // Whatever is appended to such a file (`netrc set` adds a newline and an entry)
        // joins its last word: a machine name or password would silently change.
        parser.problem(
            src.len().saturating_sub(1),
            "the file ends with a lone backslash, which escapes nothing; anything added after \
             it joins the last word: remove it or end the file with a newline"
                .into(),
        );
    }
    parser.close_entry();
    let mut out = parser.out;
    check_entries(&mut out);
    out.problems.sort_by_key(|p| p.line);
    out
}

impl Parser<'_> {
    fn read_entries(&mut self) -> Result<(), Stop> {
        while let Some(word) = self.next_word()? {
            if KEYWORDS.contains(&word.text.as_str()) {
                self.password_line = None;
            }
            match word.text.as_str() {
                "machine" => self.machine(word)?,
                "default" => self.default(word),
                "macdef" => self.macdef(word)?,
                "login" => self.value(Key::Login, word)?,
                "password" => self.value(Key::Password, word)?,
                "account" => self.value(Key::Account, word)?,
                _ => self.stray_word(word),
            }
        }
        Ok(())
    }

    /// The next word; an unclosed quote is recorded and stops the parse.
    fn next_word(&mut self) -> Result<Option<Word>, Stop> {
        match self.words.next_word() {
            None => Ok(None),
            Some(Ok(word)) => Ok(Some(word)),
            Some(Err(UnclosedQuote(at))) => {
                self.problem(at, "a quoted word has no closing '\"'".into());
                Err(Stop)
            }
        }
    }

    /// The word after `keyword` (a name or a value), which may not be a keyword itself.
    fn argument_of(&mut self, keyword: &Word, missing: &str) -> Result<Word, Stop> {
        match self.next_word()? {
            Some(word) if !KEYWORDS.contains(&word.text.as_str()) => Ok(word),
            _ => {
                let message = format!("`{}` {missing}", keyword.text);
                self.problem(keyword.span.start, message);
                Err(Stop)
            }
        }
    }

    /// `machine NAME`: starts an entry.
    fn machine(&mut self, keyword: Word) -> Result<(), Stop> {
        self.close_entry();
        let name = self.argument_of(&keyword, "is not followed by a name")?;
        let mut entry = self.new_entry(&keyword, EntryKind::Machine(name.text));
        entry.span.end = name.span.end;
        self.entry = Some(entry);
        Ok(())
    }

    /// `default`: the entry for every other host.
    fn default(&mut self, keyword: Word) {
        self.close_entry();
        self.entry = Some(self.new_entry(&keyword, EntryKind::Default));
    }

    /// `macdef NAME` and its body, up to an empty line: not credentials, skipped whole.
    fn macdef(&mut self, keyword: Word) -> Result<(), Stop> {
        self.close_entry();
        self.argument_of(&keyword, "is not followed by a name")?;
        let mut entry = self.new_entry(&keyword, EntryKind::Macdef);
        self.words.skip_macdef_body();
        entry.span.end = self.words.pos;
        self.out.entries.push(entry);
        Ok(())
    }

    /// `login VALUE`, `password VALUE` or `account VALUE` inside an entry.
    fn value(&mut self, key: Key, keyword: Word) -> Result<(), Stop> {
        if self.entry.is_none() {
            let message = format!(
                "`{}` comes before any `machine` or `default` line",
                key.name()
            );
            self.problem(keyword.span.start, message);
            // Skip its value so it is not reported (and possibly echoed) as well.
            let _ = self.words.next_word();
            return Ok(());
        }
        let value = self.argument_of(&keyword, "has no value")?;
        if self.keys_seen.contains(&key) {
            let message = format!(
                "`{}` appears twice in one entry; readers disagree on which wins",
                key.name()
            );
            self.problem(keyword.span.start, message);
        }
        self.keys_seen.push(key);
        if key == Key::Password {
            self.password_line = Some(self.lines.line_of(value.span.end));
        }
        let account_raw = (key == Key::Account).then(|| self.src[value.span.clone()].to_string());
        // Checked above: there is an entry.
        if let Some(entry) = self.entry.as_mut() {
            entry.span.end = value.span.end;
            match key {
                Key::Login => entry.login = Some(value.text),
                Key::Password => entry.has_password = true,
                Key::Account => entry.account_raw = account_raw,
            }
        }
        Ok(())
    }

    /// A word where a keyword should be. Only a known typo is echoed: any other word, and
    /// any word on the line of a password after it, may be (part of) a secret.
    fn stray_word(&mut self, word: Word) {
        let line = self.lines.line_of(word.span.start);
        let message = if self.password_line == Some(line) {
            "unexpected word (not shown: it may be part of the password before it); a \
             password with spaces must be quoted: password \"...\""
                .to_string()
        } else {
            let lower = word.text.to_ascii_lowercase();
            match TYPOS.iter().find(|(typo, _)| *typo == lower) {
                Some((typo, meant)) => format!("`{typo}` is not a netrc keyword; use `{meant}`"),
                None => "unexpected word (not shown: it may be a secret); netrc expects \
                         machine, default, login, password, account or macdef here, and a \
                         password with spaces must be quoted"
                    .to_string(),
            }
        };
        self.problem(word.span.start, message);
    }

    fn new_entry(&self, keyword: &Word, kind: EntryKind) -> Entry {
        Entry {
            kind,
            span: keyword.span.clone(),
            line: self.lines.line_of(keyword.span.start),
            login: None,
            has_password: false,
            account_raw: None,
        }
    }

    fn close_entry(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.out.entries.push(entry);
        }
        self.keys_seen.clear();
    }

    /// A malformed line: readers disagree about what the file says.
    fn problem(&mut self, at: usize, message: String) {
        self.out.problems.push(Problem {
            line: self.lines.line_of(at),
            message,
            malformed: true,
        });
    }
}

/// Problems of meaning rather than syntax: names, duplicates, order, missing passwords.
fn check_entries(out: &mut Netrc) {
    let mut problems = Vec::new();
    let mut first_line: HashMap<&str, usize> = HashMap::new();
    let mut default_line: Option<usize> = None;
    for entry in &out.entries {
        match &entry.kind {
            EntryKind::Machine(name) => {
                let mut report = |message: String| {
                    problems.push(Problem {
                        line: entry.line,
                        message,
                        malformed: false,
                    })
                };
                if let Some(why) = machine_name_problem(name) {
                    report(why);
                }
                match first_line.get(name.as_str()) {
                    Some(first) => report(format!(
                        "machine {name} appears again (first on line {first}); curl uses the \
                         first entry and Python's netrc the last: keep one"
                    )),
                    None => {
                        first_line.insert(name.as_str(), entry.line);
                    }
                }
                if let Some(d) = default_line {
                    report(format!(
                        "machine {name} comes after the `default` entry on line {d}; \
                         `default` must be last or some readers never reach this entry"
                    ));
                }
                if !entry.has_password {
                    report(format!("machine {name} has no password"));
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
        return Err(Error::NetrcEditUnsafe {
            path: path_for_errors.to_path_buf(),
            machine: machine.to_string(),
        });
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
        // The message may carry a machine name from the file: main escapes the error line.
        return Err(Error::MalformedNetrc {
            path: path_for_errors.to_path_buf(),
            line: p.line,
            problem: p.message.clone(),
        });
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
    fn regression_unquoted_password_words_are_never_echoed() {
        let n = parse("machine a login u password my pass phrase\nmachine b login v password q\n");
        assert_eq!(n.malformed().count(), 2, "{:?}", n.problems);
        for p in &n.problems {
            assert_eq!(p.line, 1);
            assert!(p.message.contains("part of the password"), "{p:?}");
            assert!(!p.message.contains("`pass`"), "{p:?}");
        }
        // A keyword ends the password: a typo after it is named again.
        let n = parse("machine a password p1 p2 login u user\n");
        assert!(n
            .problems
            .iter()
            .any(|p| p.message.contains("`user` is not")));
        // So does the end of the line.
        let n = parse("machine a login u password p\npass x\n");
        assert!(n
            .problems
            .iter()
            .any(|p| p.message.contains("`pass` is not")));
    }

    #[test]
    fn regression_netrc_check_quadratic_80k_entries() {
        // 3 MB, 80,000 entries: 67 s when every message and entry counted lines from the
        // start of the file. Only correctness is asserted here; the time is in the report.
        let text: String = (0..80_000)
            .map(|i| format!("machine host{i}.example.com login user{i} password pw{i}\n"))
            .collect();
        let n = parse(&text);
        assert!(n.problems.is_empty(), "{:?}", &n.problems[..1]);
        assert_eq!(n.machines().count(), 80_000);
        assert_eq!(n.entries[79_999].line, 80_000);
        // Every entry a duplicate of the first: one problem each, each naming line 1.
        let dups = "machine h login u password p\n".repeat(20_000);
        let n = parse(&dups);
        assert_eq!(n.problems.len(), 19_999);
        assert!(n
            .problems
            .iter()
            .all(|p| p.message.contains("first on line 1")));
        assert_eq!(n.problems.last().map(|p| p.line), Some(20_000));
    }

    #[test]
    fn regression_netrc_check_quadratic_stray_words() {
        // 200 KB of stray words (4.5 s before): one problem per word, on its own line.
        let text = format!("machine a login u password p\n{}", "stray\n".repeat(34_000));
        let n = parse(&text);
        assert_eq!(n.problems.len(), 34_000);
        assert_eq!(n.problems[0].line, 2);
        assert_eq!(n.problems[33_999].line, 34_001);
    }

    #[test]
    fn line_numbers_count_newlines_before_the_offset() {
        let lines = Lines::new("a\nbc\n\nd");
        let got: Vec<usize> = (0..=7).map(|o| lines.line_of(o)).collect();
        assert_eq!(got, [1, 1, 2, 2, 2, 3, 4, 4]);
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
