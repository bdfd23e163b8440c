//! Reports of `misalign` runs: the terminal table, `summary.csv` / `summary.json`, the
//! self-contained `report.html` with charts and a transcript viewer, and `misalign view`,
//! which serves the same viewer on loopback and pages transcripts from the store.
//!
//! Everything a model wrote is untrusted: it is escaped before it reaches HTML or a terminal.
