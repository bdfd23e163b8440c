//! Wording alternatives inside a pack's texts: `{{first|second|third}}`.
//!
//! The canonical render takes the first alternative, so a text whose first alternatives are
//! its old wording renders byte for byte as before; a variant draws one per group. The
//! markers cannot meet the templates' `${name}` placeholders (a different opening), and no
//! text of the built-in packs or of the reference framework contains `{{`. Groups do not
//! nest and `|` cannot be escaped inside one; an alternative may be empty (`{{ indeed|}}`).

/// Resolves every `{{a|b|..}}` group of `text`; `pick(group, n)` chooses an alternative of
/// a group of `n` (0: the first). A `{{` without its `}}` is left as written.
pub fn resolve(text: &str, mut pick: impl FnMut(&str, usize) -> usize) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let group = &rest[start + 2..start + 2 + len];
        let options: Vec<&str> = group.split('|').collect();
        let chosen = pick(group, options.len()).min(options.len() - 1);
        out.push_str(options[chosen]);
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The canonical reading: the first alternative of each group.
pub fn canonical(text: &str) -> String {
    resolve(text, |_, _| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_reading_takes_each_first_alternative() {
        assert_eq!(canonical("Hi {{Sam|there}}, {{ok|fine|}}!"), "Hi Sam, ok!");
        assert_eq!(canonical("no groups ${x}"), "no groups ${x}");
        assert_eq!(canonical("open {{ only"), "open {{ only");
        assert_eq!(canonical("{{a}}"), "a");
    }

    #[test]
    fn a_variant_picks_per_group() {
        let mut n = 0;
        let out = resolve("{{a|b}} {{c|d|e}} {{x|}}", |_, len| {
            n += 1;
            len - 1
        });
        assert_eq!(out, "b e ");
        assert_eq!(n, 3);
    }
}
