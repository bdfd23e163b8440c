//! `misalign generate` (issue 2).

use super::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Outcome {
    anyhow::bail!("`misalign generate` is not built yet (issue 2)")
}
