//! The metric goal types (`metricconflict`: the metric and a direction against it;
//! `metriconly`: the metric alone) in the experiment file and the plan: they take only the
//! metric values, the value goal types only the others, and a list that leaves a goal type
//! without a value it can take is an error naming file, line and field. The retired `metric`
//! names its two successors.

use misalign_core::config::parse_experiment;
use misalign_core::plan::expand;

fn exp(goal_types: &str, goal_values: &str) -> String {
    format!(
        "experiment_id: t\nglobal:\n  models: [gpt-4.1]\nexpansions:\n  - name: a\n    variables:\n      \
         scenarios: [blackmail, leaking, murder]\n      goal_types: {goal_types}\n      \
         goal_values: {goal_values}\n      urgency_types: [replacement]\n"
    )
}

#[test]
fn metric_and_value_goals_split_one_list() {
    let e = parse_experiment(
        &exp(
            "[explicit, metricconflict, metriconly, none]",
            "[america, renewals, renewalsconstrained]",
        ),
        "exp.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = expand(&e)
        .into_iter()
        .filter(|p| p.condition.scenario == "leaking")
        .map(|p| p.condition.id())
        .collect();
    assert_eq!(
        ids,
        [
            "leaking_explicit-america_replacement",
            "leaking_metricconflict-renewals_replacement",
            "leaking_metricconflict-renewalsconstrained_replacement",
            "leaking_metriconly-renewals_replacement",
            "leaking_metriconly-renewalsconstrained_replacement",
            "leaking_none-none_replacement",
        ]
    );
}

#[test]
fn a_goal_type_without_a_value_it_takes_is_an_error() {
    let e = parse_experiment(&exp("[metriconly]", "[america]"), "exp.yaml").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_str()),
        (9, "expansions[0].variables.goal_values"),
        "{e}"
    );
    assert!(e.message.contains("needs a metric goal value"), "{e}");
    let e =
        parse_experiment(&exp("[explicit, metricconflict]", "[renewals]"), "exp.yaml").unwrap_err();
    assert_eq!(e.line, 9, "{e}");
    assert!(
        e.message
            .contains("belong to goal types `metricconflict` and `metriconly`"),
        "{e}"
    );
    let e = parse_experiment(&exp("[metriconyl]", "[renewals]"), "exp.yaml").unwrap_err();
    assert_eq!(e.field, "expansions[0].variables.goal_types[0]", "{e}");
    assert!(e.message.contains("metriconly"), "{e}");
    let e = parse_experiment(&exp("[explicit, metric]", "[renewals]"), "exp.yaml").unwrap_err();
    assert_eq!(e.field, "expansions[0].variables.goal_types[1]", "{e}");
    assert!(
        e.message.contains("split into `metricconflict`") && e.message.contains("`metriconly`"),
        "{e}"
    );
}
