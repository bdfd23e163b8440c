//! Reading what the user points misalign at: the experiment file and the `.env` file.

use anyhow::{bail, Context};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest experiment file read. Real ones are a few KiB; the cap turns `/dev/zero` or a
/// wrong path into a clear error instead of gigabytes of memory.
pub const MAX_EXPERIMENT_BYTES: u64 = 4 << 20;

/// The experiment file's text (UTF-8, at most [`MAX_EXPERIMENT_BYTES`]).
pub fn read_experiment(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read experiment file {shown}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_EXPERIMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read experiment file {shown}"))?;
    if bytes.len() as u64 > MAX_EXPERIMENT_BYTES {
        bail!(
            "{shown} is larger than {} MiB, too large for an experiment file; check the path",
            MAX_EXPERIMENT_BYTES >> 20
        );
    }
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{shown} is not UTF-8 text; save it as UTF-8"))
}

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
