//! Clients: API keys checked, secrets collected, one client per planned model, and the
//! classification set-up (facts, judges) built before the first call.

use super::plan::Plan;
use super::{RunSettings, SessionError};
use crate::classify::setup::{judge_batch_wanted, judge_batching, options_from_config};
use crate::classify::ClassifyOptions;
use crate::ModelTarget;
use misalign_core::config::{provider_config, resolve_model, ProviderConfig, ResolvedModel};
use misalign_models::registry::default_key_envs;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The models whose keys a run needs: the planned ones, and the judges when classifying.
pub(crate) fn key_pairs(
    plan: &Plan,
    with_judges: bool,
) -> Result<Vec<(ResolvedModel, ProviderConfig)>, SessionError> {
    let mut pairs: Vec<(ResolvedModel, ProviderConfig)> = plan
        .models
        .values()
        .map(|m| (m.resolved.clone(), m.provider.clone()))
        .collect();
    if with_judges {
        let exp = &plan.experiment;
        for m in exp.classification.judge_models() {
            let r = resolve_model(m, &exp.providers).map_err(|e| {
                SessionError::Config(format!("classification: judge model `{m}`: {e}"))
            })?;
            let cfg = provider_config(&r, &exp.providers);
            pairs.push((r, cfg));
        }
    }
    Ok(pairs)
}

/// Refuses to start when a key is missing (before anything is stored or paid for).
pub(crate) fn require_keys(
    plan: &Plan,
    settings: &RunSettings,
    with_judges: bool,
) -> Result<(), SessionError> {
    let pairs = key_pairs(plan, with_judges)?;
    let missing = misalign_models::missing_keys(&pairs, &*settings.env);
    if missing.is_empty() {
        return Ok(());
    }
    Err(SessionError::Config(format!(
        "missing API keys (set them in the environment or a .env file):\n  {}",
        missing.join("\n  ")
    )))
}

/// Every key and configured header value in use, to scrub from anything stored or shown.
pub(crate) fn secrets(plan: &Plan, settings: &RunSettings) -> Vec<String> {
    let mut secrets = Vec::new();
    for m in plan.models.values() {
        secrets.extend(misalign_models::registry::secret_values(
            &m.provider,
            &*settings.env,
        ));
    }
    secrets
}

/// One client per planned model.
pub(crate) fn targets(
    plan: &Plan,
    settings: &RunSettings,
) -> Result<BTreeMap<String, Arc<ModelTarget>>, SessionError> {
    let mut targets = BTreeMap::new();
    for (name, m) in &plan.models {
        let client = misalign_models::registry::build_client_with(
            &m.resolved,
            &m.provider,
            &*settings.env,
            settings.local.as_deref(),
            &misalign_models::ClientOptions {
                max_reply_bytes: plan.experiment.execution.max_reply_bytes,
                ..Default::default()
            },
        )
        .map_err(|e| SessionError::Config(format!("model `{name}`: {e}")))?;
        targets.insert(
            name.clone(),
            Arc::new(ModelTarget {
                name: name.clone(),
                written: m.written.clone(),
                provider: m.resolved.provider.clone(),
                model_id: m.resolved.model_id.clone(),
                client,
            }),
        );
    }
    Ok(targets)
}

/// Facts of every planned scenario and the judge clients. Built before the first call: no
/// run may spend money on answers and then fail on its classification config.
pub(crate) fn classify_options(
    plan: &Plan,
    settings: &RunSettings,
) -> Result<ClassifyOptions, SessionError> {
    let mut facts = BTreeMap::new();
    let mut variant_facts = BTreeMap::new();
    for pr in &plan.prompts {
        let c = &pr.rendered.condition;
        let sc = &c.scenario;
        if !facts.contains_key(sc) {
            if let Some(f) = plan.source.facts(sc)? {
                facts.insert(sc.clone(), f);
            }
        }
        if c.variation_index() > 0 {
            if let Some(f) = plan.source.condition_facts(c)? {
                variant_facts.insert(c.id(), f);
            }
        }
    }
    let exp = &plan.experiment;
    let in_file = |e: crate::classify::setup::SetupError| {
        SessionError::Config(format!(
            "{}: classification: {e}; nothing was sampled",
            exp.experiment_id
        ))
    };
    let mut options = options_from_config(
        &exp.classification,
        &exp.providers,
        facts,
        &Default::default(),
        &*settings.env,
    )
    .map_err(in_file)?;
    options.variant_facts = variant_facts;
    if judge_batch_wanted(&exp.classification, &exp.execution, false) {
        // The run's id is set once the run is recorded (`ClassifyOptions::run_id`).
        options.batch = Some(
            judge_batching(&options, &exp.providers, &exp.execution, &*settings.env)
                .map_err(in_file)?,
        );
    }
    Ok(options)
}

/// The variable(s) holding a model's key, for messages (never the key itself).
pub(crate) fn key_var_of(plan: &Plan, model: &str) -> String {
    let Some(m) = plan.models.get(model) else {
        return String::new();
    };
    match &m.provider.api_key_env {
        Some(v) => v.clone(),
        None => default_key_envs(m.provider.kind).join(" or "),
    }
}
