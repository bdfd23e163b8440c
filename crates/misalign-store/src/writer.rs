//! The single writer: one thread owns the store's connection and commits finished calls
//! in batches, acknowledging each only after its transaction committed. Every other write
//! made while sampling (a provider batch recorded before it is sent, its events, its
//! results) goes through the same thread as a job ([`WriterHandle::run`]), in the order
//! the jobs and answers were queued.
//!
//! SQLite allows one writer at a time; funnelling every insert through one thread avoids
//! lock contention between the (many) call tasks, and batching whatever has queued up while
//! the previous commit ran keeps SQLite far from being the bottleneck.

use super::episodes::EpisodeStepRow;
use super::samples::{Finished, Inserted, ResponseRow};
use super::{Store, StoreError};
use std::path::PathBuf;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// At most this many rows per transaction.
const MAX_BATCH: usize = 512;

type Ack = oneshot::Sender<Result<Inserted, CommitError>>;

/// Work the writer thread does with the store besides inserting answers.
type StoreJob = Box<dyn FnOnce(&mut Store) + Send>;

/// What the writer thread is sent. Answers are nearly every message, so they travel
/// unboxed (no allocation per answer); the rarer jobs are the small variant.
#[allow(clippy::large_enum_variant)]
enum Job {
    /// An answer to commit (batched with the answers queued beside it).
    Insert(ResponseRow, Ack),
    /// An agent episode's step to commit (batched the same way).
    Step(EpisodeStepRow, Ack),
    /// Any other write (or read) that must not race the writer.
    Run(StoreJob),
}

/// A row waiting for the next transaction.
enum Queued {
    Answer(ResponseRow),
    Step(EpisodeStepRow),
}

/// An answer that was NOT stored: the transaction failed, or the writer had stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The batch's transaction failed (the store's message).
    #[error("{0}")]
    Failed(String),
    #[error("the store writer has stopped")]
    WriterStopped,
}

/// A cloneable handle to send finished calls to the writer thread.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Job>,
    /// The store's path, for the error when the writer has stopped.
    path: PathBuf,
}

/// The writer thread; [`StoreWriter::finish`] returns the store once every row is committed.
pub struct StoreWriter {
    handle: Option<WriterHandle>,
    thread: JoinHandle<Result<Store, StoreError>>,
}

impl StoreWriter {
    /// Moves `store` onto a dedicated thread.
    pub fn spawn(mut store: Store) -> StoreWriter {
        let path = store.path().to_path_buf();
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("misalign-store-writer".into())
            .spawn(move || {
                let mut queued: Vec<Job> = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    queued.push(first);
                    while queued.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(next) => queued.push(next),
                            Err(_) => break,
                        }
                    }
                    // In queue order: the answers between two jobs commit as one batch.
                    let mut rows = Vec::new();
                    let mut acks = Vec::new();
                    for job in queued.drain(..) {
                        match job {
                            Job::Insert(row, ack) => {
                                rows.push(Queued::Answer(row));
                                acks.push(ack);
                            }
                            Job::Step(row, ack) => {
                                rows.push(Queued::Step(row));
                                acks.push(ack);
                            }
                            Job::Run(f) => {
                                commit(&mut store, &mut rows, &mut acks)?;
                                f(&mut store);
                            }
                        }
                    }
                    commit(&mut store, &mut rows, &mut acks)?;
                }
                Ok(store)
            })
            .expect("spawn store writer thread");
        StoreWriter {
            handle: Some(WriterHandle { tx, path }),
            thread,
        }
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone().expect("writer is running")
    }

    /// Waits for every queued row to commit (all handles must be dropped) and returns the store.
    pub fn finish(mut self) -> Result<Store, StoreError> {
        self.handle.take();
        match self.thread.join() {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Invalid {
                path: Default::default(),
                message: "the store writer thread panicked".into(),
            }),
        }
    }
}

/// Commits the queued answers in one transaction and acknowledges each; a failed
/// transaction fails every one of them and stops the writer.
fn commit(
    store: &mut Store,
    rows: &mut Vec<Queued>,
    acks: &mut Vec<Ack>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let finished: Vec<Finished<'_>> = rows
        .iter()
        .map(|r| match r {
            Queued::Answer(a) => Finished::Answer(a),
            Queued::Step(s) => Finished::Step(s),
        })
        .collect();
    match store.insert_finished(&finished) {
        Ok(results) => {
            for (ack, r) in acks.drain(..).zip(results) {
                let _ = ack.send(Ok(r));
            }
            rows.clear();
            Ok(())
        }
        Err(e) => {
            for ack in acks.drain(..) {
                let _ = ack.send(Err(CommitError::Failed(e.to_string())));
            }
            Err(e)
        }
    }
}

impl WriterHandle {
    /// Queues `row` and waits until it is committed. An error means it was NOT stored.
    pub async fn commit(&self, row: ResponseRow) -> Result<Inserted, CommitError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Job::Insert(row, ack))
            .map_err(|_| CommitError::WriterStopped)?;
        done.await.map_err(|_| CommitError::WriterStopped)?
    }

    /// Queues an agent episode's step and waits until it is committed (in the same
    /// transactions as answers). An error means it was NOT stored.
    pub async fn commit_step(&self, row: EpisodeStepRow) -> Result<Inserted, CommitError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Job::Step(row, ack))
            .map_err(|_| CommitError::WriterStopped)?;
        done.await.map_err(|_| CommitError::WriterStopped)?
    }

    /// Runs `f` on the writer thread, after everything queued before it, and returns its
    /// result. A writer that has stopped is a store error naming the store.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (ack, done) = oneshot::channel();
        let job: StoreJob = Box::new(move |store: &mut Store| {
            let _ = ack.send(f(store));
        });
        let stopped = || StoreError::Invalid {
            path: self.path.clone(),
            message: CommitError::WriterStopped.to_string(),
        };
        self.tx.send(Job::Run(job)).map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{PromptRow, ResponseStatus, WorkItemRow};
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_are_all_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_dir(dir.path()).unwrap();
        let run = store
            .begin_run(&super::super::samples::tests_support::manifest())
            .unwrap();
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        let items: Vec<_> = keys
            .iter()
            .map(|k| WorkItemRow {
                item_key: k,
                prompt_hash: "p",
                condition_id: "c",
                model: "m/m",
                sample_index: 0,
                params_json: "{}",
            })
            .collect();
        store
            .record_plan(
                run,
                &[PromptRow {
                    prompt_hash: "p",
                    condition_id: "c",
                    condition_json: r#"{"scenario":"blackmail"}"#,
                    system_prompt: "",
                    user_prompt: "",
                    email_content: "",
                    prior_turns_json: None,
                }],
                &items,
            )
            .unwrap();
        let writer = StoreWriter::spawn(store);
        let mut tasks = Vec::new();
        for i in 0..600 {
            let h = writer.handle();
            tasks.push(tokio::spawn(async move {
                h.commit(ResponseRow {
                    item_key: format!("k{}", i % 300),
                    run_id: run,
                    status: Some(ResponseStatus::Answer),
                    attempts: 1,
                    ..Default::default()
                })
                .await
                .unwrap()
            }));
        }
        let mut new = 0;
        for t in tasks {
            if t.await.unwrap() == Inserted::New {
                new += 1;
            }
        }
        assert_eq!(new, 300);
        let store = writer.finish().unwrap();
        assert_eq!(store.answered_keys().unwrap().len(), 300);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_on_the_writer_after_what_was_queued_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_dir(dir.path()).unwrap();
        let run = store
            .begin_run(&super::super::samples::tests_support::manifest())
            .unwrap();
        let item = WorkItemRow {
            item_key: "k",
            prompt_hash: "p",
            condition_id: "c",
            model: "m/m",
            sample_index: 0,
            params_json: "{}",
        };
        let prompt = PromptRow {
            prompt_hash: "p",
            condition_id: "c",
            condition_json: r#"{"scenario":"blackmail"}"#,
            system_prompt: "",
            user_prompt: "",
            email_content: "",
            prior_turns_json: None,
        };
        store.record_plan(run, &[prompt], &[item]).unwrap();
        let writer = StoreWriter::spawn(store);
        let h = writer.handle();
        check_order(&h, run).await;
        drop(h);
        writer.finish().unwrap();
    }

    async fn check_order(h: &WriterHandle, run: i64) {
        let answer = ResponseRow {
            item_key: "k".into(),
            run_id: run,
            status: Some(ResponseStatus::Answer),
            attempts: 1,
            ..Default::default()
        };
        // Queue the answer (its first poll sends it), then the job, before either is done.
        let mut committed = std::pin::pin!(h.commit(answer));
        let mut early = None;
        tokio::select! {
            biased;
            r = &mut committed => early = Some(r),
            _ = std::future::ready(()) => {}
        }
        let seen = h.run(|s| Ok(s.answered_keys()?.len())).await.unwrap();
        assert_eq!(seen, 1, "the job ran after the answer queued before it");
        let committed = match early {
            Some(r) => r,
            None => committed.await,
        };
        assert_eq!(committed.unwrap(), Inserted::New);
        // A job's own failure is its caller's; the writer goes on.
        let e = h
            .run(|s| s.batch_submitted(999, "r", "t").map(drop))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("results.sqlite"), "{e}");
        assert_eq!(h.run(|s| Ok(s.answered_keys()?.len())).await.unwrap(), 1);
    }
}
