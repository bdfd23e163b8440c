//! What several test binaries of this crate share.

use std::process::Command;

/// The Python interpreter the cross-checks run, after making sure it starts.
///
/// A missing interpreter fails the test rather than skipping it: a cross-check that silently
/// does not run would let the suite pass without checking anything. `scripts/setup.sh`
/// installs python3 when it is missing.
pub fn python3() -> &'static str {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => "python3",
        Ok(o) => panic!(
            "python3 --version failed ({}): the cross-check against Python needs a working \
             python3; run scripts/setup.sh",
            o.status
        ),
        Err(e) => panic!(
            "python3 cannot be started ({e}): the cross-check against Python needs it; run \
             scripts/setup.sh, which installs it"
        ),
    }
}
