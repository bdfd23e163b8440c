//! Reading the generalisation axes of a stored condition (`prompts.condition_json`) by name,
//! and which prompt source a run recorded.
//!
//! The axes `variation` and `format` are the contract of issue 27: field `variation` is the
//! surface variant (an index, or an object with an `index`; missing: 0, the canonical
//! text), field `format` the question form (`open` | `choice`; missing: agentic). Reading
//! them from the JSON by name keeps this module independent of how their axes are
//! registered, and leaves every other field to [`Condition`]'s own reader.

use super::{Form, PromptSource};
use crate::condition::Condition;
use serde_json::Value;

/// The field of the surface-variant axis in the condition JSON.
pub const VARIATION_FIELD: &str = "variation";
/// The field of the question-form axis in the condition JSON.
pub const FORMAT_FIELD: &str = "format";

/// The key a `--templates` run adds to its manifest's `packs_json` (beside the scenarios'
/// hashes), with the value [`TEMPLATES`]. A run without it used the built-in packs (or was
/// recorded before the key existed). `@` keeps it apart from scenario names.
pub const PROMPT_SOURCE_KEY: &str = "@source";
/// The value of [`PROMPT_SOURCE_KEY`] for a run whose prompts came from `--templates DIR`.
pub const TEMPLATES: &str = "templates";

/// A stored condition split into its cell (the condition without variant and question form)
/// and its place on the two generalisation axes.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredCondition {
    /// The condition without its variant and question form.
    pub cell: Condition,
    /// 0: the canonical text.
    pub variation: u32,
    pub form: Form,
}

/// Splits a stored condition JSON; `None` when it is not a condition, or its `variation`
/// or `format` field cannot be read.
pub fn read_stored(condition_json: &str) -> Option<StoredCondition> {
    let mut value: Value = serde_json::from_str(condition_json).ok()?;
    let fields = value.as_object_mut()?;
    let variation = variation_index(fields.remove(VARIATION_FIELD).as_ref())?;
    let form = match fields.remove(FORMAT_FIELD) {
        None | Some(Value::Null) => Form::Agentic,
        Some(Value::String(w)) => Form::parse(&w)?,
        Some(_) => return None,
    };
    let cell: Condition = serde_json::from_value(value).ok()?;
    Some(StoredCondition {
        cell,
        variation,
        form,
    })
}

/// The variant index of a `variation` field: a number, a decimal string, or an object with
/// an `index`; missing or null is 0.
fn variation_index(field: Option<&Value>) -> Option<u32> {
    match field {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_u64().and_then(|k| u32::try_from(k).ok()),
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Object(o)) => variation_index(Some(o.get("index")?)),
        Some(_) => None,
    }
}

/// The prompt source a run's `packs_json` records.
pub fn prompt_source(packs_json: &str) -> PromptSource {
    let marked = serde_json::from_str::<Value>(packs_json)
        .ok()
        .and_then(|v| v.get(PROMPT_SOURCE_KEY).cloned())
        .is_some_and(|v| v == TEMPLATES);
    if marked {
        PromptSource::Templates
    } else {
        PromptSource::Packs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GoalType, Urgency};

    fn base() -> Condition {
        Condition::new("blackmail", GoalType::Explicit, "america", Urgency::None)
    }

    fn with(extra: &str) -> String {
        let mut v = serde_json::to_value(base()).unwrap();
        let extra: serde_json::Map<String, Value> = serde_json::from_str(extra).unwrap();
        v.as_object_mut().unwrap().extend(extra);
        v.to_string()
    }

    #[test]
    fn a_plain_condition_is_canonical_and_agentic() {
        let s = read_stored(&serde_json::to_string(&base()).unwrap()).unwrap();
        assert_eq!((s.cell, s.variation, s.form), (base(), 0, Form::Agentic));
    }

    #[test]
    fn variation_and_format_are_read_and_taken_off_the_cell() {
        for (extra, k, form) in [
            (r#"{"variation": 3}"#, 3, Form::Agentic),
            (r#"{"variation": "4"}"#, 4, Form::Agentic),
            (
                r#"{"variation": {"index": 2, "seed": 7}}"#,
                2,
                Form::Agentic,
            ),
            (r#"{"format": "open"}"#, 0, Form::Open),
            (r#"{"format": "choice", "variation": 1}"#, 1, Form::Choice),
            (r#"{"format": null, "variation": null}"#, 0, Form::Agentic),
        ] {
            let s = read_stored(&with(extra)).unwrap_or_else(|| panic!("{extra}"));
            assert_eq!(
                (&s.cell, s.variation, s.form),
                (&base(), k, form),
                "{extra}"
            );
        }
        for bad in [
            r#"{"variation": -1}"#,
            r#"{"variation": "two"}"#,
            r#"{"variation": {"seed": 7}}"#,
            r#"{"format": "essay"}"#,
            r#"{"format": 1}"#,
        ] {
            assert_eq!(read_stored(&with(bad)), None, "{bad}");
        }
        assert_eq!(read_stored("not json"), None);
    }

    #[test]
    fn only_a_marked_manifest_is_a_templates_run() {
        assert_eq!(
            prompt_source(r#"{"blackmail": "ab12", "@source": "templates"}"#),
            PromptSource::Templates
        );
        for packs in [
            r#"{"blackmail": "ab12"}"#,
            r#"{"@source": "packs"}"#,
            "",
            "[]",
        ] {
            assert_eq!(prompt_source(packs), PromptSource::Packs, "{packs}");
        }
    }
}
