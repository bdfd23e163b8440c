//! The integration tests of this crate, one module per area, in one test binary (one
//! link instead of one per file: CI disk and build time, README).

mod agreement_sections;
mod analysis;
mod browser;
mod episodes;
mod exports;
mod first_hour;
mod generalisation;
mod labels;
mod mitigation_table;
mod recorded_prices;
mod report_files;
