//! Property tests of the placeholder substitution against its rules, an independent
//! regex-based reference implementation, and Python itself (required: no python3 fails).

use crate::support;

use misalign_core::scenario::variables::VariablesFile;
use misalign_core::scenario::{FileTree, Origin, ScenarioSource};
use misalign_core::template::{safe_substitute, Template};
use misalign_core::{render::render_inbox, Condition, GoalType, Urgency};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use regex::{Captures, Regex};
use std::collections::BTreeMap;

/// Python 3.11's `string.Template` pattern, transcribed as a regex and applied the way
/// `re.sub` applies it: an independent second implementation.
fn reference(text: &str, vars: &BTreeMap<String, String>) -> String {
    let re = Regex::new(
        r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|\{(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*)\}|(?P<invalid>))",
    )
    .unwrap();
    re.replace_all(text, |c: &Captures| {
        if c.name("escaped").is_some() {
            return "$".to_string();
        }
        if let Some(n) = c.name("named").or_else(|| c.name("braced")) {
            return vars
                .get(n.as_str())
                .cloned()
                .unwrap_or_else(|| c[0].to_string());
        }
        c[0].to_string()
    })
    .into_owned()
}

fn template_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("$".to_string()),
            Just("$$".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("a".to_string()),
            Just("b".to_string()),
            Just("A".to_string()),
            Just("_".to_string()),
            Just("1".to_string()),
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just("é".to_string()),
            Just("€".to_string()),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn variables() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("ab".to_string()),
            Just("A".to_string()),
            Just("_1".to_string()),
        ],
        "[a$ {}é]{0,5}",
        0..5,
    )
}

proptest! {
    #[test]
    fn matches_the_reference_implementation(text in template_text(), vars in variables()) {
        prop_assert_eq!(safe_substitute(&text, &vars), reference(&text, &vars));
    }

    #[test]
    fn escaped_dollars_round_trip(text in any::<String>(), vars in variables()) {
        let escaped = text.replace('$', "$$");
        prop_assert_eq!(safe_substitute(&escaped, &vars), text);
    }

    #[test]
    fn unknown_placeholders_are_preserved(name in "[_a-zA-Z][_a-zA-Z0-9]{0,8}", pre in "[^$]{0,10}", braced in any::<bool>()) {
        let raw = if braced { format!("${{{name}}}") } else { format!("${name} ") };
        let text = format!("{pre}{raw}");
        prop_assert_eq!(safe_substitute(&text, &BTreeMap::new()), text);
    }

    #[test]
    fn values_are_not_substituted_again(text in template_text()) {
        let vars: BTreeMap<String, String> = [("a".to_string(), "$b".to_string()), ("b".to_string(), "X".to_string())].into();
        let out = safe_substitute(&text, &vars);
        prop_assert_eq!(out, reference(&text, &vars));
    }

    #[test]
    fn never_panics(text in any::<String>(), vars in variables()) {
        let t = Template::parse(&text);
        let _ = t.safe_substitute(&vars);
        let _ = t.substitute_strict(&vars, "f.md");
        let _ = t.placeholders().count();
    }

    #[test]
    fn strict_agrees_with_safe_when_it_succeeds(text in template_text(), vars in variables()) {
        if let Ok(s) = Template::parse(&text).substitute_strict(&vars, "f.md") {
            prop_assert_eq!(s, safe_substitute(&text, &vars));
        }
    }

    #[test]
    fn variables_reader_never_panics(text in any::<String>()) {
        let _ = VariablesFile::parse(&text, "v.md", "v");
    }

    #[test]
    fn variables_reader_never_panics_on_near_misses(parts in proptest::collection::vec(prop_oneof![
        Just("## ".to_string()), Just("```json".to_string()), Just("```".to_string()),
        Just("\n".to_string()), Just("{".to_string()), Just("}".to_string()),
        Just("\"k\": \"v\"".to_string()), Just(",".to_string()), Just("Pro-America".to_string()),
        Just("\u{1c}".to_string()), Just("\r\n".to_string()),
    ], 0..30)) {
        let text = parts.concat();
        let f = VariablesFile::parse(&text, "v.md", "america_vs_global");
        let _ = f.section_for("america");
        let _ = f.merged();
    }

    #[test]
    fn rendering_arbitrary_folders_never_panics(shared in any::<String>(), urgency in any::<String>(), vars in any::<String>(), pack in any::<bool>()) {
        let mut files = vec![
            ("blackmail/templates/email-template-blackmail-shared.md".to_string(), shared.into_bytes()),
            ("blackmail/templates/email-template-blackmail-none.md".to_string(), urgency.clone().into_bytes()),
            ("blackmail/templates/email-template-blackmail-goal-conflict-none-none.md".to_string(), urgency.into_bytes()),
            ("blackmail/variables/america_vs_global.md".to_string(), vars.clone().into_bytes()),
            ("blackmail/variables/ambiguous.md".to_string(), vars.into_bytes()),
        ];
        if pack {
            files.push(("blackmail/facts.yaml".to_string(), b"scenario: [".to_vec()));
        }
        let source = ScenarioSource::from_tree(FileTree::from_files(Origin::Dir("t".into()), files));
        for gt in [GoalType::Explicit, GoalType::None, GoalType::Latent] {
            let _ = render_inbox(&source, &Condition::new("blackmail", gt, "america", Urgency::None));
        }
    }
}

#[test]
fn matches_python_string_template() {
    support::python3();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let cases: Vec<(String, BTreeMap<String, String>)> = (0..500)
        .map(|_| {
            (
                template_text().new_tree(&mut runner).unwrap().current(),
                variables().new_tree(&mut runner).unwrap().current(),
            )
        })
        .collect();
    let script = "import json,sys\nfrom string import Template\ncases=json.load(sys.stdin)\nsys.stdout.write(json.dumps([Template(t).safe_substitute(v) for t,v in cases]))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    for ((text, vars), want) in cases.iter().zip(want) {
        assert_eq!(
            safe_substitute(text, vars),
            want,
            "template {text:?} vars {vars:?}"
        );
    }
}
