//! Typed reading of the located YAML tree: each helper checks one shape and, on failure,
//! returns a [`ConfigError`] naming the file, position and dotted field path.

use super::yaml::{Key, Node, Pos, Value};
use super::ConfigError;

pub(crate) type R<T> = Result<T, ConfigError>;

/// Where errors point: the file name, shared by every helper.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub file: &'a str,
}

impl Ctx<'_> {
    pub fn err(&self, pos: Pos, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            field: if field.is_empty() {
                "(top level)".to_string()
            } else {
                field.to_string()
            },
            message: message.into(),
        }
    }
}

/// `parent.child`, or `child` at the top level.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The closest candidate, if it is close enough to be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&lower, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "; did you mean `x`?" or "" when nothing is close.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

fn list_of(options: &[&str]) -> String {
    options
        .iter()
        .map(|o| format!("`{o}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shortens user text quoted back in a message (it may be long or multi-line).
pub(crate) fn quote(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(60)
        .collect();
    if text.chars().count() > 60 {
        format!("`{one_line}…`")
    } else {
        format!("`{one_line}`")
    }
}

/// A mapping whose keys were checked: all known, none repeated.
pub(crate) struct Fields<'n> {
    pub path: String,
    pub pos: Pos,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    /// The value of `name`, treating an explicit `null` as absent.
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name.as_deref() == Some(name))
            .map(|(_, v)| v)
            .filter(|v| v.value != Value::Null)
    }

    pub fn path_of(&self, name: &str) -> String {
        join(&self.path, name)
    }

    pub fn required(&self, cx: Ctx, name: &str, what: &str) -> R<&'n Node> {
        self.get(name).ok_or_else(|| {
            cx.err(
                self.pos,
                &self.path_of(name),
                format!("missing required key `{name}`: add {what}"),
            )
        })
    }
}

/// Reads a mapping with a fixed set of keys.
pub(crate) fn fields<'n>(cx: Ctx, node: &'n Node, path: &str, allowed: &[&str]) -> R<Fields<'n>> {
    let entries = entries(cx, node, path)?;
    for (name, key, _) in &entries {
        if !allowed.contains(&name.as_str()) {
            let hint = match suggest(name, allowed) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("the keys allowed here are {}", list_of(allowed)),
            };
            return Err(cx.err(
                key.pos,
                &join(path, name),
                format!("unknown key {}; {hint}", quote(name)),
            ));
        }
    }
    let Value::Map(raw) = &node.value else {
        unreachable!("entries() accepted only mappings")
    };
    Ok(Fields {
        path: path.to_string(),
        pos: node.pos,
        entries: raw,
    })
}

/// Reads a mapping with free-form keys (provider names, pool names, model globs).
pub(crate) fn entries<'n>(
    cx: Ctx,
    node: &'n Node,
    path: &str,
) -> R<Vec<(String, &'n Key, &'n Node)>> {
    let Value::Map(raw) = &node.value else {
        return Err(cx.err(
            node.pos,
            path,
            format!(
                "expected a mapping (`key: value` lines), found {}",
                node.value.kind()
            ),
        ));
    };
    let mut out: Vec<(String, &Key, &Node)> = Vec::with_capacity(raw.len());
    // Name -> index in `out`: a duplicate is found without scanning (a mapping may have
    // hundreds of thousands of keys).
    let mut seen: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(raw.len());
    for (key, value) in raw {
        let Some(name) = key.name.clone() else {
            return Err(cx.err(
                key.pos,
                path,
                "a key here must be plain text, not a list or mapping",
            ));
        };
        if let Some((_, first, _)) = seen.get(&name).map(|&i| &out[i]) {
            return Err(cx.err(
                key.pos,
                &join(path, &name),
                format!(
                    "duplicate key {} (first written at line {}); keep only one",
                    quote(&name),
                    first.pos.line
                ),
            ));
        }
        seen.insert(name.clone(), out.len());
        out.push((name, key, value));
    }
    Ok(out)
}

pub(crate) fn string(cx: Ctx, node: &Node, path: &str) -> R<String> {
    match &node.value {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Err(cx.err(
            node.pos,
            path,
            format!(
                "expected text, found {}; put it in quotes if you mean text",
                node.value.kind()
            ),
        )),
        other => Err(cx.err(
            node.pos,
            path,
            format!("expected text, found {}", other.kind()),
        )),
    }
}

/// A non-empty string without surrounding whitespace.
pub(crate) fn name(cx: Ctx, node: &Node, path: &str) -> R<String> {
    let s = string(cx, node, path)?;
    if s.trim().is_empty() {
        return Err(cx.err(node.pos, path, "must not be empty"));
    }
    if s.trim() != s {
        return Err(cx.err(
            node.pos,
            path,
            format!("{} has leading or trailing spaces; remove them", quote(&s)),
        ));
    }
    Ok(s)
}

pub(crate) fn boolean(cx: Ctx, node: &Node, path: &str) -> R<bool> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        Value::Str(s) => Err(cx.err(
            node.pos,
            path,
            format!(
                "expected `true` or `false`, found the text {} (YAML 1.2 booleans only)",
                quote(s)
            ),
        )),
        other => Err(cx.err(
            node.pos,
            path,
            format!("expected `true` or `false`, found {}", other.kind()),
        )),
    }
}

/// An integer in `min..=max`.
pub(crate) fn integer(cx: Ctx, node: &Node, path: &str, min: i128, max: i128) -> R<i128> {
    match &node.value {
        Value::Int(i) if (min..=max).contains(i) => Ok(*i),
        Value::Int(i) => Err(cx.err(
            node.pos,
            path,
            format!("{i} is out of range: use a whole number from {min} to {max}"),
        )),
        other => Err(cx.err(
            node.pos,
            path,
            format!(
                "expected a whole number from {min} to {max}, found {}",
                other.kind()
            ),
        )),
    }
}

pub(crate) fn uint<T>(cx: Ctx, node: &Node, path: &str, min: T, max: T) -> R<T>
where
    T: TryFrom<i128> + Into<i128> + Copy,
{
    let v = integer(cx, node, path, min.into(), max.into())?;
    // In range by construction.
    Ok(T::try_from(v).unwrap_or(max))
}

/// A finite number in `min..=max`.
pub(crate) fn number(cx: Ctx, node: &Node, path: &str, min: f64, max: f64) -> R<f64> {
    let v = match &node.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        other => {
            return Err(cx.err(
                node.pos,
                path,
                format!(
                    "expected a number from {min} to {max}, found {}",
                    other.kind()
                ),
            ))
        }
    };
    if v.is_finite() && (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(cx.err(
            node.pos,
            path,
            format!("{v} is out of range: use a number from {min} to {max}"),
        ))
    }
}

pub(crate) fn list<'n>(cx: Ctx, node: &'n Node, path: &str) -> R<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        Value::Str(s) => Err(cx.err(
            node.pos,
            path,
            format!(
                "expected a list, found the text {}; write it as a list: [{}]",
                quote(s),
                s
            ),
        )),
        other => Err(cx.err(
            node.pos,
            path,
            format!(
                "expected a list (`[a, b]` or `- a` lines), found {}",
                other.kind()
            ),
        )),
    }
}

/// A non-empty list; `what` says what belongs in it.
pub(crate) fn nonempty_list<'n>(cx: Ctx, node: &'n Node, path: &str, what: &str) -> R<&'n [Node]> {
    let items = list(cx, node, path)?;
    if items.is_empty() {
        return Err(cx.err(
            node.pos,
            path,
            format!("the list is empty; list at least one {what}"),
        ));
    }
    Ok(items)
}

/// One of a fixed set of words.
pub(crate) fn choice(cx: Ctx, node: &Node, path: &str, what: &str, options: &[&str]) -> R<String> {
    let s = string(cx, node, path)?;
    if options.contains(&s.as_str()) {
        return Ok(s);
    }
    Err(cx.err(
        node.pos,
        path,
        format!(
            "unknown {what} {}{}; expected one of {}",
            quote(&s),
            did_you_mean(&s, options),
            list_of(options)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("temprature", &["temperature", "models"]),
            Some("temperature")
        );
        assert_eq!(suggest("zzz", &["temperature", "models"]), None);
        assert_eq!(
            did_you_mean("explict", &["explicit", "none"]),
            "; did you mean `explicit`?"
        );
    }

    #[test]
    fn quote_shortens_and_flattens() {
        assert_eq!(quote("a\nb"), "`a b`");
        let long = "x".repeat(100);
        assert!(quote(&long).ends_with("…`"));
    }
}
