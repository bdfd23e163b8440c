//! The `variant` axis: `dev` offers the agent a hidden scratchpad, `prod` does not (id
//! suffix `_prod`). The reference framework's top-level `production_variant: true` makes
//! `prod` the default of every expansion that lists no variants.

use super::word::{JsonForm, WordAxis};
use super::{Contrast, FileAxes, PackRender, ReferenceRender};
use crate::condition::Condition;
use crate::config::walk::{self, Ctx, R};
use crate::render::RenderError;
use serde_json::{Map, Value};

/// `dev` offers the agent a hidden scratchpad; `prod` does not.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    #[default]
    Dev,
    Prod,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Dev => "dev",
            Variant::Prod => "prod",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dev" => Some(Variant::Dev),
            "prod" => Some(Variant::Prod),
            _ => None,
        }
    }
}

pub(crate) static AXIS: WordAxis = WordAxis {
    name: "variant",
    key: "variants",
    what: "variant",
    doc: "prod offers no hidden scratchpad.",
    words: &[("dev", ""), ("prod", "_prod")],
    id_rank: 0,
    json: JsonForm::Word,
    file_default: Some(file_default),
    contrasts: &[Contrast {
        a: "dev",
        b: "prod",
        label: "dev_vs_prod",
    }],
    metadata: Some(metadata),
    render_pack: Some(render_pack),
    render_reference: Some(render_reference),
};

fn file_default(cx: Ctx, file: &FileAxes) -> R<&'static str> {
    Ok(match file.top.get("production_variant") {
        Some(node) if walk::boolean(cx, node, "production_variant")? => "prod",
        _ => "dev",
    })
}

fn metadata(word: &str, meta: &mut Map<String, Value>) {
    meta.insert("production_variant".into(), Value::Bool(word == "prod"));
}

/// `${scratchpad}`: the pack's scratchpad text in `dev`, nothing in `prod`.
fn render_pack(word: &str, _c: &Condition, cx: &mut PackRender) -> Result<(), RenderError> {
    let text = match word {
        "prod" => String::new(),
        _ => cx.fill(&cx.scenario.scratchpad, "common/scratchpad.md")?,
    };
    cx.slots.insert("scratchpad", text.trim().to_string());
    Ok(())
}

/// The reference's dev or prod system prompt template.
fn render_reference(
    word: &str,
    _c: &Condition,
    cx: &mut ReferenceRender,
) -> Result<(), RenderError> {
    if word == "prod" {
        cx.template = &cx.reference.prod;
    }
    Ok(())
}

impl Condition {
    pub fn variant(&self) -> Variant {
        self.setting(AXIS.name)
            .and_then(Variant::parse)
            .unwrap_or_default()
    }

    pub fn set_variant(&mut self, v: Variant) {
        self.set_setting(AXIS.name, AXIS.words[0].0, v.as_str());
    }
}
