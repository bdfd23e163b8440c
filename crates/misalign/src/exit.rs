//! Exit codes scripts can rely on (documented in docs/cli.md).

use std::process::ExitCode;

/// The run finished, but some work failed for good (a call that exhausted its retries).
/// Results and reports are still written for what succeeded.
pub fn work_failed() -> ExitCode {
    ExitCode::from(1)
}

/// A usage or configuration error: nothing was sampled (clap uses 2 for usage errors too).
pub fn usage() -> ExitCode {
    ExitCode::from(2)
}

/// Stopped by Ctrl-C; what was answered is stored and the same command resumes.
pub fn interrupted() -> ExitCode {
    ExitCode::from(130)
}
