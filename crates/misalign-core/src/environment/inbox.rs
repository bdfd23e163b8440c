//! The mailbox: the `<email>` blocks of a condition's rendered inbox (the text the
//! single-prompt design puts in the prompt), read back into messages, so that agent mode
//! shows the same emails, with the same variant and goal-value wording and the same ids.
//!
//! # Reading rule
//!
//! An email starts at a line that is `<email>` alone (surrounding space allowed) and ends at
//! a line that is `</email>` alone or ends with it, at the next `<email>` line, or at the end
//! of the text. A tag inside a sentence is text. Lines before `Body:` of the form `Key: value`
//! with a known key (`ID`, `From`, `To`, `Cc`, `Subject`, `Timestamp`) are headers; the first
//! other line starts the body (`Body:` itself is optional). An email's id is its `ID:` line
//! when it has one that no earlier email took (leaking numbers its emails so), else its
//! position in the inbox (1-based), else the next free number.

use super::clock::{self, SimTime};
use serde::Serialize;
use std::collections::BTreeSet;

/// One message of the mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mail {
    pub id: u32,
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cc: String,
    pub subject: String,
    /// The `Timestamp:` as written.
    pub timestamp: String,
    /// When it arrives: its timestamp, or (none readable) the clock's start.
    #[serde(skip)]
    pub arrives: Option<SimTime>,
    pub body: String,
}

impl Mail {
    /// The email as `read_email` shows it: the inbox's own form, without the tags.
    pub fn show(&self) -> String {
        let mut s = format!("ID: {}\nFrom: {}\nTo: {}\n", self.id, self.from, self.to);
        if !self.cc.is_empty() {
            s.push_str(&format!("Cc: {}\n", self.cc));
        }
        s.push_str(&format!(
            "Subject: {}\nTimestamp: {}\nBody: {}",
            self.subject, self.timestamp, self.body
        ));
        s
    }

    /// Subject and body, for keyword rules.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.subject, self.body)
    }
}

/// Reads every `<email>` block of `content`, in order, with ids assigned by the rule above.
pub fn parse_inbox(content: &str) -> Vec<Mail> {
    let blocks = blocks(content);
    let mut taken = BTreeSet::new();
    let mut mails: Vec<(Option<u32>, Mail)> = blocks.iter().map(|b| read_block(b)).collect();
    // Explicit ids first, so that a later email's explicit id is not taken by position.
    for (explicit, mail) in mails.iter_mut() {
        if let Some(id) = explicit.filter(|id| *id > 0 && taken.insert(*id)) {
            mail.id = id;
        } else {
            *explicit = None;
        }
    }
    let mut next = 1;
    for (position, (explicit, mail)) in mails.iter_mut().enumerate() {
        if explicit.is_some() {
            continue;
        }
        let by_position = u32::try_from(position + 1).unwrap_or(u32::MAX);
        mail.id = if taken.insert(by_position) {
            by_position
        } else {
            while taken.contains(&next) {
                next += 1;
            }
            taken.insert(next);
            next
        };
    }
    mails.into_iter().map(|(_, m)| m).collect()
}

/// The lines of each block, tags removed.
fn blocks(content: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in content.lines() {
        let t = line.trim();
        if t == "<email>" {
            if let Some(b) = current.take() {
                out.push(b);
            }
            current = Some(Vec::new());
        } else if let Some(b) = current.as_mut() {
            if let Some(before) = line.trim_end().strip_suffix("</email>") {
                if !before.trim().is_empty() {
                    b.push(before);
                }
                out.push(current.take().unwrap_or_default());
            } else {
                b.push(line);
            }
        }
    }
    if let Some(b) = current {
        out.push(b);
    }
    out
}

/// One block's headers and body; the explicit `ID:` if any.
fn read_block(lines: &[&str]) -> (Option<u32>, Mail) {
    let mut mail = Mail {
        id: 0,
        from: String::new(),
        to: String::new(),
        cc: String::new(),
        subject: String::new(),
        timestamp: String::new(),
        arrives: None,
        body: String::new(),
    };
    let mut explicit = None;
    let mut body: Vec<&str> = Vec::new();
    let mut in_body = false;
    for line in lines {
        if in_body {
            body.push(line);
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            in_body = true;
            body.push(line);
            continue;
        };
        let value = value.trim().to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "id" => explicit = value.parse().ok(),
            "from" => mail.from = value,
            "to" => mail.to = value,
            "cc" => mail.cc = value,
            "subject" => mail.subject = value,
            "timestamp" => mail.timestamp = value,
            "body" => {
                in_body = true;
                body.push(line.split_once(':').map_or("", |(_, v)| v.trim_start()));
            }
            _ => {
                in_body = true;
                body.push(line);
            }
        }
    }
    mail.arrives = clock::parse_timestamp(&mail.timestamp);
    mail.body = body.join("\n").trim_end().to_string();
    (explicit, mail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_body_and_ids_as_the_prompt_has_them() {
        let inbox = "<email>\nID: 4\nFrom: a@x.com\nTo: b@x.com\nSubject: Spec\nTimestamp: 2026-06-11T10:52:31\nBody: Line one.\n\nLine two.\n</email>\n\n<email>\nFrom: c@x.com\nTo: b@x.com\nSubject: No id\nTimestamp: 2026-06-11T11:00:00\nBody: Hi\n</email>\n";
        let mails = parse_inbox(inbox);
        assert_eq!(mails.len(), 2);
        assert_eq!(mails[0].id, 4);
        assert_eq!(mails[0].body, "Line one.\n\nLine two.");
        assert_eq!(mails[0].subject, "Spec");
        assert_eq!(mails[1].id, 2);
        assert_eq!(
            mails[1].arrives.map(clock::show).as_deref(),
            Some("2026-06-11T11:00:00")
        );
    }

    #[test]
    fn a_tag_inside_a_sentence_is_text_and_unclosed_blocks_end_at_the_next() {
        let inbox = "<email>\nID: 2\nFrom: l@x.com\nSubject: A request\nBody: tag your reply with <email>\nID: 3 markers if you like.\n</email>\n<email>\nFrom: m@x.com\nSubject: open\nBody: never closed\n<email>\nFrom: n@x.com\nSubject: last\nThanks</email>\ntrailing text is ignored";
        let mails = parse_inbox(inbox);
        assert_eq!(mails.len(), 3);
        assert_eq!(mails[0].id, 2);
        assert!(mails[0].body.contains("ID: 3 markers"));
        assert_eq!(mails[1].body, "never closed");
        assert_eq!(mails[2].body, "Thanks");
        // No Body: line: the first non-header line starts the body; ids fill in by position.
        assert_eq!((mails[1].id, mails[2].id), (1, 3));
        assert!(mails[2].arrives.is_none());
    }

    #[test]
    fn duplicate_or_colliding_ids_stay_unique() {
        let inbox = "<email>\nID: 2\nBody: a\n</email>\n<email>\nID: 2\nBody: b\n</email>\n<email>\nBody: c\n</email>\n";
        let ids: Vec<u32> = parse_inbox(inbox).iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![2, 1, 3]);
    }
}
