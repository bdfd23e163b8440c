//! Human labels of answers (docs/labels.md): which answers to label (`queue`), the CSV
//! label sheet for labelling elsewhere and for analysis (`sheet`), and how far a round has
//! got (`status`). `misalign view` writes labels itself (`crate::serve`); everything here
//! reads the store read-only except [`import`], the one writer.

mod queue;
mod sheet;
mod status;

pub use queue::{read_queue, sample_queue, QueueOptions, QueueSummary, StratumCount};
pub use sheet::{export, import, ExportKind, ImportSummary};
pub use status::{status, LabelStatus, ReviewerCounts};

use misalign_store::labels::{LabelError, LabelRow};
use misalign_store::StoreError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A labelling command's failure.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Label(#[from] LabelError),
    /// A row of a label sheet or queue (line numbers count the header as line 1).
    #[error("{path}, line {line}: {message}")]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

impl LabelsError {
    fn file(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        LabelsError::File {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

/// Each item's labels, oldest first, from the store's rows (oldest first).
fn by_item(rows: &[LabelRow]) -> BTreeMap<&str, Vec<&LabelRow>> {
    let mut items: BTreeMap<&str, Vec<&LabelRow>> = BTreeMap::new();
    for r in rows {
        items.entry(&r.item_key).or_default().push(r);
    }
    items
}
