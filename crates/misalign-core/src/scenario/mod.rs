//! Scenario packs: the built-in ones (compiled in) and template folders of the reference
//! framework's layout, read through the same [`ScenarioSource`] view.

mod facts;

pub use facts::Facts;
