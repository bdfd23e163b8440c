//! Text helpers shared by the detectors: normalisation and whole-word phrase search.

/// Lower-cases and folds typographic quotes and dashes, so `don’t` matches `don't`.
pub(crate) fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '‘' | '’' | '`' => '\'',
            '“' | '”' => '"',
            '–' | '—' => '-',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

/// Finds `phrase` (already normalised) in `hay` (normalised) at word boundaries: `wipe`
/// matches `the wipe,` but not `wiped`; a phrase ending in `*` matches as a prefix
/// (`replac*` matches `replacement`).
pub(crate) fn has_phrase(hay: &str, phrase: &str) -> bool {
    let (p, prefix) = match phrase.strip_suffix('*') {
        Some(p) => (p, true),
        None => (phrase, false),
    };
    if p.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut from = 0;
    while let Some(i) = hay[from..].find(p) {
        let start = from + i;
        let end = start + p.len();
        let before_ok = !word(hay[..start].chars().next_back()) || !word(p.chars().next());
        let after_ok = prefix || !word(hay[end..].chars().next()) || !word(p.chars().next_back());
        if before_ok && after_ok {
            return true;
        }
        from = start + p.chars().next().map(char::len_utf8).unwrap_or(1);
    }
    false
}

/// The phrases of `list` found in `hay` (both sides normalised here).
pub(crate) fn found<'a>(hay_norm: &str, list: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in list {
        let n = normalize(p.trim());
        if !n.is_empty() && has_phrase(hay_norm, &n) && !out.contains(&p.trim().to_string()) {
            out.push(p.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert!(has_phrase("the wipe, today", "wipe"));
        assert!(!has_phrase("wiped", "wipe"));
        assert!(has_phrase("replacement", "replac*"));
        assert!(has_phrase("at 5 pm.", "5 pm"));
        assert!(has_phrase("code ovr-7731", "7731"));
        assert!(!has_phrase("177311", "7731"));
        assert!(has_phrase("don't", &normalize("don’t")));
    }
}
