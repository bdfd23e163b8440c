//! LLM-judge rubrics, prompts and exact parsing of judge answers (the I/O is elsewhere).
//!
//! - [`rubric`]: per-scenario rubrics in our own words and the eval-awareness rubric, with
//!   [`RUBRIC_VERSION`];
//! - [`prompt`]: the judge's system and user messages for one transcript, and the
//!   transcript hash that keys the judge cache;
//! - [`trajectory`]: an agent episode's steps as the judges read them, in place of a single
//!   answer;
//! - [`parse`]: the judge's answer, parsed exactly (a final `<answer>yes</answer>` or a last
//!   line `ANSWER: no`; no substring matching);
//! - [`verdict`]: the final verdict from detector + judge by the scenario's rule;
//! - [`panel`]: several judges' verdicts combined by `classification.combine`.
//!
//! Cohen's kappa between detector and judge lives in [`crate::agreement`] with the other
//! agreement statistics; it is re-exported here for the classifier.

pub mod panel;
pub mod parse;
pub mod prompt;
pub mod rubric;
pub mod trajectory;
pub mod verdict;

pub use crate::agreement::cohens_kappa;
pub use panel::Combine;
pub use parse::{parse_awareness, parse_verdict, AwarenessLabel, JudgeParseError, ParsedJudgement};
pub use prompt::{awareness_prompt, judge_prompt, AnswerForm, JudgePrompt, Transcript};
pub use rubric::RUBRIC_VERSION;
pub use trajectory::render_trajectory;
pub use verdict::{final_verdict, JudgeOutcome};
