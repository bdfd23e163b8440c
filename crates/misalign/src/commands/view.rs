//! `misalign view` (issue 5).

use super::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Outcome {
    anyhow::bail!("`misalign view` is not built yet (issue 5)")
}
