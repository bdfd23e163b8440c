//! The run itself: clients -> manifest -> sample -> export -> classify -> report.

use super::batch::BatchNote;
use super::clients;
use super::costs;
use super::manifest;
use super::plan::Plan;
use super::totals::RunTotals;
use super::{Event, Reporter, RunOutcome, RunSettings, SessionError, Shutdown};
use crate::classify::ClassifyOptions;
use crate::retry::RetryPolicy;
use crate::scheduler::StoredHook;
use crate::{
    Counters, ModelTarget, PromptEntry, SampleReport, SchedulerOptions, Stop, StopReason, WorkItem,
};
use misalign_store::export::LiveExporter;
use misalign_store::lock::FolderLock;
use misalign_store::{ResponseRow, RunEndStatus, Store, StoreWriter};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs a [`Plan`] into `settings.out`: stores every answer before it counts, resumes what
/// an earlier run left, and (when enabled) classifies and reports. Returns normally when
/// stopped through `shutdown` ([`RunOutcome::Interrupted`]); fails for configuration
/// problems (before anything is called), a rejected API key or a store failure.
pub async fn run(
    settings: &RunSettings,
    plan: Plan,
    reporter: &dyn Reporter,
    shutdown: Shutdown,
) -> Result<RunOutcome, SessionError> {
    let t_start = Instant::now();
    let phase = |name: &'static str| {
        reporter.event(Event::Phase {
            name,
            seconds: t_start.elapsed().as_secs_f64(),
        })
    };
    let exp = &plan.experiment;
    let classifying = exp.classification.enabled && settings.classify;
    clients::require_keys(&plan, settings, classifying)?;
    costs::check_budget(&plan, settings)?;
    let secrets = clients::secrets(&plan, settings);
    let classify_options = match classifying {
        true => Some(clients::classify_options(&plan, settings)?),
        false => None,
    };
    let targets = clients::targets(&plan, settings)?;
    let with_models: Vec<(Arc<PromptEntry>, Vec<Arc<ModelTarget>>)> = plan
        .per_prompt
        .iter()
        .map(|(pi, names)| {
            (
                plan.prompts[*pi].clone(),
                names.iter().map(|n| targets[n].clone()).collect(),
            )
        })
        .collect();
    let params = exp.sampling.clone();
    let items = crate::item::work_items(&with_models, exp.samples_per_condition, &params);

    // Manifest + plan, then what is still missing. The lock is held until the reports are
    // written: a second process on this folder would pay for every call again.
    let out = &settings.out;
    let mut store = Store::open_dir(out)?;
    let lock = FolderLock::acquire(out)?;
    if let Some(gone) = &lock.taken_over {
        reporter.event(Event::TakingOver {
            out,
            previous: gone,
        });
    }
    manifest::check_same_experiment(&store, &plan, settings, reporter)?;
    let run_id = manifest::begin_run(&store, &plan, settings, &targets, &secrets)?;
    phase("clients+manifest");
    manifest::record_plan(&mut store, run_id, &plan, &items, &params)?;
    let answered = store.answered_keys()?;
    phase("store plan");
    let total = items.len();
    let pending: Vec<WorkItem> = items
        .into_iter()
        .filter(|i| !answered.contains(&i.key))
        .collect();
    let already = total - pending.len();
    if !settings.overrides.is_empty() {
        reporter.event(Event::Overriding(&settings.overrides));
    }
    reporter.event(Event::Planned {
        experiment_id: &exp.experiment_id,
        planned: total,
        already,
        to_sample: pending.len(),
        out,
    });

    let budget = costs::budget(&plan, &store, run_id)?;
    let counters = Arc::new(Counters::new());
    let writer = StoreWriter::spawn(store);
    reporter.event(Event::SamplingStarted {
        counters: &counters,
        to_sample: pending.len() as u64,
    });
    // Answers are exported as they are stored; the final pass only fills gaps.
    let live = Arc::new(Mutex::new(Some(LiveExporter::start(out))));
    let opts = SchedulerOptions {
        run_id,
        params,
        concurrency: exp.concurrency.clone(),
        rate_pools: exp.rate_pools.clone(),
        rate_model_overrides: exp.rate_model_overrides.clone(),
        retry: RetryPolicy {
            retries: exp.execution.retries,
            timeout: Duration::from_secs(exp.execution.timeout_seconds.max(1)),
            ..RetryPolicy::default()
        },
        grace: settings.grace,
        secrets,
        prompt_cache: exp.execution.prompt_cache,
        samples_per_request: exp.execution.samples_per_request,
        budget,
        on_stored: Some(StoredHook({
            let live = live.clone();
            Arc::new(move |item: &WorkItem, row: &ResponseRow| {
                if let Some(l) = live.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    l.submit(
                        &item.model.name,
                        &item.prompt.condition_id(),
                        item.sample_index,
                        row,
                    );
                }
            })
        })),
    };
    let (notes_tx, notes) = tokio::sync::mpsc::unbounded_channel();
    let stop = Stop::new();
    let sampling = super::batch::sample(
        &plan,
        settings,
        pending,
        writer.handle(),
        opts,
        counters.clone(),
        stop.clone(),
        notes_tx,
    );
    let report = sample_until_stopped(
        sampling,
        notes,
        stop,
        &counters,
        &shutdown,
        settings.grace,
        reporter,
    )
    .await?;
    reporter.event(Event::SamplingEnded);
    let store = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| SessionError::Task {
            what: "the store writer",
            message: e.to_string(),
        })??;
    phase("sampled");

    let status = match &report.stopped {
        None => RunEndStatus::Completed,
        Some(StopReason::Interrupted) => RunEndStatus::Interrupted,
        Some(StopReason::Auth { .. }) => RunEndStatus::AuthError,
        Some(StopReason::Store(_)) => RunEndStatus::Failed,
        Some(StopReason::Budget(_)) => RunEndStatus::BudgetReached,
    };
    let per_model: BTreeMap<_, _> = counters
        .per_model()
        .into_iter()
        .map(|(m, (_, t))| (m, t))
        .collect();
    let cost = costs::run_cost(&plan, &store, run_id)?;
    let totals = RunTotals::new(
        &settings.overrides,
        total,
        already,
        &report,
        &counters.total(),
        per_model,
        cost,
    );
    let totals_json = serde_json::to_value(&totals).expect("run totals serialize");
    store.end_run(run_id, status, &misalign_store::timestamp(), &totals_json)?;
    let fresh = live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .map(LiveExporter::finish)
        .unwrap_or_default();
    let live_n = fresh.len() as u64;
    let exported = misalign_store::export::export_skipping(&store, out, &fresh)?;
    phase("exported");
    reporter.event(Event::Sampled {
        totals: &totals,
        seconds: t_start.elapsed().as_secs_f64(),
    });
    reporter.event(Event::Exported {
        written: exported.written + live_n,
        unchanged: exported.unchanged.saturating_sub(live_n),
        models_dir: &out.join("models"),
    });
    let resume = &settings.resume_command;
    let stored = already as u64 + report.answers;
    match report.stopped {
        Some(StopReason::Interrupted) => {
            reporter.event(Event::Interrupted { stored, resume });
            partial_report(out, reporter);
            return Ok(RunOutcome::Interrupted { stored });
        }
        Some(StopReason::Auth {
            provider,
            model,
            message,
        }) => {
            return Err(SessionError::Auth {
                provider,
                message,
                key_var: clients::key_var_of(&plan, &model),
                resume: resume.clone(),
            });
        }
        Some(StopReason::Store(message)) => {
            return Err(SessionError::StoreStopped {
                message,
                out: out.clone(),
                resume: resume.clone(),
            });
        }
        Some(StopReason::Budget(why)) => {
            // The calls in flight finished and are stored; the rest stays pending.
            reporter.event(Event::BudgetReached {
                why: &why,
                stored,
                resume,
            });
            partial_report(out, reporter);
            return Ok(RunOutcome::BudgetReached { stored });
        }
        None => {}
    }
    let failed = failed_for_good(&store, settings, reporter)?;
    if stored == 0 && failed > 0 {
        reporter.event(Event::NothingStored);
        return Ok(RunOutcome::NothingStored { failed });
    }
    let mut missing_verdicts = 0;
    if let Some(mut options) = classify_options {
        if options.batch.is_none() && store.has_open_judge_batches()? {
            // An earlier run left judge batches open: collect them rather than pay for
            // the same judge calls live.
            let exp = &plan.experiment;
            options.batch = Some(crate::classify::setup::judge_batching(
                &options,
                &exp.providers,
                &exp.execution,
                &*settings.env,
                out.join(misalign_store::STORE_FILE),
                run_id,
            )?);
        }
        if let Some(b) = options.batch.as_mut() {
            b.policy.run_id = run_id;
        }
        options.run_id = Some(run_id);
        let prices = costs::prices(&plan)?;
        let classified =
            classify_and_report(&store, settings, &options, &prices, reporter, &shutdown);
        match classified.await {
            Err(SessionError::Classify(crate::classify::ClassifyError::Interrupted)) => {
                // Sampling is complete; the open judge batches resume with the same command.
                reporter.event(Event::Interrupted { stored, resume });
                return Ok(RunOutcome::Interrupted { stored });
            }
            other => missing_verdicts = other?,
        }
    }
    drop(lock);
    Ok(RunOutcome::Finished {
        failed,
        missing_verdicts,
    })
}

/// After a stop: the report of what is stored, unclassified (the page and the note name the
/// commands that finish it).
fn partial_report(out: &std::path::Path, reporter: &dyn Reporter) {
    let error = misalign_report::write_reports(out, &misalign_report::ReportOptions::default())
        .err()
        .map(|e| e.to_string());
    reporter.event(Event::PartialReport {
        out,
        written: error.as_deref().map_or(Ok(()), Err),
    });
}

/// Samples until done or stopped. `shutdown.stop` stops dispatch and gives the calls in
/// flight `grace`; `shutdown.quit_now` drops them (what was stored stays stored). Batch
/// mode's notes are passed on to the reporter as they come.
async fn sample_until_stopped(
    sampling: impl std::future::Future<Output = Result<SampleReport, SessionError>>,
    mut notes: tokio::sync::mpsc::UnboundedReceiver<BatchNote>,
    stop: Stop,
    counters: &Arc<Counters>,
    shutdown: &Shutdown,
    grace: Duration,
    reporter: &dyn Reporter,
) -> Result<SampleReport, SessionError> {
    let forward = |note: BatchNote| match note {
        BatchNote::LiveOnly(models) => reporter.event(Event::BatchLiveOnly { models: &models }),
        BatchNote::Progress(tally, what) => {
            reporter.event(Event::BatchProgress { tally, what: &what })
        }
        BatchNote::Done(tally) => reporter.event(Event::BatchesDone { tally }),
    };
    tokio::pin!(sampling);
    let mut stopping = false;
    let report = loop {
        tokio::select! {
            r = &mut sampling => break r?,
            Some(note) = notes.recv() => forward(note),
            _ = shutdown.stop.cancelled(), if !stopping => {
                stopping = true;
                reporter.event(Event::Stopping {
                    in_flight: counters.total().in_flight,
                    grace,
                });
                stop.trigger(StopReason::Interrupted);
            }
            _ = shutdown.quit_now.cancelled() => {
                reporter.event(Event::QuittingNow);
                break cut_off_report(counters);
            }
        }
    };
    while let Ok(note) = notes.try_recv() {
        forward(note);
    }
    Ok(report)
}

/// What sampling achieved when the caller cut it off.
fn cut_off_report(counters: &Counters) -> SampleReport {
    let t = counters.total();
    SampleReport {
        answers: t.done,
        errors: t.errors,
        abandoned: t.in_flight,
        stopped: Some(StopReason::Interrupted),
        ..Default::default()
    }
}

/// Reports the items of this run's plan that failed for good, grouped by error, and
/// returns how many there are.
fn failed_for_good(
    store: &Store,
    settings: &RunSettings,
    reporter: &dyn Reporter,
) -> Result<u64, SessionError> {
    let st = store.status()?;
    let failed = st.total.failed;
    if failed > 0 {
        reporter.event(Event::FailedForGood {
            failed,
            top_errors: &st.top_errors,
            out: &settings.out,
        });
    }
    Ok(failed)
}

/// Classification (`misalign classify`'s engine) and the reports, after sampling.
async fn classify_and_report(
    store: &Store,
    settings: &RunSettings,
    options: &ClassifyOptions,
    prices: &misalign_core::cost::PriceTable,
    reporter: &dyn Reporter,
    shutdown: &Shutdown,
) -> Result<u64, SessionError> {
    let t0 = Instant::now();
    let summary =
        super::classify::classify_reporting(store, options, prices, reporter, shutdown).await?;
    if let (Some(run_id), Some(cost)) = (options.run_id, &summary.judge_cost) {
        // The run's totals were stored when sampling ended; the judges came after.
        let per_model = serde_json::to_value(&cost.per_model).expect("costs serialize");
        store.add_judge_cost(run_id, cost.usd, &per_model)?;
    }
    reporter.event(Event::Classified {
        summary: &summary,
        seconds: t0.elapsed().as_secs_f64(),
    });
    // Add the verdicts to the reference-layout files.
    misalign_store::export::export(store, &settings.out)?;
    let report =
        misalign_report::write_reports(&settings.out, &misalign_report::ReportOptions::default())?;
    reporter.event(Event::Reported {
        report: &report,
        out: &settings.out,
    });
    Ok(summary.missing_verdicts())
}
