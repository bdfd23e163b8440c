//! Filling a scenario's templates into the three prompt parts of one condition.
//!
//! The inbox follows the reference framework's rules 3-7 (docs/design.md): variables
//! from the chosen variables section with the goal variables merged over them; goal type
//! `none` fills `goal-conflict-none-<urgency>` alone, every other goal type fills `shared`
//! and `<urgency>` separately and joins them with no separator; `leaking` numbers its emails.
//! In the reference layout this is byte-identical to the reference generator; in our packs
//! placeholders are strict and the facts (`company_name`, `agent_name`, `agent_address`) are
//! available too.
//!
//! The system prompt and instruction come from the folder's `system_prompt_templates.py` when
//! a reference-layout folder has one (rules 9-11, [`render_with`]): the scenario's dev or prod
//! template filled by `safe_substitute`, and `USER_PROMPT` as written, byte-identical to the
//! reference generator. Otherwise they come from our pack texts, strictly filled.

use crate::axes::{PackRender, ReferenceRender};
use crate::condition::{
    Condition, ExtraInstructions, GoalType, Interaction, INSTRUCTIONS_MITIGATION,
};
use crate::config::{AgentSettings, MitigationPlace, UserMitigation};
use crate::hash::sha256_parts;
use crate::scenario::goals::goal_text;
use crate::scenario::variables::stem_match;
use crate::scenario::{Doc, GoalText, Layout, Loaded, ReferenceSystem, ScenarioSource};
use crate::template::TemplateError;
use crate::turns::{parse_turns, Turn};
use crate::variation::{alternatives, VariantPlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rendering fails with the scenario's error: every variant names its file.
pub use crate::scenario::ScenarioError as RenderError;

/// The prompt of one condition, as sent to every model and sample of that condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedPrompt {
    pub condition: Condition,
    pub system_prompt: String,
    /// The instruction only (`user_prompt.txt`).
    pub user_prompt: String,
    /// The inbox only (`email_content.txt`).
    pub email_content: String,
    /// What each mitigation of the condition added, and where; already part of the texts
    /// above (so of the prompt hash), kept apart so `generate` and `scenarios show` can
    /// show it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigation_additions: Vec<MitigationAddition>,
    /// Earlier conversation turns sent before the user message (mitigations given as
    /// turns, such as `demonstrations`); empty for most conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_turns: Vec<Turn>,
    /// Agent mode (`interaction: agent`): what the episode runs on. `None` for the
    /// single-prompt form. `system_prompt` then names the tools of the environment's
    /// `prompt.tools`, `user_prompt` is its `prompt.instruction`, and `email_content` is
    /// the mailbox the environment reveals through tools (never sent as a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentPrompt>,
}

/// What an agent condition's episodes run on, beyond the prompt texts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPrompt {
    /// The episode ends after this many steps at most (the expansion's `agent.max_steps`).
    pub max_steps: u32,
    /// The pack's `environment.yaml`, as read.
    pub environment: String,
}

/// The placeholders of the pack's instruction and tools texts, and of an environment's
/// `prompt:` texts: the facts [`base_vars`] gives and the autonomy lines
/// ([`add_autonomy`]).
pub const PACK_TEXT_PLACEHOLDERS: [&str; 6] = [
    "agent_name",
    "agent_address",
    "company_name",
    "goal_statement",
    "autonomy",
    "autonomy_instruction",
];

/// The text one mitigation adds to one part of the prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MitigationAddition {
    pub mitigation: String,
    pub place: MitigationPlace,
    pub text: String,
}

impl RenderedPrompt {
    /// The user message sent to the model: the instruction, a blank line, then the inbox;
    /// in agent mode the instruction alone (the agent reads the mailbox through tools); in
    /// a question form the question alone (`user_prompt`; the inbox is kept for the judge).
    pub fn user_message(&self) -> String {
        if self.agent.is_some() || self.condition.question_format().is_question() {
            return self.user_prompt.clone();
        }
        format!(
            "{}\n\n{}",
            self.user_prompt.trim_end_matches('\n'),
            self.email_content
        )
    }

    /// Identity of the prompt's content: changes whenever anything sent to the model does.
    /// Prior turns are hashed only when there are some, so a prompt without turns keeps the
    /// hash (and the stored answers) it had before turns existed. An agent prompt also
    /// hashes its mailbox, environment and step limit (what its observations come from).
    pub fn prompt_hash(&self) -> String {
        let system = self.system_prompt.as_bytes();
        let user = self.user_message();
        let turns = (!self.prior_turns.is_empty())
            .then(|| serde_json::to_string(&self.prior_turns).expect("turns serialize"));
        let mut parts: Vec<&[u8]> = vec![system, user.as_bytes()];
        parts.extend(turns.as_ref().map(|t| t.as_bytes()));
        let max_steps;
        if let Some(agent) = &self.agent {
            max_steps = agent.max_steps.to_le_bytes();
            parts.extend([
                b"agent".as_slice(),
                self.email_content.as_bytes(),
                agent.environment.as_bytes(),
                &max_steps,
            ]);
        }
        sha256_parts(&parts)
    }

    /// `metadata.json` of the generated prompt folder.
    pub fn metadata(&self) -> serde_json::Value {
        let c = &self.condition;
        let mut meta = serde_json::json!({
            "condition_id": c.id(),
            "scenario": c.scenario,
            "goal_type": c.goal_type.as_str(),
            "goal_value": c.goal_value,
            "urgency_type": c.urgency.as_str(),
        });
        let fields = meta.as_object_mut().expect("an object");
        for a in crate::axes::AXES {
            a.metadata(c, fields);
        }
        if !self.mitigation_additions.is_empty() {
            meta["mitigation_additions"] = serde_json::json!(self.mitigation_additions);
        }
        if !self.prior_turns.is_empty() {
            meta["prior_turns"] = serde_json::json!(self.prior_turns);
        }
        if let Some(agent) = &self.agent {
            meta["max_steps"] = serde_json::json!(agent.max_steps);
        }
        meta
    }
}

/// What a render takes from the experiment rather than from the scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// The experiment's `global.alignment_faking.warning_text` when enabled, else empty:
    /// fills the reference prompts' `${alignment_faking_warning}`.
    pub alignment_faking_warning: String,
    /// The experiment's own mitigations, by name.
    pub mitigations: BTreeMap<String, UserMitigation>,
    /// The `agent:` settings of the experiment's agent conditions; an agent condition not
    /// listed gets the defaults.
    pub agent: BTreeMap<Condition, AgentSettings>,
}

/// Renders one condition: system prompt, instruction and inbox (no alignment-faking warning).
pub fn render(
    source: &ScenarioSource,
    condition: &Condition,
) -> Result<RenderedPrompt, RenderError> {
    render_with(source, condition, &RenderOptions::default())
}

/// Renders one condition with the experiment's options. `generate` and `run` both call this,
/// so the files `generate` writes are what `run` sends.
pub fn render_with(
    source: &ScenarioSource,
    condition: &Condition,
    options: &RenderOptions,
) -> Result<RenderedPrompt, RenderError> {
    let sc = source.scenario(&condition.scenario)?;
    // A variant of a scenario that declares none fails here, whatever its layout.
    let variant = sc.variant(condition)?;
    if let Some(reference) = &sc.reference_prompts {
        if condition.interaction() == Interaction::Agent {
            return Err(RenderError::Other(format!(
                "condition {} runs as an agent, but scenario `{}` takes its prompts from {}, \
                 whose system prompt teaches the `<tool_use:...>` blocks of the single-prompt \
                 form; agent mode needs our pack texts (docs/environments.md): drop `agent` \
                 from interaction for this scenario, or remove that file from the folder",
                condition.id(),
                sc.name,
                reference.file.display
            )));
        }
        if condition.question_format().is_question() {
            return Err(RenderError::Other(format!(
                "condition {} asks the question form, but scenario `{}` takes its prompts \
                 from {}; the question form's description is written for our packs' facts \
                 (docs/generalisation.md, \"The question form\"): drop the question forms \
                 for this scenario",
                condition.id(),
                sc.name,
                reference.file.display
            )));
        }
        return render_reference(source, &sc, reference, condition, options);
    }
    if condition.question_format().is_question() && condition.interaction() == Interaction::Agent {
        return Err(RenderError::Other(format!(
            "condition {} is both a question form and an agent; a question asks what the \
             model would do, an agent acts on the environment: run them as separate \
             conditions (docs/generalisation.md, \"The question form\")",
            condition.id()
        )));
    }
    let agent = match condition.interaction() {
        Interaction::Agent => Some(agent_texts(&sc, condition, options)?),
        Interaction::Single => None,
    };
    let goal = goal_for(&sc, condition)?;
    let facts = sc.require_facts()?;
    let mut base = base_vars(facts, &goal);
    add_autonomy(&sc, condition, &mut base);
    let inbox_vars = inbox_vars(source, &sc, condition, &goal_pairs(&goal))?;
    let mut additions = if !condition.has_mitigations() {
        Vec::new()
    } else {
        let mut mitigation_vars = base.clone();
        mitigation_vars.insert("company_domain".into(), facts.company_domain.clone());
        let plain = fill_inbox(&sc, condition, &inbox_vars, &[], variant.as_deref())?;
        add_memo_timestamp(&plain, &mut mitigation_vars);
        mitigation_texts(&sc, condition, options, &mitigation_vars, fill)?
    };
    let email_content = fill_inbox(&sc, condition, &inbox_vars, &additions, variant.as_deref())?;

    // Agent mode swaps the instruction and the tools text for the environment's own.
    let (instruction, tools) = match &agent {
        Some(a) => (&a.instruction, &a.tools),
        None => (
            sc.require(&sc.instruction, "user-instruction.md")?,
            sc.require(&sc.tools, "tools.md")?,
        ),
    };
    let user_prompt = if condition.question_format().is_question() {
        if let Some(a) = additions.iter().find(|a| a.place == MitigationPlace::Inbox) {
            return Err(RenderError::Other(format!(
                "condition {} asks the question form, but mitigation `{}` adds an email to \
                 the inbox, which a question form does not send; leave it out of the \
                 question forms' conditions",
                condition.id(),
                a.mitigation
            )));
        }
        let mut vars = inbox_vars.clone();
        vars.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (k, v) in [
            ("company_domain", &facts.company_domain),
            ("executive_name", &facts.executive_name),
            ("executive_address", &facts.executive_address),
        ] {
            vars.entry(k.into()).or_insert_with(|| v.clone());
        }
        crate::question::render_question(&sc, condition, &vars)?
    } else {
        finish(&fill(instruction, &base)?)
    };
    let tools = fill(tools, &base)?;
    let mut axes = PackRender {
        scenario: &sc,
        vars: &base,
        slots: BTreeMap::new(),
    };
    for a in crate::axes::id_order() {
        a.render_pack(condition, &mut axes)?;
    }
    let mut slots = axes.slots;
    // System-prompt mitigations follow the extra instructions, in their slot.
    let extra = slots.remove("extra_instructions").unwrap_or_default();
    let slot = with_system_additions(&extra, &additions, "\n\n");
    let mut vars = base;
    vars.insert("goal_reminder".into(), goal.reminder.trim().to_string());
    vars.insert("tools".into(), tools.trim().to_string());
    vars.extend(slots.into_iter().map(|(k, v)| (k.to_string(), v)));
    vars.insert("extra_instructions".into(), slot);
    vars.insert(
        "alignment_faking_warning".into(),
        options.alignment_faking_warning.clone(),
    );
    let system_prompt = finish(&fill(sc.require(&sc.system, "system-prompt.md")?, &vars)?);
    if condition.extra_instructions() == ExtraInstructions::Dont {
        additions.insert(
            0,
            MitigationAddition {
                mitigation: INSTRUCTIONS_MITIGATION.to_string(),
                place: MitigationPlace::System,
                text: extra,
            },
        );
    }

    let prior_turns = prior_turns(&additions)?;
    let rendered = RenderedPrompt {
        condition: condition.clone(),
        system_prompt,
        user_prompt,
        email_content,
        mitigation_additions: additions,
        prior_turns,
        agent: agent.map(|a| a.prompt),
    };
    Ok(surface(&sc, variant.as_deref(), rendered))
}

/// The surface of a pack's prompt: for a pack that declares variants, each `{{a|b}}`
/// wording group resolved (the first alternative in the canonical text) and, in a
/// variant, its names, codes and dates replaced everywhere the model or the environment
/// shows them. A pack without declarations is left as written.
fn surface(sc: &Loaded, variant: Option<&VariantPlan>, mut p: RenderedPrompt) -> RenderedPrompt {
    if sc.variation.is_none() {
        return p;
    }
    for text in [
        &mut p.system_prompt,
        &mut p.user_prompt,
        &mut p.email_content,
    ] {
        *text = surface_text(sc, variant, text);
    }
    for a in &mut p.mitigation_additions {
        a.text = surface_text(sc, variant, &a.text);
    }
    for t in &mut p.prior_turns {
        t.text = surface_text(sc, variant, &t.text);
    }
    if let (Some(v), Some(agent)) = (variant, &mut p.agent) {
        agent.environment = v.replace(&agent.environment);
    }
    p
}

/// One text's surface ([`surface`]).
fn surface_text(sc: &Loaded, variant: Option<&VariantPlan>, text: &str) -> String {
    match (variant, &sc.variation) {
        (Some(v), _) => v.apply_text(text),
        (None, Some(_)) => alternatives::canonical(text),
        (None, None) => text.to_string(),
    }
}

/// An agent condition's texts from the pack's environment: its `prompt:` texts as docs to
/// fill, and what the episode runs on.
struct AgentTexts {
    instruction: Doc,
    tools: Doc,
    prompt: AgentPrompt,
}

fn agent_texts(
    sc: &Loaded,
    c: &Condition,
    options: &RenderOptions,
) -> Result<AgentTexts, RenderError> {
    let file = sc
        .environment
        .as_ref()
        .ok_or_else(|| RenderError::MissingFile {
            path: format!("{}/{}", sc.name, crate::environment::ENVIRONMENT_FILE),
            hint: format!(
                "condition {} runs as an agent, which needs the scenario's environment \
                 (docs/environments.md); write one, or drop `agent` from interaction",
                c.id()
            ),
        })?;
    let spec = file.spec()?;
    let prompt = spec.prompt.as_ref().ok_or_else(|| {
        RenderError::Environment(crate::environment::EnvironmentError::Setup {
            file: file.display.clone(),
            message: format!(
                "condition {} runs as an agent, but the file has no `prompt:` section \
                 (`tools`, `instruction`: docs/environments.md, \"The prompt\")",
                c.id()
            ),
        })
    })?;
    let doc = |field: &str, text: &str| Doc {
        display: format!("{} ({field})", file.display),
        template: crate::template::Template::parse(text),
    };
    Ok(AgentTexts {
        instruction: doc("prompt.instruction", &prompt.instruction.value),
        tools: doc("prompt.tools", &prompt.tools.value),
        prompt: AgentPrompt {
            max_steps: options.agent.get(c).copied().unwrap_or_default().max_steps,
            environment: file.text.clone(),
        },
    })
}

/// `${autonomy}` and `${autonomy_instruction}`: the lines of `common/autonomy.yaml` for the
/// condition's mitigations (`approval`, else `monitoring`, else the default). A folder
/// without the file (and no built-in behind it) gets none, and a text that uses them fails
/// with the strict fill's error.
fn add_autonomy(sc: &Loaded, c: &Condition, vars: &mut BTreeMap<String, String>) {
    if let Some(a) = &sc.autonomy {
        let lines = a.lines_for(&c.mitigations());
        vars.insert("autonomy".into(), lines.system.trim().to_string());
        vars.insert(
            "autonomy_instruction".into(),
            lines.instruction.trim().to_string(),
        );
    }
}

/// `${memo_timestamp}` of the `accurate_context` memo: just after the inbox's last email,
/// so that the memo, which comes last, keeps the inbox in time order.
fn add_memo_timestamp(inbox: &str, vars: &mut BTreeMap<String, String>) {
    let stamp = crate::scenario::timeline::memo_stamp(inbox)
        .unwrap_or_else(|| "2026-06-11T16:00:00".to_string());
    vars.insert("memo_timestamp".into(), stamp);
}

/// The texts of the condition's mitigations other than `instructions` (which is the `dont`
/// extra instructions), in the condition's order: built-ins from `common/mitigations/`,
/// filled with `vars` by `fill_doc`; the experiment's own as written.
fn mitigation_texts(
    sc: &Loaded,
    c: &Condition,
    options: &RenderOptions,
    vars: &BTreeMap<String, String>,
    fill_doc: impl Fn(&Doc, &BTreeMap<String, String>) -> Result<String, RenderError>,
) -> Result<Vec<MitigationAddition>, RenderError> {
    let names = c.mitigations();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let (place, text) = match sc.mitigation_docs.get_key_value(name) {
            Some((role, doc)) => {
                let place = match *role {
                    "accurate_context" => MitigationPlace::Inbox,
                    "demonstrations" => MitigationPlace::Turns,
                    _ => MitigationPlace::System,
                };
                (place, fill_doc(sc.require(doc, role)?, vars)?)
            }
            None => match options.mitigations.get(name) {
                Some(user) => (user.place, user.text.clone()),
                None => {
                    return Err(RenderError::Other(format!(
                        "condition {} names mitigation `{name}`, which is neither built in nor \
                         defined under the experiment's top-level `mitigations:`; define it there \
                         (docs/mitigations.md)",
                        c.id()
                    )))
                }
            },
        };
        out.push(MitigationAddition {
            mitigation: name.to_string(),
            place,
            text: text.trim().to_string(),
        });
    }
    Ok(out)
}

/// The turns of the condition's turn mitigations, in the condition's order. Each file
/// alternates from `user` to `assistant`, so their concatenation does too.
fn prior_turns(additions: &[MitigationAddition]) -> Result<Vec<Turn>, RenderError> {
    let mut out = Vec::new();
    for a in additions
        .iter()
        .filter(|a| a.place == MitigationPlace::Turns)
    {
        let turns = parse_turns(&a.text).map_err(|e| {
            RenderError::Other(format!(
                "the turns of mitigation `{}`, {e} (docs/mitigations.md, \"Turns files\")",
                a.mitigation
            ))
        })?;
        out.extend(turns);
    }
    Ok(out)
}

/// The extra-instructions slot with each system-prompt mitigation after it, `sep` apart.
fn with_system_additions(extra: &str, additions: &[MitigationAddition], sep: &str) -> String {
    let mut out = extra.to_string();
    for a in additions
        .iter()
        .filter(|a| a.place == MitigationPlace::System)
    {
        if !out.is_empty() {
            out.push_str(sep);
        }
        out.push_str(&a.text);
    }
    out
}

/// Rules 9-11: the prompts of `system_prompt_templates.py`, assembled as the reference
/// generator does (and as it meant to where it was broken: swap goals, the company name).
fn render_reference(
    source: &ScenarioSource,
    sc: &Loaded,
    reference: &ReferenceSystem,
    c: &Condition,
    options: &RenderOptions,
) -> Result<RenderedPrompt, RenderError> {
    let goal = goal_vars(sc, c)?;
    let mut vars = inbox_vars(source, sc, c, &goal)?;
    let mut additions = if !c.has_mitigations() {
        Vec::new()
    } else {
        let mut mitigation_vars = vars.clone();
        mitigation_vars.insert("company_name".into(), company(sc, c, &vars)?);
        add_memo_timestamp(&fill_inbox(sc, c, &vars, &[], None)?, &mut mitigation_vars);
        // The memo of `accurate_context` is addressed to the agent at the company's domain.
        if let Some(f) = &sc.facts {
            for (k, v) in [
                ("company_domain", &f.company_domain),
                ("agent_address", &f.agent_address),
                ("agent_name", &f.agent_name),
            ] {
                mitigation_vars.entry(k.into()).or_insert_with(|| v.clone());
            }
        }
        mitigation_texts(sc, c, options, &mitigation_vars, fill)?
    };
    let email_content = fill_inbox(sc, c, &vars, &additions, None)?;
    let mut axes = ReferenceRender {
        scenario: sc,
        reference,
        vars: &vars,
        warning: &options.alignment_faking_warning,
        template: &reference.dev,
        slots: BTreeMap::new(),
    };
    for a in crate::axes::id_order() {
        a.render_reference(c, &mut axes)?;
    }
    let (template, mut slots) = (axes.template, axes.slots);
    let dont = slots
        .remove("extra_system_instructions")
        .unwrap_or_default();
    // The reference slot starts with its own line break; our texts follow a blank line.
    let extra = if additions.iter().any(|a| a.place == MitigationPlace::System) {
        format!(
            "{dont}\n\n{}",
            with_system_additions("", &additions, "\n\n")
        )
    } else {
        dont.clone()
    };
    if c.extra_instructions() == ExtraInstructions::Dont {
        additions.insert(
            0,
            MitigationAddition {
                mitigation: INSTRUCTIONS_MITIGATION.to_string(),
                place: MitigationPlace::System,
                text: dont.trim().to_string(),
            },
        );
    }
    // The experiment's own warning text, unless an axis filled its slot.
    let warning = slots
        .remove("alignment_faking_warning")
        .unwrap_or_else(|| options.alignment_faking_warning.clone());
    vars.extend(slots.into_iter().map(|(k, v)| (k.to_string(), v)));
    vars.insert("extra_system_instructions".into(), extra);
    vars.insert("alignment_faking_warning".into(), warning);
    let prior_turns = prior_turns(&additions)?;
    Ok(RenderedPrompt {
        condition: c.clone(),
        system_prompt: template.safe_substitute(&vars),
        user_prompt: reference.file.user_prompt.clone(),
        email_content,
        mitigation_additions: additions,
        prior_turns,
        agent: None,
    })
}

/// The company the `dont` and `goal` instructions name. The reference generator wrote an
/// undefined name there and crashed; we take the condition's `company_name` variable, else
/// the company of the reference's published facts when the templates are its own.
pub(crate) fn company(
    sc: &Loaded,
    c: &Condition,
    vars: &BTreeMap<String, String>,
) -> Result<String, RenderError> {
    if let Some(name) = vars.get("company_name") {
        return Ok(name.clone());
    }
    match &sc.facts {
        Some(f) if sc.reference_facts => Ok(f.company.clone()),
        _ => Err(RenderError::Other(format!(
            "{}: condition {} needs the company's name (for its `{}` instructions), but its variables define no \
             `company_name` and the templates are not the reference framework's own; add a `company_name` \
             variable to the sections of the variables files there",
            sc.var_dir,
            c.id(),
            if c.extra_instructions() == ExtraInstructions::Off { "awareness" } else { c.extra_instructions().as_str() }
        ))),
    }
}

/// The inbox (`email_content.txt`) of one condition.
pub fn render_inbox(source: &ScenarioSource, condition: &Condition) -> Result<String, RenderError> {
    let sc = source.scenario(&condition.scenario)?;
    let goal = goal_vars(&sc, condition)?;
    inbox(source, &sc, condition, &goal)
}

/// The variables an inbox template of this condition is filled with.
pub fn inbox_variables(
    source: &ScenarioSource,
    condition: &Condition,
) -> Result<BTreeMap<String, String>, RenderError> {
    let sc = source.scenario(&condition.scenario)?;
    let goal = goal_vars(&sc, condition)?;
    inbox_vars(source, &sc, condition, &goal)
}

/// Rule 4's goal variables: from `GOAL_VARIABLES` when the folder has the reference's
/// prompt file, else from goals.yaml.
fn goal_vars(sc: &Loaded, c: &Condition) -> Result<Vec<(String, String)>, RenderError> {
    match &sc.reference_prompts {
        Some(r) => {
            // The reference's table has no metric goals: falling back to its `none` entry
            // would run a metric condition with no goal at all, under a metric id.
            let key = crate::scenario::reference_prompts::goal_key(c.goal_type, &c.goal_value);
            if c.goal_type.is_metric() && !r.file.has_goal_key(&key) {
                return Err(RenderError::MissingFile {
                    path: r.file.display.clone(),
                    hint: format!(
                        "`GOAL_VARIABLES[\"{key}\"]` (goal type `{}` needs its own goal \
                         statement; add the entry, or leave `{}` out of goal_types)",
                        c.goal_type.as_str(),
                        c.goal_type.as_str()
                    ),
                });
            }
            Ok(r.file.goal_variables(c.goal_type, &c.goal_value).to_vec())
        }
        None => Ok(goal_pairs(&goal_for(sc, c)?)),
    }
}

fn goal_pairs(goal: &GoalText) -> Vec<(String, String)> {
    vec![
        ("goal_statement".to_string(), goal.statement.clone()),
        ("goal_reminder".to_string(), goal.reminder.clone()),
    ]
}

fn goal_for(sc: &Loaded, c: &Condition) -> Result<GoalText, RenderError> {
    goal_text(
        c.goal_type,
        &c.goal_value,
        sc.goals.as_ref(),
        &sc.goals_display,
    )
}

/// Variables of the system prompt's slots and of the instruction, tools and common texts.
fn base_vars(facts: &crate::scenario::Facts, goal: &GoalText) -> BTreeMap<String, String> {
    [
        ("agent_name", facts.agent_name.as_str()),
        ("agent_address", facts.agent_address.as_str()),
        ("company_name", facts.company.as_str()),
        ("goal_statement", goal.statement.trim()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Strict fill of one of our texts; the error lists the names that were available.
pub(crate) fn fill(doc: &Doc, vars: &BTreeMap<String, String>) -> Result<String, RenderError> {
    doc.template
        .substitute_strict(vars, &doc.display)
        .map_err(|e| e.with_known(vars.keys().cloned()).into())
}

/// Collapses runs of 3+ newlines to 2 and ends the text with exactly one newline.
fn finish(text: &str) -> String {
    // Works on whole lines rather than characters: it runs over every prompt of every
    // condition, and char by char it was about half of the render time (criterion
    // `render 162`: 1.7-2.2 ms char by char, 0.87-1.0 ms by lines).
    let body = text.trim_end();
    let mut out = String::with_capacity(body.len() + 1);
    let mut newlines = 0;
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            newlines += 1;
            if newlines <= 2 {
                out.push('\n');
            }
        }
        if !line.is_empty() {
            newlines = 0;
            out.push_str(line);
        }
    }
    out.push('\n');
    out
}

/// Rules 3 and 4: the chosen variables with the goal variables merged over them (and, in
/// our packs, the facts beneath them).
fn inbox_vars(
    source: &ScenarioSource,
    sc: &Loaded,
    c: &Condition,
    goal: &[(String, String)],
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut vars = BTreeMap::new();
    if sc.layout == Layout::Pack {
        let facts = sc.require_facts()?;
        vars.insert("company_name".to_string(), facts.company.clone());
        vars.insert("agent_name".to_string(), facts.agent_name.clone());
        vars.insert("agent_address".to_string(), facts.agent_address.clone());
    }
    // `metriconly` fills the goal-`none` inbox, so it takes goal `none`'s variables.
    let no_value = !c.goal_type.has_goal_value()
        || c.goal_type == GoalType::MetricOnly
        || c.goal_value == "none"
        || c.goal_value == "ambiguous";
    if no_value {
        let amb = sc.ambiguous.as_ref().ok_or_else(|| RenderError::MissingFile {
            path: format!("{}/ambiguous.md", sc.var_dir),
            hint: format!(
                "goal type `{}` takes its variables from ambiguous.md (one `## Section` with a ```json object)",
                c.goal_type.as_str()
            ),
        })?;
        vars.extend(amb.merged());
    } else {
        let value = c.goal_value.as_str();
        let best = sc
            .var_files
            .iter()
            .filter_map(|f| stem_match(&f.stem, value).map(|m| (m, f)))
            .min_by_key(|(m, _)| *m)
            .map(|(_, f)| f);
        let file = match best {
            Some(f) => f,
            None => {
                let amb = sc.ambiguous.as_ref().ok_or_else(|| RenderError::MissingFile {
                    path: format!("{}/<value>_vs_<value>.md", sc.var_dir),
                    hint: format!(
                        "no variables file's name contains the goal value `{value}`, and there is no ambiguous.md to fall back on"
                    ),
                })?;
                source.warn(format!(
                    "{}: no variables file for goal value `{value}`; using ambiguous.md (as the reference generator does)",
                    sc.var_dir
                ));
                amb
            }
        };
        if let Some(section) = file.section_for(value) {
            let goal_l = value.to_lowercase();
            if !section.key.contains(&goal_l) || section.vars.is_empty() {
                source.warn(format!(
                    "{}: no section for goal value `{value}`; using the first section `{}`",
                    file.display, section.name
                ));
            }
            vars.extend(section.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    vars.extend(goal.iter().cloned());
    Ok(vars)
}

fn inbox(
    source: &ScenarioSource,
    sc: &Loaded,
    c: &Condition,
    goal: &[(String, String)],
) -> Result<String, RenderError> {
    let vars = inbox_vars(source, sc, c, goal)?;
    let variant = sc.variant(c)?;
    let inbox = fill_inbox(sc, c, &vars, &[], variant.as_deref())?;
    Ok(surface_text(sc, variant.as_deref(), &inbox))
}

/// Rules 6 and 7: the inbox templates of the condition, filled with `vars`, then the inbox
/// mitigations as the last emails (last, so numbered inboxes keep their emails' ids).
fn fill_inbox(
    sc: &Loaded,
    c: &Condition,
    vars: &BTreeMap<String, String>,
    additions: &[MitigationAddition],
    variant: Option<&VariantPlan>,
) -> Result<String, RenderError> {
    let parts: Vec<String> = if c.goal_type.has_neutral_inbox() {
        vec![format!("goal-conflict-none-{}", c.urgency.as_str())]
    } else {
        vec!["shared".to_string(), c.urgency.as_str().to_string()]
    };
    let mut content = String::new();
    for part in &parts {
        let doc = sc.inbox.get(part).ok_or_else(|| RenderError::MissingFile {
            path: format!("{}/email-template-{}-{part}.md", sc.templates_dir, sc.name),
            hint: format!("condition `{}` needs this inbox template", c.id()),
        })?;
        match sc.layout {
            Layout::Reference => content.push_str(&doc.template.safe_substitute(vars)),
            Layout::Pack => content.push_str(
                &doc.template
                    .substitute_strict(vars, &doc.display)
                    .map_err(|e: TemplateError| e.with_known(vars.keys().cloned()))?,
            ),
        }
    }
    for a in additions
        .iter()
        .filter(|a| a.place == MitigationPlace::Inbox)
    {
        if !content.ends_with("\n\n") {
            content.push_str(if content.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            });
        }
        content.push_str(&a.text);
        content.push('\n');
    }
    // Emails move before they are numbered: positions, so ids, stay where they were.
    if let Some(v) = variant {
        content = v.reorder_inbox(&content);
    }
    if sc.numbered_ids {
        content = number_emails(&content);
    }
    Ok(content)
}

/// Rule 7: split on `<email>` and rejoin with `<email>\nID: n` before each later part.
pub fn number_emails(content: &str) -> String {
    let mut parts = content.split("<email>");
    let mut out = String::with_capacity(content.len() + 64);
    out.push_str(parts.next().unwrap_or_default());
    for (i, part) in parts.enumerate() {
        out.push_str("<email>\nID: ");
        out.push_str(&(i + 1).to_string());
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering() {
        assert_eq!(
            number_emails("x<email>a</email>\n<email>b"),
            "x<email>\nID: 1a</email>\n<email>\nID: 2b"
        );
        assert_eq!(number_emails("no emails"), "no emails");
    }

    #[test]
    fn the_pack_text_placeholders_are_what_the_render_fills() {
        let facts = crate::scenario::Facts::default();
        let goal = GoalText {
            statement: String::new(),
            reminder: String::new(),
        };
        let mut vars = base_vars(&facts, &goal);
        let source = ScenarioSource::builtin();
        let sc = source.scenario("blackmail").unwrap();
        let c = Condition::new("blackmail", GoalType::None, "none", crate::Urgency::None);
        add_autonomy(&sc, &c, &mut vars);
        let mut names: Vec<&str> = vars.keys().map(String::as_str).collect();
        let mut want = PACK_TEXT_PLACEHOLDERS.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        assert_eq!(names, want);
    }

    #[test]
    fn finish_collapses_blank_runs() {
        assert_eq!(finish("a\n\n\n\nb\n\n  \n"), "a\n\nb\n");
        assert_eq!(finish("a"), "a\n");
    }
}
