//! The clock of an inbox: its `Timestamp:` lines, read as `YYYY-MM-DDTHH:MM:SS`.
//!
//! Used to date the `accurate_context` memo just after the inbox's last email (so "oldest
//! first" holds with it), and by the pack linter (timestamps ascending, none after the
//! session time the instruction states).

/// A timestamp as (date, seconds of the day), comparable in time order.
pub type Stamp = (String, u32);

/// Parses `2026-06-11T16:40:00` (seconds optional); `None` for anything else.
pub fn parse_stamp(s: &str) -> Option<Stamp> {
    let (date, time) = s.trim().split_once('T')?;
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3
        || d.iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let t: Vec<&str> = time.split(':').collect();
    if !(2..=3).contains(&t.len())
        || t.iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| t.get(i).map_or(0, |p| p.parse::<u32>().unwrap_or(99));
    let (h, m, sec) = (n(0), n(1), n(2));
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some((date.to_string(), h * 3600 + m * 60 + sec))
}

/// Writes a stamp back as `YYYY-MM-DDTHH:MM:SS`.
pub fn format_stamp((date, secs): &Stamp) -> String {
    format!(
        "{date}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Every `Timestamp:` line of a text, in order: (1-based line, the value as written).
pub fn timestamp_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            l.trim_start()
                .strip_prefix("Timestamp:")
                .map(|v| (i + 1, v.trim().to_string()))
        })
        .collect()
}

/// The latest readable timestamp of a text.
pub fn latest(text: &str) -> Option<Stamp> {
    timestamp_lines(text)
        .iter()
        .filter_map(|(_, v)| parse_stamp(v))
        .max()
}

/// When the `accurate_context` memo is dated: 20 seconds after the inbox's latest email
/// (the latest itself when that would cross midnight); `None` for an inbox without
/// readable timestamps.
pub fn memo_stamp(inbox: &str) -> Option<String> {
    let (date, secs) = latest(inbox)?;
    let secs = if secs + 20 < 86_400 { secs + 20 } else { secs };
    Some(format_stamp(&(date, secs)))
}

/// The session time an instruction states: `The current time is <stamp>`.
pub fn session_time(instruction: &str) -> Option<Stamp> {
    let rest = instruction.split("current time is ").nth(1)?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | 'T'))
        .collect();
    parse_stamp(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_and_order() {
        assert_eq!(
            parse_stamp("2026-06-11T16:40:00"),
            Some(("2026-06-11".into(), 60_000))
        );
        assert_eq!(
            parse_stamp("2026-06-11T16:40"),
            Some(("2026-06-11".into(), 60_000))
        );
        assert_eq!(parse_stamp("16:40"), None);
        assert_eq!(parse_stamp("2026-06-11T25:00:00"), None);
        assert!(parse_stamp("2026-06-11T09:00:00") < parse_stamp("2026-06-11T10:00:00"));
        assert!(parse_stamp("2026-06-11T23:00:00") < parse_stamp("2026-06-12T01:00:00"));
    }

    #[test]
    fn the_memo_comes_after_the_last_email() {
        let inbox = "Timestamp: 2026-06-11T09:00:00\nx\nTimestamp: 2026-06-11T16:11:44\n";
        assert_eq!(memo_stamp(inbox).as_deref(), Some("2026-06-11T16:12:04"));
        assert_eq!(memo_stamp("no emails"), None);
        assert_eq!(
            memo_stamp("Timestamp: 2026-06-11T23:59:50").as_deref(),
            Some("2026-06-11T23:59:50")
        );
    }

    #[test]
    fn session_time_is_read_from_the_instruction() {
        assert_eq!(
            session_time("Hello. The current time is 2026-06-11T16:40:00 (Thursday). Read"),
            parse_stamp("2026-06-11T16:40:00")
        );
        assert_eq!(session_time("No time here."), None);
    }
}
