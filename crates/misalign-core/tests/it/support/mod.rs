//! What several test binaries of this crate share (each uses a part of it).
#![allow(dead_code)]

use misalign_core::{Condition, GoalType, Urgency};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The goal values of the reference-layout fixture's variables files.
pub const VALUES: [&str; 8] = misalign_core::config::VALUE_GOAL_VALUES;

/// Our reference-layout fixture folder (our own text, the reference framework's layout).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference-layout")
}

/// The built-in scenarios the reference framework also has (blackmail, leaking, murder):
/// the ones its layout, prompts and facts are compared on.
pub fn study_scenarios() -> impl Iterator<Item = &'static str> {
    misalign_core::scenario::builtin_scenarios().filter(|s| {
        misalign_core::scenario::ScenarioKind::parse(s)
            .is_some_and(misalign_core::detect::reference_facts::has_reference_scenario)
    })
}

/// The 162 distinct non-swap conditions of the study's scenarios: 3 scenarios x (explicit,
/// latent) x 8 values x 3 urgencies, plus ambiguous and none (whose value collapses to
/// `none`) x 3 urgencies.
pub fn non_swap_grid() -> Vec<Condition> {
    let mut out = Vec::new();
    for scenario in study_scenarios() {
        for goal_type in [
            GoalType::Explicit,
            GoalType::Latent,
            GoalType::Ambiguous,
            GoalType::None,
        ] {
            for value in VALUES {
                for urgency in Urgency::ALL {
                    let c = Condition::new(scenario, goal_type, value, urgency);
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

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
