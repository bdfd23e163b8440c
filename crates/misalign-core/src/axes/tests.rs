//! The registry's rules, and an axis defined only here (as the next issues' axes will be
//! defined: one table, one entry in a list) that round-trips ids through the registry.

use super::word::{JsonForm, WordAxis};
use super::*;
use crate::condition::{GoalType, Urgency};

/// A test-only axis, as the next axis would be: a default without suffix and one other
/// setting with its own.
static TONE: WordAxis = WordAxis {
    name: "tone",
    key: "tones",
    what: "tone",
    doc: "",
    words: &[("calm", ""), ("urgent", "_urgent")],
    id_rank: 8,
    json: JsonForm::Word,
    file_default: None,
    contrasts: &[Contrast {
        a: "urgent",
        b: "calm",
        label: "urgent_vs_calm",
    }],
    metadata: None,
    render_pack: None,
    render_reference: None,
};

/// The registry with the test axis added at the end, as a new axis would be.
fn with_tone() -> Vec<&'static dyn Axis> {
    let mut axes: Vec<&'static dyn Axis> = AXES.to_vec();
    axes.push(&TONE);
    in_id_order(&axes)
}

/// Every setting of every axis of `axes` on a few reference-grid points.
fn every_condition(axes: &[&'static dyn Axis]) -> Vec<Condition> {
    let settings: Vec<(&'static str, &'static str, Vec<&str>)> = axes
        .iter()
        .map(|a| {
            let words: Vec<&str> = match a.name() {
                "mitigations" => vec!["", "principles", "principles+monitoring+house_rules"],
                "variant" => vec!["dev", "prod"],
                "extra_instructions" => vec!["off", "dont", "goal"],
                "awareness_notice" => vec!["off", "on"],
                "interaction" => vec!["single", "agent"],
                "format" => vec!["agentic", "open", "choice"],
                "tone" => vec!["calm", "urgent"],
                "variation" => vec!["0", "3", "12s7"],
                other => panic!("a word list for axis {other}"),
            };
            (a.name(), a.default_word(), words)
        })
        .collect();
    let mut out = vec![
        Condition::new("blackmail", GoalType::Explicit, "america", Urgency::None),
        Condition::new("my_scenario_v2", GoalType::None, "", Urgency::Replacement),
    ];
    for (name, default, words) in settings {
        out = out
            .into_iter()
            .flat_map(|c| {
                words.iter().map(move |w| {
                    let mut c = c.clone();
                    c.set_setting(name, default, *w);
                    c
                })
            })
            .collect();
    }
    out
}

#[test]
fn a_new_axis_round_trips_ids_through_the_registry() {
    let axes = with_tone();
    let all = every_condition(&axes);
    assert_eq!(all.len(), 2 * 3 * 2 * 3 * 2 * 2 * 3 * 2 * 3);
    for c in &all {
        let id = c.id_with(&axes);
        let back = Condition::parse_with(&axes, &id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, c, "{id}");
        // Its suffix comes last (its id rank) and only when not at its default.
        assert_eq!(id.ends_with("_urgent"), c.setting("tone").is_some(), "{id}");
    }
    let mut c = Condition::new("blackmail", GoalType::Explicit, "america", Urgency::None);
    c.set_setting("tone", "calm", "urgent");
    c.set_variant(Variant::Prod);
    assert_eq!(
        c.id_with(&axes),
        "blackmail_explicit-america_none_prod_urgent"
    );
    // Without the axis registered its suffix is not an id.
    assert!("blackmail_explicit-america_none_prod_urgent"
        .parse::<Condition>()
        .is_err());
    // A condition at the new axis's default keeps the id it had before the axis existed.
    let plain = Condition::new("blackmail", GoalType::Explicit, "america", Urgency::None);
    assert_eq!(plain.id_with(&axes), plain.id());
}

#[test]
fn the_registered_axes_have_distinct_names_keys_ranks_and_unambiguous_suffixes() {
    let axes = with_tone();
    let names: std::collections::BTreeSet<&str> = axes.iter().map(|a| a.name()).collect();
    let keys: std::collections::BTreeSet<&str> = axes.iter().map(|a| a.key()).collect();
    let ranks: std::collections::BTreeSet<u8> = axes.iter().map(|a| a.id_rank()).collect();
    assert_eq!(
        (names.len(), keys.len(), ranks.len()),
        (axes.len(), axes.len(), axes.len())
    );
    // Stripping the settings' suffixes leaves exactly the reference grid's id.
    for c in every_condition(&axes) {
        let id = c.id_with(&axes);
        let (rest, _) = strip_suffixes(&axes, &id).unwrap();
        let grid = format!(
            "{}_{}-{}_{}",
            c.scenario,
            c.goal_type.as_str(),
            c.goal_value,
            c.urgency.as_str()
        );
        assert_eq!(rest, grid, "{id}");
    }
}

#[test]
fn the_condition_json_of_each_axis_reads_back_and_defaults_when_missing() {
    for c in every_condition(AXES) {
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            serde_json::from_str::<Condition>(&json).unwrap(),
            c,
            "{json}"
        );
    }
    let old: Condition = serde_json::from_str(
        r#"{"scenario":"murder","goal_type":"none","goal_value":"none","urgency":"none"}"#,
    )
    .unwrap();
    assert_eq!(old.id(), "murder_none-none_none");
    for bad in [
        r#"{"scenario":"m","goal_type":"none","goal_value":"none","urgency":"none","variant":"staging"}"#,
        r#"{"scenario":"m","goal_type":"none","goal_value":"none","urgency":"none","awareness_notice":"on"}"#,
        r#"{"scenario":"m","goal_type":"none","goal_value":"none","urgency":"none","mitigations":"principles"}"#,
    ] {
        assert!(serde_json::from_str::<Condition>(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_id_grammar_in_messages_comes_from_the_registry() {
    let err = "nope".parse::<Condition>().unwrap_err().to_string();
    assert!(
        err.contains(
            "<urgency>[_prod][_dont|_goal][_aware][_mit-a+b][_agent][_qopen|_qchoice][_vk[sS]],"
        ),
        "{err}"
    );
}
