//! The single writer: one thread owns the store's connection and commits finished calls
//! in batches, acknowledging each only after its transaction committed.
//!
//! SQLite allows one writer at a time; funnelling every insert through one thread avoids
//! lock contention between the (many) call tasks, and batching whatever has queued up while
//! the previous commit ran keeps SQLite far from being the bottleneck.

use super::samples::{Inserted, ResponseRow};
use super::{Store, StoreError};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// At most this many rows per transaction.
const MAX_BATCH: usize = 512;

type Ack = oneshot::Sender<Result<Inserted, CommitError>>;

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
    tx: mpsc::UnboundedSender<(ResponseRow, Ack)>,
}

/// The writer thread; [`StoreWriter::finish`] returns the store once every row is committed.
pub struct StoreWriter {
    handle: Option<WriterHandle>,
    thread: JoinHandle<Result<Store, StoreError>>,
}

impl StoreWriter {
    /// Moves `store` onto a dedicated thread.
    pub fn spawn(mut store: Store) -> StoreWriter {
        let (tx, mut rx) = mpsc::unbounded_channel::<(ResponseRow, Ack)>();
        let thread = std::thread::Builder::new()
            .name("misalign-store-writer".into())
            .spawn(move || {
                let mut batch: Vec<(ResponseRow, Ack)> = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let (rows, acks): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
                    match store.insert_responses(&rows) {
                        Ok(results) => {
                            for (ack, r) in acks.into_iter().zip(results) {
                                let _ = ack.send(Ok(r));
                            }
                        }
                        Err(e) => {
                            for ack in acks {
                                let _ = ack.send(Err(CommitError::Failed(e.to_string())));
                            }
                            return Err(e);
                        }
                    }
                }
                Ok(store)
            })
            .expect("spawn store writer thread");
        StoreWriter {
            handle: Some(WriterHandle { tx }),
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

impl WriterHandle {
    /// Queues `row` and waits until it is committed. An error means it was NOT stored.
    pub async fn commit(&self, row: ResponseRow) -> Result<Inserted, CommitError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((row, ack))
            .map_err(|_| CommitError::WriterStopped)?;
        done.await.map_err(|_| CommitError::WriterStopped)?
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
}
