//! The JSON Schema (draft 2020-12) of experiment files, for editors (`misalign schema`).
//!
//! Every fixed set of keys comes from [`super::keys`], the tables the loader checks files
//! against, so a key cannot be added to one and forgotten in the other: [`properties`]
//! asks [`Section::describe`] for each key of a table and panics on a key it cannot
//! describe (a unit test builds the whole schema). Ranges and word lists mirror the loader's
//! checks; the loader still has the last word on what only it can see (model ids resolving to
//! a provider, mitigation files existing, `thinking_budget < max_tokens`).

use super::keys;
use super::providers::ProviderKind;
use crate::condition::BUILTIN_MITIGATIONS;

use serde_json::{json, Map, Value};

/// The `$id` the schema names itself by (a name, not a place it is fetched from).
pub const SCHEMA_ID: &str = "urn:misalign:experiment-schema";

/// The JSON Schema of an experiment file.
pub fn experiment_json_schema() -> Value {
    let mut root = object(Section::Top, &["experiment_id", "expansions"]);
    let obj = root.as_object_mut().expect("object");
    let mut head = Map::new();
    head.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    head.insert("$id".into(), json!(SCHEMA_ID));
    head.insert("title".into(), json!("misalign experiment file"));
    head.insert(
        "description".into(),
        json!(
            "An experiment for `misalign run`: the reference framework's keys plus misalign's \
             own (docs/cli.md, README \"Experiment files\"). `misalign validate FILE` checks \
             what a schema cannot: model ids, mitigation files, scenario names."
        ),
    );
    head.append(obj);
    Value::Object(head)
}

/// A mapping with a fixed set of keys (one table of [`keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Top,
    Global,
    AlignmentFaking,
    Concurrency,
    RateLimits,
    RatePool,
    ModelOverride,
    Expansion,
    Agent,
    Variables,
    Classification,
    Execution,
    Provider,
    Price,
    UserMitigation,
}

impl Section {
    /// Every section, each with the key table the loader uses for it.
    pub(crate) fn all() -> [(Section, &'static [&'static str]); 15] {
        [
            (Section::Top, keys::TOP),
            (Section::Global, keys::GLOBAL),
            (Section::AlignmentFaking, keys::ALIGNMENT_FAKING),
            (Section::Concurrency, keys::CONCURRENCY),
            (Section::RateLimits, keys::RATE_LIMITS),
            (Section::RatePool, keys::RATE_POOL),
            (Section::ModelOverride, keys::MODEL_OVERRIDE),
            (Section::Expansion, keys::EXPANSION),
            (Section::Agent, keys::AGENT),
            (Section::Variables, keys::VARIABLES.as_slice()),
            (Section::Classification, keys::CLASSIFICATION),
            (Section::Execution, keys::EXECUTION),
            (Section::Provider, keys::PROVIDER),
            (Section::Price, keys::PRICE),
            (Section::UserMitigation, keys::USER_MITIGATION),
        ]
    }

    fn keys(self) -> &'static [&'static str] {
        Section::all()
            .into_iter()
            .find(|(s, _)| *s == self)
            .map(|(_, k)| k)
            .expect("every section is in all()")
    }

    /// The schema of one key's value; `None` for a key this function does not know.
    fn describe(self, key: &str) -> Option<Value> {
        use Section as S;
        Some(match (self, key) {
            (S::Top, "experiment_id") => with_doc(
                json!({"type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$"}),
                "Names the results folder (results/<experiment_id>).",
            ),
            (S::Top, "description" | "researcher") => {
                with_doc(json!({"type": "string"}), "Free text, kept for the reader.")
            }
            (S::Top, "global") => object(S::Global, &[]),
            (S::Top, "expansions") => with_doc(
                json!({"type": "array", "minItems": 1, "items": object(S::Expansion, &["name", "variables"])}),
                "Condition grids; each enabled one adds its cartesian product.",
            ),
            (S::Top, "classification") => object(S::Classification, &[]),
            (S::Top, "execution") => object(S::Execution, &[]),
            (S::Top, "providers") => with_doc(
                json!({
                    "type": "object",
                    "propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"},
                    "additionalProperties": object(S::Provider, &["kind"]),
                }),
                "Named endpoints; a model id `<name>/<model>` uses the provider `<name>`.",
            ),
            (S::Top, "prices") => with_doc(
                json!({"type": "object", "additionalProperties": object(S::Price, &["input", "output"])}),
                "USD per million tokens, keyed by model glob (`openai/*`).",
            ),
            (S::Top, "production_variant") => with_doc(
                json!({"type": "boolean"}),
                "Reference flag: `true` makes `prod` the default variant of every expansion.",
            ),
            (S::Top, "extra_system_instructions") => with_doc(
                json!({"anyOf": [{"const": false}, words(keys::REFERENCE_EXTRAS)]}),
                "Reference flag: the default extra instructions of every expansion.",
            ),
            (S::Top, "mitigations") => with_doc(
                json!({
                    "type": "object",
                    "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,63}$", "not": {"enum": builtin_and_none()}},
                    "additionalProperties": object(S::UserMitigation, &[]),
                }),
                "Your own mitigations: a text file added to the system prompt or the inbox.",
            ),

            (S::Global, "models") => with_doc(
                json!({"type": "array", "items": model_id()}),
                "Models under test (`provider/model`).",
            ),
            (S::Global, "temperature") => number(0.0, 2.0),
            (S::Global, "samples_per_condition") => integer(1, 1_000_000),
            (S::Global, "concurrency") => object(S::Concurrency, &[]),
            (S::Global, "rate_limits") => object(S::RateLimits, &[]),
            (S::Global, "max_tokens") => integer(1, 1_000_000),
            (S::Global, "seed") => json!({"type": "integer", "minimum": 0}),
            (S::Global, "top_p") => {
                json!({"type": "number", "exclusiveMinimum": 0, "maximum": 1})
            }
            (S::Global, "thinking_budget") => with_doc(
                integer(1, 1_000_000),
                "Must be below max_tokens, which includes the thinking.",
            ),
            (S::Global, "reasoning_effort") => words(keys::REASONING_EFFORTS),
            (S::Global, "output_directory") => with_doc(
                json!({"type": "string"}),
                "Read for compatibility and not used: results go to --out or results/<experiment_id>.",
            ),
            (S::Global, "alignment_faking") => object(S::AlignmentFaking, &[]),

            (S::AlignmentFaking, "enabled") => json!({"type": "boolean"}),
            (S::AlignmentFaking, "warning_type") => json!({"type": "string"}),
            (S::AlignmentFaking, "warning_text") => json!({"type": "string"}),

            (S::Concurrency, "providers" | "models") => with_doc(
                json!({"type": "object", "additionalProperties": integer(1, 100_000)}),
                "Calls in flight at most, per name.",
            ),

            (S::RateLimits, "pools") => json!({
                "type": "object",
                "additionalProperties": object(S::RatePool, &["models"]),
            }),
            (S::RateLimits, "model_overrides") => json!({
                "type": "object",
                "additionalProperties": {"anyOf": [
                    integer(1, 10_000_000),
                    object(S::ModelOverride, &["rpm"]),
                ]},
            }),
            (S::RatePool | S::ModelOverride, "rpm") => integer(1, 10_000_000),
            (S::RatePool, "tpm") => with_doc(
                integer(1, 2_000_000_000),
                "Tokens per minute (estimated before a call, corrected by its reported usage); a pool needs rpm, tpm or both.",
            ),
            (S::RatePool, "models") => {
                json!({"type": "array", "minItems": 1, "items": non_blank()})
            }

            (S::Expansion, "name") => non_blank(),
            (S::Expansion, "description") => json!({"type": "string"}),
            (S::Expansion, "enabled") => json!({"type": "boolean"}),
            (S::Expansion, "models") => with_doc(
                json!({"type": "array", "minItems": 1, "items": model_id()}),
                "Replaces global.models for this expansion.",
            ),
            (S::Expansion, "variables") => {
                object(S::Variables, &["scenarios", "goal_types", "urgency_types"])
            }
            (S::Expansion, "agent") => with_doc(
                object(S::Agent, &[]),
                "Settings of this expansion's agent conditions (needs `agent` in \
                 variables.interaction; docs/environments.md).",
            ),
            (S::Agent, "max_steps") => with_doc(
                integer(
                    i64::from(*crate::config::AgentSettings::MAX_STEPS.start()),
                    i64::from(*crate::config::AgentSettings::MAX_STEPS.end()),
                ),
                "The episode ends after this many model turns at most (default 10).",
            ),

            (S::Variables, "scenarios") => list_of(
                json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$"}),
                "Built-in: blackmail, leaking, murder, exfiltration, sabotage (or a folder of --templates).",
            ),
            (S::Variables, "goal_types") => list_of(words(keys::GOAL_TYPES), ""),
            (S::Variables, "goal_values") => list_of(
                words(&keys::goal_value_words()),
                "Needed when a goal type is explicit, latent or swap.",
            ),
            (S::Variables, "urgency_types") => list_of(words(keys::URGENCIES), ""),
            (S::Variables, key) => crate::axes::AXES.iter().find(|a| a.key() == key)?.json_schema(),

            (S::Classification, "enabled") => json!({"type": "boolean"}),
            (S::Classification, "classifier_model") => {
                with_doc(model_id(), "The LLM judge; leave out for detectors only.")
            }
            (S::Classification, "judges") => with_doc(
                json!({"type": "array", "minItems": 1, "uniqueItems": true, "items": model_id()}),
                "Several LLM judges (instead of classifier_model); each verdict is stored, and \
                 `combine` makes the final verdict (docs/classification.md).",
            ),
            (S::Classification, "combine") => with_doc(
                words(&crate::judge::Combine::WORDS),
                "How several judges' verdicts combine: majority, any or all of the judges, or \
                 scenario (the judges' majority, then the scenario's action gate; the default).",
            ),
            (S::Classification, "awareness_model") => {
                with_doc(model_id(), "The eval-awareness judge (optional).")
            }
            (S::Classification, "concurrency") => integer(1, 100_000),
            (S::Classification, "batch") => with_doc(
                json!({"type": "boolean"}),
                "Send judge and awareness calls through the providers' batch APIs; unset follows \
                 execution.batch (docs/batch.md).",
            ),
            (S::Classification, "models") => with_doc(
                json!({"type": "object", "additionalProperties": non_blank()}),
                "Per scenario: a reference classifier name or a judge model.",
            ),

            (S::Execution, "resume_interrupted") => json!({"type": "boolean"}),
            (S::Execution, "timeout_seconds") => integer(1, 86_400),
            (S::Execution, "retries") => integer(0, 100),
            (S::Execution, "max_reply_bytes") => with_doc(
                integer(1024, 1024 * 1024 * 1024),
                "Largest provider reply read, in bytes (default 8 MiB); a longer one fails that call.",
            ),
            (S::Execution, "checkpoint_frequency") => integer(1, 1_000_000),
            (S::Execution, "batch") => with_doc(
                json!({"type": "boolean"}),
                "Send samples through the providers' batch APIs (docs/batch.md).",
            ),
            (S::Execution, "batch_fallback") => with_doc(
                words(&["batch", "live"]),
                "Where requests that errored or expired inside a batch are retried.",
            ),
            (S::Execution, "batch_poll_seconds") => number(0.001, 3600.0),
            (S::Execution, "batch_max_requests") => integer(1, 100_000),
            (S::Execution, "prompt_cache") => with_doc(
                json!({"type": "boolean"}),
                "Ask Anthropic to cache the prompt the samples of a condition share (default true; docs/cost.md).",
            ),
            (S::Execution, "max_cost_usd") => with_doc(
                number(0.0, 1e9),
                "Stop starting calls when spent plus in flight could pass this many USD (--max-cost; docs/cost.md).",
            ),
            (S::Execution, "samples_per_request") => with_doc(
                integer(1, 128),
                "Samples of one prompt per request (OpenAI-compatible `n`) where the server takes it.",
            ),

            (S::Provider, "kind") => {
                let kinds: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
                words(&kinds)
            }
            (S::Provider, "base_url") => http_url(),
            (S::Provider, "base_urls") => with_doc(
                json!({"type": "array", "minItems": 1, "items": http_url()}),
                "Several servers of one model, load-balanced.",
            ),
            (S::Provider, "api_key_env") => with_doc(
                json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"}),
                "The NAME of the environment variable holding the key, never the key.",
            ),
            (S::Provider, "headers") => json!({
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
                "additionalProperties": {"type": "string", "pattern": "^[^\\r\\n]*$"},
            }),
            (S::Provider, "safety_settings") => with_doc(
                json!({"type": "object", "additionalProperties": non_blank()}),
                "kind: google only.",
            ),
            (S::Provider, "model_path") => with_doc(non_blank(), "kind: local only."),
            (S::Provider, "context_length") => with_doc(integer(16, 10_000_000), "kind: local only."),
            (S::Provider, "threads") => with_doc(integer(1, 4096), "kind: local only."),
            (S::Provider, "batch_size") => with_doc(integer(1, 1_000_000), "kind: local only."),
            (S::Provider, "gpu_layers") => with_doc(integer(0, 100_000), "kind: local only."),

            (S::Price, "input" | "output") => number(0.0, 1e6),
            (S::Price, "cache_write" | "cache_read") => with_doc(
                number(0.0, 1e6),
                "USD per million input tokens written to / read from the prompt cache.",
            ),
            (S::Price, "batch_discount") => with_doc(
                number(0.0, 1.0),
                "Fraction off an answer billed through a batch API (0.5: half price).",
            ),
            (S::Price, "as_of") => with_doc(
                json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
                "The day the prices were read, YYYY-MM-DD.",
            ),

            (S::UserMitigation, "system") => with_doc(
                non_blank(),
                "A text file (relative to the experiment file) added to the system prompt.",
            ),
            (S::UserMitigation, "inbox") => with_doc(
                non_blank(),
                "A text file (relative to the experiment file) added to the inbox as an email.",
            ),
            _ => return None,
        })
    }
}

/// The properties of a section, one per key of its table.
fn properties(section: Section) -> Map<String, Value> {
    section
        .keys()
        .iter()
        .map(|k| {
            let schema = section
                .describe(k)
                .unwrap_or_else(|| panic!("json_schema.rs does not describe {section:?}.{k}"));
            (k.to_string(), schema)
        })
        .collect()
}

/// A closed object: its section's keys only.
fn object(section: Section, required: &[&str]) -> Value {
    let mut o = json!({
        "type": "object",
        "properties": properties(section),
        "additionalProperties": false,
    });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    if section == Section::UserMitigation {
        // Exactly one place.
        o["minProperties"] = json!(1);
        o["maxProperties"] = json!(1);
    }
    o
}

fn with_doc(mut schema: Value, doc: &str) -> Value {
    if !doc.is_empty() {
        schema["description"] = json!(doc);
    }
    schema
}

fn words(options: &[&str]) -> Value {
    json!({"type": "string", "enum": options})
}

fn list_of(items: Value, doc: &str) -> Value {
    with_doc(json!({"type": "array", "minItems": 1, "items": items}), doc)
}

fn integer(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

fn number(min: f64, max: f64) -> Value {
    json!({"type": "number", "minimum": min, "maximum": max})
}

/// Text without surrounding whitespace (what the loader calls a name).
fn non_blank() -> Value {
    json!({"type": "string", "pattern": "^\\S(.*\\S)?$"})
}

fn model_id() -> Value {
    with_doc(
        non_blank(),
        "`provider/model` (a built-in provider or one under `providers`), or a bare id as \
         the reference framework routes it.",
    )
}

fn http_url() -> Value {
    json!({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s@/?#]+([/?#]\\S*)?$"})
}

fn builtin_and_none() -> Vec<&'static str> {
    let mut v = BUILTIN_MITIGATIONS.to_vec();
    v.push("none");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_every_table_is_described() {
        // Builds the whole schema: `properties` panics on a key it cannot describe.
        let s = experiment_json_schema();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        for (section, table) in Section::all() {
            for k in table {
                assert!(section.describe(k).is_some(), "{section:?}.{k}");
            }
        }
    }

    #[test]
    fn the_schema_has_exactly_the_top_level_keys() {
        let s = experiment_json_schema();
        let mut props: Vec<&str> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        props.sort();
        let mut top = keys::TOP.to_vec();
        top.sort();
        assert_eq!(props, top);
        assert_eq!(s["additionalProperties"], false);
    }
}
