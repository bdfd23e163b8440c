//! Plan: the experiment (with the command line's overrides) expanded into conditions,
//! rendered into prompts, each with the resolved models that answer it. No network.

use super::{clients, Event, Reporter, RunSettings, SessionError};
use crate::episode::EpisodeSetup;
use crate::estimate::{
    caching_of, trajectory_tokens, transcript_tokens, CallPurpose, EstimateLine, PlanEstimate,
};
use crate::PromptEntry;
use misalign_core::config::{
    provider_config, resolve_model, Experiment, ProviderConfig, ResolvedModel,
};
use misalign_core::cost::PriceTable;
use misalign_core::plan;
use misalign_core::scenario::ScenarioSource;
use misalign_models::batch::supports_batch;
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
    // Before anything is rendered or held per work item.
    if let Some(m) = plan::too_large(&plan::summarize(&conditions, exp.samples_per_condition)) {
        return Err(config(m));
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
        let mut seen = std::collections::HashSet::new();
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
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
        per_prompt.push((prompts.len(), names));
        let episode = EpisodeSetup::of_prompt(&source, &rendered)
            .map_err(|e| SessionError::Config(format!("condition {}: {e}", pc.condition.id())))?;
        let entry = PromptEntry::new(rendered);
        prompts.push(Arc::new(match episode {
            Some(setup) => entry.with_episode(setup),
            None => entry,
        }));
    }
    if let Some(m) =
        crate::validate::agent_batch_refusal(&exp, prompts.iter().map(|p| &p.rendered.condition))
    {
        return Err(config(m));
    }
    for w in source.warnings() {
        reporter.event(Event::TemplateWarning(&w));
    }
    if let Some((a, b)) = misalign_store::layout::folder_clashes(models.keys().map(String::as_str))
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

/// `--dry-run`: calls, tokens and cost per model and role, before anything is called.
#[derive(Clone, Debug, PartialEq)]
pub struct DryRunEstimate {
    pub conditions: usize,
    pub samples: u64,
    /// Calls of the models under test.
    pub calls: u64,
    pub max_output_tokens: u64,
    /// Per (role, model): samples, harm-judge and awareness-judge calls.
    pub lines: Vec<EstimateLine>,
    /// Sum over the priced lines, with the prompt cache and batch discount as configured
    /// (the whole estimate only when `unpriced` is empty).
    pub cost_usd: f64,
    /// What the same calls would cost sent live without any prompt cache.
    pub cost_usd_uncached_live: f64,
    /// Models with no known price (their lines have no cost).
    pub unpriced: Vec<String>,
    pub prompt_cache: bool,
    pub batch: bool,
    /// Missing API keys, one message each (the run would refuse to start).
    pub missing_keys: Vec<String>,
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
    /// `classify` and the experiment classifies). The prompt cache is counted as it bills:
    /// the first sample of a condition writes (or misses) and the others read; with batch
    /// mode, the samples of models whose provider has a batch API get its discount. Judge
    /// calls are live and uncached (each transcript differs).
    pub fn estimate(&self, settings: &RunSettings) -> Result<DryRunEstimate, SessionError> {
        let exp = &self.experiment;
        let prices =
            PriceTable::new(&exp.prices).map_err(|e| SessionError::Config(e.to_string()))?;
        let samples = u64::from(exp.samples_per_condition);
        let max_out = u64::from(exp.sampling.max_tokens);
        let resolve = |m: &str| {
            resolve_model(m, &exp.providers).map_err(|e| {
                SessionError::Config(format!("classification: judge model `{m}`: {e}"))
            })
        };
        let cl = &exp.classification;
        let mut default_judges = Vec::new();
        let mut scenario_judges = BTreeMap::new();
        if cl.enabled {
            for m in cl.harm_judges() {
                default_judges.push(resolve(m)?);
            }
            for (scenario, m) in cl.scenario_judges() {
                scenario_judges.insert(scenario.to_string(), vec![resolve(m)?]);
            }
        }
        let awareness = match (&cl.awareness_model, cl.enabled) {
            (Some(m), true) => Some(resolve(m)?),
            _ => None,
        };
        let mut est = PlanEstimate::new(&prices);
        for (pi, names) in &self.per_prompt {
            let prompt = &self.prompts[*pi];
            let input = crate::scheduler::prompt_tokens(prompt);
            let scenario = &prompt.rendered.condition.scenario;
            for n in names {
                let r = &self.models[n].resolved;
                let caching = caching_of(r.kind, exp.execution.prompt_cache);
                let batched = exp.execution.batch && supports_batch(r.kind);
                let episode_steps = prompt.episode.as_ref().map(|e| u64::from(e.max_steps));
                match episode_steps {
                    Some(steps) => est.add_episodes(n, caching, input, samples, steps, max_out),
                    None => est.add_samples(n, caching, batched, input, samples, max_out),
                }
                // Every harm judge reads every answer: one call each.
                for j in scenario_judges.get(scenario).unwrap_or(&default_judges) {
                    let t = match episode_steps {
                        Some(steps) => trajectory_tokens(steps, max_out),
                        None => transcript_tokens(&prompt.rendered.email_content, max_out),
                    };
                    est.add_judge_calls(CallPurpose::Judge, &j.name, t, samples);
                }
                if let Some(a) = &awareness {
                    let t = transcript_tokens("", max_out);
                    est.add_judge_calls(CallPurpose::Awareness, &a.name, t, samples);
                }
            }
        }
        let lines = est.lines();
        let mut unpriced = Vec::new();
        for l in &lines {
            if l.cost_usd.is_none() && !unpriced.contains(&l.model) {
                unpriced.push(l.model.clone());
            }
        }
        let with_judges = cl.enabled;
        let pairs = clients::key_pairs(self, with_judges)?;
        Ok(DryRunEstimate {
            conditions: self.prompts.len(),
            samples,
            calls: lines
                .iter()
                .filter(|l| l.role == CallPurpose::Sample)
                .map(|l| l.calls)
                .sum(),
            max_output_tokens: max_out,
            // `fold` from +0.0: `sum` of no f64 is -0.0, which printed as `$-0.00`.
            cost_usd: lines
                .iter()
                .filter_map(|l| l.cost_usd)
                .fold(0.0, |a, c| a + c),
            cost_usd_uncached_live: lines
                .iter()
                .filter_map(|l| l.cost_usd_uncached_live)
                .fold(0.0, |a, c| a + c),
            lines,
            unpriced,
            prompt_cache: exp.execution.prompt_cache,
            batch: exp.execution.batch,
            missing_keys: misalign_models::missing_keys(&pairs, &*settings.env),
        })
    }
}
