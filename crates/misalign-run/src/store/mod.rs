//! The SQLite results store. The schema (`schema.sql`) is the contract between stages.

/// The schema, applied on open.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");
