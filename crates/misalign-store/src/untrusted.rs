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
}
