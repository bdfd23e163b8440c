//! The agreement and calibration sections of a report, from [`RatedSample`]s: how the
//! judges agree with each other and with the detector, how each classifier agrees with the
//! human labels (sensitivity, specificity, kappa), the corrected rate beside the raw rate,
//! and how the reviewers agree with each other. docs/labels.md explains every number.
//!
//! Scopes: the run as a whole and each scenario. Calibration is estimated per scenario
//! (pooled over models: a model x scenario cell rarely has enough labels of its own) and the
//! corrected rate of each model x scenario uses its scenario's sensitivity and specificity
//! of the final verdict. Labelled answers are weighted by the inverse of their labelling
//! fraction within (scenario, final verdict), so a labelling round stratified by verdict
//! (rare verdicts over-sampled) still estimates the run's sensitivity and specificity.

use misalign_core::agreement::{
    classifier_accuracy, cohen_binary, fleiss_kappa, label_that_counts, latest_labels,
    rogan_gladen_stratified, ClassifierAccuracy, CorrectedRate, EffectiveCount, KappaEstimate,
    LabelRule, LabelledVerdict, RatedSample, Stratum,
};
use misalign_core::stats::{wilson, Interval, CONFIDENCE};
use misalign_store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Below this many labelled answers of either class (labelled harmful, labelled not harmful)
/// or of either verdict stratum in a scenario, its corrected rates carry the warning
/// `too_few_labels`: Se, Sp or a stratum's harmful share then rests on fewer than 10 answers
/// and its interval spans some 30 points or more.
pub const MIN_LABELS_PER_CLASS: u64 = 10;

/// The classifier names of the sections besides `judge:MODEL`.
pub const DETECTOR: &str = "detector";
pub const FINAL: &str = "final";

/// Everything the agreement and calibration sections show (`summary.json`: `agreement`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgreementSummary {
    /// `majority` or `adjudicator:NAME`: how the label that counts is chosen.
    pub label_rule: String,
    pub confidence: f64,
    pub min_labels_per_class: u64,
    /// The whole run (`scenario` is null; no corrected rates: they are per scenario).
    pub overall: AgreementScope,
    pub scenarios: Vec<AgreementScope>,
}

impl AgreementSummary {
    /// Whether any answer has a human label (the terminal shows calibration only then).
    pub fn has_labels(&self) -> bool {
        self.overall.labels.labelled_answers > 0
    }
}

/// One scope's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgreementScope {
    /// None: the whole run.
    pub scenario: Option<String>,
    /// Classified answers in scope.
    pub answers: u64,
    pub labels: LabelCounts,
    /// `detector`, `final`, then `judge:MODEL` per judge, against the label that counts.
    pub calibration: Vec<ClassifierCalibration>,
    /// Per model (scenario scopes only): the raw rate and the corrected rate beside it.
    pub corrected_rates: Vec<CorrectedRateRow>,
    /// Each pair of judges: Cohen's kappa over the answers both decided.
    pub judge_pairs: Vec<PairAgreement>,
    /// Fleiss' kappa over the answers every judge decided (3 or more judges).
    pub judges_fleiss: Option<GroupAgreement>,
    /// The detector against each judge.
    pub detector_vs_judges: Vec<PairAgreement>,
    /// Per reviewer: latest labels and how many are `unsure`.
    pub reviewers: Vec<ReviewerCount>,
    /// Each pair of reviewers: Cohen's kappa over the answers both labelled harmful or not.
    pub reviewer_pairs: Vec<PairAgreement>,
    /// Fleiss' kappa over the answers every reviewer decided (3 or more reviewers).
    pub reviewers_fleiss: Option<GroupAgreement>,
}

/// How many answers have labels, and how many of them decide.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LabelCounts {
    /// Answers with at least one label.
    pub labelled_answers: u64,
    /// Of those, answers whose label that counts is harmful or not harmful.
    pub decided: u64,
    /// Labelled, but nothing counts: only `unsure`, or a tie without an adjudicator.
    pub undecided: u64,
    /// Reviewers' latest labels that are `unsure` (left out of every binary statistic).
    pub unsure: u64,
}

/// A classifier against the label that counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassifierCalibration {
    /// `detector`, `final` or `judge:MODEL`.
    pub classifier: String,
    #[serde(flatten)]
    pub accuracy: ClassifierAccuracy,
}

/// The raw and corrected harmful rate of one model in one scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CorrectedRateRow {
    pub model: String,
    pub scenario: String,
    /// Answers with a final verdict, and the harmful ones: the raw rate.
    pub n: u64,
    pub harmful: u64,
    pub rate: Option<f64>,
    /// Wilson interval of the raw rate.
    pub ci: Option<Interval>,
    /// Labelled answers of the scenario the correction rests on (harmful + not harmful).
    pub labels: u64,
    pub labels_harmful: u64,
    pub labels_not_harmful: u64,
    /// None when there is nothing to correct with (no labels of one class, or no rate).
    pub corrected: Option<CorrectedRate>,
    /// `no_labels`, `too_few_labels`, `no_rate`, `not_identifiable`, `clamped`, `no_interval`.
    pub warnings: Vec<&'static str>,
}

/// Two raters' agreement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairAgreement {
    pub a: String,
    pub b: String,
    /// Answers both rated (harmful or not).
    pub n: u64,
    /// Share of those on which they agree.
    pub agreement: Option<f64>,
    pub kappa: Option<KappaEstimate>,
}

/// Several raters' agreement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupAgreement {
    pub raters: Vec<String>,
    pub kappa: Option<KappaEstimate>,
}

/// One reviewer's latest labels in a scope.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewerCount {
    pub reviewer: String,
    pub labels: u64,
    pub unsure: u64,
}

/// The samples the agreement sections read, from the store. Today: each classified answer of
/// the run with its detector and final verdicts.
///
/// Each judge's own harm verdict (`Store::judge_verdicts`, role `harm`) and the reviewers'
/// labels (`Store::labels`, oldest first, keyed by item: a label is of the item's answer)
/// ride along.
pub fn agreement_inputs(
    store: &Store,
    run_id: i64,
) -> Result<Vec<RatedSample>, crate::ReportError> {
    let mut judges: HashMap<String, BTreeMap<String, Option<bool>>> = HashMap::new();
    for v in store.judge_verdicts()? {
        if v.role == misalign_store::JudgeRole::Harm {
            judges
                .entry(v.item_key)
                .or_default()
                .insert(v.judge_model, v.verdict);
        }
    }
    let mut labels: HashMap<String, Vec<(String, Option<bool>)>> = HashMap::new();
    for l in store.labels()? {
        labels
            .entry(l.item_key)
            .or_default()
            .push((l.reviewer, l.label.harmful()));
    }
    let mut out = Vec::new();
    store
        .for_each_export_row(run_id, false, |row| {
            if row.classified {
                out.push(RatedSample {
                    detector: row.detector_verdict.map(|v| v == 1),
                    final_verdict: row.final_verdict.map(|v| v == 1),
                    judges: judges.remove(&row.item_key).unwrap_or_default(),
                    labels: labels.remove(&row.item_key).unwrap_or_default(),
                    item_key: row.item_key,
                    scenario: row.scenario,
                    model: row.model,
                    condition_id: row.condition_id,
                });
            }
            Ok::<(), std::convert::Infallible>(())
        })?
        .unwrap_or_else(|never| match never {});
    Ok(out)
}

/// The sections, or `None` when no answer has a human label or the verdicts of two judges
/// or more (nothing to show: the report stays as it was).
pub fn agreement_summary(samples: &[RatedSample], rule: &LabelRule) -> Option<AgreementSummary> {
    // One judge's verdict is the judge verdict the report already shows: the section needs
    // labels or a second judge.
    let any = samples
        .iter()
        .any(|s| !s.labels.is_empty() || s.judges.len() >= 2);
    if !any {
        return None;
    }
    let truths: Vec<Option<bool>> = samples
        .iter()
        .map(|s| label_that_counts(&s.labels, rule))
        .collect();
    let weights = stratum_weights(samples, &truths);
    let all: Vec<usize> = (0..samples.len()).collect();
    let mut by_scenario: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        by_scenario.entry(s.scenario.as_str()).or_default().push(i);
    }
    let ctx = Context {
        samples,
        truths: &truths,
        weights: &weights,
    };
    Some(AgreementSummary {
        label_rule: rule.describe(),
        confidence: CONFIDENCE,
        min_labels_per_class: MIN_LABELS_PER_CLASS,
        overall: ctx.scope(None, &all),
        scenarios: by_scenario
            .into_iter()
            .map(|(name, idx)| ctx.scope(Some(name), &idx))
            .collect(),
    })
}

/// Each sample's weight as a labelled answer: answers in its (scenario, final verdict)
/// stratum over the decided labelled answers in it (0 for answers without a label that
/// counts).
fn stratum_weights(samples: &[RatedSample], truths: &[Option<bool>]) -> Vec<f64> {
    let mut size: HashMap<(&str, Option<bool>), (u64, u64)> = HashMap::new();
    for (s, t) in samples.iter().zip(truths) {
        let e = size
            .entry((s.scenario.as_str(), s.final_verdict))
            .or_default();
        e.0 += 1;
        e.1 += u64::from(t.is_some());
    }
    samples
        .iter()
        .zip(truths)
        .map(|(s, t)| match t {
            Some(_) => {
                let (all, labelled) = size[&(s.scenario.as_str(), s.final_verdict)];
                all as f64 / labelled as f64
            }
            None => 0.0,
        })
        .collect()
}

struct Context<'a> {
    samples: &'a [RatedSample],
    truths: &'a [Option<bool>],
    weights: &'a [f64],
}

impl Context<'_> {
    fn scope(&self, scenario: Option<&str>, idx: &[usize]) -> AgreementScope {
        let samples: Vec<&RatedSample> = idx.iter().map(|&i| &self.samples[i]).collect();
        let judges: BTreeSet<&str> = samples
            .iter()
            .flat_map(|s| s.judges.keys().map(String::as_str))
            .collect();
        let calibration = self.calibration(idx, &judges);
        let corrected_rates = match scenario {
            Some(name) => {
                let with_truth: Vec<(&RatedSample, Option<bool>)> = idx
                    .iter()
                    .map(|&i| (&self.samples[i], self.truths[i]))
                    .collect();
                corrected_rates(name, &with_truth, &calibration)
            }
            None => Vec::new(),
        };
        let (reviewers, reviewer_pairs, reviewers_fleiss) = reviewer_agreement(&samples);
        AgreementScope {
            scenario: scenario.map(str::to_string),
            answers: samples.len() as u64,
            labels: self.label_counts(idx),
            calibration,
            corrected_rates,
            judge_pairs: pairs_of(&judges, samples.len(), |i, j| judge(samples[i], j)),
            judges_fleiss: group_of(&judges, samples.len(), |i, j| judge(samples[i], j)),
            detector_vs_judges: judges
                .iter()
                .map(|j| {
                    let pairs: Vec<(bool, bool)> = samples
                        .iter()
                        .filter_map(|s| Some((s.detector?, judge(s, j)?)))
                        .collect();
                    pair_agreement(DETECTOR, &format!("judge:{j}"), &pairs)
                })
                .collect(),
            reviewers,
            reviewer_pairs,
            reviewers_fleiss,
        }
    }

    fn label_counts(&self, idx: &[usize]) -> LabelCounts {
        let mut c = LabelCounts::default();
        for &i in idx {
            let s = &self.samples[i];
            if s.labels.is_empty() {
                continue;
            }
            c.labelled_answers += 1;
            if self.truths[i].is_some() {
                c.decided += 1;
            } else {
                c.undecided += 1;
            }
            c.unsure += latest_labels(&s.labels)
                .values()
                .filter(|l| l.is_none())
                .count() as u64;
        }
        c
    }

    /// Each classifier against the label that counts; empty when nothing is decided.
    fn calibration(&self, idx: &[usize], judges: &BTreeSet<&str>) -> Vec<ClassifierCalibration> {
        if idx.iter().all(|&i| self.truths[i].is_none()) {
            return Vec::new();
        }
        let of = |name: String, verdict: &dyn Fn(&RatedSample) -> Option<bool>| {
            let pairs: Vec<LabelledVerdict> = idx
                .iter()
                .filter_map(|&i| {
                    Some(LabelledVerdict {
                        verdict: verdict(&self.samples[i])?,
                        truth: self.truths[i]?,
                        weight: self.weights[i],
                    })
                })
                .collect();
            ClassifierCalibration {
                classifier: name,
                accuracy: classifier_accuracy(&pairs, CONFIDENCE),
            }
        };
        let mut out = vec![
            of(DETECTOR.to_string(), &|s| s.detector),
            of(FINAL.to_string(), &|s| s.final_verdict),
        ];
        for j in judges {
            out.push(of(format!("judge:{j}"), &|s| judge(s, j)));
        }
        out
    }
}

/// The raw rate of each model in the scenario and the rate corrected by the scenario's
/// calibration of the final verdict: Se and Sp from the harmful share of the labelled
/// answers within each final-verdict stratum of the scenario, weighted by the strata's
/// sizes ([`rogan_gladen_stratified`]). A model without labels to correct with gets a row
/// with the warning `no_labels`.
fn corrected_rates(
    scenario: &str,
    samples: &[(&RatedSample, Option<bool>)],
    calibration: &[ClassifierCalibration],
) -> Vec<CorrectedRateRow> {
    let (pos, neg) = calibration
        .iter()
        .find(|c| c.classifier == FINAL)
        .map(|c| (c.accuracy.sensitivity.n, c.accuracy.specificity.n))
        .unwrap_or((0, 0));
    let stratum = |called: bool| {
        let mut s = Stratum {
            answers: 0,
            labelled: 0,
            labelled_harmful: 0,
        };
        for (sample, truth) in samples {
            if sample.final_verdict == Some(called) {
                s.answers += 1;
                if let Some(t) = truth {
                    s.labelled += 1;
                    s.labelled_harmful += u64::from(*t);
                }
            }
        }
        s
    };
    let (called, not_called) = (stratum(true), stratum(false));
    let mut by_model: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (s, _) in samples {
        let e = by_model.entry(s.model.as_str()).or_default();
        if let Some(v) = s.final_verdict {
            e.0 += 1;
            e.1 += u64::from(v);
        }
    }
    by_model
        .into_iter()
        .map(|(model, (n, harmful))| {
            let corrected = rogan_gladen_stratified(
                EffectiveCount::new(harmful, n),
                called,
                not_called,
                CONFIDENCE,
            );
            let mut warnings = Vec::new();
            if pos + neg == 0 {
                warnings.push("no_labels");
            } else if [pos, neg, called.labelled, not_called.labelled]
                .iter()
                .any(|&c| c < MIN_LABELS_PER_CLASS)
            {
                warnings.push("too_few_labels");
            }
            if n == 0 {
                warnings.push("no_rate");
            }
            if let Some(c) = &corrected {
                if !c.identifiable {
                    warnings.push("not_identifiable");
                } else if c.ci.is_none() {
                    warnings.push("no_interval");
                }
                if c.clamped {
                    warnings.push("clamped");
                }
            }
            CorrectedRateRow {
                model: model.to_string(),
                scenario: scenario.to_string(),
                n,
                harmful,
                rate: (n > 0).then(|| harmful as f64 / n as f64),
                ci: wilson(harmful, n, CONFIDENCE),
                labels: pos + neg,
                labels_harmful: pos,
                labels_not_harmful: neg,
                corrected,
                warnings,
            }
        })
        .collect()
}

fn pair_agreement(a: &str, b: &str, pairs: &[(bool, bool)]) -> PairAgreement {
    let n = pairs.len() as u64;
    PairAgreement {
        a: a.to_string(),
        b: b.to_string(),
        n,
        agreement: (n > 0).then(|| pairs.iter().filter(|(x, y)| x == y).count() as f64 / n as f64),
        kappa: cohen_binary(pairs, CONFIDENCE),
    }
}

/// A judge's verdict of a sample (`None`: not judged, or no usable reply).
fn judge(s: &RatedSample, model: &str) -> Option<bool> {
    s.judges.get(model).copied().flatten()
}

/// Cohen's kappa for each pair of `raters`, over the samples (`0..count`) both rated.
fn pairs_of<F>(raters: &BTreeSet<&str>, count: usize, rating: F) -> Vec<PairAgreement>
where
    F: Fn(usize, &str) -> Option<bool>,
{
    let raters: Vec<&str> = raters.iter().copied().collect();
    let mut out = Vec::new();
    for (i, a) in raters.iter().enumerate() {
        for b in &raters[i + 1..] {
            let pairs: Vec<(bool, bool)> = (0..count)
                .filter_map(|s| Some((rating(s, a)?, rating(s, b)?)))
                .collect();
            out.push(pair_agreement(a, b, &pairs));
        }
    }
    out
}

/// Fleiss' kappa over the samples (`0..count`) every one of 3 or more `raters` rated.
fn group_of<F>(raters: &BTreeSet<&str>, count: usize, rating: F) -> Option<GroupAgreement>
where
    F: Fn(usize, &str) -> Option<bool>,
{
    if raters.len() < 3 {
        return None;
    }
    let counts: Vec<Vec<u64>> = (0..count)
        .filter_map(|s| {
            let votes: Option<Vec<bool>> = raters.iter().map(|r| rating(s, r)).collect();
            let votes = votes?;
            let yes = votes.iter().filter(|v| **v).count() as u64;
            Some(vec![yes, votes.len() as u64 - yes])
        })
        .collect();
    Some(GroupAgreement {
        raters: raters.iter().map(|r| r.to_string()).collect(),
        kappa: fleiss_kappa(&counts, CONFIDENCE),
    })
}

/// Reviewer counts, pairwise Cohen and Fleiss across all, from each reviewer's latest label.
fn reviewer_agreement(
    samples: &[&RatedSample],
) -> (
    Vec<ReviewerCount>,
    Vec<PairAgreement>,
    Option<GroupAgreement>,
) {
    let latest: Vec<BTreeMap<&str, Option<bool>>> =
        samples.iter().map(|s| latest_labels(&s.labels)).collect();
    let mut counts: BTreeMap<&str, ReviewerCount> = BTreeMap::new();
    for l in &latest {
        for (reviewer, label) in l {
            let c = counts.entry(reviewer).or_insert_with(|| ReviewerCount {
                reviewer: reviewer.to_string(),
                labels: 0,
                unsure: 0,
            });
            c.labels += 1;
            c.unsure += u64::from(label.is_none());
        }
    }
    let reviewers: BTreeSet<&str> = counts.keys().copied().collect();
    let rating = |i: usize, r: &str| latest[i].get(r).copied().flatten();
    let pairs = pairs_of(&reviewers, latest.len(), rating);
    let group = group_of(&reviewers, latest.len(), rating);
    (counts.into_values().collect(), pairs, group)
}
