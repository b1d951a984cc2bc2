//! A Kubernetes label selector as kubectl writes one (`raytls=on,env!=dev,team in (a,b),!legacy`),
//! for `--namespace-selector`: parsed once at start, matched against a namespace's labels.
use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    terms: Vec<Term>,
    text: String,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Split at commas outside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl Selector {
    pub fn parse(source: &str, input: &str) -> Result<Self> {
        let bad = |why: String| Error::InvalidValue {
            source_name: source.into(),
            value: input.into(),
            what: "label selector",
            why,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(bad("it is empty (give e.g. raytls=enabled)".into()));
        }
        let mut terms = Vec::new();
        for raw in split_terms(text) {
            let t = raw.trim();
            let set = |rest: &str, key: &str| -> Result<Vec<String>> {
                let inner = rest
                    .trim()
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| bad(format!("{t:?}: the values go in parentheses")))?;
                let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
                if !valid_key(key) || values.iter().any(|v| v.is_empty() || !valid_value(v)) {
                    return Err(bad(format!("{t:?} is not a valid set term")));
                }
                Ok(values)
            };
            let term = if let Some((k, rest)) = t.split_once(" notin ") {
                Term::NotIn(k.trim().into(), set(rest, k.trim())?)
            } else if let Some((k, rest)) = t.split_once(" in ") {
                Term::In(k.trim().into(), set(rest, k.trim())?)
            } else if let Some((k, v)) = t.split_once("!=") {
                Term::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Term::Eq(k.trim().into(), v.trim().into())
            } else if let Some(k) = t.strip_prefix('!') {
                Term::NotExists(k.trim().into())
            } else {
                Term::Exists(t.into())
            };
            let ok = match &term {
                Term::Eq(k, v) | Term::NotEq(k, v) => valid_key(k) && valid_value(v),
                Term::Exists(k) | Term::NotExists(k) => valid_key(k),
                Term::In(..) | Term::NotIn(..) => true,
            };
            if !ok {
                return Err(bad(format!(
                    "{t:?} is not KEY=VALUE, KEY!=VALUE, KEY, !KEY, KEY in (A,B) or KEY notin (A,B)"
                )));
            }
            terms.push(term);
        }
        Ok(Selector {
            terms,
            text: text.to_string(),
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Eq(k, v) => labels.get(k) == Some(v),
            Term::NotEq(k, v) => labels.get(k) != Some(v),
            Term::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Term::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Term::Exists(k) => labels.contains_key(k),
            Term::NotExists(k) => !labels.contains_key(k),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_as_kubectl_does() {
        let s = Selector::parse("t", "raytls=on, env!=dev,team in (a, b),!legacy").unwrap();
        assert!(s.matches(&l(&[("raytls", "on"), ("team", "a")])));
        assert!(!s.matches(&l(&[("raytls", "on"), ("team", "c")])));
        assert!(!s.matches(&l(&[("raytls", "on"), ("team", "a"), ("env", "dev")])));
        assert!(!s.matches(&l(&[("raytls", "on"), ("team", "a"), ("legacy", "")])));
        assert!(!s.matches(&l(&[("team", "a")])));
        let e = Selector::parse("t", "kubernetes.io/metadata.name notin (kube-system)").unwrap();
        assert!(e.matches(&l(&[("kubernetes.io/metadata.name", "ray")])));
        assert!(!e.matches(&l(&[("kubernetes.io/metadata.name", "kube-system")])));
        for bad in ["", "a=b c", "x in a,b", "=v", "k in ()"] {
            assert!(
                Selector::parse("--namespace-selector", bad).is_err(),
                "{bad}"
            );
        }
    }
}
