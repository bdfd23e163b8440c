//! Which results folder `status`, `report` and `view` read when none is given: the most
//! recently written one under `results/` (where `run` writes by default), said out loud.

use crate::say::note;
use misalign_store::STORE_FILE;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where `misalign run` puts results without `--out`.
pub const RESULTS_ROOT: &str = "results";

/// Results folders directly under `root` (those holding a store), newest store first.
/// Symbolic links are skipped: a folder someone sent may point anywhere.
pub fn list(root: &Path) -> Vec<(PathBuf, SystemTime)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, SystemTime)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let store = e.path().join(STORE_FILE);
            let meta = std::fs::symlink_metadata(&store).ok()?;
            meta.is_file()
                .then(|| (e.path(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// `given`, or the newest results folder under `results/` (with a note saying which).
pub fn resolve(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let found = list(Path::new(RESULTS_ROOT));
    match found.first() {
        Some((p, _)) => {
            note!(
                "using the most recent results folder {} ({} under {RESULTS_ROOT}/; `misalign runs` lists them)",
                misalign_store::untrusted::terminal_safe(&p.display().to_string()),
                found.len()
            );
            Ok(p.clone())
        }
        None => anyhow::bail!(
            "no results folder given and none under {RESULTS_ROOT}/ (in {}); pass the folder \
             `misalign run` wrote, e.g. `results/<experiment_id>`",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| ".".into())
        ),
    }
}
