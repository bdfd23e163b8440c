//! `misalign doctor`: can the embedded model run here, and how (misalign_local::doctor).

use super::Outcome;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

/// Prints the report; exits 1 when the embedded engine cannot run on this machine.
pub fn run(_args: Args) -> Outcome {
    let doctor = misalign_local::doctor::Doctor::examine();
    print!("{doctor}");
    Ok(if doctor.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
