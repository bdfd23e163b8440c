//! Where the batch engine writes.

use super::BatchRunError;
use misalign_store::{Store, StoreError, WriterHandle};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the engine writes. Sampling batches write through the run's single store writer,
/// beside the live calls' answers. Judge batches run after sampling, when `classify` holds
/// the folder's store by reference on its own task, so they keep a connection of their own
/// (one writer at a time still: classification writes its verdicts after the batches end).
#[derive(Clone)]
pub(crate) enum Db {
    Writer(WriterHandle),
    Connection(Arc<Mutex<Store>>),
}

impl Db {
    /// A connection of the engine's own to the store at `path`.
    pub(crate) async fn open(path: PathBuf) -> Result<Db, BatchRunError> {
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| BatchRunError::Task(e.to_string()))??;
        Ok(Db::Connection(Arc::new(Mutex::new(store))))
    }

    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, BatchRunError> {
        match self {
            Db::Writer(w) => Ok(w.run(f).await?),
            Db::Connection(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || {
                    let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
                    f(&mut s)
                })
                .await
                .map_err(|e| BatchRunError::Task(e.to_string()))?
                .map_err(BatchRunError::Store)
            }
        }
    }
}
