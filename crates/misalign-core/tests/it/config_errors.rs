//! Every error path of the experiment-file reader: each test asserts that the error names
//! the file, the line (and column where it is exact), the dotted field path, and says what
//! is wrong.

use misalign_core::config::{parse_experiment, parse_experiment_with, ConfigError, ParseOptions};

const FILE: &str = "exp.yaml";

fn yaml(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// A valid file; tests replace or append lines. Line numbers:
/// 1 experiment_id, 2 global:, 3 models, 4 expansions:, 5 - name, 6 variables:,
/// 7 scenarios, 8 goal_types, 9 goal_values, 10 urgency_types.
fn base() -> Vec<&'static str> {
    vec![
        "experiment_id: t",
        "global:",
        "  models: [gpt-4.1]",
        "expansions:",
        "  - name: a",
        "    variables:",
        "      scenarios: [blackmail]",
        "      goal_types: [explicit]",
        "      goal_values: [america]",
        "      urgency_types: [replacement]",
    ]
}

fn with(line: usize, text: &'static str) -> String {
    let mut b = base();
    b[line - 1] = text;
    yaml(&b)
}

fn plus(extra: &[&'static str]) -> String {
    let mut b = base();
    b.extend_from_slice(extra);
    yaml(&b)
}

#[track_caller]
fn err(text: &str) -> ConfigError {
    match parse_experiment(text, FILE) {
        Ok(exp) => panic!("expected an error, got {exp:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn check(text: &str, line: usize, field: &str, needle: &str) -> ConfigError {
    let e = err(text);
    assert_eq!(e.file, FILE, "{e}");
    assert_eq!(e.line, line, "line of: {e}");
    assert!(e.column >= 1, "column of: {e}");
    assert_eq!(e.field, field, "field of: {e}");
    assert!(
        e.message.contains(needle),
        "message of: {e}\nexpected to contain: {needle}"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{FILE}:{line}:{}: {field}: ", e.column)),
        "{shown}"
    );
    e
}

#[test]
fn base_file_is_valid() {
    parse_experiment(&yaml(&base()), FILE).unwrap();
}

// --- YAML level ---

#[test]
fn yaml_syntax_error() {
    let e = check(
        &with(3, "  models: [gpt-4.1"),
        4,
        "(YAML syntax)",
        "fix the YAML",
    );
    assert!(e.column >= 1);
}

#[test]
fn yaml_bad_indentation() {
    let text = yaml(&["experiment_id: t", "global:", "  models: [a]", " bad: 1"]);
    let e = err(&text);
    assert_eq!(e.field, "(YAML syntax)", "{e}");
    assert!(e.line >= 3, "{e}");
}

#[test]
fn empty_file() {
    check("", 1, "(top level)", "the file is empty");
    check("# just a comment\n", 1, "(top level)", "the file is empty");
}

#[test]
fn top_level_not_a_mapping() {
    check("- a\n- b\n", 1, "(top level)", "expected a mapping");
}

#[test]
fn duplicate_top_level_key() {
    let e = check(
        &plus(&["experiment_id: again"]),
        11,
        "experiment_id",
        "duplicate key `experiment_id` (first written at line 1)",
    );
    assert_eq!(e.column, 1);
}

#[test]
fn duplicate_nested_key() {
    check(
        &with(10, "      goal_types: [none]"),
        10,
        "expansions[0].variables.goal_types",
        "duplicate key",
    );
}

#[test]
fn non_scalar_key() {
    check(
        &plus(&["? [a, b]", ": 1"]),
        11,
        "(top level)",
        "must be plain text",
    );
}

// --- unknown keys ---

#[test]
fn unknown_top_level_key_suggests() {
    let e = check(
        &with(4, "expansion:"),
        4,
        "expansion",
        "unknown key `expansion`; did you mean `expansions`?",
    );
    assert_eq!(e.column, 1);
}

#[test]
fn unknown_global_key_suggests() {
    let e = check(
        &with(3, "  temprature: 1.0"),
        3,
        "global.temprature",
        "did you mean `temperature`?",
    );
    assert_eq!(e.column, 3);
}

#[test]
fn unknown_variables_key_suggests() {
    check(
        &with(8, "      goal_type: [explicit]"),
        8,
        "expansions[0].variables.goal_type",
        "did you mean `goal_types`?",
    );
}

#[test]
fn unknown_key_without_close_match_lists_allowed() {
    check(
        &plus(&["zzzz: 1"]),
        11,
        "zzzz",
        "the keys allowed here are `experiment_id`",
    );
}

// --- required keys ---

#[test]
fn missing_experiment_id() {
    let mut b = base();
    b[0] = "# no id";
    check(
        &yaml(&b),
        2,
        "experiment_id",
        "missing required key `experiment_id`",
    );
}

#[test]
fn missing_expansions() {
    let b = &base()[..3];
    check(
        &yaml(b),
        1,
        "expansions",
        "missing required key `expansions`",
    );
}

#[test]
fn missing_expansion_name() {
    check(
        &with(5, "  - enabled: true"),
        5,
        "expansions[0].name",
        "missing required key `name`",
    );
}

#[test]
fn missing_variables() {
    let b = &base()[..5];
    check(
        &yaml(b),
        5,
        "expansions[0].variables",
        "missing required key `variables`",
    );
}

#[test]
fn missing_scenarios() {
    check(
        &with(7, "      # none"),
        8,
        "expansions[0].variables.scenarios",
        "missing required key `scenarios`",
    );
}

#[test]
fn missing_goal_values_when_a_goal_type_needs_one() {
    check(
        &with(9, "      # none"),
        7,
        "expansions[0].variables.goal_values",
        "missing required key `goal_values`",
    );
}

#[test]
fn missing_pool_rpm() {
    let text = yaml(&base()).replace(
        "  models: [gpt-4.1]\n",
        "  models: [gpt-4.1]\n  rate_limits:\n    pools:\n      p:\n        models: [\"gpt-*\"]\n",
    );
    check(
        &text,
        7,
        "global.rate_limits.pools.p.rpm",
        "missing required key `rpm`",
    );
}

// --- wrong types ---

#[test]
fn experiment_id_number() {
    check(
        &with(1, "experiment_id: 42"),
        1,
        "experiment_id",
        "put it in quotes",
    );
}

#[test]
fn experiment_id_not_a_folder_name() {
    check(
        &with(1, "experiment_id: \"../x\""),
        1,
        "experiment_id",
        "cannot be used as a folder name",
    );
}

#[test]
fn temperature_text() {
    let e = check(
        &with(3, "  temperature: hot"),
        3,
        "global.temperature",
        "expected a number",
    );
    assert_eq!(e.column, 16);
}

#[test]
fn temperature_out_of_range() {
    check(
        &with(3, "  temperature: 3"),
        3,
        "global.temperature",
        "out of range",
    );
}

#[test]
fn samples_zero() {
    check(
        &with(3, "  samples_per_condition: 0"),
        3,
        "global.samples_per_condition",
        "from 1 to",
    );
}

#[test]
fn samples_float() {
    check(
        &with(3, "  samples_per_condition: 1.5"),
        3,
        "global.samples_per_condition",
        "expected a whole number",
    );
}

#[test]
fn max_tokens_negative() {
    check(
        &with(3, "  max_tokens: -5"),
        3,
        "global.max_tokens",
        "out of range",
    );
}

#[test]
fn top_p_zero() {
    check(&with(3, "  top_p: 0"), 3, "global.top_p", "above 0");
}

#[test]
fn thinking_budget_not_below_max_tokens() {
    check(
        &with(3, "  thinking_budget: 5000"),
        3,
        "global.thinking_budget",
        "must be below max_tokens (4000)",
    );
}

#[test]
fn reasoning_effort_unknown() {
    check(
        &with(3, "  reasoning_effort: hgih"),
        3,
        "global.reasoning_effort",
        "did you mean `high`?",
    );
}

#[test]
fn seed_text() {
    check(
        &with(3, "  seed: abc"),
        3,
        "global.seed",
        "expected a whole number",
    );
}

#[test]
fn global_not_a_mapping() {
    check(&with(3, "  - x"), 3, "global", "expected a mapping");
}

#[test]
fn expansions_not_a_list() {
    let text = yaml(&["experiment_id: t", "expansions: everything"]);
    check(
        &text,
        2,
        "expansions",
        "expected a list, found the text `everything`",
    );
}

#[test]
fn expansions_empty() {
    let text = yaml(&["experiment_id: t", "expansions: []"]);
    check(&text, 2, "expansions", "the list is empty");
}

#[test]
fn expansion_not_a_mapping() {
    let text = yaml(&["experiment_id: t", "expansions:", "  - just text"]);
    check(&text, 3, "expansions[0]", "expected a mapping");
}

#[test]
fn enabled_yes_is_not_a_boolean() {
    let text = yaml(&base()).replace("  - name: a\n", "  - name: a\n    enabled: yes\n");
    check(
        &text,
        6,
        "expansions[0].enabled",
        "expected `true` or `false`, found the text `yes`",
    );
}

#[test]
fn scenarios_as_text_not_list() {
    check(
        &with(7, "      scenarios: blackmail"),
        7,
        "expansions[0].variables.scenarios",
        "write it as a list: [blackmail]",
    );
}

#[test]
fn scenarios_empty_list() {
    check(
        &with(7, "      scenarios: []"),
        7,
        "expansions[0].variables.scenarios",
        "list at least one scenario",
    );
}

#[test]
fn model_name_not_text() {
    check(
        &with(3, "  models: [[a]]"),
        3,
        "global.models[0]",
        "expected text",
    );
}

// --- invalid values ---

#[test]
fn goal_type_unknown_in_second_expansion() {
    let text = plus(&[
        "  - name: b",
        "    variables:",
        "      scenarios: [murder]",
        "      goal_types:",
        "        - none",
        "        - latent",
        "        - explict",
        "      goal_values: [safety]",
        "      urgency_types: [none]",
    ]);
    let e = check(
        &text,
        17,
        "expansions[1].variables.goal_types[2]",
        "unknown goal type `explict`; did you mean `explicit`?",
    );
    assert_eq!(e.column, 11);
}

#[test]
fn goal_value_unknown() {
    check(
        &with(9, "      goal_values: [america, globl]"),
        9,
        "expansions[0].variables.goal_values[1]",
        "did you mean `global`?",
    );
}

#[test]
fn goal_values_only_neutral_for_explicit() {
    check(
        &with(9, "      goal_values: [none]"),
        9,
        "expansions[0].variables.goal_values",
        "need a real goal value",
    );
}

#[test]
fn urgency_unknown() {
    check(
        &with(10, "      urgency_types: [replacment]"),
        10,
        "expansions[0].variables.urgency_types[0]",
        "did you mean `replacement`?",
    );
}

#[test]
fn scenario_name_invalid() {
    check(
        &with(7, "      scenarios: [Blackmail]"),
        7,
        "expansions[0].variables.scenarios[0]",
        "did you mean `blackmail`?",
    );
}

#[test]
fn extra_axes_invalid() {
    check(
        &plus(&["      extra_instructions: [off, donts]"]),
        11,
        "expansions[0].variables.extra_instructions[1]",
        "did you mean `dont`?",
    );
    check(
        &plus(&["      variants: [production]"]),
        11,
        "expansions[0].variables.variants[0]",
        "expected one of `dev`, `prod`",
    );
    check(
        &plus(&["      awareness_notice: [off, maybe]"]),
        11,
        "expansions[0].variables.awareness_notice[1]",
        "unknown awareness-notice setting `maybe`",
    );
}

#[test]
fn all_expansions_disabled_is_an_error() {
    let text = yaml(&[
        "experiment_id: t",
        "expansions:",
        "  - name: a",
        "    enabled: false",
        "    variables: {scenarios: [murder], goal_types: [none], urgency_types: [none]}",
    ]);
    check(&text, 3, "expansions", "nothing to run");
}

#[test]
fn rate_pool_rpm_zero() {
    let text = base()
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "  models: [gpt-4.1]",
            "  models: [gpt-4.1]\n  rate_limits:\n    pools:\n      openai:\n        rpm: 0\n        models: [\"gpt-*\"]",
        );
    check(&text, 7, "global.rate_limits.pools.openai.rpm", "from 1 to");
}

#[test]
fn rate_pool_glob_unclosed() {
    let text = yaml(&base()).replace(
        "  models: [gpt-4.1]\n",
        "  models: [gpt-4.1]\n  rate_limits:\n    pools:\n      p:\n        rpm: 5\n        models: [\"gpt-[45\"]\n",
    );
    check(
        &text,
        8,
        "global.rate_limits.pools.p.models[0]",
        "unclosed `[`",
    );
}

#[test]
fn rate_limits_unknown_key() {
    let text = yaml(&base()).replace(
        "  models: [gpt-4.1]\n",
        "  models: [gpt-4.1]\n  rate_limits:\n    pool: {}\n",
    );
    check(&text, 5, "global.rate_limits.pool", "did you mean `pools`?");
}

#[test]
fn concurrency_zero() {
    let text = yaml(&base()).replace(
        "  models: [gpt-4.1]\n",
        "  models: [gpt-4.1]\n  concurrency:\n    providers:\n      openai: 0\n",
    );
    check(&text, 6, "global.concurrency.providers.openai", "from 1 to");
}

// --- providers ---

fn with_providers(block: &str) -> String {
    format!("{}{block}", yaml(&base()))
}

#[test]
fn provider_kind_unknown() {
    check(
        &with_providers("providers:\n  mine:\n    kind: openia\n"),
        13,
        "providers.mine.kind",
        "did you mean `openai`?",
    );
}

#[test]
fn provider_kind_missing() {
    check(
        &with_providers("providers:\n  mine:\n    api_key_env: X\n"),
        13,
        "providers.mine.kind",
        "missing required key `kind`",
    );
}

#[test]
fn provider_openai_compatible_needs_url() {
    check(
        &with_providers("providers:\n  mine:\n    kind: openai-compatible\n"),
        13,
        "providers.mine.base_url",
        "needs the server's address",
    );
}

#[test]
fn provider_bad_url() {
    check(
        &with_providers(
            "providers:\n  mine:\n    kind: openai-compatible\n    base_url: \"localhost:8080\"\n",
        ),
        14,
        "providers.mine.base_url",
        "not an http:// or https:// address",
    );
    check(
        &with_providers("providers:\n  mine:\n    kind: openai-compatible\n    base_urls: [\"http://ok:1/v1\", \"http://bad:99999\"]\n"),
        14,
        "providers.mine.base_urls[1]",
        "invalid port",
    );
}

#[test]
fn provider_url_with_credentials_is_not_echoed() {
    let e = check(
        &with_providers("providers:\n  mine:\n    kind: openai\n    base_url: \"https://me:hunter2secret@api.example.invalid\"\n"),
        14,
        "providers.mine.base_url",
        "contains credentials",
    );
    assert!(!e.to_string().contains("hunter2secret"), "{e}");
}

#[test]
fn provider_both_url_forms() {
    check(
        &with_providers("providers:\n  mine:\n    kind: openai\n    base_url: \"http://a\"\n    base_urls: [\"http://b\"]\n"),
        15,
        "providers.mine.base_urls",
        "not both",
    );
}

#[test]
fn provider_api_key_pasted_instead_of_env_name() {
    let e = check(
        &with_providers("providers:\n  mine:\n    kind: anthropic\n    api_key_env: \"sk-ant-verysecretvalue-123\"\n"),
        14,
        "providers.mine.api_key_env",
        "NAME of an environment variable",
    );
    assert!(!e.to_string().contains("verysecretvalue"), "{e}");
}

#[test]
fn provider_header_value_not_echoed() {
    let e = check(
        &with_providers(
            "providers:\n  mine:\n    kind: openai\n    headers:\n      X-Token: [secretlist]\n",
        ),
        15,
        "providers.mine.headers.X-Token",
        "expected text",
    );
    assert!(!e.to_string().contains("secretlist"), "{e}");
    check(
        &with_providers(
            "providers:\n  mine:\n    kind: openai\n    headers:\n      \"bad header\": x\n",
        ),
        15,
        "providers.mine.headers.bad header",
        "not a valid HTTP header name",
    );
}

#[test]
fn provider_local_with_url_and_http_with_local_knobs() {
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    base_url: \"http://x\"\n"),
        14,
        "providers.tiny",
        "has no URL",
    );
    check(
        &with_providers("providers:\n  api:\n    kind: openai\n    threads: 4\n"),
        14,
        "providers.api.threads",
        "applies only to `kind: local`",
    );
    check(
        &with_providers("providers:\n  api:\n    kind: openai\n    safety_settings: {}\n"),
        14,
        "providers.api.safety_settings",
        "only to `kind: google`",
    );
}

#[test]
fn provider_bad_name() {
    check(
        &with_providers("providers:\n  \"my/proxy\":\n    kind: openai\n"),
        12,
        "providers.my/proxy",
        "may use only letters",
    );
}

// --- models ---

#[test]
fn model_with_unknown_provider_prefix() {
    let e = check(
        &with(3, "  models: [gpt-4.1, antropic/claude-opus-4-1]"),
        3,
        "global.models[1]",
        "unknown provider `antropic`",
    );
    assert!(e.message.contains("`anthropic`"), "{e}");
    assert!(e.message.contains("providers:"), "{e}");
}

#[test]
fn bare_model_without_known_prefix() {
    check(
        &with(3, "  models: [llama3]"),
        3,
        "global.models[0]",
        "cannot tell which provider serves `llama3`",
    );
}

#[test]
fn bare_model_ambiguous() {
    check(
        &with_providers("providers:\n  a1:\n    kind: anthropic\n  a2:\n    kind: anthropic\n")
            .replace("[gpt-4.1]", "[claude-opus-4-1]"),
        3,
        "global.models[0]",
        "ambiguous",
    );
}

#[test]
fn expansion_models_checked_too() {
    let text = yaml(&base()).replace("  - name: a\n", "  - name: a\n    models: [nope/x]\n");
    check(
        &text,
        6,
        "expansions[0].models[0]",
        "unknown provider `nope`",
    );
}

#[test]
fn expansion_models_empty() {
    let text = yaml(&base()).replace("  - name: a\n", "  - name: a\n    models: []\n");
    check(&text, 6, "expansions[0].models", "the list is empty");
}

#[test]
fn models_required_for_runs() {
    let mut b = base();
    b[2] = "  temperature: 1.0";
    let text = yaml(&b);
    assert!(
        parse_experiment(&text, FILE).is_ok(),
        "generate needs no models"
    );
    let e = parse_experiment_with(
        &text,
        FILE,
        &ParseOptions {
            require_models: true,
        },
    )
    .unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (3, "global.models"), "{e}");
    assert!(
        e.message.contains("no models to run for expansion `a`"),
        "{e}"
    );
}

// --- classification, execution, prices, reference flags ---

#[test]
fn classification_errors() {
    check(
        &plus(&["classification:", "  enabled: on"]),
        12,
        "classification.enabled",
        "found the text `on`",
    );
    check(
        &plus(&["classification:", "  classifier_model: mystery-judge"]),
        12,
        "classification.classifier_model",
        "cannot tell which provider",
    );
    check(
        &plus(&["classification:", "  clasifier_model: x"]),
        12,
        "classification.clasifier_model",
        "did you mean `classifier_model`?",
    );
    check(
        &plus(&["classification:", "  models:", "    Murder: x"]),
        13,
        "classification.models.Murder",
        "must use only",
    );
}

#[test]
fn execution_errors() {
    check(
        &plus(&["execution:", "  timeout_seconds: 0"]),
        12,
        "execution.timeout_seconds",
        "from 1 to",
    );
    check(
        &plus(&["execution:", "  retry: 2"]),
        12,
        "execution.retry",
        "did you mean `retries`?",
    );
}

#[test]
fn price_errors() {
    check(
        &plus(&["prices:", "  \"gpt-*\": {input: 2.0}"]),
        12,
        "prices.gpt-*.output",
        "missing required key `output`",
    );
    check(
        &plus(&["prices:", "  \"gpt-*\": {input: -1, output: 2}"]),
        12,
        "prices.gpt-*.input",
        "out of range",
    );
}

#[test]
fn cost_and_scale_settings_are_read_and_checked() {
    let exp = parse_experiment(
        &plus(&[
            "execution:",
            "  prompt_cache: false",
            "  max_cost_usd: 12.5",
            "  samples_per_request: 8",
            "prices:",
            "  \"claude-*\": {input: 3, output: 15, cache_write: 3.75, cache_read: 0.3, batch_discount: 0.5, as_of: \"2026-12-01\"}",
        ]),
        FILE,
    )
    .unwrap();
    assert!(!exp.execution.prompt_cache);
    assert_eq!(exp.execution.max_cost_usd, Some(12.5));
    assert_eq!(exp.execution.samples_per_request, 8);
    let p = &exp.prices["claude-*"];
    assert_eq!(
        (
            p.cache_write,
            p.cache_read,
            p.batch_discount,
            p.as_of.as_deref()
        ),
        (Some(3.75), Some(0.3), Some(0.5), Some("2026-12-01"))
    );
    // Defaults: caching on, no limit, one sample per request, optional price fields unset.
    let exp = parse_experiment(&yaml(&base()), FILE).unwrap();
    assert!(exp.execution.prompt_cache);
    assert_eq!(exp.execution.max_cost_usd, None);
    assert_eq!(exp.execution.samples_per_request, 1);

    check(
        &plus(&["execution:", "  prompt_cache: maybe"]),
        12,
        "execution.prompt_cache",
        "expected `true` or `false`",
    );
    check(
        &plus(&["execution:", "  max_cost_usd: -3"]),
        12,
        "execution.max_cost_usd",
        "out of range",
    );
    check(
        &plus(&["execution:", "  samples_per_request: 0"]),
        12,
        "execution.samples_per_request",
        "from 1 to",
    );
    check(
        &plus(&[
            "prices:",
            "  \"gpt-*\": {input: 1, output: 2, cache_read: -0.1}",
        ]),
        12,
        "prices.gpt-*.cache_read",
        "out of range",
    );
    check(
        &plus(&[
            "prices:",
            "  \"gpt-*\": {input: 1, output: 2, batch_discount: 1.5}",
        ]),
        12,
        "prices.gpt-*.batch_discount",
        "out of range",
    );
    check(
        &plus(&[
            "prices:",
            "  \"gpt-*\": {input: 1, output: 2, as_of: \"last week\"}",
        ]),
        12,
        "prices.gpt-*.as_of",
        "YYYY-MM-DD",
    );
    check(
        &plus(&[
            "prices:",
            "  \"gpt-*\": {input: 1, output: 2, cache_reads: 1}",
        ]),
        12,
        "prices.gpt-*.cache_reads",
        "did you mean `cache_read`?",
    );
}

#[test]
fn rate_pools_take_tokens_per_minute() {
    let text = yaml(&[
        "experiment_id: t",
        "global:",
        "  models: [gpt-4.1]",
        "  rate_limits:",
        "    pools:",
        "      a: {rpm: 50, tpm: 400000, models: [\"gpt-*\"]}",
        "      b: {tpm: 90000, models: [\"claude-*\"]}",
        "      c: {models: [\"x-*\"]}",
        "expansions:",
        "  - name: a",
        "    variables:",
        "      scenarios: [blackmail]",
        "      goal_types: [explicit]",
        "      goal_values: [america]",
        "      urgency_types: [replacement]",
    ]);
    check(
        &text,
        8,
        "global.rate_limits.pools.c.rpm",
        "tokens-per-minute",
    );
    let ok = text.replace("      c: {models: [\"x-*\"]}\n", "");
    let exp = parse_experiment(&ok, FILE).unwrap();
    assert_eq!(
        exp.rate_pools
            .iter()
            .map(|p| (p.rpm, p.tpm))
            .collect::<Vec<_>>(),
        vec![(Some(50), Some(400_000)), (None, Some(90_000))]
    );
    let zero = ok.replace("tpm: 90000", "tpm: 0");
    check(&zero, 7, "global.rate_limits.pools.b.tpm", "from 1 to");
}

#[test]
fn reference_flag_errors() {
    check(
        &plus(&["production_variant: \"yes\""]),
        11,
        "production_variant",
        "expected `true` or `false`",
    );
    check(
        &plus(&["extra_system_instructions: donts"]),
        11,
        "extra_system_instructions",
        "did you mean `dont`?",
    );
}

/// `global.alignment_faking` lines inserted after `models` (line 3), so they start at line 4.
fn alignment(lines: &str) -> String {
    yaml(&base()).replace(
        "  models: [gpt-4.1]\n",
        &format!("  models: [gpt-4.1]\n  alignment_faking:\n{lines}"),
    )
}

#[test]
fn alignment_faking_errors() {
    check(
        &alignment("    enabled: true\n"),
        5,
        "global.alignment_faking.warning_text",
        "missing required key `warning_text`",
    );
    check(
        &alignment("    enabled: true\n    warning_text: \"  \"\n"),
        6,
        "global.alignment_faking.warning_text",
        "is empty",
    );
    check(
        &alignment("    enabled: yes\n"),
        5,
        "global.alignment_faking.enabled",
        "expected `true` or `false`",
    );
    check(
        &alignment("    enabled: true\n    warning_txt: x\n"),
        6,
        "global.alignment_faking.warning_txt",
        "did you mean `warning_text`?",
    );
    check(
        &alignment("    enabled: true\n    warning_text: [a]\n"),
        6,
        "global.alignment_faking.warning_text",
        "expected text",
    );
}

#[test]
fn rate_limit_model_override_errors() {
    let limits = |lines: &str| {
        yaml(&base()).replace(
            "  models: [gpt-4.1]\n",
            &format!("  models: [gpt-4.1]\n  rate_limits:\n{lines}"),
        )
    };
    check(
        &limits("    model_overrides:\n      gpt-4.1: 0\n"),
        6,
        "global.rate_limits.model_overrides.gpt-4.1",
        "from 1 to",
    );
    check(
        &limits("    model_overrides:\n      mystery-model: 5\n"),
        6,
        "global.rate_limits.model_overrides.mystery-model",
        "cannot tell which provider serves `mystery-model`",
    );
    check(
        &limits("    model_overrides:\n      gpt-4.1: {rpm: 5, burst: 2}\n"),
        6,
        "global.rate_limits.model_overrides.gpt-4.1.burst",
        "unknown key `burst`",
    );
    check(
        &limits("    model_override:\n      gpt-4.1: 5\n"),
        5,
        "global.rate_limits.model_override",
        "did you mean `model_overrides`?",
    );
}

#[test]
fn classification_model_names_are_checked_before_any_run() {
    let cls = |value: &'static str| plus(&["classification:", "  models:", value]);
    check(
        &cls("    blackmail: leak_classifier"),
        13,
        "classification.models.blackmail",
        "`leak_classifier` classifies `leaking`, not `blackmail`; use `blackmail_classifier`",
    );
    check(
        &cls("    blackmail: blackmale_classifier"),
        13,
        "classification.models.blackmail",
        "did you mean `blackmail_classifier`?",
    );
    check(
        &cls("    blackmail: judge-without-provider"),
        13,
        "classification.models.blackmail",
        "neither a classifier name",
    );
    check(
        &cls("    sabotage: blackmail_classifier"),
        13,
        "classification.models.sabotage",
        "no scenario `sabotage`",
    );
    check(
        &plus(&[
            "classification:",
            "  classifier_model: blackmail_classifier",
        ]),
        12,
        "classification.classifier_model",
        "cannot tell which provider serves",
    );
    // Accepted: a classifier name for its own scenario, a judge model, and a scenario key
    // that only a (disabled) expansion of this file runs.
    parse_experiment(&cls("    murder: murder_classifier"), FILE).unwrap();
    parse_experiment(&cls("    leaking: openai/gpt-4.1-mini"), FILE).unwrap();
}

#[test]
fn several_judges_are_listed_once_in_one_place_with_a_known_rule() {
    let cls = |lines: &[&'static str]| {
        let mut all = vec!["classification:"];
        all.extend_from_slice(lines);
        plus(&all)
    };
    check(
        &cls(&["  judges: [openai/gpt-4.1-mini, openai/gpt-4.1-mini]"]),
        12,
        "classification.judges[1]",
        "is already a judge",
    );
    check(
        &cls(&["  judges: [gpt-4.1-mini, openai/gpt-4.1-mini]"]),
        12,
        "classification.judges[1]",
        "both are `openai/gpt-4.1-mini`",
    );
    check(
        &cls(&[
            "  classifier_model: openai/gpt-4.1",
            "  judges: [openai/gpt-4.1-mini, anthropic/claude-sonnet-4-0]",
        ]),
        13,
        "classification.judges",
        "`classifier_model: openai/gpt-4.1` names another judge",
    );
    check(
        &cls(&["  judges: []"]),
        12,
        "classification.judges",
        "the list is empty",
    );
    check(
        &cls(&["  combine: most"]),
        12,
        "classification.combine",
        "unknown rule `most`",
    );
    check(
        &cls(&["  judges: [judge-without-provider, openai/gpt-4.1]"]),
        12,
        "classification.judges[0]",
        "cannot tell which provider serves",
    );
    // Accepted: one judge under either key (the same setting), and a panel with a rule.
    let one = parse_experiment(&cls(&["  judges: [openai/gpt-4.1]"]), FILE).unwrap();
    let same = parse_experiment(
        &cls(&[
            "  classifier_model: openai/gpt-4.1",
            "  judges: [openai/gpt-4.1]",
        ]),
        FILE,
    )
    .unwrap();
    let single = parse_experiment(&cls(&["  classifier_model: openai/gpt-4.1"]), FILE).unwrap();
    assert_eq!(one.classification, single.classification);
    assert_eq!(same.classification, single.classification);
    let panel = parse_experiment(
        &cls(&[
            "  judges: [openai/gpt-4.1, anthropic/claude-sonnet-4-0]",
            "  combine: all",
        ]),
        FILE,
    )
    .unwrap();
    assert_eq!(
        panel.classification.harm_judges(),
        ["openai/gpt-4.1", "anthropic/claude-sonnet-4-0"]
    );
    assert_eq!(panel.classification.classifier_model, None);
    assert_eq!(
        panel.classification.combine,
        misalign_core::judge::Combine::All
    );
}

// --- the remaining checks, one assertion each ---

#[test]
fn free_text_fields_must_be_text() {
    check(
        &plus(&["description: [a]"]),
        11,
        "description",
        "expected text",
    );
    check(
        &plus(&["researcher: 12"]),
        11,
        "researcher",
        "put it in quotes",
    );
    let text = yaml(&base()).replace("  - name: a\n", "  - name: a\n    description: {x: 1}\n");
    check(&text, 6, "expansions[0].description", "expected text");
    check(
        &with(3, "  output_directory: 5"),
        3,
        "global.output_directory",
        "expected text",
    );
}

#[test]
fn names_must_be_trimmed_and_non_empty() {
    check(
        &with(5, "  - name: \"\""),
        5,
        "expansions[0].name",
        "must not be empty",
    );
    check(
        &with(1, "experiment_id: \" t\""),
        1,
        "experiment_id",
        "leading or trailing spaces",
    );
}

#[test]
fn list_given_a_mapping() {
    check(
        &with(8, "      goal_types: {explicit: 1}"),
        8,
        "expansions[0].variables.goal_types",
        "expected a list (`[a, b]` or `- a` lines), found a mapping",
    );
}

#[test]
fn number_given_text() {
    check(
        &plus(&["prices:", "  \"gpt-*\": {input: cheap, output: 1}"]),
        12,
        "prices.gpt-*.input",
        "expected a number",
    );
}

#[test]
fn price_glob_unclosed() {
    check(
        &plus(&["prices:", "  \"gpt-[4\": {input: 1, output: 1}"]),
        12,
        "prices.gpt-[4",
        "unclosed `[`",
    );
}

#[test]
fn classification_concurrency_and_model_values() {
    check(
        &plus(&["classification:", "  concurrency: 0"]),
        12,
        "classification.concurrency",
        "from 1 to",
    );
    check(
        &plus(&["classification:", "  models:", "    murder: \"\""]),
        13,
        "classification.models.murder",
        "must not be empty",
    );
    check(
        &plus(&["classification:", "  awareness_model: nowhere/x"]),
        12,
        "classification.awareness_model",
        "unknown provider `nowhere`",
    );
}

#[test]
fn execution_types() {
    check(
        &plus(&["execution:", "  resume_interrupted: 1"]),
        12,
        "execution.resume_interrupted",
        "expected `true` or `false`, found an integer",
    );
    check(
        &plus(&["execution:", "  retries: 101"]),
        12,
        "execution.retries",
        "out of range",
    );
    check(
        &plus(&["execution:", "  checkpoint_frequency: 0"]),
        12,
        "execution.checkpoint_frequency",
        "from 1 to",
    );
}

#[test]
fn local_provider_knobs() {
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    api_key_env: KEY\n"),
        14,
        "providers.tiny.api_key_env",
        "needs no API key",
    );
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    context_length: 8\n"),
        14,
        "providers.tiny.context_length",
        "from 16 to",
    );
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    threads: 0\n"),
        14,
        "providers.tiny.threads",
        "from 1 to",
    );
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    model_path: \"\"\n"),
        14,
        "providers.tiny.model_path",
        "must not be empty",
    );
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    gpu_layers: -1\n"),
        14,
        "providers.tiny.gpu_layers",
        "out of range",
    );
    check(
        &with_providers("providers:\n  tiny:\n    kind: local\n    batch_size: big\n"),
        14,
        "providers.tiny.batch_size",
        "expected a whole number",
    );
}

#[test]
fn provider_misc() {
    check(
        &with_providers(
            "providers:\n  g:\n    kind: google\n    safety_settings:\n      HARM: [x]\n",
        ),
        15,
        "providers.g.safety_settings.HARM",
        "expected text",
    );
    check(
        &with_providers(
            "providers:\n  o:\n    kind: openai\n    headers:\n      X-A: \"one\\ntwo\"\n",
        ),
        15,
        "providers.o.headers.X-A",
        "single line",
    );
    check(
        &with_providers("providers:\n  o:\n    kind: openai\n    base_urls: []\n"),
        14,
        "providers.o.base_urls",
        "the list is empty",
    );
    check(
        &with_providers("providers:\n  o:\n    kind: openai\n    region: eu\n"),
        14,
        "providers.o.region",
        "unknown key `region`",
    );
    check(
        &with_providers("providers: [openai]\n"),
        11,
        "providers",
        "expected a mapping",
    );
}

#[test]
fn model_given_without_id() {
    check(
        &with(3, "  models: [openai/]"),
        3,
        "global.models[0]",
        "names no model after `openai/`",
    );
}

#[test]
fn same_model_under_two_spellings() {
    check(
        &with(3, "  models: [gpt-4.1, openai/gpt-4.1]"),
        3,
        "global.models[1]",
        "is the same model as `gpt-4.1` (both are `openai/gpt-4.1`)",
    );
    // An exact repeat is harmless and dropped.
    let exp =
        misalign_core::config::parse_experiment(&with(3, "  models: [gpt-4.1, gpt-4.1]"), FILE)
            .unwrap();
    assert_eq!(exp.models, ["gpt-4.1"]);
}
