//! The batch-mode hook of `misalign run` (`execution.batch`, `--batch`): builds a batch
//! client for every model whose provider has a batch API and hands the pending items to the
//! library (`misalign_run::batch`), which sends those in batches and the rest live.

use crate::say::note;
use misalign_core::config::{Experiment, ProviderConfig, ResolvedModel};
use misalign_models::batch::{build_batch_client, BatchClient};
use misalign_run::batch::{BatchOptions, BatchTally};
use misalign_run::{Counters, SampleReport, SchedulerOptions, Stop, WorkItem};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Samples `pending`: in batches when the experiment asks for it, else all live.
#[allow(clippy::too_many_arguments)]
pub async fn sample(
    exp: &Experiment,
    models: &BTreeMap<String, (ResolvedModel, ProviderConfig, String)>,
    out: &Path,
    pending: Vec<WorkItem>,
    writer: misalign_run::store::WriterHandle,
    opts: SchedulerOptions,
    counters: Arc<Counters>,
    stop: Stop,
) -> anyhow::Result<SampleReport> {
    if !exp.execution.batch {
        return Ok(misalign_run::sample(pending, writer, opts, counters, stop).await?);
    }
    let env = |k: &str| std::env::var(k).ok();
    let options = misalign_models::ClientOptions {
        timeout: Duration::from_secs(exp.execution.timeout_seconds.max(1)),
        ..Default::default()
    };
    let mut clients: BTreeMap<String, Arc<dyn BatchClient>> = BTreeMap::new();
    let mut live_only = Vec::new();
    for (name, (r, cfg, _)) in models {
        match build_batch_client(r, cfg, &env, &options)
            .map_err(|e| anyhow::anyhow!("model `{name}`: {e}"))?
        {
            Some(c) => {
                clients.insert(name.clone(), c);
            }
            None => live_only.push(name.as_str()),
        }
    }
    if !live_only.is_empty() {
        note!(
            "batch mode: {} called live (their provider has no batch API)",
            live_only.join(", ")
        );
    }
    let batch_opts = BatchOptions {
        run_id: opts.run_id,
        params: opts.params.clone(),
        poll: Duration::from_secs_f64(exp.execution.batch_poll_seconds),
        max_requests: exp.execution.batch_max_requests.map(|n| n as usize),
        fallback: exp.execution.batch_fallback,
        retries: exp.execution.retries,
        secrets: opts.secrets.clone(),
        on_stored: opts.on_stored.clone(),
        on_progress: Some(Arc::new(|t: BatchTally, what: &str| {
            note!(
                "batches: {} submitted, {} in progress, {} ended; {} results stored ({})",
                t.submitted,
                t.in_progress,
                t.ended,
                t.ingested,
                misalign_run::untrusted::terminal_safe(what)
            );
        })),
    };
    let store_path = out.join(misalign_run::store::STORE_FILE);
    let (report, tally) = misalign_run::batch::sample_with_batches(
        pending, clients, store_path, writer, opts, batch_opts, counters, stop,
    )
    .await?;
    if tally.submitted > 0 {
        note!(
            "batches: {} submitted or resumed, {} ended, {} results stored",
            tally.submitted,
            tally.ended,
            tally.ingested
        );
    }
    Ok(report)
}
