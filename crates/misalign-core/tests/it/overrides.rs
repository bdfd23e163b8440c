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
fn the_reply_cap_can_be_set_from_the_command_line() {
    let mut exp = parse_experiment(FILE, "o.yaml").unwrap();
    assert_eq!(exp.execution.max_reply_bytes, 8 * 1024 * 1024);
    Overrides {
        max_reply_bytes: Some(65536),
        ..Default::default()
    }
    .apply(&mut exp)
    .unwrap();
    assert_eq!(exp.execution.max_reply_bytes, 65536);
    for bad in [0, 1023, (1 << 30) + 1] {
        let e = Overrides {
            max_reply_bytes: Some(bad),
            ..Default::default()
        }
        .apply(&mut exp)
        .unwrap_err();
        assert_eq!(e.flag, "--max-reply-bytes");
    }
    let with = format!("{FILE}execution:\n  max_reply_bytes: 4096\n");
    assert_eq!(
        parse_experiment(&with, "o.yaml")
            .unwrap()
            .execution
            .max_reply_bytes,
        4096
    );
    let e = parse_experiment(
        &format!("{FILE}execution:\n  max_reply_bytes: 10\n"),
        "o.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("execution.max_reply_bytes"), "{e}");
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
        (
            Overrides {
                max_cost_usd: Some(-1.0),
                ..Default::default()
            },
            "--max-cost",
        ),
        (
            Overrides {
                max_cost_usd: Some(f64::NAN),
                ..Default::default()
            },
            "--max-cost",
        ),
    ] {
        let err = o.apply(&mut exp.clone()).unwrap_err();
        assert_eq!(err.flag, flag, "{err}");
    }
    assert!(Overrides::default().is_empty());
}

#[test]
fn command_line_ids_are_not_routed_by_letter_case_but_file_ids_are() {
    use misalign_core::config::{provider_config, resolve_model, resolve_model_with, IdRouting};
    let none = Default::default();
    // In a file, the reference's routing: Together spells ids with capitals.
    assert_eq!(
        resolve_model("Qwen/Qwen3-8B", &none).unwrap().provider,
        "together"
    );
    let err = resolve_model_with("Qwen/Qwen3-8B", &none, IdRouting::Strict).unwrap_err();
    assert!(
        err.contains("together/Qwen/Qwen3-8B") && err.contains("ollama/"),
        "{err}"
    );
    // Ids that say their provider resolve the same either way.
    for routing in [IdRouting::Reference, IdRouting::Strict] {
        let r = resolve_model_with("ollama/llama3.2:1b", &none, routing).unwrap();
        assert_eq!(
            (r.name.as_str(), r.model_id.as_str()),
            ("ollama/llama3.2:1b", "llama3.2:1b")
        );
        let cfg = provider_config(&r, &none);
        assert_eq!(cfg.base_url_env.as_deref(), Some("OLLAMA_BASE_URL"));
        assert!(cfg.api_key_optional);
        let r = resolve_model_with("openai-api/my-svc/m-1", &none, routing).unwrap();
        assert_eq!(r.provider, "openai-api/my-svc");
        assert_eq!(
            provider_config(&r, &none).api_key_env.as_deref(),
            Some("MY_SVC_API_KEY")
        );
    }
    assert!(resolve_model("openai-api/only-service", &none).is_err());
}

#[test]
fn batch_settings_parse_and_the_flag_turns_batch_mode_on() {
    use misalign_core::config::BatchFallback;
    let mut exp = parse_experiment(FILE, "o.yaml").unwrap();
    assert!(!exp.execution.batch);
    assert_eq!(exp.execution.batch_fallback, BatchFallback::Batch);
    assert_eq!(exp.execution.batch_poll_seconds, 30.0);
    assert_eq!(exp.execution.batch_max_requests, None);
    Overrides {
        batch: true,
        ..Default::default()
    }
    .apply(&mut exp)
    .unwrap();
    assert!(exp.execution.batch);
    assert_eq!(
        serde_json::to_value(Overrides {
            batch: true,
            ..Default::default()
        })
        .unwrap(),
        serde_json::json!({"batch": true})
    );
    assert_eq!(
        serde_json::to_value(Overrides::default()).unwrap(),
        serde_json::json!({})
    );

    let text = format!(
        "{FILE}execution:\n  batch: true\n  batch_fallback: live\n  batch_poll_seconds: 0.25\n  batch_max_requests: 500\n"
    );
    let exp = parse_experiment(&text, "o.yaml").unwrap();
    assert!(exp.execution.batch);
    assert_eq!(exp.execution.batch_fallback, BatchFallback::Live);
    assert_eq!(exp.execution.batch_poll_seconds, 0.25);
    assert_eq!(exp.execution.batch_max_requests, Some(500));

    for (bad, field) in [
        ("  batch_fallback: later\n", "execution.batch_fallback"),
        ("  batch_poll_seconds: 0\n", "execution.batch_poll_seconds"),
        ("  batch_max_requests: 0\n", "execution.batch_max_requests"),
        ("  batch: maybe\n", "execution.batch"),
        ("  bacth: true\n", "batch"),
    ] {
        let text = format!("{FILE}execution:\n{bad}");
        let e = parse_experiment(&text, "o.yaml").unwrap_err().to_string();
        assert!(e.contains("o.yaml:21"), "{e}");
        assert!(e.contains(field), "{e}");
    }
}

#[test]
fn max_cost_sets_the_limit_and_is_recorded() {
    let mut exp = parse_experiment(FILE, "o.yaml").unwrap();
    assert_eq!(exp.execution.max_cost_usd, None);
    let o = Overrides {
        max_cost_usd: Some(2.5),
        ..Default::default()
    };
    o.apply(&mut exp).unwrap();
    assert_eq!(exp.execution.max_cost_usd, Some(2.5));
    assert_eq!(serde_json::to_value(&o).unwrap()["max_cost_usd"], 2.5);
    // Zero is a limit too (nothing may be spent), not "no limit".
    Overrides {
        max_cost_usd: Some(0.0),
        ..Default::default()
    }
    .apply(&mut exp)
    .unwrap();
    assert_eq!(exp.execution.max_cost_usd, Some(0.0));
}

#[test]
fn a_judge_on_the_command_line_replaces_the_files_judges() {
    let text =
        format!("{FILE}classification:\n  judges: [openai/gpt-4.1, anthropic/claude-sonnet-4-5]\n");
    let mut exp = parse_experiment(&text, "o.yaml").unwrap();
    assert_eq!(exp.classification.harm_judges().len(), 2);
    Overrides {
        judge: Some("openai/gpt-4.1-mini".into()),
        ..Default::default()
    }
    .apply(&mut exp)
    .unwrap();
    assert_eq!(exp.classification.harm_judges(), ["openai/gpt-4.1-mini"]);
}
