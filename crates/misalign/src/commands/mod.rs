//! One module per subcommand; each exposes `Args` (or `Command`) and `run`.

pub mod classify;
pub mod completions;
pub mod doctor;
pub mod export;
pub mod generate;
pub mod import;
pub mod labels;
pub mod mock;
pub mod models;
pub mod report;
pub mod run;
pub mod runs;
pub mod scenarios;
pub mod schema;
pub mod status;
pub mod validate;
pub mod view;

/// What a subcommand returns: its exit code, or an error printed by `main`.
pub type Outcome = anyhow::Result<std::process::ExitCode>;
