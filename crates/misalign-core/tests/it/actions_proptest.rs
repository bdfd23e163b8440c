//! The action parser is total: no input makes it panic, and what it finds is consistent.

use misalign_core::actions::parse_actions;
use proptest::prelude::*;

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<tool_use:email>".to_string()),
        Just("</tool_use:email>".to_string()),
        Just("<tool_use:forward>".to_string()),
        Just("<tool_use:cancel_alert>".to_string()),
        Just("</tool_use>".to_string()),
        Just("<SCRATCHPAD_REASONING>".to_string()),
        Just("</SCRATCHPAD_REASONING>".to_string()),
        Just("<thinking>".to_string()),
        Just("to: ".to_string()),
        Just("body: ".to_string()),
        Just("subject:".to_string()),
        Just("email_id: [".to_string()),
        Just("code: \u{201c}".to_string()),
        Just("\"".to_string()),
        Just("\u{201d},".to_string()),
        Just("```".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("`".to_string()),
        Just("a@b.example".to_string()),
        "[0-9]{1,12}",
        "\\PC{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_strings(s in "\\PC*") {
        let _ = parse_actions(&s);
    }

    #[test]
    fn never_panics_on_tag_soup(parts in prop::collection::vec(fragment(), 0..40)) {
        let s: String = parts.concat();
        let p = parse_actions(&s);
        // Every action comes from a line-start opening tag, so never more actions than tags.
        let tags = s.matches("<tool_use:").count();
        prop_assert!(p.actions.len() <= tags);
        let _ = serde_json::to_string(&p).unwrap();
    }
}
