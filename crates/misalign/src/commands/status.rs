//! `misalign status` (issue 3).

use super::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Outcome {
    anyhow::bail!("`misalign status` is not built yet (issue 3)")
}
