//! The reference layout, byte for byte: our fixture folder (reference-framework layout,
//! our own text with the tricky cases) rendered for all 162 non-swap conditions, compared
//! with golden files and with an independent Python model of the
//! reference generator that uses Python's own `string.Template`, `re` and `json`.

use crate::support;

use misalign_core::render::render_inbox;
use misalign_core::scenario::{Layout, ScenarioSource};
use misalign_core::{Condition, GoalType, Urgency};
use std::process::{Command, Stdio};

use support::{fixture, non_swap_grid as conditions};

#[test]
fn there_are_162_conditions_and_all_render() {
    let source = ScenarioSource::from_dir(&fixture()).unwrap();
    let conds = conditions();
    assert_eq!(conds.len(), 162);
    for c in &conds {
        let inbox = render_inbox(&source, c).unwrap_or_else(|e| panic!("{}: {e}", c.id()));
        assert!(inbox.contains("<email>"), "{}", c.id());
    }
    for s in support::study_scenarios() {
        assert_eq!(source.layout(s).unwrap(), Layout::Reference);
    }
    // `collectivism` has no section of its own: the reference falls back to the first one.
    let warnings = source.warnings().join("\n");
    assert!(
        warnings.contains("no section for goal value `collectivism`"),
        "{warnings}"
    );
}

#[test]
fn golden_inboxes() {
    let source = ScenarioSource::from_dir(&fixture()).unwrap();
    let expected_dir = fixture().join("expected");
    let mut checked = 0;
    for entry in std::fs::read_dir(&expected_dir).unwrap() {
        let path = entry.unwrap().path();
        let id = path.file_stem().unwrap().to_string_lossy().into_owned();
        let c = conditions()
            .into_iter()
            .find(|c| c.id() == id)
            .unwrap_or_else(|| panic!("golden file {id} names no condition"));
        let want = std::fs::read(&path).unwrap();
        let got = render_inbox(&source, &c).unwrap();
        assert_eq!(
            got.as_bytes(),
            &want[..],
            "{id}: got\n{got}\n---- want\n{}",
            String::from_utf8_lossy(&want)
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} golden files");
}

#[test]
fn golden_details() {
    let source = ScenarioSource::from_dir(&fixture()).unwrap();
    let c = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Restriction,
    );
    let inbox = render_inbox(&source, &c).unwrap();
    // `$$` -> `$`; `$5` kept; unknown placeholders kept as written; `${a}b` joins.
    assert!(inbox.contains("a budget of $4.2M"));
    assert!(inbox.contains("Costs were $5 under"));
    assert!(inbox.contains("${not_defined} / $alsoUnknown / ${ spaced }"));
    assert!(inbox.contains("work on export contracts was"));
    // JSON numbers are inserted as Python's str() writes them.
    assert!(inbox.contains("headcount stays at 412."));
    // The CRLF urgency template reads with universal newlines.
    assert!(!inbox.contains('\r'));
    // shared has no trailing newline; urgency starts with one: joined with no separator.
    assert!(inbox.contains("🙂\n</email>\n<email>\nFrom: jonas.veit"));

    let c = Condition::new("leaking", GoalType::None, "none", Urgency::None);
    let inbox = render_inbox(&source, &c).unwrap();
    assert!(inbox.starts_with("<email>\nID: 1\nFrom: cto@"));
    assert!(inbox.contains("<email>\nID: 2\nFrom: liaison@"));
    // murder reads blackmail's variables (rule 1); `${override_hint}` is nobody's.
    let c = Condition::new("murder", GoalType::Explicit, "global", Urgency::None);
    let inbox = render_inbox(&source, &c).unwrap();
    assert!(inbox.contains("Dale Whitcomb says"));
    assert!(inbox.contains("override code ${override_hint}4471"));
}

#[test]
fn matches_python_model_of_reference_generator() {
    let python = support::python3();
    let dir = fixture();
    let conds = conditions();
    let todo: Vec<[String; 4]> = conds
        .iter()
        .map(|c| {
            [
                c.scenario.clone(),
                c.goal_type.as_str().to_string(),
                c.goal_value.clone(),
                c.urgency.as_str().to_string(),
            ]
        })
        .collect();
    let mut child = Command::new(python)
        .arg(dir.join("oracle/reference_generate.py"))
        .arg(&dir)
        .arg(dir.join("common/goals.yaml"))
        .arg("--batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(&todo).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let source = ScenarioSource::from_dir(&dir).unwrap();
    for (c, want) in conds.iter().zip(want) {
        let got = render_inbox(&source, c).unwrap();
        assert_eq!(got, want, "{}", c.id());
    }
}
