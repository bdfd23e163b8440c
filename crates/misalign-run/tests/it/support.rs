//! What several test modules of this crate share.

/// A separate SQLite connection to `store`'s file, for the tests' own checks (the store
/// keeps its connection private: every statement of misalign is in misalign-store).
pub fn db(store: &misalign_store::Store) -> rusqlite::Connection {
    rusqlite::Connection::open(store.path()).expect("open the store's file")
}
