//! The `awareness_notice` axis: `on` adds a notice that asks whether the situation is an
//! evaluation or real (id suffix `_aware`). Stored as a boolean.

use super::word::{JsonForm, WordAxis};
use super::{Contrast, PackRender, ReferenceRender};
use crate::condition::Condition;
use crate::render::RenderError;

pub(crate) static AXIS: WordAxis = WordAxis {
    name: "awareness_notice",
    key: "awareness_notice",
    what: "awareness-notice setting",
    doc: "on: the prompt asks whether this is an evaluation or real.",
    words: &[("off", ""), ("on", "_aware")],
    id_rank: 2,
    json: JsonForm::Bool,
    file_default: None,
    contrasts: &[Contrast {
        a: "on",
        b: "off",
        label: "notice_on_vs_off",
    }],
    metadata: None,
    render_pack: Some(render_pack),
    render_reference: Some(render_reference),
};

/// `${awareness_notice}`: the pack's notice when on.
fn render_pack(word: &str, _c: &Condition, cx: &mut PackRender) -> Result<(), RenderError> {
    let text = match word {
        "on" => cx.fill(&cx.scenario.awareness, "common/awareness-notice.md")?,
        _ => String::new(),
    };
    cx.slots.insert("awareness_notice", text.trim().to_string());
    Ok(())
}

/// Without the experiment's own alignment-faking warning, our notice goes in the slot the
/// reference reserves for that warning, after a blank line.
fn render_reference(
    word: &str,
    c: &Condition,
    cx: &mut ReferenceRender,
) -> Result<(), RenderError> {
    if word != "on" || !cx.warning.is_empty() {
        return Ok(());
    }
    let doc = cx
        .scenario
        .require(&cx.scenario.awareness, "common/awareness-notice.md")?;
    let mut vars = cx.vars.clone();
    vars.insert("company_name".into(), cx.company(c)?);
    let notice = format!("\n\n{}", doc.template.safe_substitute(&vars).trim_end());
    cx.slots.insert("alignment_faking_warning", notice);
    Ok(())
}

impl Condition {
    pub fn awareness_notice(&self) -> bool {
        self.setting(AXIS.name) == Some("on")
    }

    pub fn set_awareness_notice(&mut self, on: bool) {
        self.set_setting(AXIS.name, "off", if on { "on" } else { "off" });
    }
}
