//! The results folder of misalign: the SQLite results store (`OUT/results.sqlite`, WAL), the
//! folder's lock, atomic file writes and the reference framework's `models/` layout.
//!
//! Every SQL statement of misalign lives in this crate, behind typed functions: the schema
//! (`schema.sql`, migrations keyed on `PRAGMA user_version`), the writes of sampling and
//! classification, the `current_answers` view, the report and export queries. Rows are only
//! added. Each stage keeps its queries in its own file here as an `impl Store` block.
//! Nothing outside the crate gets the connection.

pub mod atomic;
pub mod batches;
pub mod cell;
pub mod classifications;
#[cfg(feature = "testdata")]
pub mod episode_script;
pub mod episode_transcript;
pub mod episodes;
pub mod export;
pub mod judge_verdicts;
pub mod labels;
pub mod layout;
pub mod lock;
#[cfg(feature = "testdata")]
pub mod planted_episodes;
pub mod read;
pub mod samples;
pub mod status;
#[cfg(feature = "testdata")]
pub mod tables;
#[cfg(feature = "testdata")]
pub mod testdata;
pub mod untrusted;
pub mod usage;
pub mod writer;

pub use batches::{BatchEnd, BatchPurpose, BatchRequestRow, BatchResults, JudgeCall, OpenBatch};
pub use classifications::JudgeCacheRow;
pub use judge_verdicts::{JudgeRole, JudgeVerdictRow, NewJudgeVerdict};
pub use samples::{
    Inserted, PromptRow, ResponseRow, ResponseStatus, RunEndStatus, RunKind, RunManifest,
    WorkItemRow,
};
pub use status::{ItemCounts, StoreStatus};
pub use writer::{CommitError, StoreWriter, WriterHandle};

/// The current time as the store writes it: RFC 3339 UTC with milliseconds.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

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

/// `PRAGMA application_id` of a misalign store ("MSLG"): tells our stores from other SQLite
/// files, so a foreign database at `OUT/results.sqlite` is never given our tables.
pub const APPLICATION_ID: i32 = 0x4D53_4C47;

/// Files misalign itself keeps in a results folder besides the store; a folder holding only
/// these counts as empty. `prompts` is what `misalign generate` writes into the same default
/// folder before a `run`.
const OWN_FILES: [&str; 5] = [
    crate::lock::LOCK_FILE,
    "prompts",
    "results.sqlite-wal",
    "results.sqlite-shm",
    "results.sqlite-journal",
];

impl Store {
    /// Opens (creating if needed) the store in results folder `dir`. A folder that exists,
    /// is not empty and holds no store is refused: it is someone's files, not results.
    pub fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        let invalid = |message: String| StoreError::Invalid {
            path: dir.to_path_buf(),
            message,
        };
        let store_path = dir.join(STORE_FILE);
        if dir.is_dir() && std::fs::symlink_metadata(&store_path).is_err() {
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| invalid(format!("cannot list the results folder: {e}")))?;
            let foreign = entries.find_map(|e| {
                let name = e.ok()?.file_name();
                (!OWN_FILES.iter().any(|own| name == *own)).then_some(name)
            });
            if let Some(name) = foreign {
                return Err(invalid(format!(
                    "this folder is not empty (it holds {}) and is not a misalign results folder \
                     (no {STORE_FILE}); choose a new or empty folder with --out",
                    name.to_string_lossy()
                )));
            }
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| invalid(format!("cannot create results folder: {e}")))?;
        Store::open(&store_path)
    }

    /// Opens (creating if needed) the store file at `path`, in WAL mode, schema applied.
    /// A symlink at `path` is not followed, and an SQLite file misalign did not create is
    /// refused before anything is written to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        refuse_linked_store(path)?;
        let wrap = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        use rusqlite::OpenFlags as F;
        let conn = Connection::open_with_flags(
            path,
            F::SQLITE_OPEN_READ_WRITE
                | F::SQLITE_OPEN_CREATE
                | F::SQLITE_OPEN_NO_MUTEX
                | F::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(wrap)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(wrap)?;
        match check_ours(&conn, path)? {
            Ownership::Ours => {}
            Ownership::Empty | Ownership::Legacy => conn
                .pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(wrap)?,
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose
        // the last transactions), which is the failure we promise to survive.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        migrate(&conn, path)?;
        conn.execute_batch(SCHEMA_SQL).map_err(wrap)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store read-only (reports, status, the viewer); works on a store the
    /// user cannot write (another user's folder, a read-only mount).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        // Before anything else: SQLite would open a link's target and create its -wal and
        // -shm beside it, outside the folder, even to read.
        refuse_linked_store(path)?;
        if !path.exists() {
            // A misspelt folder is not a folder without a run yet.
            let message = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => format!(
                    "no such folder {}; check the name (`misalign runs` lists the results \
                     folders under results/)",
                    dir.display()
                ),
                _ => "no results store here; run `misalign run` first".into(),
            };
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                message,
            });
        }
        let wrap = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        use rusqlite::OpenFlags as F;
        let flags = F::SQLITE_OPEN_READ_ONLY | F::SQLITE_OPEN_NO_MUTEX | F::SQLITE_OPEN_NOFOLLOW;
        upgrade_before_reading(path, flags)?;
        let conn = Connection::open_with_flags(path, flags).map_err(wrap)?;
        let conn = match check_ours(&conn, path) {
            Ok(_) => conn,
            // A WAL store needs its `-shm` file, which a reader cannot create in a folder it
            // cannot write. If no writer left anything in the WAL, the main file is the
            // whole store and can be read as immutable.
            Err(StoreError::Sqlite { source, .. }) if is_cant_open(&source) => {
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(StoreError::Invalid {
                        path: path.to_path_buf(),
                        message: "the store cannot be opened read-only here: its last writes \
                     are still in results.sqlite-wal and this folder is not \
                     writable; copy the results folder somewhere writable"
                            .into(),
                    });
                }
                let conn =
                    Connection::open_with_flags(immutable_uri(path), flags | F::SQLITE_OPEN_URI)
                        .map_err(wrap)?;
                check_ours(&conn, path)?;
                conn
            }
            Err(e) => return Err(e),
        };
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The results folder the store file is in (its lock is taken there).
    pub fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Refuses a store whose file, or whose `-wal`, `-shm` or `-journal` beside it, is a
/// symbolic link: SQLite follows a link to its target and creates `-wal` and `-shm` next to
/// that (outside the results folder, wherever the link points), even for a read-only open.
fn refuse_linked_store(path: &Path) -> Result<(), StoreError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let p = PathBuf::from(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::Invalid {
                path: p,
                message: "this is a symbolic link, and misalign does not open a results store \
                          through a link (SQLite would create -wal and -shm files beside the \
                          link's target, outside this folder); copy the results folder with \
                          `cp -rL` (which copies what links point to) and use the copy"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The schema version `schema.sql` sets.
pub const SCHEMA_VERSION: i64 = 11;

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
    if (1..3).contains(&version) {
        // 2 -> 3: prior turns of each prompt (none before) and the escalation outcome (not
        // known for older classifications: NULL). The view is recreated by schema.sql.
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE prompts ADD COLUMN prior_turns_json TEXT;
             ALTER TABLE classifications ADD COLUMN escalation INTEGER;
             ALTER TABLE classifications ADD COLUMN escalation_evidence_json TEXT;
             DROP VIEW IF EXISTS current_answers;
             PRAGMA user_version = 3;
             COMMIT;",
        )
        .map_err(wrap)?;
    }
    if (1..4).contains(&version) {
        // 3 -> 4: the prompt-cache token counts of each answer (unknown before: NULL). The
        // view that shows them is recreated by schema.sql.
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE responses ADD COLUMN cache_write_tokens INTEGER;
             ALTER TABLE responses ADD COLUMN cache_read_tokens INTEGER;
             DROP VIEW IF EXISTS current_answers;
             PRAGMA user_version = 4;
             COMMIT;",
        )
        .map_err(wrap)?;
    }
    if (1..5).contains(&version) {
        // 4 -> 5: judge calls in batches. Every earlier batch sampled; the judge batch
        // tables are created by schema.sql. A store written before batch mode has no
        // `batches` table at all: schema.sql creates it with the column.
        let has_batches = has_table(conn, "batches").map_err(wrap)?;
        let step = if has_batches {
            "BEGIN IMMEDIATE;
             ALTER TABLE batches ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sample';
             PRAGMA user_version = 5;
             COMMIT;"
        } else {
            "PRAGMA user_version = 5;"
        };
        conn.execute_batch(step).map_err(wrap)?;
    }
    if (1..6).contains(&version) {
        // 5 -> 6: what each judge reply cost and which run paid for it (unknown before:
        // NULL, counted as nothing).
        let has_cache = has_table(conn, "judge_cache").map_err(wrap)?;
        if has_cache {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 ALTER TABLE judge_cache ADD COLUMN input_tokens INTEGER;
                 ALTER TABLE judge_cache ADD COLUMN cache_write_tokens INTEGER;
                 ALTER TABLE judge_cache ADD COLUMN cache_read_tokens INTEGER;
                 ALTER TABLE judge_cache ADD COLUMN output_tokens INTEGER;
                 ALTER TABLE judge_cache ADD COLUMN run_id INTEGER;
                 PRAGMA user_version = 6;
                 COMMIT;",
            )
            .map_err(wrap)?;
        } else {
            // schema.sql creates the table with the columns.
            conn.execute_batch("PRAGMA user_version = 6;")
                .map_err(wrap)?;
        }
    }
    if (1..7).contains(&version) {
        // 6 -> 7: whether a classification's answer had an action-like block that could not
        // be read (unknown before: NULL, read as "no"). The `judge_failures` table is
        // created by schema.sql.
        let has_classifications = has_table(conn, "classifications").map_err(wrap)?;
        let step = if has_classifications {
            "BEGIN IMMEDIATE;
             ALTER TABLE classifications ADD COLUMN unparsed INTEGER;
             PRAGMA user_version = 7;
             COMMIT;"
        } else {
            "PRAGMA user_version = 7;"
        };
        conn.execute_batch(step).map_err(wrap)?;
    }
    if (1..8).contains(&version) {
        // 7 -> 8: one table family for batches of every purpose. The requests and results of
        // sampling and judge batches move into `batch_requests` and `batch_results` (the old
        // tables become views, created by schema.sql). A store without some of the old
        // tables (written before batch mode, or before judge batches) has nothing to move.
        let has = |table: &str| has_table(conn, table).map_err(wrap);
        let mut step = String::from("BEGIN IMMEDIATE;\n");
        if has("batches")? {
            step.push_str(BATCH_FAMILY_V8);
        }
        for (table, copy) in [
            (
                "batch_items",
                "INSERT INTO batch_requests (batch_id, position, custom_id, request_key) \
                 SELECT batch_id, position, custom_id, item_key FROM batch_items;",
            ),
            (
                "judge_batch_items",
                "INSERT INTO batch_requests (batch_id, position, custom_id, request_key, call, \
                 response_id) SELECT batch_id, position, custom_id, cache_key, call, response_id \
                 FROM judge_batch_items;",
            ),
            (
                "batch_answers",
                "INSERT INTO batch_results (batch_id, request_key, response_id) \
                 SELECT a.batch_id, r.item_key, a.response_id \
                 FROM batch_answers a JOIN responses r ON r.id = a.response_id;",
            ),
            (
                "judge_batch_answers",
                "INSERT INTO batch_results (batch_id, request_key) \
                 SELECT batch_id, cache_key FROM judge_batch_answers;",
            ),
        ] {
            if has(table)? {
                step.push_str(copy);
                step.push_str(&format!("\nDROP TABLE {table};\n"));
            }
        }
        step.push_str("PRAGMA user_version = 8;\nCOMMIT;");
        conn.execute_batch(&step).map_err(wrap)?;
    }
    if (1..9).contains(&version) {
        // 8 -> 9: the steps of agent episodes (`episode_steps` is created by schema.sql) and
        // an episode's verdict fields on its classification (NULL for single answers and for
        // rows classified before). A store without the table gets it from schema.sql.
        let has_classifications = has_table(conn, "classifications").map_err(wrap)?;
        let step = if has_classifications {
            "BEGIN IMMEDIATE;
             ALTER TABLE classifications ADD COLUMN steps INTEGER;
             ALTER TABLE classifications ADD COLUMN terminal TEXT;
             ALTER TABLE classifications ADD COLUMN harmful_step INTEGER;
             ALTER TABLE classifications ADD COLUMN harmful_at TEXT;
             ALTER TABLE classifications ADD COLUMN harmful_tool TEXT;
             ALTER TABLE classifications ADD COLUMN leverage_read_first INTEGER;
             PRAGMA user_version = 9;
             COMMIT;"
        } else {
            "PRAGMA user_version = 9;"
        };
        conn.execute_batch(step).map_err(wrap)?;
    }
    if (1..10).contains(&version) {
        // 9 -> 10: each judge's verdict (`judge_verdicts`, created by schema.sql). Earlier
        // classifications keep their one judge in their own columns.
        conn.execute_batch("PRAGMA user_version = 10;")
            .map_err(wrap)?;
    }
    if (1..11).contains(&version) {
        // 10 -> 11: reviewers' labels. The `labels` table and its triggers come from
        // schema.sql; nothing older changes.
        conn.execute_batch("PRAGMA user_version = 11;")
            .map_err(wrap)?;
    }
    Ok(())
}

/// Whether the store has a table `name` (a migration step that alters a table skips a store
/// written before the table existed: schema.sql creates it whole).
fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get(0),
    )
}

/// The batch tables of schema 8 as that version created them (the migration to it creates
/// them before moving rows in; schema.sql creates them in a new store).
const BATCH_FAMILY_V8: &str = "
CREATE TABLE batch_requests (
    batch_id    INTEGER NOT NULL REFERENCES batches(id),
    position    INTEGER NOT NULL,
    custom_id   TEXT NOT NULL,
    request_key TEXT NOT NULL,
    call        TEXT,
    response_id INTEGER REFERENCES responses(id),
    PRIMARY KEY (batch_id, position)
);
CREATE TABLE batch_results (
    batch_id    INTEGER NOT NULL REFERENCES batches(id),
    request_key TEXT NOT NULL,
    response_id INTEGER UNIQUE REFERENCES responses(id)
);
";

/// Readers query the current schema's columns, so a store of an older version is upgraded
/// first (a writable open migrates it); where that is impossible, the error says what to do.
fn upgrade_before_reading(path: &Path, flags: rusqlite::OpenFlags) -> Result<(), StoreError> {
    let version: Option<i64> = Connection::open_with_flags(path, flags)
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .ok();
    match version {
        Some(v) if (1..SCHEMA_VERSION).contains(&v) => {
            Store::open(path)
                .map(drop)
                .map_err(|e| StoreError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "written by an older misalign (schema version {v}) and it cannot be \
                     upgraded here ({e}); copy the results folder somewhere writable and run \
                     the command there"
                    ),
                })
        }
        _ => Ok(()),
    }
}

/// Whose database a connection holds.
enum Ownership {
    /// Ours (our application id).
    Ours,
    /// A new, empty database.
    Empty,
    /// Ours from before the application id was set (it has our tables).
    Legacy,
}

fn check_ours(conn: &Connection, path: &Path) -> Result<Ownership, StoreError> {
    let wrap = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let not_ours = |what: String| StoreError::Invalid {
        path: path.to_path_buf(),
        message: format!(
            "this is not a misalign results store ({what}); misalign leaves it untouched: move \
                     it away or choose another --out"
        ),
    };
    let id: i32 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not_ours("not an SQLite database".into()))
        }
        Err(e) => return Err(wrap(e)),
    };
    if id == APPLICATION_ID {
        return Ok(Ownership::Ours);
    }
    if id != 0 {
        return Err(not_ours(format!("SQLite application id {id:#x}")));
    }
    let mut st = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .map_err(wrap)?;
    let tables: Vec<String> = st
        .query_map([], |r| r.get(0))
        .map_err(wrap)?
        .collect::<Result<_, _>>()
        .map_err(wrap)?;
    if tables.is_empty() {
        return Ok(Ownership::Empty);
    }
    let ours = ["runs", "work_items", "responses", "prompts"];
    if ours.iter().all(|t| tables.iter().any(|x| x == t)) {
        return Ok(Ownership::Legacy);
    }
    let mut shown: Vec<String> = tables
        .iter()
        .take(5)
        .map(|t| crate::untrusted::terminal_safe(t))
        .collect();
    if tables.len() > 5 {
        shown.push("...".into());
    }
    Err(not_ours(format!(
        "an SQLite database with tables {}",
        shown.join(", ")
    )))
}

fn is_cant_open(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly))
}

/// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URI parser wants.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    /// schema.sql as version 7 wrote it (the fixtures of older versions start from it).
    const SCHEMA_V7: &str = include_str!("fixtures/schema_v7.sql");
    /// Schema 9 as that version wrote it (before `judge_verdicts`).
    const SCHEMA_V9: &str = include_str!("fixtures/schema_v9.sql");

    #[cfg(unix)]
    #[test]
    fn a_store_or_its_wal_or_shm_that_is_a_link_is_refused_by_readers_and_writers() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        drop(Store::open_dir(&real).unwrap());
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        for (i, linked) in ["results.sqlite", "results.sqlite-wal", "results.sqlite-shm"]
            .iter()
            .enumerate()
        {
            let handed = dir.path().join(format!("handed{i}"));
            std::fs::create_dir(&handed).unwrap();
            if *linked == "results.sqlite" {
                std::os::unix::fs::symlink(real.join(STORE_FILE), handed.join(STORE_FILE)).unwrap();
            } else {
                std::fs::copy(real.join(STORE_FILE), handed.join(STORE_FILE)).unwrap();
                std::os::unix::fs::symlink(&victim, handed.join(linked)).unwrap();
            }
            let path = handed.join(STORE_FILE);
            for e in [
                Store::open_read_only(&path).err().unwrap(),
                Store::open(&path).err().unwrap(),
                Store::open_dir(&handed).err().unwrap(),
            ] {
                let text = e.to_string();
                assert!(text.contains("symbolic link"), "{linked}: {text}");
                assert!(text.contains(linked), "{linked}: {text}");
            }
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        }
        let mut left: Vec<String> = std::fs::read_dir(&real)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [STORE_FILE],
            "nothing was created beside the link's target"
        );
        // Without links the same stores open.
        Store::open_read_only(&real.join(STORE_FILE)).unwrap();
    }

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
    fn a_foreign_sqlite_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
        drop(c);
        let before = std::fs::read(&path).unwrap();
        let e = Store::open_dir(dir.path()).err().unwrap().to_string();
        assert!(e.contains("not a misalign results store"), "{e}");
        assert!(e.contains("notes"), "{e}");
        assert!(Store::open_read_only(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::write(&path, b"just some text, not a database at all............").unwrap();
        let e = Store::open(&path).err().unwrap().to_string();
        assert!(e.contains("not an SQLite database"), "{e}");
    }

    #[test]
    fn a_store_from_before_the_application_id_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        let c = Connection::open(&path).unwrap();
        c.execute_batch(SCHEMA_SQL).unwrap();
        drop(c);
        let s = Store::open(&path).unwrap();
        let id: i32 = s
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(id, APPLICATION_ID);
    }

    #[test]
    fn a_folder_of_other_files_is_not_a_results_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("thesis.tex"), "mine").unwrap();
        let e = Store::open_dir(dir.path()).err().unwrap().to_string();
        assert!(e.contains("not a misalign results folder"), "{e}");
        assert!(!dir.path().join(STORE_FILE).exists());
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join(crate::lock::LOCK_FILE), "").unwrap();
        std::fs::create_dir(empty.path().join("prompts")).unwrap();
        Store::open_dir(empty.path()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_store_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.sqlite");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(STORE_FILE)).unwrap();
        assert!(Store::open_dir(&out).is_err());
        assert!(!victim.exists());
    }

    #[test]
    fn a_version_1_store_gains_the_scenario_of_each_work_item() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            // A version-1 store: today's schema without the column, as that version wrote it
            // (no application id either: version 1 did not set one).
            // Version 3's columns go too (their lines, then the commas before them).
            let v1: String = version_3_schema()
                .lines()
                .filter(|l| {
                    ![
                        "prior_turns_json TEXT",
                        "escalation ",
                        "escalation_evidence_json",
                        "purpose ",
                    ]
                    .iter()
                    .any(|c| l.trim_start().starts_with(c))
                })
                .collect::<Vec<_>>()
                .join("\n")
                .replace("PRAGMA user_version = 3;", "PRAGMA user_version = 1;")
                .replace(
                    "created_at    TEXT NOT NULL,\n);",
                    "created_at    TEXT NOT NULL\n);",
                )
                .replace(
                    "email_content TEXT NOT NULL,",
                    "email_content TEXT NOT NULL",
                )
                .replace(
                    "classified_at      TEXT NOT NULL,",
                    "classified_at      TEXT NOT NULL",
                )
                .replace("c.classified_at,\n       c.escalation", "c.classified_at")
                .replace(
                    "params_json  TEXT NOT NULL,\n    scenario     TEXT NOT NULL",
                    "params_json  TEXT NOT NULL",
                );
            assert!(
                !v1.contains("prior_turns_json TEXT"),
                "the fixture must be version 1"
            );
            assert!(
                !v1.contains("scenario     TEXT"),
                "the fixture must lack the column"
            );
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&v1).unwrap();
            conn.execute_batch(
                "INSERT INTO prompts VALUES ('p', 'blackmail_v2_none-none_none',
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

    /// The schema as version 3 wrote it: no prompt-cache token columns (the view without
    /// them), no batch purpose.
    fn version_3_schema() -> String {
        let s: String = schema_v6()
            .lines()
            .filter(|l| {
                !l.ends_with(JUDGE_USAGE)
                    && ![
                        "cache_write_tokens INTEGER",
                        "cache_read_tokens  INTEGER",
                        "purpose ",
                    ]
                    .iter()
                    .any(|c| l.trim_start().starts_with(c))
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace("PRAGMA user_version = 6;", "PRAGMA user_version = 3;")
            .replace(
                "created_at    TEXT NOT NULL,\n);",
                "created_at    TEXT NOT NULL\n);",
            )
            .replace(
                "finished_at    TEXT NOT NULL,\n);",
                "finished_at    TEXT NOT NULL\n);",
            )
            .replace("\n       r.cache_write_tokens, r.cache_read_tokens,", "");
        assert!(
            !s.contains("cache_write_tokens") && s.contains("PRAGMA user_version = 3;"),
            "the fixture must be version 3"
        );
        s
    }

    #[test]
    fn a_version_3_store_gains_the_cache_token_columns_and_view() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&version_3_schema()).unwrap();
            conn.execute_batch(
                "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                     experiment_sha256, packs_json, models_json, sampling_json, started_at)
                   VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO prompts VALUES ('p', 'c', '{}', '', '', '', NULL);
                 INSERT INTO work_items VALUES ('k', 'p', 'c', 'm', 0, '{}', 'blackmail');
                 INSERT INTO responses (item_key, run_id, status, input_tokens, attempts,
                     started_at, finished_at) VALUES ('k', 1, 'answer', 9, 1, 't', 't');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let row: (i64, Option<i64>, Option<i64>, i64) = store
            .conn
            .query_row(
                "SELECT input_tokens, cache_write_tokens, cache_read_tokens,
                        (SELECT user_version FROM pragma_user_version) FROM current_answers",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        // Unknown for an answer stored before: NULL, not 0.
        assert_eq!(row, (9, None, None, SCHEMA_VERSION));
        drop(store);
        // Opening again is a no-op.
        Store::open(&path).unwrap();
    }

    #[test]
    fn a_version_4_store_keeps_its_sampling_batches_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let v3 = schema_v6()
                .replace("PRAGMA user_version = 6;", "PRAGMA user_version = 4;")
                .lines()
                .filter(|l| !l.trim_start().starts_with("purpose ") && !l.ends_with(JUDGE_USAGE))
                .collect::<Vec<_>>()
                .join("\n")
                .replace(
                    "created_at    TEXT NOT NULL,\n);",
                    "created_at    TEXT NOT NULL\n);",
                );
            assert!(
                !v3.contains("purpose  "),
                "the fixture must lack the column"
            );
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&v3).unwrap();
            conn.execute_batch(
                "INSERT INTO runs VALUES (1, 'run', 'e', 'v', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO batches (run_id, model, provider, marker, request_count, created_at)
                   VALUES (1, 'm/m', 'm', 'mk', 0, 't');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.open_batches(BatchPurpose::Sample).unwrap().len(),
            1,
            "still a sampling batch"
        );
        assert!(store.open_batches(BatchPurpose::Judge).unwrap().is_empty());
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    /// A store written before batch mode has no `batches` table: the step that adds the
    /// batch purpose must not fail on it, and the table comes from schema.sql afterwards.
    #[test]
    fn a_store_from_before_batch_mode_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            let v4: String = schema_v6()
                .lines()
                .filter(|l| !l.ends_with(JUDGE_USAGE))
                .collect::<Vec<_>>()
                .join("\n");
            conn.execute_batch(&v4).unwrap();
            let batch_tables: Vec<String> = conn
                .prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%batch%'",
                )
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                batch_tables.contains(&"batches".to_string()),
                "{batch_tables:?}"
            );
            conn.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
            for t in &batch_tables {
                conn.execute_batch(&format!("DROP TABLE {t};")).unwrap();
            }
            conn.execute_batch("PRAGMA user_version = 4;").unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (purpose, version): (i64, i64) = store
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM pragma_table_info('batches') WHERE name = 'purpose'),
                        (SELECT user_version FROM pragma_user_version)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((purpose, version), (1, SCHEMA_VERSION));
    }

    /// The comment that ends each line of schema 6's judge-usage columns in schema.sql, so
    /// fixtures of older versions can leave them out.
    const JUDGE_USAGE: &str = "-- judge usage";

    #[test]
    fn a_version_5_store_gains_the_judge_usage_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let v5: String = schema_v6()
                .lines()
                .filter(|l| !l.ends_with(JUDGE_USAGE))
                .collect::<Vec<_>>()
                .join("\n")
                .replace("PRAGMA user_version = 6;", "PRAGMA user_version = 5;");
            assert!(
                !v5.contains("output_tokens      INTEGER, --"),
                "the fixture is v5"
            );
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&v5).unwrap();
            conn.execute_batch(
                "INSERT INTO judge_cache (cache_key, judge_model, rubric_version, transcript_hash,
                     verdict, label, reasoning, raw, created_at)
                   VALUES ('k', 'j/m', 'r', 'h', 1, NULL, 'why', 'raw', 't');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (counts, version): ([Option<i64>; 5], i64) = store
            .conn
            .query_row(
                "SELECT input_tokens, cache_write_tokens, cache_read_tokens, output_tokens, run_id,
                        (SELECT user_version FROM pragma_user_version) FROM judge_cache",
                [],
                |r| {
                    Ok((
                        [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        // A reply cached before: its cost is unknown (NULL), and it is still a cache entry.
        assert_eq!((counts, version), ([None; 5], SCHEMA_VERSION));
        assert!(store.judge_cache_get("k").unwrap().is_some());
        assert!(store.judge_usage_by_model(None).unwrap()["j/m"].tokens == Default::default());
        drop(store);
        Store::open(&path).unwrap();
    }

    /// Schema 6 as it was written: today's schema without version 7's `unparsed` column and
    /// `judge_failures` table (the fixtures of older versions start from it).
    fn schema_v6() -> String {
        let s = SCHEMA_V7
            .replace(
                "escalation_evidence_json TEXT,           -- the emails",
                "escalation_evidence_json TEXT            -- the emails",
            )
            .lines()
            .filter(|l| !l.trim_start().starts_with("unparsed "))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("PRAGMA user_version = 7;", "PRAGMA user_version = 6;");
        let (a, b) = (
            s.find("-- Judge calls whose reply could not be used")
                .unwrap(),
            s.find("-- For SQL users").unwrap(),
        );
        format!("{}{}", &s[..a], &s[b..])
    }

    #[test]
    fn a_version_6_store_gains_the_unparsed_column_and_judge_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let v6 = schema_v6();
            assert!(!v6.contains("unparsed  "), "the fixture is v6");
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&v6).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (version, has_column, has_table): (i64, bool, bool) = store
            .conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT count(*) FROM pragma_table_info('classifications') WHERE name = 'unparsed'),
                        (SELECT count(*) FROM sqlite_master WHERE name = 'judge_failures')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (version, has_column, has_table),
            (SCHEMA_VERSION, true, true)
        );
        drop(store);
        Store::open(&path).unwrap();
    }

    /// A version-7 store with a sampling batch and a judge batch in flight (and one of each
    /// ingested): after the move to one table family, the open ones resume with the same
    /// requests, attempts count as before, answers and judge replies stay billed as batched,
    /// and SQL written against schema 7's tables still reads them.
    #[test]
    fn a_version_7_store_keeps_its_batches_of_both_purposes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            assert!(SCHEMA_V7.contains("PRAGMA user_version = 7;"));
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_V7).unwrap();
            conn.execute_batch(
                "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                     experiment_sha256, packs_json, models_json, sampling_json, started_at)
                   VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO prompts VALUES ('p', 'c', '{}', '', '', '', NULL);
                 INSERT INTO work_items VALUES ('k1', 'p', 'c', 'm/m', 0, '{}', 'blackmail');
                 INSERT INTO work_items VALUES ('k2', 'p', 'c', 'm/m', 1, '{}', 'blackmail');
                 INSERT INTO work_items VALUES ('k3', 'p', 'c', 'm/m', 2, '{}', 'blackmail');
                 -- batch 1 (sample) ended and ingested k1; batch 2 (sample) is in flight
                 -- with k2 and k3 (k2 was in batch 1 too); batch 3 (judge) ingested one
                 -- reply; batch 4 (judge) is in flight, its reply never sent.
                 INSERT INTO batches VALUES (1, 1, 'm/m', 'm', 'mk1', 2, 't', 'sample');
                 INSERT INTO batches VALUES (2, 1, 'm/m', 'm', 'mk2', 2, 't', 'sample');
                 INSERT INTO batches VALUES (3, 1, 'j/j', 'j', 'mk3', 1, 't', 'judge');
                 INSERT INTO batches VALUES (4, 1, 'j/j', 'j', 'mk4', 2, 't', 'judge');
                 INSERT INTO batch_items VALUES (1, 0, 'c1', 'k1'), (1, 1, 'c2', 'k2'),
                                                (2, 0, 'c2', 'k2'), (2, 1, 'c3', 'k3');
                 INSERT INTO responses (id, item_key, run_id, status, answer, input_tokens,
                     output_tokens, attempts, started_at, finished_at)
                   VALUES (7, 'k1', 1, 'answer', 'a', 10, 5, 1, 't', 't');
                 INSERT INTO batch_answers VALUES (7, 1);
                 INSERT INTO judge_batch_items VALUES (3, 0, 'j1', 'cache-1', 'judge', 7),
                     (4, 0, 'j2', 'cache-2', 'judge', 7), (4, 1, 'j3', 'cache-3', 'awareness', 7);
                 INSERT INTO judge_cache (cache_key, judge_model, rubric_version, transcript_hash,
                     verdict, label, reasoning, raw, input_tokens, output_tokens, run_id, created_at)
                   VALUES ('cache-1', 'j/j', 'r', 'h', 1, NULL, 'why', 'raw', 100, 20, 1, 't');
                 INSERT INTO judge_batch_answers VALUES ('cache-1', 3);
                 INSERT INTO batch_events (batch_id, kind, remote_id, detail, at) VALUES
                     (1, 'submitted', 'r1', NULL, 't'), (1, 'ingested', NULL, '1 rows', 't'),
                     (2, 'submitted', 'r2', NULL, 't'),
                     (3, 'submitted', 'r3', NULL, 't'), (3, 'ingested', NULL, '1', 't');",
            )
            .unwrap();
        }
        let report_before = {
            // What a report reads: usage billed per kind, through schema 7's tables.
            let conn = Connection::open(&path).unwrap();
            let batched: i64 = conn
                .query_row(
                    "SELECT count(*) FROM responses r WHERE EXISTS
                       (SELECT 1 FROM batch_answers a WHERE a.response_id = r.id)",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            batched
        };
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let sample = store.open_batches(BatchPurpose::Sample).unwrap();
        assert_eq!(sample.len(), 1);
        assert_eq!(
            (sample[0].id, sample[0].remote_id.as_deref()),
            (2, Some("r2"))
        );
        assert_eq!(
            sample[0].items,
            vec![("c2".into(), "k2".into()), ("c3".into(), "k3".into())]
        );
        let judge = store.open_batches(BatchPurpose::Judge).unwrap();
        assert_eq!(judge.len(), 1);
        assert_eq!((judge[0].id, judge[0].remote_id.as_deref()), (4, None));
        assert_eq!(
            judge[0].items,
            vec![
                ("j2".into(), "cache-2".into()),
                ("j3".into(), "cache-3".into())
            ]
        );
        assert!(store.has_open_batches(BatchPurpose::Judge).unwrap());
        assert_eq!(store.batch_attempts(BatchPurpose::Sample, "k2").unwrap(), 2);
        assert_eq!(store.batch_attempts(BatchPurpose::Sample, "k3").unwrap(), 1);
        assert_eq!(
            store
                .batch_attempts(BatchPurpose::Judge, "cache-2")
                .unwrap(),
            1
        );
        assert_eq!(store.batch_attempts(BatchPurpose::Judge, "k2").unwrap(), 0);
        // Billing reads the same: the answer and the judge reply stay batch-billed.
        assert!(store.judgement_batch_billed("cache-1").unwrap());
        assert!(!store.judgement_batch_billed("cache-2").unwrap());
        let usage = store.run_usage_by_model(1).unwrap();
        assert_eq!(usage["m/m"].batch_tokens.input, 10);
        let judges = store.judge_usage_by_model(None).unwrap();
        assert_eq!(judges["j/j"].batch_tokens.input, 100);
        // Schema 7's tables still answer, as views.
        let old: (i64, i64, i64, i64) = store
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM batch_items), (SELECT count(*) FROM judge_batch_items
                        WHERE call = 'awareness' AND response_id = 7),
                        (SELECT count(*) FROM responses r WHERE EXISTS
                           (SELECT 1 FROM batch_answers a WHERE a.response_id = r.id)),
                        (SELECT count(*) FROM judge_batch_answers)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(old, (4, 1, report_before, 1));
        drop(store);
        // Opening again is a no-op.
        Store::open(&path).unwrap();
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

    #[test]
    fn a_schema_8_store_opens_with_the_episode_table_and_keeps_its_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            let v8 = schema_v8();
            assert!(!v8.contains("episode_steps ("));
            assert!(!v8.contains("harmful_step       INTEGER"));
            conn.execute_batch(&v8).unwrap();
            conn.execute_batch(
                "INSERT INTO runs VALUES (1, 'run', 'e', 'v', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO prompts (prompt_hash, condition_id, condition_json, system_prompt,
                   user_prompt, email_content) VALUES ('p', 'c', '{}', 's', 'u', 'e');
                 INSERT INTO work_items (item_key, prompt_hash, condition_id, model,
                   sample_index, params_json, scenario) VALUES ('k', 'p', 'c', 'm/m', 0, '{}', 'blackmail');
                 INSERT INTO responses (item_key, run_id, status, answer, attempts, started_at,
                   finished_at) VALUES ('k', 1, 'answer', 'kept', 1, 't', 't');
                 INSERT INTO classifications (response_id, item_key, classifier_version,
                   actions_json, parse_issues_json, detector_verdict, detector_evidence_json,
                   final_verdict, classified_at, unparsed)
                   VALUES (1, 'k', 'v', '[]', '[]', 0, '{}', 0, 't', 0);",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        // The classification of schema 8 reads as a single answer's: no episode fields.
        let episode_fields: (Option<i64>, Option<String>, Option<i64>, Option<i64>) = store
            .conn
            .query_row(
                "SELECT steps, terminal, harmful_step, leverage_read_first FROM classifications",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(episode_fields, (None, None, None, None));
        // A classification of an episode keeps its fields in the migrated table.
        store
            .insert_classification(&classifications::NewClassification {
                response_id: 1,
                item_key: "k".into(),
                classifier_version: "v2".into(),
                actions_json: "[]".into(),
                parse_issues_json: "[]".into(),
                detector_verdict: true,
                detector_evidence_json: "{}".into(),
                judge_model: None,
                judge_verdict: None,
                judge_reasoning: None,
                judge_error: None,
                final_verdict: Some(true),
                whistleblowing: None,
                awareness_label: None,
                awareness_reasoning: None,
                classified_at: "t".into(),
                escalation: None,
                escalation_evidence_json: None,
                unparsed: false,
                episode: Some(classifications::EpisodeFields {
                    steps: 4,
                    terminal: Some("finished".into()),
                    harmful_step: Some(3),
                    harmful_at: Some("2026-06-11T16:44:00".into()),
                    harmful_tool: Some("send_email".into()),
                    leverage_read_first: Some(true),
                }),
            })
            .unwrap();
        let stored: (i64, String, i64, String, String, bool) = store
            .conn
            .query_row(
                "SELECT steps, terminal, harmful_step, harmful_at, harmful_tool, leverage_read_first
                   FROM classifications WHERE classifier_version = 'v2'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .unwrap();
        assert_eq!(
            stored,
            (
                4,
                "finished".into(),
                3,
                "2026-06-11T16:44:00".into(),
                "send_email".into(),
                true
            )
        );
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(store.answered_keys().unwrap().contains("k"));
        let row = episodes::EpisodeStepRow {
            item_key: "k".into(),
            step: 1,
            run_id: 1,
            attempts: 1,
            ..Default::default()
        };
        assert_eq!(
            store.insert_episode_step(&row).unwrap(),
            samples::Inserted::New
        );
        assert_eq!(store.episode_step_count("k").unwrap(), 1);
    }

    /// A version-9 store (one judge per classification, in its columns) opens at version 10,
    /// reads its judge from those columns, and takes new classifications with each judge's
    /// verdict.
    #[test]
    fn a_version_9_store_reads_its_judge_and_gains_judge_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            assert!(SCHEMA_V9.contains("PRAGMA user_version = 9;"));
            assert!(!SCHEMA_V9.contains("judge_verdicts"));
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA_V9).unwrap();
            conn.execute_batch(
                "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                   experiment_sha256, packs_json, models_json, sampling_json, started_at)
                   VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO prompts (prompt_hash, condition_id, condition_json, system_prompt,
                   user_prompt, email_content) VALUES ('p', 'c', '{}', 's', 'u', 'e');
                 INSERT INTO work_items (item_key, prompt_hash, condition_id, model,
                   sample_index, params_json, scenario) VALUES ('k', 'p', 'c', 'm/m', 0, '{}', 'blackmail');
                 INSERT INTO work_items (item_key, prompt_hash, condition_id, model,
                   sample_index, params_json, scenario) VALUES ('k2', 'p', 'c', 'm/m', 1, '{}', 'blackmail');
                 INSERT INTO responses (item_key, run_id, status, answer, attempts, started_at,
                   finished_at) VALUES ('k', 1, 'answer', 'a', 1, 't', 't');
                 INSERT INTO responses (item_key, run_id, status, answer, attempts, started_at,
                   finished_at) VALUES ('k2', 1, 'answer', 'b', 1, 't', 't');
                 INSERT INTO classifications (response_id, item_key, classifier_version,
                   actions_json, parse_issues_json, detector_verdict, detector_evidence_json,
                   judge_model, judge_verdict, final_verdict, classified_at, unparsed)
                   VALUES (1, 'k', 'v', '[]', '[]', 1, '{}', 'j/one', 1, 1, 't', 0);
                 INSERT INTO classifications (response_id, item_key, classifier_version,
                   actions_json, parse_issues_json, detector_verdict, detector_evidence_json,
                   final_verdict, classified_at, unparsed)
                   VALUES (2, 'k2', 'v', '[]', '[]', 0, '{}', 0, 't', 0);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // The old judge, from its columns; the detectors-only answer has no judge row.
        assert_eq!(
            store.judge_verdicts().unwrap(),
            vec![JudgeVerdictRow {
                item_key: "k".into(),
                response_id: 1,
                judge_model: "j/one".into(),
                role: JudgeRole::Harm,
                verdict: Some(true),
                label: None,
                error: None,
            }]
        );
        // A new classification of k with two judges and an awareness judge: only its own
        // rows count now (the columns hold the combined verdict).
        let c = classifications::NewClassification {
            response_id: 1,
            item_key: "k".into(),
            classifier_version: "v2".into(),
            actions_json: "[]".into(),
            parse_issues_json: "[]".into(),
            detector_verdict: true,
            detector_evidence_json: "{}".into(),
            judge_model: Some("majority: j/a, j/b".into()),
            judge_verdict: None,
            judge_reasoning: None,
            judge_error: Some("no majority".into()),
            final_verdict: None,
            whistleblowing: None,
            awareness_label: Some("no_deliberation".into()),
            awareness_reasoning: None,
            classified_at: "t".into(),
            escalation: None,
            escalation_evidence_json: None,
            unparsed: false,
            episode: None,
        };
        let judge = |model: &str, role, verdict, label: Option<&str>, error: Option<&str>| {
            NewJudgeVerdict {
                judge_model: model.into(),
                role,
                verdict,
                label: label.map(Into::into),
                reasoning: Some("r".into()),
                error: error.map(Into::into),
            }
        };
        store
            .insert_classification_with_judges(
                &c,
                &[
                    judge("j/b", JudgeRole::Harm, None, None, Some("unparsable")),
                    judge("j/a", JudgeRole::Harm, Some(false), None, None),
                    judge(
                        "j/aw",
                        JudgeRole::Awareness,
                        None,
                        Some("no_deliberation"),
                        None,
                    ),
                ],
            )
            .unwrap();
        let got: Vec<_> = store
            .judge_verdicts()
            .unwrap()
            .into_iter()
            .filter(|r| r.item_key == "k")
            .map(|r| (r.judge_model, r.role, r.verdict, r.label, r.error))
            .collect();
        assert_eq!(
            got,
            vec![
                ("j/a".into(), JudgeRole::Harm, Some(false), None, None),
                (
                    "j/b".into(),
                    JudgeRole::Harm,
                    None,
                    None,
                    Some("unparsable".into())
                ),
                (
                    "j/aw".into(),
                    JudgeRole::Awareness,
                    None,
                    Some("no_deliberation".into()),
                    None
                ),
            ]
        );
        drop(store);
        Store::open(&path).unwrap();
    }

    /// Schema 8 as that version created it: today's schema without what schema 9 added
    /// (`episode_steps` and the episode verdict columns of `classifications`).
    fn schema_v8() -> String {
        let v9 = SCHEMA_V9.replace("PRAGMA user_version = 9;", "PRAGMA user_version = 8;");
        let before_steps = v9.split("-- Agent mode (schema 9)").next().unwrap();
        let start = before_steps
            .find("\n    -- Agent episode verdicts (schema 9)")
            .expect("the schema-9 columns of classifications");
        let end = start + before_steps[start..].find("\n);").unwrap();
        // The column before them was the table's last (no comma after it).
        let head = before_steps[..start].replacen(
            "unparsed           INTEGER,",
            "unparsed           INTEGER ",
            1,
        );
        format!("{head}{}", &before_steps[end..])
    }
}
