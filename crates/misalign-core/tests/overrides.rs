//! Command-line overrides applied to a parsed experiment.

use misalign_core::config::{parse_experiment, Overrides};

const FILE: &str = "experiment_id: o
global:
  models: [openai/gpt-4.1, anthropic/claude-sonnet-4-5]
  samples_per_condition: 4
  concurrency:
    providers:
      openai: 20
    models:
      openai/gpt-4.1: 2
      anthropic/claude-sonnet-4-5: 30
expansions:
  - name: a
    enabled: true
    models: [openai/gpt-4.1]
    variables:
      scenarios: [blackmail]
      goal_types: [none]
      goal_values: [none]
      urgency_types: [replacement]
";

#[test]
fn models_replace_every_expansions_models_and_connections_cap_every_provider() {
    let mut exp = parse_experiment(FILE, "o.yaml").unwrap();
    Overrides {
        models: vec!["anthropic/claude-sonnet-4-5".into()],
        max_connections: Some(5),
        ..Default::default()
    }
    .apply(&mut exp)
    .unwrap();
    assert_eq!(exp.models_in_use(), vec!["anthropic/claude-sonnet-4-5"]);
    assert_eq!(exp.concurrency.providers.get("anthropic"), Some(&5));
    // A smaller per-model cap is kept, a larger one comes down to the override.
    assert_eq!(exp.concurrency.models["openai/gpt-4.1"], 2);
    assert_eq!(exp.concurrency.models["anthropic/claude-sonnet-4-5"], 5);
}

#[test]
fn zero_and_unknown_values_name_the_flag() {
    let exp = parse_experiment(FILE, "o.yaml").unwrap();
    for (o, flag) in [
        (
            Overrides {
                samples: Some(0),
                ..Default::default()
            },
            "--samples",
        ),
        (
            Overrides {
                limit: Some(0),
                ..Default::default()
            },
            "--limit",
        ),
        (
            Overrides {
                judge: Some("nowhere/judge".into()),
                ..Default::default()
            },
            "--judge",
        ),
    ] {
        let err = o.apply(&mut exp.clone()).unwrap_err();
        assert_eq!(err.flag, flag, "{err}");
    }
    assert!(Overrides::default().is_empty());
}
