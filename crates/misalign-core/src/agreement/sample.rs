//! The input of the agreement and calibration sections: one answer with every verdict and
//! every human label it has (the report fills it from the store).

use serde::Serialize;
use std::collections::BTreeMap;

/// One classified answer of a run with its verdicts and labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RatedSample {
    pub item_key: String,
    pub scenario: String,
    pub model: String,
    pub condition_id: String,
    /// The deterministic detector's verdict (`true` harmful).
    pub detector: Option<bool>,
    /// The verdict the rates count (`None`: excluded from the rate, e.g. unparsed).
    pub final_verdict: Option<bool>,
    /// Each harm judge's verdict by judge model (`None`: the judge gave no usable reply).
    pub judges: BTreeMap<String, Option<bool>>,
    /// Human labels, oldest first: (reviewer, `Some(true)` harmful, `Some(false)` not,
    /// `None` unsure). A reviewer's latest label counts ([`super::latest_labels`]).
    pub labels: Vec<(String, Option<bool>)>,
}
