//! The domain of `misalign`, as pure functions over plain data.
//!
//! Everything that decides an outcome lives here and does no I/O: reading experiment files
//! (from text the caller supplies), expanding them into conditions and work items, filling
//! scenario templates into prompts, parsing the agent's tool-use blocks, the deterministic
//! harm detectors, judge rubrics and verdict parsing, and the statistics. The other crates
//! move bytes (network, disk, terminal) around these functions, so every rule here is
//! unit-testable without a network or a disk.
//!
//! Stages, in pipeline order: [`config`] -> [`plan`] -> [`render`] (with [`scenario`] and
//! [`template`]) -> [`actions`] -> [`detect`] / [`judge`] -> [`stats`] (and [`agreement`] against human
//! labels). The optional axes of
//! a condition are plug-ins registered in [`axes`], which each of these stages walks.

pub mod actions;
pub mod agreement;
pub mod axes;
pub mod condition;
pub mod config;
pub mod cost;
pub mod detect;
pub mod environment;
pub mod executed;
pub mod generalisation;
pub mod hash;
pub mod human_label;
pub mod judge;
pub mod label_sample;
pub mod lint;
pub mod mitigation_table;
pub mod plan;
pub mod plural;
pub mod pyliteral;
pub mod question;
pub mod render;
pub mod sampling;
pub mod scenario;
pub mod stats;
pub mod template;
pub mod turns;
pub mod variation;

pub use axes::VariationSetting;
pub use condition::{Condition, ExtraInstructions, GoalType, Interaction, Urgency, Variant};
pub use human_label::HumanLabel;
pub use render::RenderedPrompt;
pub use sampling::SamplingParams;
pub use turns::{Speaker, Turn};
