//! Judge and awareness calls in provider batches (`classification.batch`, `misalign classify
//! --batch`): the calls the judge cache cannot answer, for judges whose provider has a batch
//! API, go through the batch engine that samples in batches ([`crate::batch`]), so they get
//! the same durability: each batch and what each request is for (cache key, call, answer) are
//! committed before it is sent, a rerun polls open batches instead of sending them again,
//! and a parsed reply lands in the judge cache together with the batch's `ingested` event.
//! What the batches could not settle is left to the live path, which then finds the cache.

use super::judge::{judge_call, JudgeError};
use super::{awareness_entry, verdict_entry, ClassifyError};
use crate::batch::{run_batches, BatchReport, BatchTally, Db, Ingested, Unusable, Workload};
use crate::call::{Answer, Call};
use crate::options::BatchPolicy;
use crate::stop::Stop;
use misalign_core::judge::{
    parse_awareness, parse_verdict, JudgeParseError, JudgePrompt, RUBRIC_VERSION,
};
use misalign_models::batch::BatchClient;
use misalign_models::Completion;
use misalign_store::classifications::{CachedJudgement, ReplyTokens};
use misalign_store::{
    BatchPurpose, BatchRequestRow, BatchResults, JudgeCacheRow, JudgeCall, Store, StoreError,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// What judge batching has to say while it works.
#[derive(Clone, Debug)]
pub enum JudgeBatchNote {
    /// These judges' providers have no batch API: their calls are made live.
    LiveOnly(Vec<String>),
    /// Progress of the judge batches, with what changed (provider text: untrusted).
    Progress(BatchTally, String),
    /// The judge batches of this classification are done.
    Done(BatchTally),
}

/// The callback behind [`JudgeBatching::notes`].
pub type NoteFn = dyn Fn(JudgeBatchNote) + Send + Sync;

/// How to send judge calls in batches.
#[derive(Clone)]
pub struct JudgeBatching {
    /// A batch client per judge (`provider/model`) whose provider has a batch API.
    pub clients: BTreeMap<String, Arc<dyn BatchClient>>,
    /// The provider of each judge in `clients`.
    pub providers: BTreeMap<String, String>,
    /// Judges whose provider has no batch API (called live; said once as a note).
    pub live_only: Vec<String>,
    /// Polls, batch size, retries and fallback (`execution.batch_*`, `execution.retries`).
    pub policy: BatchPolicy,
    /// The judges' keys and header values, scrubbed from anything stored or shown.
    pub secrets: Vec<String>,
    pub notes: Option<Arc<NoteFn>>,
}

impl std::fmt::Debug for JudgeBatching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeBatching")
            .field("judges", &self.clients.keys().collect::<Vec<_>>())
            .field("live_only", &self.live_only)
            .finish_non_exhaustive()
    }
}

impl JudgeBatching {
    fn note(&self, n: JudgeBatchNote) {
        if let Some(f) = &self.notes {
            f(n);
        }
    }
}

/// One judge or awareness call to send in a batch.
#[derive(Clone, Debug)]
pub struct JudgeItem {
    pub cache_key: String,
    pub call: JudgeCall,
    /// The judge's `provider/model` name (its batch client's key).
    pub judge: String,
    pub provider: String,
    pub model_id: String,
    pub prompt: JudgePrompt,
    /// The answer being classified.
    pub response_id: i64,
}

/// What the batches settled besides the replies they cached; anything neither cached nor
/// failed is left to live calls.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Keys sent in a batch by this classification or an earlier, interrupted one.
    pub sent: std::collections::HashSet<String>,
    /// Keys whose batched calls failed for good (out of retries, or a permanent error).
    pub failed: HashMap<String, JudgeError>,
    /// The stop fired: the open batches stay recorded for the next run.
    pub stopped: bool,
}

/// Judge calls to the judge cache.
struct Judging {
    /// The run that records the batches and pays for their replies.
    run_id: i64,
    /// This classification's calls by cache key (a resumed batch may hold others).
    plan: HashMap<String, JudgeItem>,
    secrets: Vec<String>,
    failed: Mutex<HashMap<String, JudgeError>>,
}

impl Judging {
    /// The cache entry of a usable reply.
    fn entry(item: &JudgeItem, c: &Completion) -> Result<CachedJudgement, JudgeParseError> {
        let raw = c.text.clone();
        match item.call {
            JudgeCall::Judge => parse_verdict(&c.text).map(|p| verdict_entry(p, raw)),
            JudgeCall::Awareness => parse_awareness(&c.text).map(|p| awareness_entry(p, raw)),
        }
    }
}

impl Workload for Judging {
    type Item = JudgeItem;
    type Row = ();

    fn key(item: &JudgeItem) -> &str {
        &item.cache_key
    }

    fn run_id(&self) -> i64 {
        self.run_id
    }

    fn secrets(&self) -> &[String] {
        &self.secrets
    }

    fn model(item: &JudgeItem) -> &str {
        &item.judge
    }

    fn provider(item: &JudgeItem) -> &str {
        &item.provider
    }

    fn call(&self, item: &JudgeItem) -> Call {
        judge_call(&item.cache_key, &item.model_id, &item.prompt)
    }

    /// A reply that does not parse is asked again, as a live judge call would be.
    fn accept(&self, item: Option<&JudgeItem>, answer: &Completion) -> Result<(), Unusable> {
        match item {
            Some(it) => Ok(Self::entry(it, answer).map(drop)?),
            None => Ok(()),
        }
    }

    const PURPOSE: BatchPurpose = BatchPurpose::Judge;

    fn recorded(custom_id: String, item: &JudgeItem) -> BatchRequestRow {
        BatchRequestRow {
            custom_id,
            key: item.cache_key.clone(),
            judged: Some((item.call, item.response_id)),
        }
    }

    fn ingest(
        &self,
        store: &mut Store,
        batch_id: i64,
        model: &str,
        answers: Vec<Answer>,
        at: &str,
    ) -> Result<Vec<Ingested<()>>, StoreError> {
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        for o in answers {
            // A reply for a call outside this classification's plan cannot be parsed
            // without its call; it is not cached (the batch is still ingested once).
            let Some(item) = self.plan.get(&o.key) else {
                continue;
            };
            let entry = match o.result {
                Ok(c) => {
                    let tokens = super::reply_tokens(&c.usage, model, &o.key);
                    Self::entry(item, &c)
                        .map(|e| (e, tokens))
                        .map_err(|e| (e.to_string(), tokens))
                }
                Err(e) => Err((e.to_string(), ReplyTokens::default())),
            };
            match entry {
                Ok((entry, tokens)) => rows.push(JudgeCacheRow {
                    cache_key: o.key,
                    judge_model: model.to_string(),
                    rubric_version: RUBRIC_VERSION.to_string(),
                    transcript_hash: item.prompt.transcript_hash(),
                    entry,
                    tokens,
                }),
                Err((why, tokens)) => failures.push((
                    o.key,
                    JudgeError {
                        judge: item.judge.clone(),
                        attempts: o.attempts,
                        last: misalign_models::http::scrub_secrets(
                            &format!("in {} batch(es): {why}", o.attempts),
                            &self.secrets,
                        ),
                        tokens,
                        batched: true,
                    },
                )),
            }
        }
        let inserted = store.ingest_batch(batch_id, BatchResults::Judgements(&rows), at)?;
        let mut out: Vec<Ingested<()>> = rows
            .into_iter()
            .zip(inserted)
            .map(|(r, inserted)| Ingested {
                key: r.cache_key,
                inserted,
                ok: true,
                tokens: Default::default(),
                row: (),
            })
            .collect();
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        for (key, e) in failures {
            failed.insert(key.clone(), e);
            out.push(Ingested {
                key,
                inserted: misalign_store::samples::Inserted::New,
                ok: false,
                tokens: Default::default(),
                row: (),
            });
        }
        Ok(out)
    }
}

/// Sends `items` (cache misses of judges in `batching.clients`) in batches, resuming the
/// judge batches the store holds open, and says what they settled.
pub(crate) async fn judge_in_batches(
    batching: &JudgeBatching,
    run_id: i64,
    items: Vec<JudgeItem>,
    store: &mut Store,
    stop: Stop,
) -> Result<Settled, ClassifyError> {
    if !batching.live_only.is_empty() {
        batching.note(JudgeBatchNote::LiveOnly(batching.live_only.clone()));
    }
    let plan: HashMap<String, JudgeItem> = items
        .iter()
        .map(|i| (i.cache_key.clone(), i.clone()))
        .collect();
    let work = Arc::new(Judging {
        run_id,
        plan,
        secrets: batching.secrets.clone(),
        failed: Mutex::new(HashMap::new()),
    });
    let mut policy = batching.policy.clone();
    if let Some(notes) = batching.notes.clone() {
        policy.on_progress = Some(Arc::new(move |t: BatchTally, what: &str| {
            notes(JudgeBatchNote::Progress(t, what.to_string()))
        }));
    }
    // Classification's own connection writes the batches: no second writer.
    let db = Db::Lent(Mutex::new(store));
    let report: BatchReport<JudgeItem> = run_batches(
        work.clone(),
        items,
        batching.clients.clone(),
        db,
        policy,
        Arc::new(crate::Counters::new()),
        stop,
    )
    .await?;
    batching.note(JudgeBatchNote::Done(report.tally));
    let failed = std::mem::take(&mut *work.failed.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Settled {
        sent: work.plan.keys().cloned().collect(),
        failed,
        stopped: report.stopped.is_some(),
    })
}
