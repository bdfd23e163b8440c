//! Does a rate generalise? The numbers beside each rate of a model x cell (a cell is a
//! condition with its surface variant and question form left out):
//!
//! - the canonical rate (variant 0, our packs' text), the pooled rate over the variants
//!   1..N and their difference with a Newcombe interval;
//! - the spread between the variants 0..N ([`spread`]: a homogeneity test and a
//!   between-variant variance);
//! - the public-prompt gap: the rate on the reference framework's templates (`--templates`)
//!   beside the canonical and the pooled rate, with the pairwise differences;
//! - the say-do gap: the stated harmful rate of each question form (open, forced choice)
//!   against the revealed (agentic) rate of the same cell.
//!
//! Pure: the report crate reads the arms from the store ([`Arm`]) and calls [`analyse`].
//! What each number means and where it stops meaning it: docs/generalisation.md.

pub mod spread;
pub mod stored;

pub use spread::{between_variance, homogeneity, BetweenVariance, Homogeneity, Spread};
pub use stored::{prompt_source, read_stored, StoredCondition};

use crate::stats::{rate_difference, IntervalMethod, RateDifference, RateEstimate};
use serde::Serialize;
use std::collections::BTreeMap;

/// How a prompt asks: the agentic scenario, or one of the question forms (the condition's
/// `format` setting; `agentic` when unset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Agentic,
    /// "What do you do?"
    Open,
    /// A forced choice among the pack's options.
    Choice,
}

impl Form {
    /// The setting word (`agentic` for no setting), `None` for an unknown word.
    pub fn parse(word: &str) -> Option<Form> {
        match word {
            "agentic" => Some(Form::Agentic),
            "open" => Some(Form::Open),
            "choice" => Some(Form::Choice),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Form::Agentic => "agentic",
            Form::Open => "open",
            Form::Choice => "choice",
        }
    }
}

/// Where a prompt's text came from: our scenario packs, or the reference framework's
/// templates (`--templates DIR`; recorded in the run's manifest, docs/generalisation.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptSource {
    Packs,
    Templates,
}

impl PromptSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptSource::Packs => "packs",
            PromptSource::Templates => "templates",
        }
    }
}

/// One arm's counts: a model on one condition (one variant, one form, one prompt source).
#[derive(Clone, Debug, PartialEq)]
pub struct Arm {
    pub model: String,
    /// The cell: the condition's id with its variant and question form left out.
    pub cell: String,
    pub scenario: String,
    pub source: PromptSource,
    /// The surface variant: 0 is the canonical text.
    pub variation: u32,
    pub form: Form,
    /// Verdicts judged harmful, of `n` (the rate's denominator).
    pub harmful: u64,
    pub n: u64,
}

/// One variant's rate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantRate {
    pub index: u32,
    pub estimate: RateEstimate,
}

/// The generalisation numbers of one model x cell. A difference is `None` when either of
/// its sides has no verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GeneralisationRow {
    pub model: String,
    /// The cell's id; [`ALL_CELLS`] in a roll-up row ([`analyse_by_scenario`]).
    pub cell: String,
    pub scenario: String,
    /// How many cells the row pools: 1, or more in a roll-up row.
    pub cells: usize,
    /// Our packs, variant 0, agentic: today's rate.
    pub canonical: RateEstimate,
    /// Variants 1..N of our packs (agentic), by index.
    pub variants: Vec<VariantRate>,
    /// All of `variants` pooled into one binomial (None without variants).
    pub pooled: Option<RateEstimate>,
    /// `pooled - canonical`, Newcombe interval, Fisher p.
    pub pooled_minus_canonical: Option<RateDifference>,
    /// The spread over variants 0..N (None with fewer than two variants with verdicts).
    pub spread: Option<Spread>,
    /// The reference framework's templates (`--templates`), canonical and agentic.
    pub reference: Option<RateEstimate>,
    /// `canonical - reference`: our wording against the public one.
    pub canonical_minus_reference: Option<RateDifference>,
    /// `pooled - reference`: unseen wordings against the public one.
    pub pooled_minus_reference: Option<RateDifference>,
    /// The question forms of our packs (variant 0): the stated harmful rate.
    pub stated_open: Option<RateEstimate>,
    pub stated_choice: Option<RateEstimate>,
    /// `stated - revealed` (revealed: `canonical`), per question form.
    pub say_do_open: Option<RateDifference>,
    pub say_do_choice: Option<RateDifference>,
}

impl GeneralisationRow {
    /// The row has a second number beside the canonical rate.
    fn has_data(&self) -> bool {
        !self.variants.is_empty()
            || self.reference.is_some()
            || self.stated_open.is_some()
            || self.stated_choice.is_some()
    }
}

/// The `cell` of a roll-up row: every cell of its scenario.
pub const ALL_CELLS: &str = "all cells";

/// Counts per arm summed (several conditions may collapse to one arm, e.g. two runs).
#[derive(Default)]
struct CellArms<'a> {
    scenario: String,
    /// The cells the arms came from (one, or a scenario's in a roll-up).
    cells: std::collections::BTreeSet<&'a str>,
    canonical: (u64, u64),
    variants: BTreeMap<u32, (u64, u64)>,
    reference: Option<(u64, u64)>,
    open: Option<(u64, u64)>,
    choice: Option<(u64, u64)>,
}

fn add(slot: &mut (u64, u64), a: &Arm) {
    slot.0 += a.harmful;
    slot.1 += a.n;
}

/// The rows of every model x cell with generalisation data (variants, a reference-template
/// arm or a question form), sorted by model and cell. Rates use `method`; differences are
/// Newcombe intervals at [`crate::stats::CONFIDENCE`] with Fisher's exact p-value.
///
/// Only our packs' arms count as canonical, variants and stated; only the templates'
/// canonical agentic arm counts as the reference (a template run's variants and question
/// forms, if any, are left out: the comparison is public text against ours).
pub fn analyse(arms: &[Arm], method: IntervalMethod) -> Vec<GeneralisationRow> {
    rows(arms, |a| &a.cell, method)
}

/// Per model x scenario, every cell of the scenario pooled into one row (`cell` is
/// [`ALL_CELLS`]), for the scenarios where a model has more than one cell with
/// generalisation data. A cell weighs by its samples, so the roll-up compares like with like
/// only when every side covers the same cells with the same samples (as one grid does).
pub fn analyse_by_scenario(arms: &[Arm], method: IntervalMethod) -> Vec<GeneralisationRow> {
    // Only the cells with a row of their own: a cell with its canonical rate alone would
    // weigh on the canonical side and nowhere else.
    let with_data: std::collections::BTreeSet<(String, String)> = analyse(arms, method)
        .into_iter()
        .map(|r| (r.model, r.cell))
        .collect();
    let kept: Vec<Arm> = arms
        .iter()
        .filter(|a| with_data.contains(&(a.model.clone(), a.cell.clone())))
        .cloned()
        .collect();
    rows(&kept, |a| &a.scenario, method)
        .into_iter()
        .filter(|r| r.cells > 1)
        .map(|mut r| {
            r.cell = ALL_CELLS.to_string();
            r
        })
        .collect()
}

/// The rows with arms grouped per model by `key` (the cell, or the scenario).
fn rows<'a>(
    arms: &'a [Arm],
    key: impl Fn(&'a Arm) -> &'a str,
    method: IntervalMethod,
) -> Vec<GeneralisationRow> {
    let mut cells: BTreeMap<(&str, &str), CellArms> = BTreeMap::new();
    for a in arms {
        let c = cells.entry((&a.model, key(a))).or_default();
        c.scenario.clone_from(&a.scenario);
        c.cells.insert(&a.cell);
        match (a.source, a.form, a.variation) {
            (PromptSource::Packs, Form::Agentic, 0) => add(&mut c.canonical, a),
            (PromptSource::Packs, Form::Agentic, k) => add(c.variants.entry(k).or_default(), a),
            (PromptSource::Packs, Form::Open, 0) => add(c.open.get_or_insert((0, 0)), a),
            (PromptSource::Packs, Form::Choice, 0) => add(c.choice.get_or_insert((0, 0)), a),
            (PromptSource::Templates, Form::Agentic, 0) => {
                add(c.reference.get_or_insert((0, 0)), a)
            }
            _ => {}
        }
    }
    let est = |(x, n): (u64, u64)| RateEstimate::from_counts(x, n, method);
    let diff = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| {
        let ((xa, na), (xb, nb)) = (a?, b?);
        rate_difference(xa, na, xb, nb)
    };
    cells
        .into_iter()
        .filter_map(|((model, cell), c)| {
            let pooled = (!c.variants.is_empty()).then(|| {
                c.variants
                    .values()
                    .fold((0, 0), |(x, n), &(vx, vn)| (x + vx, n + vn))
            });
            let canonical = Some(c.canonical);
            let mut all = vec![c.canonical];
            all.extend(c.variants.values().copied());
            let row = GeneralisationRow {
                model: model.to_string(),
                cell: cell.to_string(),
                scenario: c.scenario,
                cells: c.cells.len(),
                canonical: est(c.canonical),
                variants: c
                    .variants
                    .iter()
                    .map(|(&index, &counts)| VariantRate {
                        index,
                        estimate: est(counts),
                    })
                    .collect(),
                pooled: pooled.map(est),
                pooled_minus_canonical: diff(pooled, canonical),
                spread: spread::spread(&all),
                reference: c.reference.map(est),
                canonical_minus_reference: diff(canonical, c.reference),
                pooled_minus_reference: diff(pooled, c.reference),
                stated_open: c.open.map(est),
                stated_choice: c.choice.map(est),
                say_do_open: diff(c.open, canonical),
                say_do_choice: diff(c.choice, canonical),
            };
            row.has_data().then_some(row)
        })
        .collect()
}

#[cfg(test)]
mod tests;
