//! The `.env` file (experiment files are read by `misalign_run::experiment`, the one loader).

use anyhow::bail;
use std::path::PathBuf;

/// Loads the nearest `.env` (the current folder, then its parents) into the environment.
/// A line that cannot be read is an error naming the file and line (never its text, which
/// may hold a key): silently skipping it would report the keys after it as missing.
pub fn load_dotenv() -> anyhow::Result<()> {
    let Some(path) = find_dotenv() else {
        return Ok(());
    };
    match dotenvy::from_path(&path) {
        Ok(()) => Ok(()),
        Err(dotenvy::Error::LineParse(line, column)) => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let at = match text.find(&line) {
                Some(offset) => {
                    let n = text[..offset].matches('\n').count() + 1;
                    format!("line {n}, column {}", column + 1)
                }
                None => "a line".into(),
            };
            bail!(
                "{}: {at}: cannot read this line (expected NAME=value); fix it or remove it",
                path.display()
            )
        }
        Err(e) => bail!("{}: {e}", path.display()),
    }
}

fn find_dotenv() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|d| d.join(".env"))
        .find(|p| p.is_file())
}
