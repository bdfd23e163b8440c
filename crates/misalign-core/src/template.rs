//! Placeholder substitution (`$name`, `${name}`, `$$`) with the reference framework's
//! `safe_substitute` semantics, and a strict mode for our own packs.
//!
//! The grammar is Python 3.11's `string.Template`: after a `$` comes either `$` (an escaped
//! dollar), an identifier `[_a-zA-Z][_a-zA-Z0-9]*` (ASCII only, matched greedily), or an
//! identifier in braces. Anything else is an "invalid" placeholder: the `$` stays as written
//! and scanning resumes right after it. Lookups are case-sensitive.
//!
//! [`Template::parse`] splits a text once into literal runs and placeholders so that one
//! template can be filled for many conditions; [`Template::safe_substitute`] reproduces
//! Python's output byte for byte, [`Template::substitute_strict`] refuses placeholders that
//! have no value (naming the file and line) and malformed `${...}` forms.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Where variable values come from. Implemented for the usual maps and for closures.
pub trait Vars {
    fn get_var(&self, name: &str) -> Option<&str>;
}

impl Vars for HashMap<String, String> {
    fn get_var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Vars for BTreeMap<String, String> {
    fn get_var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl<V: Vars + ?Sized> Vars for &V {
    fn get_var(&self, name: &str) -> Option<&str> {
        (**self).get_var(name)
    }
}

/// Two variable sets, the first taking precedence (e.g. goal variables over file variables).
pub struct Layered<'a, A: ?Sized, B: ?Sized>(pub &'a A, pub &'a B);

impl<A: Vars + ?Sized, B: Vars + ?Sized> Vars for Layered<'_, A, B> {
    fn get_var(&self, name: &str) -> Option<&str> {
        self.0.get_var(name).or_else(|| self.1.get_var(name))
    }
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Text copied as is (`$$` already reduced to `$`).
    Text(String),
    /// `$name` or `${name}`; `raw` is the text as written, kept when the name has no value.
    Placeholder {
        name: String,
        raw: String,
        /// 1-based line of the `$`.
        line: usize,
        /// 1-based column (in characters) of the `$`.
        column: usize,
    },
    /// A `$` that starts no placeholder (`$5`, `$ `, `${a b}`, trailing `$`): kept as `$`.
    Invalid {
        /// 1-based line of the `$`.
        line: usize,
        column: usize,
        /// Whether it opened a brace (`${`): in our packs that is a typo, not a literal dollar.
        brace: bool,
    },
}

/// A template split into literal text and placeholders.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Template {
    segments: Vec<Segment>,
}

/// A strict-mode substitution failure, located in the template's file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    /// The template's file, as the user knows it (e.g. `blackmail/system-prompt.md`).
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub kind: TemplateErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// A placeholder with no value.
    Unknown { name: String, known: Vec<String> },
    /// `${` not followed by `identifier}`.
    MalformedBrace,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        match &self.kind {
            TemplateErrorKind::Unknown { name, known } => {
                write!(f, "placeholder `${{{name}}}` has no value")?;
                let near = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(name, k), k))
                    .filter(|(s, _)| *s > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                match near {
                    Some((_, k)) => write!(f, "; did you mean `${{{k}}}`?"),
                    None if known.is_empty() => write!(
                        f,
                        "; this template may use no placeholders (write `$$` for a literal `$`)"
                    ),
                    None => write!(
                        f,
                        "; known here: {} (write `$$` for a literal `$`)",
                        known
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
            TemplateErrorKind::MalformedBrace => f.write_str(
                "`${` must be followed by a name and `}` (letters, digits, `_`), e.g. `${company_name}`; write `$$` for a literal `$`",
            ),
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_ident_continue(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// Length of the identifier at the start of `bytes` (0 if none).
fn ident_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(&b) if is_ident_start(b) => {
            1 + bytes[1..]
                .iter()
                .take_while(|&&b| is_ident_continue(b))
                .count()
        }
        _ => 0,
    }
}

impl Template {
    /// Splits `text` into literal runs and placeholders. Never fails: like Python, anything
    /// that is not a placeholder is literal text.
    pub fn parse(text: &str) -> Template {
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut lit = String::new();
        // Line/column tracking, advanced lazily up to each `$` we look at.
        let mut line = 1usize;
        let mut line_start = 0usize;
        let mut scanned = 0usize;
        let mut pos = 0usize;
        while let Some(off) = memchr_dollar(&bytes[pos..]) {
            let at = pos + off;
            for (i, &b) in bytes[scanned..at].iter().enumerate() {
                if b == b'\n' {
                    line += 1;
                    line_start = scanned + i + 1;
                }
            }
            scanned = at;
            let column = text[line_start..at].chars().count() + 1;
            lit.push_str(&text[pos..at]);
            let rest = &bytes[at + 1..];
            if rest.first() == Some(&b'$') {
                lit.push('$');
                pos = at + 2;
                continue;
            }
            let n = ident_len(rest);
            if n > 0 {
                flush(&mut segments, &mut lit);
                let name = &text[at + 1..at + 1 + n];
                segments.push(Segment::Placeholder {
                    name: name.to_string(),
                    raw: text[at..at + 1 + n].to_string(),
                    line,
                    column,
                });
                pos = at + 1 + n;
                continue;
            }
            if rest.first() == Some(&b'{') {
                let n = ident_len(&rest[1..]);
                if n > 0 && rest.get(1 + n) == Some(&b'}') {
                    flush(&mut segments, &mut lit);
                    segments.push(Segment::Placeholder {
                        name: text[at + 2..at + 2 + n].to_string(),
                        raw: text[at..at + 3 + n].to_string(),
                        line,
                        column,
                    });
                    pos = at + 3 + n;
                    continue;
                }
            }
            // Invalid: the `$` stays, scanning resumes right after it.
            flush(&mut segments, &mut lit);
            segments.push(Segment::Invalid {
                line,
                column,
                brace: rest.first() == Some(&b'{'),
            });
            pos = at + 1;
        }
        lit.push_str(&text[pos..]);
        flush(&mut segments, &mut lit);
        Template { segments }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Names of the placeholders, with the 1-based line of each use, in order of appearance.
    pub fn placeholders(&self) -> impl Iterator<Item = (&str, usize)> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder { name, line, .. } => Some((name.as_str(), *line)),
            _ => None,
        })
    }

    /// Python's `Template(text).safe_substitute(vars)`: known placeholders replaced, unknown
    /// ones and invalid `$` left as written, `$$` reduced to `$`.
    pub fn safe_substitute(&self, vars: &impl Vars) -> String {
        let mut out = String::with_capacity(self.len_hint());
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Placeholder { name, raw, .. } => match vars.get_var(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(raw),
                },
                Segment::Invalid { .. } => out.push('$'),
            }
        }
        out
    }

    /// Our packs' mode: every placeholder must have a value and every `${` must be a
    /// well-formed placeholder. `file` names the template in the error. `known` lists the
    /// names the caller offers, for the error's suggestion.
    pub fn substitute_strict(&self, vars: &impl Vars, file: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.len_hint());
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Placeholder {
                    name, line, column, ..
                } => match vars.get_var(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(TemplateError {
                            file: file.to_string(),
                            line: *line,
                            column: *column,
                            kind: TemplateErrorKind::Unknown {
                                name: name.clone(),
                                known: Vec::new(),
                            },
                        })
                    }
                },
                Segment::Invalid {
                    line,
                    column,
                    brace,
                } => {
                    if *brace {
                        return Err(TemplateError {
                            file: file.to_string(),
                            line: *line,
                            column: *column,
                            kind: TemplateErrorKind::MalformedBrace,
                        });
                    }
                    out.push('$');
                }
            }
        }
        Ok(out)
    }

    fn len_hint(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => t.len(),
                _ => 16,
            })
            .sum()
    }
}

fn flush(segments: &mut Vec<Segment>, lit: &mut String) {
    if !lit.is_empty() {
        segments.push(Segment::Text(std::mem::take(lit)));
    }
}

fn memchr_dollar(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'$')
}

/// Python's `Template(text).safe_substitute(vars)` in one call.
pub fn safe_substitute(text: &str, vars: &impl Vars) -> String {
    Template::parse(text).safe_substitute(vars)
}

/// Strict substitution in one call; on an unknown placeholder the error lists `vars`' names
/// when `known` is given.
pub fn substitute_strict(
    text: &str,
    vars: &BTreeMap<String, String>,
    file: &str,
) -> Result<String, TemplateError> {
    Template::parse(text)
        .substitute_strict(vars, file)
        .map_err(|e| e.with_known(vars.keys().cloned()))
}

impl TemplateError {
    /// Adds the names that were available, so the message can suggest the nearest one.
    pub fn with_known(mut self, names: impl IntoIterator<Item = String>) -> Self {
        if let TemplateErrorKind::Unknown { known, .. } = &mut self.kind {
            *known = names.into_iter().collect();
            known.sort();
            known.dedup();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn python_semantics() {
        let v = vars(&[("a", "A"), ("name", "N"), ("Name", "CAP")]);
        let cases = [
            ("$a", "A"),
            ("${a}b", "Ab"),
            ("$ab", "$ab"),
            ("$$a", "$a"),
            ("$$$a", "$A"),
            ("$", "$"),
            ("a$", "a$"),
            ("$5 million", "$5 million"),
            ("${a", "${a"),
            ("${ a}", "${ a}"),
            ("${}", "${}"),
            ("$name.$Name", "N.CAP"),
            ("$NAME", "$NAME"),
            ("$a_", "$a_"),
            ("${unknown} $unknown", "${unknown} $unknown"),
            ("é$a€", "éA€"),
            ("$é", "$é"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_substitute(input, &v), want, "input {input:?}");
        }
    }

    #[test]
    fn strict_names_file_line_and_column() {
        let v = vars(&[("company_name", "Vexley")]);
        let err = substitute_strict("Hello\nat ${company_name} and\n  $compny_name", &v, "x.md")
            .unwrap_err();
        assert_eq!((err.line, err.column), (3, 3));
        let msg = err.to_string();
        assert!(msg.starts_with("x.md:3:3: placeholder `${compny_name}` has no value"));
        assert!(msg.contains("did you mean `${company_name}`"), "{msg}");
    }

    #[test]
    fn strict_rejects_malformed_brace_but_keeps_money() {
        let v = vars(&[]);
        assert_eq!(substitute_strict("costs $5", &v, "f").unwrap(), "costs $5");
        let err = substitute_strict("a\n${agent name}", &v, "f").unwrap_err();
        assert_eq!(err.kind, TemplateErrorKind::MalformedBrace);
        assert_eq!(err.line, 2);
    }

    #[test]
    fn placeholder_lines() {
        let t = Template::parse("$a\n\n${b} $$c $d");
        let got: Vec<_> = t.placeholders().collect();
        assert_eq!(got, vec![("a", 1), ("b", 3), ("d", 3)]);
    }
}
