//! Reading a cell of a store that someone else may have written.
//!
//! SQLite does not enforce column types: a store handed over by someone else (or written by
//! a buggy older version) can hold the text `NaN` in a token column, `1e308` (a REAL) in a
//! latency, or 9223372036854775807 in a count. A reader must not stop on such a cell, so
//! every read path of a report, an export, `status`, `view` and `classify` reads through
//! [`cell`]: a cell of an unexpected type is read as unknown (`None`, or the type's empty
//! value where the field cannot be unknown), never as an error. Token counts have their own
//! rule ([`tokens`], [`sql_tokens`]): only an integer in `0..=MAX_PLAUSIBLE_TOKENS` is a
//! count, exactly what the writer stores, so sums of counts cannot overflow either.

use rusqlite::types::ValueRef;
use rusqlite::Row;

/// More tokens than any model reads or writes in one call. The writer stores a larger count
/// as unknown, and a reader reads one (planted in an odd store) as unknown too.
pub const MAX_PLAUSIBLE_TOKENS: i64 = 1_000_000_000;

/// A value read tolerantly from one cell.
pub(crate) trait FromCell: Sized {
    fn from_cell(v: ValueRef<'_>) -> Self;
}

impl FromCell for Option<i64> {
    fn from_cell(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        }
    }
}

impl FromCell for i64 {
    fn from_cell(v: ValueRef<'_>) -> Self {
        Option::<i64>::from_cell(v).unwrap_or(0)
    }
}

impl FromCell for f64 {
    fn from_cell(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Integer(i) => i as f64,
            ValueRef::Real(f) => f,
            _ => 0.0,
        }
    }
}

impl FromCell for Option<bool> {
    fn from_cell(v: ValueRef<'_>) -> Self {
        Option::<i64>::from_cell(v).map(|i| i != 0)
    }
}

impl FromCell for bool {
    fn from_cell(v: ValueRef<'_>) -> Self {
        Option::<bool>::from_cell(v).unwrap_or(false)
    }
}

impl FromCell for Option<String> {
    fn from_cell(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Null => None,
            ValueRef::Integer(i) => Some(i.to_string()),
            ValueRef::Real(f) => Some(f.to_string()),
            // Invalid UTF-8 is shown with U+FFFD rather than failing the whole read.
            ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

impl FromCell for String {
    fn from_cell(v: ValueRef<'_>) -> Self {
        Option::<String>::from_cell(v).unwrap_or_default()
    }
}

/// Column `i` of `row`, read tolerantly (see the module docs). Fails only when the column
/// does not exist (a bug, not an odd store).
pub(crate) fn cell<T: FromCell>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    Ok(T::from_cell(row.get_ref(i)?))
}

/// A token count in column `i`: an integer in `0..=MAX_PLAUSIBLE_TOKENS`, anything else
/// unknown.
pub(crate) fn tokens(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    Ok(cell::<Option<i64>>(row, i)?.filter(|n| (0..=MAX_PLAUSIBLE_TOKENS).contains(n)))
}

/// SQL for "column `col` as a token count, NULL when it is not one" (the rule of
/// [`tokens`]), for sums: terms of at most 10^9 cannot overflow `sum()` below 9 * 10^9 rows.
pub(crate) fn sql_tokens(col: &str) -> String {
    format!(
        "(CASE WHEN typeof({col}) = 'integer' AND {col} BETWEEN 0 AND {MAX_PLAUSIBLE_TOKENS} \
         THEN {col} END)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_cells_read_as_unknown() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (n INTEGER, s TEXT);
             INSERT INTO t VALUES (5, 'a'), ('NaN', 7), (1e308, NULL),
                                  (9223372036854775807, x'ff41'), (-3, 'b'), (1000000001, 'c');",
        )
        .unwrap();
        let q = format!("SELECT n, s, {} FROM t ORDER BY rowid", sql_tokens("n"));
        let mut st = c.prepare(&q).unwrap();
        type Read = (Option<i64>, Option<i64>, String, Option<i64>);
        let rows: Vec<Read> = st
            .query_map([], |r| {
                Ok((cell(r, 0)?, tokens(r, 0)?, cell(r, 1)?, cell(r, 2)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows[0], (Some(5), Some(5), "a".into(), Some(5)));
        assert_eq!(rows[1], (None, None, "7".into(), None));
        assert_eq!(rows[2], (None, None, String::new(), None));
        assert_eq!(rows[3], (Some(i64::MAX), None, "\u{FFFD}A".into(), None));
        assert_eq!(rows[4], (Some(-3), None, "b".into(), None));
        assert_eq!(rows[5], (Some(1_000_000_001), None, "c".into(), None));
        // A sum of planted maximal values would overflow sum(); of the sanitized ones, not.
        c.execute_batch("INSERT INTO t VALUES (9223372036854775807, ''), (1, '');")
            .unwrap();
        let q = format!("SELECT sum({}) FROM t", sql_tokens("n"));
        let s: i64 = c.query_row(&q, [], |r| r.get(0)).unwrap();
        assert_eq!(s, 5 + 1);
        assert!(c
            .query_row("SELECT sum(n) FROM t", [], |r| r.get::<_, i64>(0))
            .is_err());
    }
}
