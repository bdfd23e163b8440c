//! Where the batch engine writes: always through the one connection that writes the store
//! at that moment, never a connection of its own.

use super::BatchRunError;
use misalign_store::{Store, StoreError, WriterHandle};
use std::sync::Mutex;

/// Where the engine writes. Sampling batches write through the run's single store writer,
/// beside the live calls' answers. Judge batches run inside classification, which holds the
/// store itself: they write through that connection, lent for as long as they run.
pub(crate) enum Db<'a> {
    Writer(WriterHandle),
    Lent(Mutex<&'a mut Store>),
}

impl Db<'_> {
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, BatchRunError> {
        match self {
            Db::Writer(w) => Ok(w.run(f).await?),
            // On the caller's task, as classification's own reads and writes are.
            Db::Lent(store) => {
                let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
                Ok(f(&mut s)?)
            }
        }
    }
}
