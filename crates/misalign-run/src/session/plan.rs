//! Plan: the experiment (with the command line's overrides) expanded into conditions,
//! rendered into prompts, each with the resolved models that answer it. No network.

use super::{clients, Event, Reporter, RunSettings, SessionError};
use crate::PromptEntry;
use misalign_core::config::{
    provider_config, resolve_model, Experiment, ProviderConfig, ResolvedModel,
};
use misalign_core::cost::{cost_usd, estimate_tokens, PriceTable};
use misalign_core::plan;
use misalign_core::scenario::ScenarioSource;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One planned model: how its name resolved, its provider's settings, and how it was written.
#[derive(Clone, Debug)]
pub(crate) struct PlannedModel {
    pub resolved: ResolvedModel,
    pub provider: ProviderConfig,
    pub written: String,
}

/// Everything planned: prompts and the models answering each (no clients yet).
pub struct Plan {
    /// The experiment with the overrides applied.
    pub experiment: Experiment,
    pub(crate) source: ScenarioSource,
    pub(crate) prompts: Vec<Arc<PromptEntry>>,
    /// Resolved model name -> model.
    pub(crate) models: BTreeMap<String, PlannedModel>,
    /// (prompt index, resolved model names), in plan order.
    pub(crate) per_prompt: Vec<(usize, Vec<String>)>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("experiment_id", &self.experiment.experiment_id)
            .field("prompts", &self.prompts.len())
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Applies the overrides, expands and renders the experiment, resolves every model. Errors
/// name the experiment file and field.
pub fn plan(settings: &RunSettings, reporter: &dyn Reporter) -> Result<Plan, SessionError> {
    let path = settings.experiment_path.display().to_string();
    let config = |m: String| SessionError::Config(format!("{path}: {m}"));
    let mut exp = settings.experiment.clone();
    settings
        .overrides
        .apply(&mut exp)
        .map_err(|e| config(e.to_string()))?;
    if exp.models.is_empty() && exp.expansions.iter().all(|e| e.models.is_none()) {
        return Err(config(
            "global.models: no models to run; list at least one model (e.g. `openai/gpt-4.1`)"
                .into(),
        ));
    }
    let source = ScenarioSource::open(settings.templates.as_deref())?;
    let mut conditions = plan::expand(&exp);
    if let Some(n) = settings.overrides.limit {
        conditions.truncate(n);
    }
    if conditions.is_empty() {
        return Err(config(
            "expansions: no enabled expansion yields a condition; enable one with `enabled: true`"
                .into(),
        ));
    }
    let mut models: BTreeMap<String, PlannedModel> = BTreeMap::new();
    let mut by_written: BTreeMap<String, String> = BTreeMap::new();
    let mut prompts = Vec::new();
    let mut per_prompt = Vec::new();
    let render_options = exp.render_options();
    for pc in &conditions {
        let rendered = misalign_core::render::render_with(&source, &pc.condition, &render_options)
            .map_err(|e| SessionError::Config(format!("condition {}: {e}", pc.condition.id())))?;
        let mut names = Vec::new();
        for written in &pc.models {
            let name = match by_written.get(written) {
                Some(n) => n.clone(),
                None => {
                    let r = resolve_model(written, &exp.providers)
                        .map_err(|e| config(format!("model `{written}`: {e}")))?;
                    let cfg = provider_config(&r, &exp.providers);
                    let name = r.name.clone();
                    models.entry(name.clone()).or_insert(PlannedModel {
                        resolved: r,
                        provider: cfg,
                        written: written.clone(),
                    });
                    by_written.insert(written.clone(), name.clone());
                    name
                }
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        per_prompt.push((prompts.len(), names));
        prompts.push(Arc::new(PromptEntry::new(rendered)));
    }
    for w in source.warnings() {
        reporter.event(Event::TemplateWarning(&w));
    }
    if let Some((a, b)) = misalign_store::export::folder_clashes(models.keys().map(String::as_str))
        .into_iter()
        .next()
    {
        return Err(config(format!(
            "models `{a}` and `{b}` differ only in upper/lower case, so their result \
             folders would be one on macOS and Windows; run them into separate --out folders"
        )));
    }
    Ok(Plan {
        experiment: exp,
        source,
        prompts,
        models,
        per_prompt,
    })
}

/// `--dry-run`: calls, tokens and cost per model, before anything is called.
#[derive(Clone, Debug, PartialEq)]
pub struct DryRunEstimate {
    pub conditions: usize,
    pub samples: u64,
    pub calls: u64,
    pub max_output_tokens: u64,
    pub models: Vec<ModelEstimate>,
    /// Sum over the priced models.
    pub cost_usd: f64,
    /// Missing API keys, one message each (the run would refuse to start).
    pub missing_keys: Vec<String>,
}

/// One model's share of a [`DryRunEstimate`].
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEstimate {
    pub model: String,
    pub calls: u64,
    /// Input tokens by the chars/4 estimate.
    pub input_tokens: u64,
    /// Output tokens if every answer used `max_tokens`.
    pub output_tokens_max: u64,
    /// `None`: no price known.
    pub cost_usd: Option<f64>,
}

impl Plan {
    /// The experiment's id.
    pub fn experiment_id(&self) -> &str {
        &self.experiment.experiment_id
    }

    /// Work items planned (calls before resume).
    pub fn calls(&self) -> u64 {
        let n: u64 = self.per_prompt.iter().map(|(_, m)| m.len() as u64).sum();
        n * u64::from(self.experiment.samples_per_condition)
    }

    /// What the run would call and cost, and which keys are missing (judges included when
    /// `classify` and the experiment classifies).
    pub fn estimate(&self, settings: &RunSettings) -> Result<DryRunEstimate, SessionError> {
        let prices = PriceTable::new(&self.experiment.prices)
            .map_err(|e| SessionError::Config(e.to_string()))?;
        let samples = u64::from(self.experiment.samples_per_condition);
        let max_out = u64::from(self.experiment.sampling.max_tokens);
        let mut per_model: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (pi, names) in &self.per_prompt {
            let prompt = &self.prompts[*pi];
            let inp = estimate_tokens(&prompt.rendered.system_prompt)
                + estimate_tokens(&prompt.user_message)
                + prompt
                    .rendered
                    .prior_turns
                    .iter()
                    .map(|t| estimate_tokens(&t.text))
                    .sum::<u64>();
            for n in names {
                let e = per_model.entry(n.as_str()).or_default();
                e.0 += samples;
                e.1 += inp * samples;
            }
        }
        let mut models = Vec::new();
        let mut total = 0.0;
        for (model, (calls, inp)) in per_model {
            let out_tok = calls * max_out;
            let id = &self.models[model].resolved.model_id;
            let cost = prices
                .lookup(model, id)
                .map(|(price, _)| cost_usd(price, inp, out_tok));
            total += cost.unwrap_or(0.0);
            models.push(ModelEstimate {
                model: model.to_string(),
                calls,
                input_tokens: inp,
                output_tokens_max: out_tok,
                cost_usd: cost,
            });
        }
        let with_judges = self.experiment.classification.enabled;
        let pairs = clients::key_pairs(self, with_judges)?;
        Ok(DryRunEstimate {
            conditions: self.prompts.len(),
            samples,
            calls: models.iter().map(|m| m.calls).sum(),
            max_output_tokens: max_out,
            models,
            cost_usd: total,
            missing_keys: misalign_models::missing_keys(&pairs, &*settings.env),
        })
    }
}
