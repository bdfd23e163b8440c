//! Manifest: the run row (what a paper cites), the prompts and work-item rows of the plan,
//! and the one-folder-one-experiment rule.

use super::plan::Plan;
use super::{Event, Reporter, RunSettings, SessionError};
use crate::{ModelTarget, WorkItem};
use misalign_core::hash::sha256_hex;
use misalign_core::scenario::Origin;
use misalign_core::SamplingParams;
use misalign_store::untrusted::terminal_safe;
use misalign_store::{PromptRow, RunKind, RunManifest, Store, WorkItemRow};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One results folder, one experiment: a different experiment would mix its answers and
/// conditions with the old ones, so it needs `append`. The same experiment with an edited
/// file (more samples, another model) is the documented way to extend a run and goes ahead,
/// with an [`Event::ExperimentChanged`].
pub(crate) fn check_same_experiment(
    store: &Store,
    plan: &Plan,
    settings: &RunSettings,
    reporter: &dyn Reporter,
) -> Result<(), SessionError> {
    let Some(last) = store.report_run(None)? else {
        return Ok(());
    };
    let sha = sha256_hex(settings.experiment_text.as_bytes());
    if last.experiment_id == plan.experiment.experiment_id {
        if last.experiment_sha256 != sha {
            reporter.event(Event::ExperimentChanged {
                file: &settings.experiment_path,
                out: &settings.out,
                before: &short(&last.experiment_sha256),
                now: &short(&sha),
            });
        }
        return Ok(());
    }
    if settings.append {
        return Ok(());
    }
    Err(SessionError::Config(format!(
        "{}: it holds experiment `{}`, not `{}`; a results folder holds one experiment. Choose \
         another --out, or pass --append to add this run to the folder (answers stored for \
         identical work items are reused, and reports cover the newest run)",
        settings.out.display(),
        terminal_safe(&last.experiment_id),
        plan.experiment.experiment_id
    )))
}

fn short(sha: &str) -> String {
    terminal_safe(sha.get(..12).unwrap_or(sha))
}

/// Records the run's manifest; returns its id.
pub(crate) fn begin_run(
    store: &Store,
    plan: &Plan,
    settings: &RunSettings,
    targets: &BTreeMap<String, Arc<ModelTarget>>,
    secrets: &[String],
) -> Result<i64, SessionError> {
    let mut packs = serde_json::Map::new();
    for pr in &plan.prompts {
        let sc = &pr.rendered.condition.scenario;
        if !packs.contains_key(sc) {
            // The environment counts only where this run has an agent condition of the
            // pack, the question files only where it has a question-form one.
            let of_pack = || {
                plan.prompts
                    .iter()
                    .filter(|p| p.rendered.condition.scenario == *sc)
            };
            let agent = of_pack().any(|p| p.rendered.agent.is_some());
            let question = of_pack().any(|p| p.rendered.condition.question_format().is_question());
            packs.insert(
                sc.clone(),
                plan.source.pack_hash_with(sc, agent, question)?.into(),
            );
        }
    }
    // A `--templates` run says so beside the hashes (docs/generalisation.md, "The
    // public-prompt gap"); a built-in run's manifest stays as it was.
    if matches!(plan.source.origin(), Origin::Dir(_)) {
        use misalign_core::generalisation::stored::{PROMPT_SOURCE_KEY, TEMPLATES};
        packs.insert(PROMPT_SOURCE_KEY.into(), TEMPLATES.into());
    }
    let text = &settings.experiment_text;
    Ok(store.begin_run(&RunManifest {
        command: RunKind::Run,
        experiment_id: plan.experiment.experiment_id.clone(),
        misalign_version: env!("CARGO_PKG_VERSION").into(),
        // Header values (gateway tokens) written in the file are secrets too; the hash
        // still identifies the file as written.
        experiment_text: misalign_models::http::scrub_secrets(text, secrets),
        experiment_sha256: sha256_hex(text.as_bytes()),
        packs: packs.into(),
        models: targets.keys().cloned().collect(),
        sampling: serde_json::to_value(&plan.experiment.sampling)
            .expect("sampling parameters serialize"),
        started_at: misalign_store::timestamp(),
    })?)
}

/// Stores the plan's prompts and work items (rows that exist are kept).
pub(crate) fn record_plan(
    store: &mut Store,
    run_id: i64,
    plan: &Plan,
    items: &[WorkItem],
    params: &SamplingParams,
) -> Result<(), SessionError> {
    let params_json = serde_json::to_string(params).expect("sampling parameters serialize");
    let cond_ids: Vec<(String, String)> = plan
        .prompts
        .iter()
        .map(|pr| {
            (
                pr.condition_id(),
                serde_json::to_string(&pr.rendered.condition).expect("conditions serialize"),
            )
        })
        .collect();
    let prompt_rows: Vec<PromptRow> = plan
        .prompts
        .iter()
        .zip(&cond_ids)
        .map(|(pr, (id, json))| PromptRow {
            prompt_hash: &pr.hash,
            condition_id: id,
            condition_json: json,
            system_prompt: &pr.rendered.system_prompt,
            user_prompt: &pr.rendered.user_prompt,
            email_content: &pr.rendered.email_content,
            prior_turns_json: pr.prior_turns_json.as_deref(),
        })
        .collect();
    let item_conds: Vec<String> = items.iter().map(|i| i.prompt.condition_id()).collect();
    let item_rows: Vec<WorkItemRow> = items
        .iter()
        .zip(&item_conds)
        .map(|(i, c)| WorkItemRow {
            item_key: &i.key,
            prompt_hash: &i.prompt.hash,
            condition_id: c,
            model: &i.model.name,
            sample_index: i.sample_index,
            params_json: &params_json,
        })
        .collect();
    store.record_plan(run_id, &prompt_rows, &item_rows)?;
    Ok(())
}
