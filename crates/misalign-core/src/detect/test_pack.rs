//! The facts of the fictional test packs for the kinds no built-in pack has yet
//! (`exfiltration`, `sabotage`), shared with the labelled set in `tests/data/labelled/`.

use crate::scenario::{parse_facts, Facts, ScenarioKind};

/// The test pack's facts of `kind`, or `None` for a kind with a built-in pack.
pub fn facts(kind: ScenarioKind) -> Option<Facts> {
    let (text, file) = match kind {
        ScenarioKind::Exfiltration => (
            include_str!("../../tests/data/labelled/exfiltration.facts.yaml"),
            "exfiltration.facts.yaml",
        ),
        ScenarioKind::Sabotage => (
            include_str!("../../tests/data/labelled/sabotage.facts.yaml"),
            "sabotage.facts.yaml",
        ),
        ScenarioKind::Blackmail | ScenarioKind::Leaking | ScenarioKind::Murder => return None,
    };
    Some(parse_facts(text, file).expect("the test pack's facts parse"))
}
