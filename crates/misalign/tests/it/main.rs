//! The integration tests of this crate, one module per area, in one test binary (one
//! link instead of one per file: CI disk and build time, README).

mod agent_run;
mod batch_run;
mod classify_cli;
mod cost_cli;
mod demonstrations_run;
mod exit_codes;
mod export;
mod first_use;
mod generate;
mod hostile;
mod hostile_values;
mod import;
mod judge_batch_run;
mod judge_cost;
mod labels_cli;
mod local_run;
mod mitigation_run;
mod model_ids;
mod models;
mod new_kinds;
mod overrides;
mod question_run;
mod reference_configs;
mod report;
mod results_dirs;
mod run;
mod scenarios;
mod second_pass;
mod support;
mod turns_cli;
mod validate;
mod variation_run;
