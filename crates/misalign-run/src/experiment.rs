//! Loading an experiment file: the one loader every command uses (`run`, `validate`,
//! `generate`, `classify --experiment`), so a file too large, not UTF-8 or invalid gets the
//! same message whichever command reads it.

use misalign_core::config::{parse_experiment_with, ConfigError, Experiment, ParseOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest experiment file read. Real ones are a few KiB; the cap turns `/dev/zero` or a
/// wrong path into a clear error instead of gigabytes of memory.
pub const MAX_EXPERIMENT_BYTES: u64 = 4 << 20;

/// An experiment file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The OS error is in the message and is not also a `source`: `{:#}` would print it twice
    /// ("No such file or directory" twice, issue 29).
    #[error("cannot read experiment file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is larger than {} MiB, too large for an experiment file; check the path", MAX_EXPERIMENT_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("{path} is not UTF-8 text; save it as UTF-8")]
    NotUtf8 { path: PathBuf },
    /// The file names file, line, column and field itself.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// An experiment file as read and parsed.
#[derive(Clone, Debug)]
pub struct LoadedExperiment {
    pub path: PathBuf,
    /// The text exactly as read (recorded with the run, hashed for its identity).
    pub text: String,
    pub experiment: Experiment,
}

/// The experiment file's text (UTF-8, at most [`MAX_EXPERIMENT_BYTES`]).
pub fn read_text(path: &Path) -> Result<String, ExperimentError> {
    let read = |error| ExperimentError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(MAX_EXPERIMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_EXPERIMENT_BYTES {
        return Err(ExperimentError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|_| ExperimentError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// Reads and parses the experiment file at `path`; errors name the file as given.
pub fn load(path: &Path, options: &ParseOptions) -> Result<LoadedExperiment, ExperimentError> {
    let text = read_text(path)?;
    let experiment = parse_experiment_with(&text, &path.display().to_string(), options)?;
    Ok(LoadedExperiment {
        path: path.to_path_buf(),
        text,
        experiment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing.yaml");
        let e = load(&missing, &ParseOptions::default()).unwrap_err();
        assert!(matches!(e, ExperimentError::Read { .. }), "{e}");
        assert!(e.to_string().contains("missing.yaml"), "{e}");
        // The OS error is in the message, so it is no `source` too: a printed chain
        // (`{:#}`) would repeat it.
        assert!(std::error::Error::source(&e).is_none(), "{e}");
        assert_eq!(e.to_string().matches("No such file").count(), 1, "{e}");

        let latin1 = d.path().join("latin1.yaml");
        std::fs::write(&latin1, b"experiment_id: caf\xe9\n").unwrap();
        let e = load(&latin1, &ParseOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is not UTF-8 text; save it as UTF-8", latin1.display())
        );

        let big = d.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_EXPERIMENT_BYTES as usize + 1]).unwrap();
        let e = load(&big, &ParseOptions::default()).unwrap_err();
        assert!(matches!(e, ExperimentError::TooLarge { .. }), "{e}");

        let bad = d.path().join("bad.yaml");
        std::fs::write(&bad, "experiment_id: x\ntemprature: 1\n").unwrap();
        let e = load(&bad, &ParseOptions::default()).unwrap_err();
        let ExperimentError::Invalid(c) = &e else {
            panic!("{e}")
        };
        assert!(c.file.ends_with("bad.yaml"), "{e}");
    }

    #[test]
    fn a_valid_file_keeps_its_text() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ok.yaml");
        let text = "experiment_id: ok\nglobal:\n  models: [openai/gpt-4.1]\n  samples_per_condition: 1\nexpansions:\n  - name: a\n    enabled: true\n    variables:\n      scenarios: [blackmail]\n      goal_types: [none]\n      goal_values: [none]\n      urgency_types: [none]\n";
        std::fs::write(&f, text).unwrap();
        let l = load(&f, &ParseOptions::default()).unwrap();
        assert_eq!(l.text, text);
        assert_eq!(l.experiment.experiment_id, "ok");
    }
}
