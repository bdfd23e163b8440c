//! The SQLite results store (`OUT/results.sqlite`, WAL). The schema (`schema.sql`) is the
//! contract between stages; each stage keeps its queries in its own file here as an
//! `impl Store` block.

pub mod classifications;
pub mod read;
pub mod samples;
pub mod status;
pub mod writer;

pub use samples::{
    Inserted, PromptRow, ResponseRow, ResponseStatus, RunEndStatus, RunManifest, WorkItemRow,
};
pub use status::{Counts, StoreStatus};
pub use writer::{StoreWriter, WriterHandle};

use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The schema, applied on open.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// File name of the store inside a results folder.
pub const STORE_FILE: &str = "results.sqlite";

/// A results store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("results store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("results store {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// An open results store. One writer at a time (SQLite's rule); readers may open their own.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in results folder `dir`.
    pub fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Invalid {
            path: dir.to_path_buf(),
            message: format!("cannot create results folder: {e}"),
        })?;
        Store::open(&dir.join(STORE_FILE))
    }

    /// Opens (creating if needed) the store file at `path`, in WAL mode, schema applied.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose
        // the last transactions), which is the failure we promise to survive.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(wrap)?;
        conn.execute_batch(SCHEMA_SQL).map_err(wrap)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store read-only (reports, status, the viewer).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                message: "no results store here; run `misalign run` first".into(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for stage-specific queries in other crates.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_and_reopens_with_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        let n: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(n >= 8, "tables: {n}");
        drop(store);
        Store::open_dir(dir.path()).unwrap();
        Store::open_read_only(&dir.path().join(STORE_FILE)).unwrap();
    }
}
