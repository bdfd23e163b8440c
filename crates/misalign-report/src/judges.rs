//! Agreement of several harm judges (`classification.judges`) over the reported run's
//! answers: each judge's harmful rate, each pair's raw agreement and kappa, the detector
//! against each judge, and the answers on which the judges that answered disagree, each
//! with a link to its transcript in the viewer. Absent (and out of summary.json) when the
//! run's answers were judged by one judge or none.

use crate::html::{esc, pct};
use crate::samples::JudgeColumns;
use crate::ReportError;
use misalign_core::stats::{IntervalMethod, RateEstimate};
use misalign_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// At most this many disagreements are listed (summary.json and report.html); the count
/// of all of them is `disagreements_total`.
pub const DISAGREEMENTS_LISTED: usize = 500;

/// The judges' agreement over one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JudgeAgreement {
    /// Each judge's own verdicts: harmful among the answers it judged (its yes before the
    /// scenario's gate), with the report's interval, and its failures.
    pub judges: Vec<JudgeRate>,
    /// Each pair of judges over the answers both judged.
    pub pairs: Vec<RaterPair>,
    /// The detector against each judge over the answers that judge judged.
    pub detector: Vec<RaterPair>,
    pub disagreements_total: usize,
    /// The first [`DISAGREEMENTS_LISTED`] answers on which the judges that answered
    /// disagree, in item order.
    pub disagreements: Vec<Disagreement>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JudgeRate {
    pub judge: String,
    pub estimate: RateEstimate,
    /// Answers this judge gave no usable verdict on.
    pub errors: u64,
}

/// Two raters (`a` is `detector` for the detector's rows) over the answers both rated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RaterPair {
    pub a: String,
    pub b: String,
    pub n: u64,
    pub agree: u64,
    /// `agree / n`.
    pub raw_agreement: Option<f64>,
    /// Cohen's kappa with its interval and caveats (`misalign_core::agreement`); null when
    /// undefined (no answers, or both raters constant and equal).
    pub kappa: Option<misalign_core::agreement::KappaEstimate>,
}

/// One answer the judges disagree on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disagreement {
    pub item_key: String,
    pub model: String,
    pub condition: String,
    /// 1-based, as in the viewer and response.json's folder.
    pub sample: i64,
    pub detector: Option<bool>,
    /// Each judge's verdict (null: it failed).
    pub judges: BTreeMap<String, Option<bool>>,
    pub final_verdict: Option<bool>,
}

/// Cohen's kappa of one pair of raters, from the agreement statistics the calibration
/// section uses too, so both sections give the same number.
fn pair_kappa(pairs: &[(bool, bool)]) -> Option<misalign_core::agreement::KappaEstimate> {
    misalign_core::agreement::cohen_binary(pairs, misalign_core::stats::CONFIDENCE)
}

fn pair(a: &str, b: &str, ratings: &[(bool, bool)]) -> RaterPair {
    let agree = ratings.iter().filter(|(x, y)| x == y).count() as u64;
    let n = ratings.len() as u64;
    RaterPair {
        a: a.to_string(),
        b: b.to_string(),
        n,
        agree,
        raw_agreement: (n > 0).then(|| agree as f64 / n as f64),
        kappa: pair_kappa(ratings),
    }
}

/// One answer's verdicts, as the agreement reads them.
struct Rated {
    item_key: String,
    model: String,
    condition: String,
    sample: i64,
    detector: Option<bool>,
    final_verdict: Option<bool>,
    judges: BTreeMap<String, Option<bool>>,
}

/// The agreement of run `run_id`'s answers, or `None` when no answer had several judges.
pub fn judge_agreement(
    store: &Store,
    run_id: i64,
    method: IntervalMethod,
) -> Result<Option<JudgeAgreement>, ReportError> {
    let columns = JudgeColumns::of(store)?;
    let mut rated = Vec::new();
    store
        .for_each_export_row(run_id, false, |r| {
            let judges: BTreeMap<String, Option<bool>> = columns
                .verdicts(&r.item_key)
                .into_iter()
                .map(|(m, v)| (m.to_string(), v))
                .collect();
            if !judges.is_empty() {
                rated.push(Rated {
                    item_key: r.item_key,
                    model: r.model,
                    condition: r.condition_id,
                    sample: r.sample_index + 1,
                    detector: r.detector_verdict.map(|v| v != 0),
                    final_verdict: r.final_verdict.map(|v| v != 0),
                    judges,
                });
            }
            Ok::<(), std::convert::Infallible>(())
        })?
        .unwrap_or_else(|never| match never {});
    Ok(agreement(&rated, method))
}

fn agreement(rated: &[Rated], method: IntervalMethod) -> Option<JudgeAgreement> {
    let names: Vec<&String> = {
        let all: std::collections::BTreeSet<&String> =
            rated.iter().flat_map(|r| r.judges.keys()).collect();
        all.into_iter().collect()
    };
    if names.len() < 2 {
        return None;
    }
    let verdict_of = |r: &Rated, j: &str| r.judges.get(j).copied().flatten();
    let judges = names
        .iter()
        .map(|j| {
            let verdicts: Vec<bool> = rated.iter().filter_map(|r| verdict_of(r, j)).collect();
            let harmful = verdicts.iter().filter(|v| **v).count() as u64;
            JudgeRate {
                judge: j.to_string(),
                estimate: RateEstimate::from_counts(harmful, verdicts.len() as u64, method),
                errors: rated
                    .iter()
                    .filter(|r| r.judges.get(j.as_str()).is_some_and(Option::is_none))
                    .count() as u64,
            }
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let both: Vec<(bool, bool)> = rated
                .iter()
                .filter_map(|r| Some((verdict_of(r, a)?, verdict_of(r, b)?)))
                .collect();
            pairs.push(pair(a, b, &both));
        }
    }
    let detector = names
        .iter()
        .map(|j| {
            let both: Vec<(bool, bool)> = rated
                .iter()
                .filter_map(|r| Some((r.detector?, verdict_of(r, j)?)))
                .collect();
            pair("detector", j, &both)
        })
        .collect();
    let split: Vec<&Rated> = rated
        .iter()
        .filter(|r| {
            let answered: Vec<bool> = r.judges.values().filter_map(|v| *v).collect();
            answered.contains(&true) && answered.contains(&false)
        })
        .collect();
    let disagreements = split
        .iter()
        .take(DISAGREEMENTS_LISTED)
        .map(|r| Disagreement {
            item_key: r.item_key.clone(),
            model: r.model.clone(),
            condition: r.condition.clone(),
            sample: r.sample,
            detector: r.detector,
            judges: r.judges.clone(),
            final_verdict: r.final_verdict,
        })
        .collect();
    Some(JudgeAgreement {
        judges,
        pairs,
        detector,
        disagreements_total: split.len(),
        disagreements,
    })
}

/// The viewer's link to a sample, `#sample/<model>/<condition>/<number>`, each part encoded
/// as the viewer's `anchorOf` does (JavaScript's `encodeURIComponent`: every byte but
/// letters, digits and `-_.!~*'()` as `%XX`), so the viewer's `followHash` opens it.
pub(crate) fn sample_anchor(model: &str, condition: &str, sample: i64) -> String {
    fn encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    }
    format!("#sample/{}/{}/{sample}", encode(model), encode(condition))
}

fn verdict_text(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "harmful",
        Some(false) => "not harmful",
        None => "no verdict",
    }
}

fn kappa_text(k: Option<&misalign_core::agreement::KappaEstimate>) -> String {
    k.map_or("undefined".into(), |k| match &k.ci {
        Some(ci) => format!("{:.2} [{:.2}, {:.2}]", k.kappa, ci.low, ci.high),
        None => format!("{:.2}", k.kappa),
    })
}

/// The report's "Judges" section (nothing with one judge or none). Every name and id is
/// model- or user-written text: escaped.
pub(crate) fn section(h: &mut String, agreement: Option<&JudgeAgreement>) {
    let Some(a) = agreement else { return };
    h.push_str(
        "<h2 id=\"judges\">Judges</h2>\n<p class=\"note\">Each judge's own verdict (its yes \
         before the scenario's action gate) over the answers it judged; raw agreement and \
         Cohen's kappa over the answers both raters judged (a failed judge is left out of \
         its pairs). The final verdict combines the judges by <code>classification.combine</code> \
         (docs/classification.md).</p>\n<table class=\"judge-rates\"><tr><th class=\"l\">judge</th>\
         <th>harmful / n</th><th>rate</th><th>failed</th></tr>\n",
    );
    for j in &a.judges {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            esc(&j.judge),
            j.estimate.harmful,
            j.estimate.n,
            pct(j.estimate.rate),
            j.errors
        );
    }
    h.push_str("</table>\n<table class=\"judge-pairs\"><tr><th class=\"l\">rater</th><th class=\"l\">rater</th><th>n</th><th>agree</th><th>raw agreement</th><th>kappa</th></tr>\n");
    for p in a.pairs.iter().chain(&a.detector) {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.a),
            esc(&p.b),
            p.n,
            p.agree,
            pct(p.raw_agreement),
            kappa_text(p.kappa.as_ref())
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<h3 id=\"judge-disagreements\">Disagreements ({})</h3>",
        a.disagreements_total
    );
    if a.disagreements.is_empty() {
        h.push_str("<p>The judges that answered agree on every answer.</p>\n");
        return;
    }
    if a.disagreements_total > a.disagreements.len() {
        let _ = writeln!(
            h,
            "<p class=\"note\">The first {} are listed (summary.json has the same).</p>",
            a.disagreements.len()
        );
    }
    h.push_str("<table class=\"judge-disagreements\"><tr><th class=\"l\">sample</th><th class=\"l\">model</th><th class=\"l\">condition</th><th>detector</th><th class=\"l\">judges</th><th>final</th></tr>\n");
    for d in &a.disagreements {
        let judges: Vec<String> = d
            .judges
            .iter()
            .map(|(m, v)| format!("{}: {}", esc(m), verdict_text(*v)))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td class=\"l\"><a href=\"{}\">{}</a></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            esc(&sample_anchor(&d.model, &d.condition, d.sample)),
            esc(&d.item_key),
            esc(&d.model),
            esc(&d.condition),
            verdict_text(d.detector),
            judges.join("<br>"),
            verdict_text(d.final_verdict)
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(key: &str, detector: bool, judges: &[(&str, Option<bool>)]) -> Rated {
        Rated {
            item_key: key.into(),
            model: "m/x".into(),
            condition: "c".into(),
            sample: 1,
            detector: Some(detector),
            final_verdict: Some(detector),
            judges: judges.iter().map(|(m, v)| (m.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn rates_pairs_and_disagreements_by_hand() {
        let y = Some(true);
        let n = Some(false);
        let rows = [
            rated("1", true, &[("a", y), ("b", y)]),
            rated("2", false, &[("a", n), ("b", y)]),
            rated("3", false, &[("a", n), ("b", n)]),
            rated("4", true, &[("a", y), ("b", None)]),
        ];
        let a = agreement(&rows, IntervalMethod::Wilson).unwrap();
        assert_eq!(
            (a.judges[0].estimate.harmful, a.judges[0].estimate.n),
            (2, 4)
        );
        assert_eq!(
            (
                a.judges[1].estimate.harmful,
                a.judges[1].estimate.n,
                a.judges[1].errors
            ),
            (2, 3, 1)
        );
        // a vs b over 1..3: agree on 1 and 3; po = 2/3, pa(yes) = 1/3, pb(yes) = 2/3,
        // pe = 1/3*2/3 + 2/3*1/3 = 4/9, kappa = (2/3 - 4/9) / (5/9) = 0.4.
        let p = &a.pairs[0];
        assert_eq!((p.n, p.agree), (3, 2));
        assert!((p.kappa.as_ref().unwrap().kappa - 0.4).abs() < 1e-12);
        // The detector agrees with a everywhere: kappa 1.
        assert_eq!(a.detector[0].agree, 4);
        assert!((a.detector[0].kappa.as_ref().unwrap().kappa - 1.0).abs() < 1e-12);
        // Only answer 2 splits the judges that answered (4's b failed: no disagreement).
        assert_eq!(a.disagreements_total, 1);
        assert_eq!(a.disagreements[0].item_key, "2");
        // One judge: no section.
        assert_eq!(
            agreement(&[rated("1", true, &[("a", y)])], IntervalMethod::Wilson),
            None
        );
    }

    #[test]
    fn links_match_the_viewers_encoding_and_html_is_escaped() {
        assert_eq!(
            sample_anchor("openai/gpt-4.1", "blackmail_explicit-america", 3),
            "#sample/openai%2Fgpt-4.1/blackmail_explicit-america/3"
        );
        assert_eq!(sample_anchor("a b<é", "c", 1), "#sample/a%20b%3C%C3%A9/c/1");
        let mut rows = vec![rated(
            "<k>",
            true,
            &[("<a>", Some(true)), ("b", Some(false))],
        )];
        rows[0].model = "m\"><script>".into();
        let a = agreement(&rows, IntervalMethod::Wilson).unwrap();
        let mut h = String::new();
        section(&mut h, Some(&a));
        assert!(!h.contains("<script>") && !h.contains("<k>") && !h.contains("<a>"));
        assert!(h.contains("&lt;a&gt;: harmful"));
        assert!(h.contains("href=\"#sample/m%22%3E%3Cscript%3E/c/1\""));
    }
}
