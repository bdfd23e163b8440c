//! `misalign scenarios` (issue 2).

use super::Outcome;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List them.
    List,
}

pub fn run(_command: Command) -> Outcome {
    anyhow::bail!("`misalign scenarios` is not built yet (issue 2)")
}
