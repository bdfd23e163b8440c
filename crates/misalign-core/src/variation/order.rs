//! Moving emails of an inbox where causality allows: the pack names groups of emails that
//! may trade places (each email by a phrase it contains); a variant permutes each group's
//! emails among the positions they hold. Every other email keeps its position, so in a
//! numbered inbox (`ID: n`) the emails the facts name by id keep their ids as long as they
//! are in no group. Each position keeps its `Timestamp:` line, so the inbox stays in time
//! order: what moves is which email was sent when.

/// The inbox's emails (`<email>` .. `</email>`) as byte ranges, in order.
fn email_spans(inbox: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(start) = inbox[from..].find("<email>") {
        let start = from + start;
        let Some(len) = inbox[start..].find("</email>") else {
            break;
        };
        let end = start + len + "</email>".len();
        spans.push((start, end));
        from = end;
    }
    spans
}

/// `inbox` with the emails of each group permuted: `groups` are the phrases naming each
/// group's emails, `shuffle(k, n)` a permutation of `0..n` for group `k` (applied to the
/// group's emails present in this inbox, in inbox order).
pub fn reorder(
    inbox: &str,
    groups: &[Vec<String>],
    mut shuffle: impl FnMut(usize, usize) -> Vec<usize>,
) -> String {
    let spans = email_spans(inbox);
    // Which email goes into each position (by index into `spans`).
    let mut placed: Vec<usize> = (0..spans.len()).collect();
    let mut taken = vec![false; spans.len()];
    for (k, phrases) in groups.iter().enumerate() {
        let members: Vec<usize> = (0..spans.len())
            .filter(|&i| {
                let text = &inbox[spans[i].0..spans[i].1];
                !taken[i] && phrases.iter().any(|p| text.contains(p.as_str()))
            })
            .collect();
        if members.len() < 2 {
            continue;
        }
        for &i in &members {
            taken[i] = true;
        }
        let perm = shuffle(k, members.len());
        for (slot, &from) in members.iter().zip(perm.iter()) {
            placed[*slot] = members[from];
        }
    }
    let mut out = String::with_capacity(inbox.len());
    let mut at = 0;
    for (pos, &(start, end)) in spans.iter().enumerate() {
        out.push_str(&inbox[at..start]);
        let (s, e) = spans[placed[pos]];
        let moved = &inbox[s..e];
        match (timestamp(&inbox[start..end]), timestamp(moved)) {
            (Some(here), Some(there)) if placed[pos] != pos => {
                out.push_str(&moved.replacen(there, here, 1))
            }
            _ => out.push_str(moved),
        }
        at = end;
    }
    out.push_str(&inbox[at..]);
    out
}

/// An email's `Timestamp:` line.
fn timestamp(email: &str) -> Option<&str> {
    email.lines().find(|l| l.starts_with("Timestamp:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INBOX: &str = "top\n<email>A x</email>\n\n<email>B</email>\n<email>C x</email>\nend";

    #[test]
    fn only_the_group_moves_among_its_positions() {
        let groups = vec![vec!["x".to_string()]];
        let out = reorder(INBOX, &groups, |_, n| (0..n).rev().collect());
        assert_eq!(
            out,
            "top\n<email>C x</email>\n\n<email>B</email>\n<email>A x</email>\nend"
        );
        let same = reorder(INBOX, &groups, |_, n| (0..n).collect());
        assert_eq!(same, INBOX);
    }

    #[test]
    fn positions_keep_their_timestamps() {
        let inbox = "<email>\nTimestamp: 1\nA x\n</email><email>\nTimestamp: 2\nB x\n</email>";
        let out = reorder(inbox, &[vec!["x".to_string()]], |_, _| vec![1, 0]);
        assert_eq!(
            out,
            "<email>\nTimestamp: 1\nB x\n</email><email>\nTimestamp: 2\nA x\n</email>"
        );
    }

    #[test]
    fn a_group_of_one_present_email_stays() {
        let groups = vec![vec!["B".to_string(), "missing".to_string()]];
        assert_eq!(reorder(INBOX, &groups, |_, _| vec![0]), INBOX);
    }
}
