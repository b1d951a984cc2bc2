//! The Prometheus text exposition format (version 0.0.4), written by hand: one family at a
//! time, `# HELP` and `# TYPE` first, label values escaped as the format asks (`\\`, `\"`,
//! `\n`), so a path label read from the command line cannot break a scrape.
use std::fmt::Write;

/// The content type a scrape expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A page of metrics being written.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Start a family: its help line and type. Samples of it follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        self
    }

    /// One sample: `name{k="v",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
        self
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Integers without a fraction (timestamps, counts), others as Rust prints them.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaped_labels() {
        let mut e = Exposition::default();
        e.family("x_seconds", Kind::Gauge, "A time.")
            .sample("x_seconds", &[("path", "/a\"b\\c\nd")], 1_700_000_000.0)
            .sample("x_seconds", &[], 0.25);
        let t = e.finish();
        assert_eq!(
            t,
            "# HELP x_seconds A time.\n# TYPE x_seconds gauge\n\
             x_seconds{path=\"/a\\\"b\\\\c\\nd\"} 1700000000\nx_seconds 0.25\n"
        );
    }
}
