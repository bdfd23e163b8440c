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
        migrate(&conn, path)?;
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

/// The schema version `schema.sql` sets.
pub const SCHEMA_VERSION: i64 = 2;

/// Brings a store written by an earlier misalign up to [`SCHEMA_VERSION`], one step per
/// version, in one transaction; refuses a store from a newer misalign. A new store (version
/// 0, no tables) has nothing to migrate: `schema.sql` creates it at the current version.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(wrap)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "written by a newer misalign (schema version {version}, this one reads up to \
                 {SCHEMA_VERSION}); use that version or newer"
            ),
        });
    }
    if version == 1 {
        // 1 -> 2: the scenario of each work item, from the condition stored with its prompt.
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE work_items ADD COLUMN scenario TEXT NOT NULL DEFAULT '';
             UPDATE work_items SET scenario = COALESCE((SELECT json_extract(p.condition_json, '$.scenario')
                 FROM prompts p WHERE p.prompt_hash = work_items.prompt_hash), '');
             PRAGMA user_version = 2;
             COMMIT;",
        )
        .map_err(wrap)?;
    }
    Ok(())
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

    #[test]
    fn a_version_1_store_gains_the_scenario_of_each_work_item() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            // The version-1 tables this migration touches, as that version wrote them.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 CREATE TABLE prompts (prompt_hash TEXT PRIMARY KEY, condition_id TEXT NOT NULL,
                     condition_json TEXT NOT NULL, system_prompt TEXT NOT NULL,
                     user_prompt TEXT NOT NULL, email_content TEXT NOT NULL);
                 CREATE TABLE work_items (item_key TEXT PRIMARY KEY, prompt_hash TEXT NOT NULL,
                     condition_id TEXT NOT NULL, model TEXT NOT NULL,
                     sample_index INTEGER NOT NULL, params_json TEXT NOT NULL);
                 INSERT INTO prompts VALUES ('p', 'blackmail_v2_none-none_none',
                     '{\"scenario\":\"blackmail_v2\",\"goal_type\":\"none\"}', '', '', '');
                 INSERT INTO work_items VALUES ('k', 'p', 'blackmail_v2_none-none_none', 'm', 0, '{}');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (scenario, version): (String, i64) = store
            .conn
            .query_row(
                "SELECT scenario, (SELECT user_version FROM pragma_user_version) FROM work_items",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(scenario, "blackmail_v2");
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_store_from_a_newer_misalign_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99;")
            .unwrap();
        let err = Store::open(&path).err().expect("refused").to_string();
        assert!(err.contains("newer misalign"), "{err}");
    }
}
