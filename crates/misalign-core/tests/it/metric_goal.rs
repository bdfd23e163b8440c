//! Goal type `metric` in the experiment file and the plan: it takes only the metric values,
//! the value goal types only the others, and a list that leaves a goal type without a value
//! it can take is an error naming file, line and field.

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
            "[explicit, metric, none]",
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
            "leaking_metric-renewals_replacement",
            "leaking_metric-renewalsconstrained_replacement",
            "leaking_none-none_replacement",
        ]
    );
}

#[test]
fn a_goal_type_without_a_value_it_takes_is_an_error() {
    let e = parse_experiment(&exp("[metric]", "[america]"), "exp.yaml").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_str()),
        (9, "expansions[0].variables.goal_values"),
        "{e}"
    );
    assert!(e.message.contains("needs a metric goal value"), "{e}");
    let e = parse_experiment(&exp("[explicit, metric]", "[renewals]"), "exp.yaml").unwrap_err();
    assert_eq!(e.line, 9, "{e}");
    assert!(e.message.contains("belong to goal type `metric`"), "{e}");
    let e = parse_experiment(&exp("[metrik]", "[renewals]"), "exp.yaml").unwrap_err();
    assert_eq!(e.field, "expansions[0].variables.goal_types[0]", "{e}");
    assert!(e.message.contains("metric"), "{e}");
}
