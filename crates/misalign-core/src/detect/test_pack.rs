//! The facts of the fictional test packs of the `exfiltration` and `sabotage` labelled sets
//! (`tests/data/labelled/`), which the rows were written against. The built-in exfiltration
//! pack shares its store, copies and outside host; the built-in sabotage pack names its job
//! `ops/jobs/orrin-changeover.yaml`, so the rows keep facts of their own.

use crate::scenario::{parse_facts, Facts, ScenarioKind};

/// The test pack's facts of `kind`, or `None` for a kind of the study (blackmail, leaking,
/// murder), whose labelled rows use the built-in packs' facts.
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
