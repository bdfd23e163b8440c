//! What several test modules of this crate share.

/// A separate SQLite connection to `store`'s file, for the tests' own checks (the store
/// keeps its connection private: every statement of misalign is in misalign-store).
pub fn db(store: &misalign_store::Store) -> rusqlite::Connection {
    rusqlite::Connection::open(store.path()).expect("open the store's file")
}

/// The `misalign` binary under test.
pub fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_misalign"))
}

/// The binary under test as an `assert_cmd` command.
pub fn misalign() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("misalign").unwrap()
}

/// One integer from `sql` over the store at `store` (opened read-only).
pub fn count(store: &std::path::Path, sql: &str) -> i64 {
    let s = misalign_store::Store::open_read_only(store).unwrap();
    db(&s).query_row(sql, [], |r| r.get(0)).unwrap()
}
