//! Text read back from a store or a results folder is untrusted: a model, a provider or
//! whoever sent the folder wrote it. What is shown on a terminal goes through here.

/// Replaces what could drive a terminal: control characters (escape sequences start with
/// one, and a newline could forge lines) and the bidirectional-text controls that make a
/// terminal show characters in a different order than they are.
pub fn terminal_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// A path (a folder someone sent, a name from a tree being imported) as shown on a
/// terminal: [`terminal_safe`] of its display form.
pub fn path_safe(p: &std::path::Path) -> String {
    terminal_safe(&p.display().to_string())
}

/// JSON for a terminal: serde_json escapes the C0 controls inside strings but prints C1
/// controls (U+0080..U+009F, which some terminals act on), DEL and the bidirectional-text
/// controls (U+202E shows text reversed) raw. Each is written as a `\uXXXX` escape, which
/// keeps the JSON equal in meaning. A raw newline can only be the pretty printer's own line
/// break (inside strings serde_json escapes it), so it is kept.
pub fn json_terminal_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (c.is_control() && c != '\n') || is_bidi_control(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_controls_are_replaced() {
        assert_eq!(terminal_safe("a\u{1b}[2Jb"), "a?[2Jb");
        assert_eq!(terminal_safe("x\ny\r\u{9b}z"), "x?y??z");
        assert_eq!(terminal_safe("evil\u{202E}txt"), "evil?txt");
        assert_eq!(terminal_safe("mock/mock-model é"), "mock/mock-model é");
    }

    #[test]
    fn json_keeps_its_meaning_without_raw_controls() {
        let v = serde_json::json!({"m": "evil\u{202E}txt\u{9b}2J\u{7f}", "n": "a\nb é"});
        let raw = serde_json::to_string_pretty(&v).unwrap();
        assert!(raw.contains('\u{202E}'), "serde_json prints it raw: {raw}");
        let safe = json_terminal_safe(&raw);
        assert!(safe.contains(r"evil\u202etxt\u009b2J\u007f"), "{safe}");
        assert!(!safe
            .chars()
            .any(|c| c == '\u{202E}' || c == '\u{9b}' || c == '\u{7f}'));
        assert!(safe.contains("é"));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
