//! The integration tests of this crate, one module per area, in one test binary (one
//! link instead of one per file: CI disk and build time, README).

mod actions_proptest;
mod agent_mode;
mod agreement_reference;
mod axis_golden;
mod config_errors;
mod config_fuzz;
mod config_reference;
mod json_schema;
mod labelled;
mod lint_builtin;
mod metric_goal;
mod mitigations;
mod overrides;
mod question_form;
mod reference_layout;
mod reference_prompts;
mod reference_variables;
mod render_builtin;
mod scenario_kind;
mod scenario_validity;
mod stats_reference;
mod support;
mod template_props;
mod variation;
