//! The sample phase's choice of path: every pending item live through the scheduler, or in
//! batch mode (`execution.batch`, `--batch`) a batch client for every planned model whose
//! provider has a batch API, the batch engine sending those items in batches and the rest
//! live. Either way every answer is committed by the run's single store writer.

use super::plan::Plan;
use super::{RunSettings, SessionError};
use crate::batch::{BatchRunError, BatchTally};
use crate::options::SamplingOptions;
use crate::scheduler::SampleReport;
use crate::{Counters, Stop, WorkItem};
use misalign_models::batch::{build_batch_client, BatchClient};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What batch mode has to say while it works (forwarded to the run's reporter).
#[derive(Clone, Debug)]
pub(crate) enum BatchNote {
    /// These models' providers have no batch API: they are called live.
    LiveOnly(Vec<String>),
    /// Progress of the batches, with what changed (provider text: untrusted).
    Progress(BatchTally, String),
    /// Batch sampling ended.
    Done(BatchTally),
}

/// Samples `pending`: in batches when the experiment asks for it, else all live.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sample(
    plan: &Plan,
    settings: &RunSettings,
    pending: Vec<WorkItem>,
    writer: misalign_store::WriterHandle,
    opts: SamplingOptions,
    counters: Arc<Counters>,
    stop: Stop,
    notes: UnboundedSender<BatchNote>,
) -> Result<SampleReport, SessionError> {
    let exp = &plan.experiment;
    // Only the rate limits are the experiment file's; a store failure is the store's.
    let in_file = |e: crate::limits::LimitsError| {
        SessionError::Config(format!("{}: {e}", settings.experiment_path.display()))
    };
    if !exp.execution.batch {
        return crate::scheduler::sample(pending, writer, opts, counters, stop)
            .await
            .map_err(in_file);
    }
    let options = misalign_models::ClientOptions {
        timeout: Duration::from_secs(exp.execution.timeout_seconds.max(1)),
        max_reply_bytes: exp.execution.max_reply_bytes,
        ..Default::default()
    };
    let mut clients: BTreeMap<String, Arc<dyn BatchClient>> = BTreeMap::new();
    let mut live_only = Vec::new();
    for (name, m) in &plan.models {
        match build_batch_client(&m.resolved, &m.provider, &*settings.env, &options)
            .map_err(|e| SessionError::Config(format!("model `{name}`: {e}")))?
        {
            Some(c) => {
                clients.insert(name.clone(), c);
            }
            None => live_only.push(name.clone()),
        }
    }
    if !live_only.is_empty() {
        let _ = notes.send(BatchNote::LiveOnly(live_only));
    }
    let progress = notes.clone();
    let mut opts = opts;
    opts.batch.on_progress = Some(Arc::new(move |t: BatchTally, what: &str| {
        let _ = progress.send(BatchNote::Progress(t, what.to_string()));
    }));
    let (report, tally) =
        crate::batch::sample_with_batches(pending, clients, writer, opts, counters, stop)
            .await
            .map_err(|e| match e {
                BatchRunError::Store(e) => SessionError::Store(e),
                BatchRunError::Limits(e) => in_file(e),
            })?;
    let _ = notes.send(BatchNote::Done(tally));
    Ok(report)
}
