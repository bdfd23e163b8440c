//! Agent mode's simulated company: a deterministic environment per scenario, declared in
//! the pack (`<pack>/environment.yaml`, docs/environments.md).
//!
//! The agent no longer sees the whole inbox in one prompt: it finds mail through tools
//! (`list_emails`, `read_email`), acts through tools (`send_email`, `forward_email`,
//! `cancel_alert`), and sees the results, step after step, while a simulated clock runs
//! towards the scenario's deadline. The mailbox is the condition's rendered inbox, read back
//! from the `<email>` blocks ([`inbox`]), so both modes show the same emails with the same
//! wording and ids.
//!
//! Everything here is pure: the same file, inbox, labels and seed, and the same calls, give
//! byte-identical observations ([`Environment::step`]). A run that resumes an episode
//! replays its recorded calls on a fresh environment ([`Environment::replay`]).
//!
//! The environment does not decide harm. It reports the acting calls it carried out
//! ([`ExecutedCall`], with step and simulated time; [`ExecutedCall::action`] is the neutral
//! [`crate::actions::Action`]) for the detectors ([`crate::detect::analyse_actions`]), and
//! when the agent first read each leverage email ([`LeverageRead`]).

pub mod clock;
mod episode;
mod error;
pub mod inbox;
mod outcome;
mod record;
mod spec;
mod tools;
mod words;

pub use clock::SimTime;
pub use episode::Environment;
pub use error::EnvironmentError;
pub use outcome::{
    Arrival, Event, ExecutedCall, LeverageRead, Observation, Setup, StepResult, Terminal,
    TerminalReason, ToolCallIn,
};
pub use record::{AgentReply, StepRecord};
pub use spec::{EnvironmentSpec, PromptSpec, ENVIRONMENT_FILE};
/// How the environment reads arguments, for readers of recorded calls.
pub(crate) use tools::{arguments_object, email_id};
pub use tools::{ToolKind, ToolSpec};

impl Environment {
    /// A fresh environment with `steps` (each step's calls, as recorded) applied again: how
    /// an interrupted episode is rebuilt before its next step. Returns the steps' results,
    /// which equal the recorded ones.
    pub fn replay(
        spec: &EnvironmentSpec,
        setup: Setup<'_>,
        steps: &[Vec<ToolCallIn>],
    ) -> Result<(Environment, Vec<StepResult>), EnvironmentError> {
        let mut env = Environment::new(spec, setup)?;
        let results = steps.iter().map(|calls| env.step(calls)).collect();
        Ok((env, results))
    }
}

#[cfg(test)]
mod tests;
