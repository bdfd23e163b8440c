//! Prior conversation turns: earlier user and assistant messages sent before a condition's
//! user message (the `demonstrations` mitigation and `turns:` files of an experiment).
//!
//! A turns file is Markdown in which each turn starts with a heading line of its own,
//! `## user` or `## assistant`, and runs to the next such heading. The turns alternate,
//! start with `user` and end with `assistant`: the scenario's own user message comes next,
//! and every provider requires strictly alternating roles. The rules are checked here so a
//! bad file is an error at validate time, naming its line.

use serde::{Deserialize, Serialize};

/// Who speaks in an earlier turn of a turns file (`## user` or `## assistant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    User,
    Assistant,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::User => "user",
            Speaker::Assistant => "assistant",
        }
    }
}

/// One earlier message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Turn {
    pub role: Speaker,
    pub text: String,
}

impl Turn {
    pub fn new(role: Speaker, text: impl Into<String>) -> Turn {
        Turn {
            role,
            text: text.into(),
        }
    }
}

/// A turns file that breaks a rule, at a 1-based line of the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TurnsError {
    pub line: usize,
    pub message: String,
}

/// The heading that starts a turn: `## ` then a role, alone on its line.
const HEADING: &str = "## ";

/// Reads a turns file (module docs). Each turn's text is trimmed of surrounding blank lines.
pub fn parse_turns(text: &str) -> Result<Vec<Turn>, TurnsError> {
    let err = |line: usize, message: String| TurnsError { line, message };
    // (role, heading line, body lines)
    let mut open: Vec<(Speaker, usize, Vec<&str>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(name) = line.strip_prefix(HEADING) {
            let role = match name.trim().to_ascii_lowercase().as_str() {
                "user" => Speaker::User,
                "assistant" => Speaker::Assistant,
                other => {
                    return Err(err(
                        n,
                        format!(
                        "unknown role `{}` in a turn heading; write `## user` or `## assistant`",
                        other.chars().take(40).collect::<String>()
                    ),
                    ))
                }
            };
            open.push((role, n, Vec::new()));
        } else if let Some((_, _, body)) = open.last_mut() {
            body.push(line);
        } else if !line.trim().is_empty() {
            return Err(err(
                n,
                "text before the first turn; start the file with a `## user` heading".into(),
            ));
        }
    }
    if open.is_empty() {
        return Err(err(
            1,
            "no turns; write `## user` and `## assistant` headings, each followed by its text"
                .into(),
        ));
    }
    let mut turns = Vec::with_capacity(open.len());
    let mut expected = Speaker::User;
    let mut last_line = 1;
    for (role, line, body) in open {
        if role != expected {
            return Err(err(
                line,
                format!(
                    "a `{}` turn where a `{}` turn belongs: turns alternate, starting with `user`",
                    role.as_str(),
                    expected.as_str()
                ),
            ));
        }
        let text = body.join("\n").trim_matches('\n').trim_end().to_string();
        if text.trim().is_empty() {
            return Err(err(
                line,
                format!(
                    "the `{}` turn is empty; write its text under the heading",
                    role.as_str()
                ),
            ));
        }
        turns.push(Turn { role, text });
        expected = match role {
            Speaker::User => Speaker::Assistant,
            Speaker::Assistant => Speaker::User,
        };
        last_line = line;
    }
    if expected != Speaker::User {
        return Err(err(
            last_line,
            "the last turn is `user`; end with an `assistant` turn (the scenario's own message \
             is the next user turn)"
                .into(),
        ));
    }
    Ok(turns)
}

/// The turns written back in the file format (what `generate` and `scenarios show` print).
pub fn turns_markdown(turns: &[Turn]) -> String {
    let mut out = String::new();
    for (i, t) in turns.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(HEADING);
        out.push_str(t.role.as_str());
        out.push_str("\n\n");
        out.push_str(&t.text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_alternating_turns() {
        let t = parse_turns("\n## user\n\nHello.\n\nMore.\n## Assistant \nHi.\n").unwrap();
        assert_eq!(
            t,
            vec![
                Turn::new(Speaker::User, "Hello.\n\nMore."),
                Turn::new(Speaker::Assistant, "Hi.")
            ]
        );
        assert_eq!(parse_turns(&turns_markdown(&t)).unwrap(), t);
        // `###` and `##x` are text, not headings.
        let t = parse_turns("## user\n### note\n##x\n## assistant\nok").unwrap();
        assert_eq!(t[0].text, "### note\n##x");
    }

    #[test]
    fn breaks_are_errors_with_their_line() {
        let e = |s: &str| parse_turns(s).unwrap_err();
        assert_eq!(e("").line, 1);
        assert_eq!(e("intro\n## user\nx\n## assistant\ny").line, 1);
        let u = e("## user\nx\n## system\ny");
        assert_eq!(u.line, 3);
        assert!(u.message.contains("unknown role `system`"), "{u}");
        let a = e("## assistant\nx\n## user\ny");
        assert_eq!(a.line, 1);
        assert!(a.message.contains("alternate"), "{a}");
        assert_eq!(e("## user\nx\n## user\ny\n## assistant\nz").line, 3);
        let empty = e("## user\n\n  \n## assistant\nz");
        assert_eq!(empty.line, 1);
        assert!(empty.message.contains("empty"));
        let last = e("## user\nx\n## assistant\ny\n## user\nz");
        assert_eq!(last.line, 5);
        assert!(last.message.contains("end with an `assistant`"));
    }
}
