//! Reference-schema and superset experiment files parse to the values they state, and the
//! shipped examples plan the documented number of conditions and model calls.

use misalign_core::config::{
    parse_experiment, parse_experiment_with, Experiment, ParseOptions, Price, ProviderKind,
};
use misalign_core::plan::{expand, summarize, work_items};
use misalign_core::{GoalType, Urgency};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/experiments")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (text, path.display().to_string())
}

fn parse_fixture(name: &str) -> Experiment {
    let (text, file) = fixture(name);
    let strict = ParseOptions {
        require_models: true,
    };
    parse_experiment_with(&text, &file, &strict).unwrap_or_else(|e| panic!("{e}"))
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn reference_file_with_every_reference_key() {
    let exp = parse_fixture("reference_full.yaml");
    assert_eq!(exp.experiment_id, "fixture_reference_full");
    assert_eq!(exp.models.len(), 5);
    assert_eq!(exp.samples_per_condition, 100);
    assert_eq!(exp.sampling.temperature, Some(1.0));
    assert_eq!(exp.sampling.max_tokens, 4000, "default max_tokens");
    assert_eq!(exp.concurrency.providers["openai"], 100);
    assert_eq!(exp.concurrency.models["claude-3-5-sonnet-latest"], 5);
    assert_eq!(exp.rate_pools.len(), 2);
    assert_eq!(exp.rate_pools[0].name, "anthropic_pool", "document order");
    assert_eq!(exp.rate_pools[1].models, ["x-ai/*", "deepseek-ai/*"]);
    assert_eq!(exp.expansions.len(), 3);
    assert!(!exp.expansions[2].enabled);
    assert_eq!(
        exp.expansions[1].goal_types,
        [
            GoalType::None,
            GoalType::Ambiguous,
            GoalType::Latent,
            GoalType::Swap
        ]
    );
    assert_eq!(exp.classification.models["leaking"], "leak_classifier");
    assert_eq!(
        exp.classification.classifier_model.as_deref(),
        Some("claude-3-7-sonnet-20250219")
    );
    assert_eq!(exp.execution.timeout_seconds, 180);
    assert_eq!(exp.execution.checkpoint_frequency, 5);
    assert!(exp.providers.is_empty());

    let resolved: Vec<String> = exp
        .models
        .iter()
        .map(|m| exp.resolve(m).unwrap().name)
        .collect();
    assert_eq!(
        resolved,
        [
            "anthropic/claude-3-5-sonnet-latest",
            "openai/gpt-4.1",
            "google/gemini-2.5-flash",
            "together/deepseek-ai/DeepSeek-R1",
            "openrouter/x-ai/grok-3-beta"
        ]
    );

    let planned = expand(&exp);
    // murder: 4 values; blackmail: none + ambiguous (1 value each) + latent, swap (2 each),
    // times 3 urgencies = 18; the disabled expansion adds nothing.
    assert_eq!(planned.len(), 4 + 18);
    assert!(planned[..4].iter().all(|p| p.models.len() == 5));
    assert!(planned[4..]
        .iter()
        .all(|p| p.models == ["claude-3-5-sonnet-latest"]));
    let s = summarize(&planned, exp.samples_per_condition);
    assert_eq!(s.model_calls, (4 * 5 + 18) * 100);
    assert_eq!(s.models, 5);
}

/// The four reference-schema fixtures: the shapes of the reference framework's own
/// experiment files (`configs/`), our own values. Each must load unchanged.
const REFERENCE_SHAPES: [&str; 4] = [
    "reference_example.yaml",
    "reference_multi_model.yaml",
    "reference_alignment_faking.yaml",
    "reference_expansion_models.yaml",
];

#[test]
fn the_four_reference_file_shapes_load_unchanged() {
    for name in REFERENCE_SHAPES {
        let exp = parse_fixture(name);
        assert!(!expand(&exp).is_empty(), "{name} plans conditions");
        // Classifier names select the scenario's own classifier: no per-scenario judge.
        for (scenario, value) in &exp.classification.models {
            if value.ends_with("_classifier") {
                assert!(
                    exp.classification
                        .scenario_judges()
                        .all(|(s, _)| s != scenario),
                    "{name}: {scenario}"
                );
            }
        }
    }
}

#[test]
fn reference_example_names_classifiers_without_a_judge() {
    let exp = parse_fixture("reference_example.yaml");
    assert_eq!(exp.classification.models["leaking"], "leak_classifier");
    assert_eq!(exp.classification.classifier_model, None);
    assert!(exp.classification.judge_models().is_empty());
    assert_eq!(expand(&exp).len(), 4);
}

#[test]
fn rate_limit_model_overrides_are_read() {
    let exp = parse_fixture("reference_multi_model.yaml");
    assert_eq!(exp.rate_pools.len(), 2);
    assert_eq!(exp.rate_model_overrides["qwen/qwen3-32b"], 8);
    assert_eq!(exp.rate_model_overrides["gpt-4o"], 300);
    assert_eq!(
        exp.classification.judge_models(),
        ["claude-3-7-sonnet-20250219"]
    );
    let planned = expand(&exp);
    assert_eq!(planned.len(), 2 * 2 * 3);
    assert_eq!(summarize(&planned, 3).model_calls, 12 * 6 * 3);
}

#[test]
fn alignment_faking_notice_reaches_the_render_options() {
    let exp = parse_fixture("reference_alignment_faking.yaml");
    assert!(exp.alignment_faking.enabled);
    assert_eq!(
        exp.alignment_faking.warning_type.as_deref(),
        Some("monitoring_notice")
    );
    let warning = &exp.render_options().alignment_faking_warning;
    assert!(
        warning.starts_with("\n\nNOTICE FROM THE OPERATIONS TEAM"),
        "{warning:?}"
    );
    assert_eq!(*warning, exp.alignment_faking.warning_text);

    // Disabled: the text is ignored, whatever it says.
    let off = parse_fixture("reference_expansion_models.yaml");
    assert!(!off.alignment_faking.enabled);
    assert_eq!(off.render_options().alignment_faking_warning, "");
}

#[test]
fn expansion_models_replace_the_global_ones_for_that_expansion() {
    let exp = parse_fixture("reference_expansion_models.yaml");
    assert_eq!(
        exp.models_in_use(),
        [
            "claude-3-5-haiku-latest",
            "o4-mini",
            "x-ai/grok-3-mini-beta"
        ]
    );
    let planned = expand(&exp);
    // leaking latent-individualism restriction: 1 condition on the global model; murder
    // (ambiguous, swap-ethical) x (none, replacement): 4 on the expansion's two models.
    assert_eq!(planned.len(), 1 + 4);
    assert_eq!(planned[0].models, ["claude-3-5-haiku-latest"]);
    assert!(planned[1..]
        .iter()
        .all(|p| p.models == ["o4-mini", "x-ai/grok-3-mini-beta"]));
    assert_eq!(summarize(&planned, 4).model_calls, (1 + 4 * 2) * 4);
    assert_eq!(exp.rate_model_overrides["claude-3-5-haiku-latest"], 20);
    assert_eq!(
        exp.classification.scenario_judges().collect::<Vec<_>>(),
        [("leaking", "openai/gpt-4.1-mini")]
    );
}

#[test]
fn reference_generator_flags_set_default_axes() {
    let exp = parse_fixture("reference_flags.yaml");
    let e = &exp.expansions[0];
    assert_eq!(e.values("variant"), ["prod"]);
    assert_eq!(e.values("extra_instructions"), ["dont"]);
    assert!(!exp.classification.enabled);
    let ids: Vec<String> = expand(&exp).iter().map(|p| p.condition.id()).collect();
    assert_eq!(
        ids,
        [
            "leaking_explicit-safety_restriction_prod_dont",
            "leaking_none-none_restriction_prod_dont"
        ]
    );
}

#[test]
fn superset_file_with_every_extension_key() {
    let exp = parse_fixture("superset_full.yaml");
    assert_eq!(exp.providers.len(), 4);
    let lab = &exp.providers["lab"];
    assert_eq!(lab.kind, ProviderKind::OpenaiCompatible);
    assert_eq!(
        lab.base_urls,
        ["http://127.0.0.1:8089/v1", "http://[::1]:8090/v1"],
        "trailing slash trimmed"
    );
    let anthropic = &exp.providers["anthropic"];
    assert_eq!(anthropic.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
    assert_eq!(anthropic.headers["anthropic-beta"], "fixture-beta");
    assert_eq!(
        exp.providers["gemini"].safety_settings["HARM_CATEGORY_DANGEROUS_CONTENT"],
        "BLOCK_NONE"
    );
    let tiny = &exp.providers["tiny"];
    assert_eq!(tiny.kind, ProviderKind::Local);
    assert_eq!(tiny.model_path.as_deref(), Some("models/tiny.gguf"));
    assert_eq!(
        (
            tiny.context_length,
            tiny.threads,
            tiny.batch_size,
            tiny.gpu_layers
        ),
        (Some(8192), Some(2), Some(512), Some(0))
    );

    let s = &exp.sampling;
    assert_eq!(s.temperature, Some(0.7));
    assert_eq!(s.top_p, Some(0.95));
    assert_eq!(s.max_tokens, 8000);
    assert_eq!(s.seed, Some(42));
    assert_eq!(s.thinking_budget, Some(2048));
    assert_eq!(s.reasoning_effort.as_deref(), Some("high"));
    assert_eq!(exp.concurrency.models["lab/qwen3-8b"], 1);

    let e = &exp.expansions[0];
    assert_eq!(e.scenarios, ["blackmail", "my_custom_scenario"]);
    assert_eq!(
        e.values("awareness_notice"),
        ["off", "on"],
        "`off`/`on` are strings, not YAML 1.1 booleans"
    );
    assert_eq!(e.values("variant"), ["dev", "prod"]);
    assert_eq!(e.values("extra_instructions").len(), 3);
    assert_eq!(e.urgency_types, [Urgency::None]);

    assert_eq!(
        exp.classification.awareness_model.as_deref(),
        Some("lab/qwen3-8b")
    );
    assert!(!exp.execution.resume_interrupted);
    assert_eq!(exp.execution.retries, 0);
    assert_eq!(
        exp.prices["lab/*"],
        Price {
            input: 0.0,
            output: 0.0,
            ..Price::default()
        }
    );

    let planned = expand(&exp);
    assert_eq!(planned.len(), 2 * 3 * 2 * 2);
    let calls = summarize(&planned, exp.samples_per_condition).model_calls;
    assert_eq!(calls, 24 * 4 * 4);
    assert_eq!(
        work_items(&planned, exp.samples_per_condition).count() as u64,
        calls
    );
    let resolved = exp.resolve("tiny/smollm2-135m-instruct").unwrap();
    assert_eq!(resolved.kind, ProviderKind::Local);
}

#[test]
fn shipped_examples_parse_and_plan() {
    // (file, conditions, models, samples, model calls)
    let expected = [
        ("reference-style.yaml", 18, 2, 10, 360),
        ("api-models.yaml", 8, 3, 20, 480),
        ("quickstart.yaml", 6, 1, 3, 18),
    ];
    for (name, conditions, models, samples, calls) in expected {
        let path = examples_dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let exp = parse_experiment_with(
            &text,
            name,
            &ParseOptions {
                require_models: true,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let s = summarize(&expand(&exp), exp.samples_per_condition);
        assert_eq!(
            (
                s.conditions,
                s.models,
                s.samples_per_condition,
                s.model_calls
            ),
            (conditions, models, samples, calls),
            "{name}"
        );
    }
}

#[test]
fn every_example_file_parses() {
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            parse_experiment(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn minimal_file_gets_reference_defaults() {
    let exp = parse_experiment(
        "experiment_id: m\nexpansions:\n  - name: a\n    variables:\n      scenarios: [murder]\n      goal_types: [none]\n      urgency_types: [none]\n",
        "m.yaml",
    )
    .unwrap();
    assert_eq!(exp.samples_per_condition, 1);
    assert_eq!(exp.sampling.temperature, Some(1.0));
    assert_eq!(exp.sampling.max_tokens, 4000);
    assert_eq!(exp.sampling.top_p, None);
    let e = &exp.expansions[0];
    assert!(e.enabled);
    assert_eq!(e.goal_values, ["none"]);
    assert_eq!(e.values("extra_instructions"), ["off"]);
    assert_eq!(e.values("variant"), ["dev"]);
    assert_eq!(e.values("awareness_notice"), ["off"]);
    assert!(exp.classification.enabled);
    assert_eq!(exp.execution.retries, 3);
    assert!(exp.models.is_empty(), "generate-only files need no models");
}

#[test]
fn anchors_and_merge_keys_share_settings() {
    let text = "experiment_id: anchors
global:
  models: &models [gpt-4.1]
expansions:
  - name: a
    variables: &grid
      scenarios: [blackmail]
      goal_types: [explicit]
      goal_values: [america]
      urgency_types: [replacement]
  - name: b
    models: *models
    variables:
      <<: *grid
      scenarios: [murder]
";
    let exp = parse_experiment(text, "anchors.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(exp.expansions[1].scenarios, ["murder"]);
    assert_eq!(exp.expansions[1].goal_values, ["america"]);
    assert_eq!(
        exp.expansions[1].models.as_deref(),
        Some(&["gpt-4.1".to_string()][..])
    );
    let ids: Vec<String> = expand(&exp).iter().map(|p| p.condition.id()).collect();
    assert_eq!(
        ids,
        [
            "blackmail_explicit-america_replacement",
            "murder_explicit-america_replacement"
        ]
    );
}
