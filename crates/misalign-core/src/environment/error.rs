//! What can go wrong reading an environment file or setting up an environment from it.
//! Each message names the file (with line and column where the file is at fault) and says
//! what to do. Mistakes of the agent during an episode are never errors: they are error
//! observations ([`super::Observation::is_error`]).

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io { path: String, message: String },

    /// Not YAML, a field of the wrong shape or value, an unknown field: located.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// The file parses but does not fit the scenario it is used with (its facts, the
    /// rendered inbox, the condition's labels).
    #[error("{file}: {message}")]
    Setup { file: String, message: String },
}
