//! `misalign classify` (issue 4).

use super::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Outcome {
    anyhow::bail!("`misalign classify` is not built yet (issue 4)")
}
