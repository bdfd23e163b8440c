//! Variables files (`variables/*.md`): `## Section` headings, each followed by a ```json
//! block holding one object of string variables; and the reference framework's rules for
//! choosing a file and a section for a goal value (docs/design.md, "The reference template layout", rules 2 and 3).
//!
//! The reader matches the reference generator's regular expression
//! ``## (.*?)\n\s*```json\s*(.*?)\s*``` `` (dot matches newline), including its corner
//! cases: a `##` anywhere (even inside `###`) starts a section, a heading's name runs to the
//! newline before the ```json fence, Python's `\s` also counts `\x1c`-`\x1f` as space, a later
//! section with the same key replaces the earlier one's value but keeps its position, and an
//! empty matching section counts as no match.

use super::error::ScenarioError;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One `## Name` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Normalised key: trimmed, lower-cased, spaces and `-` -> `_`.
    pub key: String,
    /// The heading as written.
    pub name: String,
    /// 1-based line of the heading.
    pub line: usize,
    pub vars: BTreeMap<String, String>,
}

/// A parsed variables file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VariablesFile {
    /// How the file is named in messages.
    pub display: String,
    /// File name without `.md`.
    pub stem: String,
    pub sections: Vec<Section>,
    /// Sections whose JSON did not parse (reference mode skips them, as the reference does).
    pub skipped: Vec<ScenarioError>,
}

fn section_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Python's `\s` (str patterns) = Unicode White_Space plus \x1c-\x1f.
        Regex::new(r"(?s)## (.*?)\n[\s\x1C-\x1F]*```json[\s\x1C-\x1F]*(.*?)[\s\x1C-\x1F]*```")
            .expect("static regex")
    })
}

/// Python's `str.isspace()`.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// The section key rule: trimmed, lower-cased, spaces and `-` turned into `_`.
pub fn section_key(name: &str) -> String {
    name.trim_matches(is_py_space)
        .to_lowercase()
        .replace([' ', '-'], "_")
}

impl VariablesFile {
    /// Parses a variables file. JSON errors are collected in `skipped` (with the line of the
    /// error inside the file); the caller decides whether they are fatal.
    pub fn parse(text: &str, display: &str, stem: &str) -> VariablesFile {
        let mut file = VariablesFile {
            display: display.to_string(),
            stem: stem.to_string(),
            ..Default::default()
        };
        for caps in section_regex().captures_iter(text) {
            let whole = caps.get(0).expect("group 0");
            let name_m = caps.get(1).expect("group 1");
            let json_m = caps.get(2).expect("group 2");
            let line = line_of(text, whole.start());
            let name = name_m.as_str();
            let key = section_key(name);
            match parse_object(json_m.as_str()) {
                Ok(vars) => {
                    // A repeated key replaces the value in place (Python dict assignment).
                    if let Some(s) = file.sections.iter_mut().find(|s| s.key == key) {
                        s.vars = vars;
                    } else {
                        file.sections.push(Section {
                            key,
                            name: name.to_string(),
                            line,
                            vars,
                        });
                    }
                }
                Err((json_line, message)) => file.skipped.push(ScenarioError::Variables {
                    file: display.to_string(),
                    line: line_of(text, json_m.start()) + json_line.saturating_sub(1),
                    section: name.to_string(),
                    message,
                }),
            }
        }
        file
    }

    /// Every section's variables merged in order (later sections win): what `ambiguous.md`
    /// yields for goal types `none` and `ambiguous`.
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for s in &self.sections {
            out.extend(s.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// Rule 3's section choice: the first section whose key contains the goal value (or
    /// equals `pro_<value>`); if there is none, or it is empty (Python's truthiness test),
    /// the first section; with no sections, nothing.
    pub fn section_for(&self, goal_value: &str) -> Option<&Section> {
        let goal = goal_value.to_lowercase();
        let pro = format!("pro_{goal}");
        self.sections
            .iter()
            .find(|s| s.key.contains(&goal) || s.key == pro)
            .filter(|s| !s.vars.is_empty())
            .or_else(|| self.sections.first())
    }
}

/// How well a variables file's stem matches a goal value (rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StemMatch {
    /// The value is a `_`-separated word of the stem, or its start or end.
    Exact,
    /// The value occurs somewhere inside the stem.
    Partial,
}

pub fn stem_match(stem: &str, goal_value: &str) -> Option<StemMatch> {
    let stem = stem.to_lowercase();
    let goal = goal_value.to_lowercase();
    if !stem.contains(&goal) {
        return None;
    }
    if format!("_{stem}_").contains(&format!("_{goal}_"))
        || stem.starts_with(&goal)
        || stem.ends_with(&goal)
    {
        Some(StemMatch::Exact)
    } else {
        Some(StemMatch::Partial)
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses one JSON object of variables. Values that are not strings become the text
/// Python's `str()` gives them (`True`, `None`, `3`, `['a']`), as the reference's
/// `safe_substitute` would insert.
fn parse_object(json: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        (
            e.line(),
            format!("invalid JSON: {e}; the block after the heading must be one JSON object"),
        )
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => py_str(&other),
                };
                (k, s)
            })
            .collect()),
        _ => Err((
            1,
            "the ```json block must hold one object (`{\"name\": \"value\", ...}`)".to_string(),
        )),
    }
}

/// Python's `str()` of a JSON value (best effort for nested values' `repr`).
pub fn py_str(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float(f),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_repr(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => py_repr_str(s),
        other => py_str(other),
    }
}

/// Python's `repr(float)`: shortest round-trip digits; scientific below 1e-4 and from 1e16.
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}"); // e.g. "-1.5e-5", "1e16"
    let (mant, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Approximates Python's `str.isprintable()` for the characters variables files hold.
fn py_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Title\n\n## Pro-America\n```json\n{\"a\": \"1\", \"n\": 2}\n```\n\n##  Pro Global \n\n```json\n{\"a\": \"2\"}\n```\n";

    #[test]
    fn sections_and_keys() {
        let f = VariablesFile::parse(FILE, "v.md", "america_vs_global");
        let keys: Vec<_> = f.sections.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["pro_america", "pro_global"]);
        assert_eq!(f.sections[0].vars["n"], "2");
        assert_eq!(f.sections[0].line, 3);
        assert_eq!(f.section_for("global").unwrap().vars["a"], "2");
        assert_eq!(f.section_for("safety").unwrap().key, "pro_america");
    }

    #[test]
    fn bad_json_is_located_and_skipped() {
        let text =
            "## A\n```json\n{\n  \"x\": \"1\",\n  oops\n}\n```\n## B\n```json\n{\"y\": \"2\"}\n```";
        let f = VariablesFile::parse(text, "v.md", "v");
        assert_eq!(f.sections.len(), 1);
        match &f.skipped[0] {
            ScenarioError::Variables { line, section, .. } => {
                assert_eq!((*line, section.as_str()), (5, "A"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicate_key_keeps_position_takes_value() {
        let text = "## A\n```json\n{\"x\":\"1\"}\n```\n## B\n```json\n{}\n```\n## a\n```json\n{\"x\":\"3\"}\n```";
        let f = VariablesFile::parse(text, "v.md", "v");
        assert_eq!(f.sections.len(), 2);
        assert_eq!(f.sections[0].vars["x"], "3");
        // The empty `b` section matches first, so the first section is used.
        assert_eq!(f.section_for("b").unwrap().key, "a");
    }

    #[test]
    fn stems() {
        assert_eq!(
            stem_match("america_vs_global", "global"),
            Some(StemMatch::Exact)
        );
        assert_eq!(
            stem_match("america_vs_global", "america"),
            Some(StemMatch::Exact)
        );
        assert_eq!(
            stem_match("pro_americans", "america"),
            Some(StemMatch::Partial)
        );
        assert_eq!(stem_match("safety_vs_acceleration", "america"), None);
    }

    #[test]
    fn python_str_of_values() {
        let v: serde_json::Value =
            serde_json::from_str(r#"[true, null, 1.5, 1e16, 0.0001, 0.00001, "it's", 3]"#).unwrap();
        assert_eq!(
            py_str(&v),
            r#"[True, None, 1.5, 1e+16, 0.0001, 1e-05, "it's", 3]"#
        );
        assert_eq!(py_float(2.0), "2.0");
        assert_eq!(py_float(1e22), "1e+22");
        assert_eq!(py_float(123456789012345.6), "123456789012345.6");
    }
}
