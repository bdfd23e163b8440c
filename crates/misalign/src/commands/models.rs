//! `misalign models` (issue 6).

use super::Outcome;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List them.
    List,
}

pub fn run(_command: Command) -> Outcome {
    anyhow::bail!("`misalign models` is not built yet (issue 6)")
}
