//! `misalign schema`: the JSON Schema of experiment files, for editors.

use super::Outcome;
use crate::say::{note, say_raw};
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the schema to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    let mut text = serde_json::to_string_pretty(&misalign_core::config::experiment_json_schema())?;
    text.push('\n');
    match args.out {
        None => say_raw!("{text}"),
        Some(path) => {
            let name = path
                .file_name()
                .with_context(|| format!("--out {}: name a file", path.display()))?;
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            misalign_store::atomic::write_bytes_atomically(
                &dir,
                &name.to_string_lossy(),
                text.as_bytes(),
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
            note!("wrote {}", path.display());
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
