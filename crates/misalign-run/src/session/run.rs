//! The run itself, as named phases: prepare (keys, clients, classification set-up) ->
//! record (manifest, plan, what is left) -> sample -> end (totals) -> export -> classify
//! and report. [`run`] only sequences them.

use super::clients;
use super::costs;
use super::manifest;
use super::plan::Plan;
use super::sampling::BatchNote;
use super::totals::RunTotals;
use super::{Event, Reporter, RunOutcome, RunSettings, SessionError, Shutdown};
use crate::classify::ClassifyOptions;
use crate::options::{BatchPolicy, LiveOptions, SamplingOptions, StoredHook};
use crate::scheduler::SampleReport;
use crate::{Counters, ModelTarget, PromptEntry, Stop, StopReason, WorkItem};
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
    let clock = Clock {
        start: Instant::now(),
        reporter,
    };
    let prepared = prepare(&plan, settings)?;
    let recorded = record(&plan, settings, &prepared, reporter, &clock)?;
    let Recorded {
        store,
        lock,
        run_id,
        planned,
        already,
        pending,
    } = recorded;
    let sampled = sample(
        &plan, settings, store, run_id, pending, &prepared, reporter, &shutdown,
    )
    .await?;
    clock.phase("sampled");
    let Sampled {
        mut store,
        report,
        counters,
        exporter,
    } = sampled;
    let totals = end_run(
        &plan, settings, &store, run_id, &report, &counters, planned, already,
    )?;
    export(settings, &store, exporter, &totals, reporter, &clock)?;
    let stored = already as u64 + report.answers;
    if let Some(outcome) = stopped(&plan, settings, report.stopped, stored, reporter) {
        return outcome;
    }
    let failed = failed_for_good(&store, settings, reporter)?;
    if stored == 0 && failed > 0 {
        reporter.event(Event::NothingStored);
        return Ok(RunOutcome::NothingStored { failed });
    }
    let missing_verdicts = match prepared.classify {
        Some(options) => {
            match classify(
                &plan, settings, &mut store, run_id, options, reporter, &shutdown,
            )
            .await
            {
                Err(SessionError::Classify(crate::classify::ClassifyError::Interrupted)) => {
                    // Sampling is complete; the open judge batches resume with the same command.
                    let resume = &settings.resume_command;
                    reporter.event(Event::Interrupted { stored, resume });
                    return Ok(RunOutcome::Interrupted { stored });
                }
                other => other?,
            }
        }
        None => 0,
    };
    drop(lock);
    Ok(RunOutcome::Finished {
        failed,
        missing_verdicts,
    })
}

/// Reports the end of each phase, in seconds since the run started.
struct Clock<'a> {
    start: Instant,
    reporter: &'a dyn Reporter,
}

impl Clock<'_> {
    fn phase(&self, name: &'static str) {
        self.reporter.event(Event::Phase {
            name,
            seconds: self.start.elapsed().as_secs_f64(),
        })
    }

    fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// What the run checked and built before it touches the folder.
struct Prepared {
    /// Every key and header value in use, scrubbed from anything stored or shown.
    secrets: Vec<String>,
    /// The classification set-up when the run classifies (built before the first call).
    classify: Option<ClassifyOptions>,
    /// One client per planned model.
    targets: BTreeMap<String, Arc<ModelTarget>>,
    /// Every planned work item, in queue order.
    items: Vec<WorkItem>,
}

/// Phase 1: keys, the cost limit, the clients and the classification set-up are checked and
/// built; nothing is written yet.
fn prepare(plan: &Plan, settings: &RunSettings) -> Result<Prepared, SessionError> {
    let exp = &plan.experiment;
    let classifying = exp.classification.enabled && settings.classify;
    clients::require_keys(plan, settings, classifying)?;
    costs::check_budget(plan, settings)?;
    let secrets = clients::secrets(plan, settings);
    let classify = match classifying {
        true => Some(clients::classify_options(plan, settings)?),
        false => None,
    };
    let targets = clients::targets(plan, settings)?;
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
    let items = crate::item::work_items(&with_models, exp.samples_per_condition, &exp.sampling);
    Ok(Prepared {
        secrets,
        classify,
        targets,
        items,
    })
}

/// The folder once the run is recorded.
struct Recorded {
    store: Store,
    /// Held until the reports are written: a second process on this folder would pay for
    /// every call again.
    lock: FolderLock,
    run_id: i64,
    planned: usize,
    /// Planned items that already have an answer (an earlier run's).
    already: usize,
    /// What is left to sample, in queue order.
    pending: Vec<WorkItem>,
}

/// Phase 2: the folder is locked, the run's manifest and plan are stored, and the items
/// that already have an answer are set aside (that is how a rerun resumes).
fn record(
    plan: &Plan,
    settings: &RunSettings,
    prepared: &Prepared,
    reporter: &dyn Reporter,
    clock: &Clock<'_>,
) -> Result<Recorded, SessionError> {
    let exp = &plan.experiment;
    let out = &settings.out;
    let mut store = Store::open_dir(out)?;
    let lock = FolderLock::acquire(out)?;
    if let Some(gone) = &lock.taken_over {
        reporter.event(Event::TakingOver {
            out,
            previous: gone,
        });
    }
    manifest::check_same_experiment(&store, plan, settings, reporter)?;
    let run_id = manifest::begin_run(&store, plan, settings, &prepared.targets, &prepared.secrets)?;
    clock.phase("clients+manifest");
    let items = &prepared.items;
    manifest::record_plan(&mut store, run_id, plan, items, &exp.sampling)?;
    let answered = store.answered_keys()?;
    clock.phase("store plan");
    let pending: Vec<WorkItem> = items
        .iter()
        .filter(|i| !answered.contains(&i.key))
        .cloned()
        .collect();
    let planned = items.len();
    let already = planned - pending.len();
    if !settings.overrides.is_empty() {
        reporter.event(Event::Overriding(&settings.overrides));
    }
    reporter.event(Event::Planned {
        experiment_id: &exp.experiment_id,
        planned,
        already,
        to_sample: pending.len(),
        out,
    });
    Ok(Recorded {
        store,
        lock,
        run_id,
        planned,
        already,
        pending,
    })
}

/// The answers exported while sampling (`None` once finished).
type Exporter = Arc<Mutex<Option<LiveExporter>>>;

/// What sampling left.
struct Sampled {
    /// The store, back from the writer once every answer is committed.
    store: Store,
    report: SampleReport,
    counters: Arc<Counters>,
    exporter: Exporter,
}

/// Phase 3: the pending items are sampled (live or in batches) through the store's single
/// writer, each answer exported as it is stored, until done or stopped.
#[allow(clippy::too_many_arguments)]
async fn sample(
    plan: &Plan,
    settings: &RunSettings,
    store: Store,
    run_id: i64,
    pending: Vec<WorkItem>,
    prepared: &Prepared,
    reporter: &dyn Reporter,
    shutdown: &Shutdown,
) -> Result<Sampled, SessionError> {
    let exp = &plan.experiment;
    let out = &settings.out;
    let budget = costs::budget(plan, &store, run_id)?;
    let counters = Arc::new(Counters::new());
    let writer = StoreWriter::spawn(store);
    reporter.event(Event::SamplingStarted {
        counters: &counters,
        to_sample: pending.len() as u64,
    });
    // Answers are exported as they are stored; the final pass only fills gaps.
    let exporter: Exporter = Arc::new(Mutex::new(Some(LiveExporter::start(out))));
    let opts = SamplingOptions {
        run_id,
        params: exp.sampling.clone(),
        secrets: prepared.secrets.clone(),
        prompt_cache: exp.execution.prompt_cache,
        budget,
        on_stored: Some(export_hook(&exporter)),
        live: LiveOptions::of(exp, settings.grace),
        batch: BatchPolicy::of(&exp.execution),
    };
    let (notes_tx, notes) = tokio::sync::mpsc::unbounded_channel();
    let stop = Stop::new();
    let sampling = super::sampling::sample(
        plan,
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
        shutdown,
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
    Ok(Sampled {
        store,
        report,
        counters,
        exporter,
    })
}

/// Exports each answer once it is committed.
fn export_hook(exporter: &Exporter) -> StoredHook {
    let exporter = exporter.clone();
    StoredHook(Arc::new(move |item: &WorkItem, row: &ResponseRow| {
        if let Some(l) = exporter.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            l.submit(
                &item.model.name,
                &item.prompt.condition_id(),
                item.sample_index,
                row,
            );
        }
    }))
}

/// Phase 4: the run's end is recorded with its totals (cost from the stored token counts).
#[allow(clippy::too_many_arguments)]
fn end_run(
    plan: &Plan,
    settings: &RunSettings,
    store: &Store,
    run_id: i64,
    report: &SampleReport,
    counters: &Counters,
    planned: usize,
    already: usize,
) -> Result<RunTotals, SessionError> {
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
    let cost = costs::run_cost(plan, store, run_id)?;
    let totals = RunTotals::new(
        &settings.overrides,
        planned,
        already,
        report,
        &counters.total(),
        per_model,
        cost,
    );
    let totals_json = serde_json::to_value(&totals).expect("run totals serialize");
    store.end_run(run_id, status, &misalign_store::timestamp(), &totals_json)?;
    Ok(totals)
}

/// Phase 5: the reference-layout files of every answer the live export did not write.
fn export(
    settings: &RunSettings,
    store: &Store,
    exporter: Exporter,
    totals: &RunTotals,
    reporter: &dyn Reporter,
    clock: &Clock<'_>,
) -> Result<(), SessionError> {
    let out = &settings.out;
    let fresh = exporter
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .map(LiveExporter::finish)
        .unwrap_or_default();
    let live_n = fresh.len() as u64;
    let exported = misalign_store::export::export_skipping(store, out, &fresh)?;
    clock.phase("exported");
    reporter.event(Event::Sampled {
        totals,
        seconds: clock.seconds(),
    });
    reporter.event(Event::Exported {
        written: exported.written + live_n,
        unchanged: exported.unchanged.saturating_sub(live_n),
        models_dir: &out.join(misalign_store::layout::MODELS_DIR),
    });
    Ok(())
}

/// Phase 6: a run that stopped early ends here: interrupted or over budget with a partial
/// report, or an error that says how to resume. `None`: sampling ran to the end.
fn stopped(
    plan: &Plan,
    settings: &RunSettings,
    why: Option<StopReason>,
    stored: u64,
    reporter: &dyn Reporter,
) -> Option<Result<RunOutcome, SessionError>> {
    let out = &settings.out;
    let resume = &settings.resume_command;
    Some(match why {
        None => return None,
        Some(StopReason::Interrupted) => {
            reporter.event(Event::Interrupted { stored, resume });
            partial_report(out, reporter);
            Ok(RunOutcome::Interrupted { stored })
        }
        Some(StopReason::Auth {
            provider,
            model,
            message,
        }) => Err(SessionError::Auth {
            provider,
            message,
            key_var: clients::key_var_of(plan, &model),
            resume: resume.clone(),
        }),
        Some(StopReason::Store(message)) => Err(SessionError::StoreStopped {
            message,
            out: out.clone(),
            resume: resume.clone(),
        }),
        Some(StopReason::Budget(why)) => {
            // The calls in flight finished and are stored; the rest stays pending.
            reporter.event(Event::BudgetReached {
                why: &why,
                stored,
                resume,
            });
            partial_report(out, reporter);
            Ok(RunOutcome::BudgetReached { stored })
        }
    })
}

/// Phase 7: classification and the reports. Judge batches an earlier run left open are
/// collected rather than paid for again live. Returns the answers left without a verdict.
async fn classify(
    plan: &Plan,
    settings: &RunSettings,
    store: &mut Store,
    run_id: i64,
    mut options: ClassifyOptions,
    reporter: &dyn Reporter,
    shutdown: &Shutdown,
) -> Result<u64, SessionError> {
    if options.batch.is_none() && store.has_open_batches(misalign_store::BatchPurpose::Judge)? {
        let exp = &plan.experiment;
        options.batch = Some(crate::classify::setup::judge_batching(
            &options,
            &exp.providers,
            &exp.execution,
            &*settings.env,
        )?);
    }
    // The one place the run's id reaches classification: its verdicts, judge costs and
    // judge batches are recorded under it.
    options.run_id = Some(run_id);
    let prices = costs::prices(plan)?;
    classify_and_report(store, settings, &options, &prices, reporter, shutdown).await
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
    store: &mut Store,
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
