//! Text that came from a peer or a file, made safe to print for a person.
//!
//! A certificate subject, a SAN, an HTTP status line or a netrc word can hold terminal
//! control sequences: `"\x1b[2K\rOK 127.0.0.1:6379 healthy"` as a server's CN erases the
//! line and prints a fake verdict. Every human-readable line that carries such text passes
//! it through `escape`; `--json` output is already escaped by the JSON encoder.
use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character (C0, DEL, C1) and every bidirectional-override
/// character written as a visible `\x1b` / `\u{202e}` escape. Printable text, including
/// non-ASCII letters, is left as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            // Infallible: writing to a String.
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Bytes that may not be UTF-8 (a peer's first bytes, a file name): lossy, then escaped.
pub fn escape_bytes(b: &[u8]) -> String {
    escape(&String::from_utf8_lossy(b)).into_owned()
}

/// `s` cut to at most `max` bytes (at a character boundary), the cut said: `...(+N bytes)`.
/// For text from a peer that goes on one line: a node name is a host name, not megabytes.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...(+{} bytes)", &s[..end], s.len() - end))
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        // Bidi embeddings/overrides/isolates reorder what follows on the terminal.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_at_a_character_boundary() {
        assert!(matches!(clip("short", 5), Cow::Borrowed("short")));
        assert_eq!(clip("abcdef", 4), "abcd...(+2 bytes)");
        // 'é' is 2 bytes: a cut inside it backs off to before it.
        assert_eq!(clip("aéb", 2), "a...(+3 bytes)");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            escape("O=raytls, CN=ray-head é"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn regression_fake_ok_line_in_a_common_name() {
        let cn = "\x1b[2K\rOK 127.0.0.1:6379 ray 2.60.0 healthy";
        assert_eq!(
            escape(cn),
            "\\x1b[2K\\x0dOK 127.0.0.1:6379 ray 2.60.0 healthy"
        );
    }

    #[test]
    fn del_c1_newline_and_bidi_are_visible() {
        assert_eq!(
            escape("a\x7fb\u{9b}c\nd\u{202e}e"),
            "a\\x7fb\\x9bc\\x0ad\\u{202e}e"
        );
    }
}
