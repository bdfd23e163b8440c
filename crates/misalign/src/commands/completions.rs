//! `misalign completions SHELL`: shell completion scripts.

use super::Outcome;
use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Outcome {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "misalign", &mut std::io::stdout());
    Ok(std::process::ExitCode::SUCCESS)
}
