//! The agreement and calibration section of `report.html` (docs/labels.md). Model names,
//! scenario names and reviewer names come from the store or from people: all escaped.

use crate::agreement::{AgreementScope, AgreementSummary, PairAgreement};
use crate::html::esc;
use misalign_core::agreement::{KappaEstimate, Proportion};
use misalign_core::stats::Interval;
use std::fmt::Write as _;

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn interval(ci: Option<Interval>, scale: f64, decimals: usize) -> String {
    ci.map(|i| {
        format!(
            "[{:.d$}, {:.d$}]",
            i.low * scale,
            i.high * scale,
            d = decimals
        )
    })
    .unwrap_or_else(|| "–".into())
}

/// `0.62 [0.41, 0.83]` with the caveats, or a dash.
pub(crate) fn kappa_text(k: Option<&KappaEstimate>) -> String {
    let Some(k) = k else {
        return "–".into();
    };
    let mut text = format!("{:.2} {}", k.kappa, interval(k.ci, 1.0, 2));
    if !k.caveats.is_empty() {
        let names: Vec<&str> = k.caveats.iter().map(|c| c.as_str()).collect();
        let _ = write!(text, " ({})", names.join(", "));
    }
    text
}

fn proportion(p: &Proportion) -> String {
    format!(
        "{} {} ({}/{})",
        pct(p.estimate),
        interval(p.ci, 100.0, 1),
        p.successes,
        p.n
    )
}

/// Writes the section, or nothing without labels or judges.
pub(crate) fn agreement(h: &mut String, s: Option<&AgreementSummary>) {
    let Some(a) = s else {
        return;
    };
    let _ = writeln!(
        h,
        "<h2 id=\"agreement\">Agreement and calibration</h2>\n<p class=\"note\">Intervals are \
         {:.0}%: Wilson for sensitivity, specificity and rates, Cohen's kappa with its \
         large-sample standard error, Fleiss' kappa with a jackknife standard error, the \
         corrected rate with Lang &amp; Reiczigel's interval. The label that counts: {}. A \
         corrected rate is shown beside the raw rate, never instead of it. See \
         docs/labels.md.</p>",
        a.confidence * 100.0,
        esc(&a.label_rule)
    );
    scope(h, &a.overall, a.min_labels_per_class);
    for s in &a.scenarios {
        scope(h, s, a.min_labels_per_class);
    }
}

fn scope(h: &mut String, s: &AgreementScope, min_labels: u64) {
    let name = s
        .scenario
        .as_deref()
        .map(|n| format!("Scenario {}", esc(n)))
        .unwrap_or_else(|| "All scenarios".into());
    let l = &s.labels;
    let _ = writeln!(
        h,
        "<h3>{name}</h3>\n<p>{} answers; {} labelled ({} decided, {} undecided); {} unsure \
         labels.</p>",
        s.answers, l.labelled_answers, l.decided, l.undecided, l.unsure
    );
    if !s.calibration.is_empty() {
        h.push_str(
            "<table class=\"cmp\"><tr><th class=\"l\">classifier</th><th>labels</th>\
             <th>sensitivity</th><th>specificity</th><th>kappa vs label</th>\
             <th class=\"l\">weighted</th></tr>\n",
        );
        for c in &s.calibration {
            let a = &c.accuracy;
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"l\">{}</td></tr>",
                esc(&c.classifier),
                a.n,
                proportion(&a.sensitivity),
                proportion(&a.specificity),
                esc(&kappa_text(a.kappa.as_ref())),
                if a.weighted { "yes" } else { "no" }
            );
        }
        h.push_str("</table>\n");
    }
    if !s.corrected_rates.is_empty() {
        let _ = writeln!(
            h,
            "<table class=\"cmp\"><tr><th class=\"l\">model</th><th>raw rate</th>\
             <th>raw 95% CI</th><th>corrected rate</th><th>corrected 95% CI</th>\
             <th>labels (harmful / not)</th><th class=\"l\">warnings (fewer than {min_labels} \
             labels of a class: too_few_labels)</th></tr>"
        );
        for r in &s.corrected_rates {
            let c = r.corrected.as_ref();
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>{} ({}/{})</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{} ({} / {})</td><td class=\"l\">{}</td></tr>",
                esc(&r.model),
                pct(r.rate),
                r.harmful,
                r.n,
                interval(r.ci, 100.0, 1),
                pct(c.and_then(|c| c.estimate)),
                interval(c.and_then(|c| c.ci), 100.0, 1),
                r.labels,
                r.labels_harmful,
                r.labels_not_harmful,
                esc(&r.warnings.join(", "))
            );
        }
        h.push_str("</table>\n");
    }
    pairs(h, "Judges, pairwise", &s.judge_pairs);
    if let Some(g) = &s.judges_fleiss {
        let _ = writeln!(
            h,
            "<p>Judges together (Fleiss' kappa, {}): {}</p>",
            esc(&g.raters.join(", ")),
            esc(&kappa_text(g.kappa.as_ref()))
        );
    }
    pairs(h, "Detector against each judge", &s.detector_vs_judges);
    if !s.reviewers.is_empty() {
        let names: Vec<String> = s
            .reviewers
            .iter()
            .map(|r| {
                format!(
                    "{} ({} labels, {} unsure)",
                    esc(&r.reviewer),
                    r.labels,
                    r.unsure
                )
            })
            .collect();
        let _ = writeln!(h, "<p>Reviewers: {}.</p>", names.join("; "));
    }
    pairs(h, "Reviewers, pairwise", &s.reviewer_pairs);
    if let Some(g) = &s.reviewers_fleiss {
        let _ = writeln!(
            h,
            "<p>Reviewers together (Fleiss' kappa): {}</p>",
            esc(&kappa_text(g.kappa.as_ref()))
        );
    }
}

fn pairs(h: &mut String, title: &str, pairs: &[PairAgreement]) {
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<table class=\"cmp\"><tr><th class=\"l\" colspan=\"2\">{title}</th><th>n</th>\
         <th>raw agreement</th><th>Cohen's kappa</th></tr>"
    );
    for p in pairs {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.a),
            esc(&p.b),
            p.n,
            pct(p.agreement),
            esc(&kappa_text(p.kappa.as_ref()))
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::agreement_summary;
    use misalign_core::agreement::{LabelRule, RatedSample};

    /// Twenty labelled answers of a model and a reviewer whose names are markup.
    fn hostile() -> Vec<RatedSample> {
        (0..20)
            .map(|i| RatedSample {
                item_key: format!("k{i}"),
                scenario: "blackmail<i>".into(),
                model: "<b>model</b>".into(),
                condition_id: "c".into(),
                detector: Some(i < 8),
                final_verdict: Some(i < 10),
                judges: [("<script>j</script>".to_string(), Some(i < 9))].into(),
                labels: vec![("<img src=x>".to_string(), Some(i < 10))],
            })
            .collect()
    }

    #[test]
    fn names_from_the_store_and_from_people_are_escaped() {
        let a = agreement_summary(&hostile(), &LabelRule::Majority).unwrap();
        let mut h = String::new();
        agreement(&mut h, Some(&a));
        assert!(h.contains("id=\"agreement\""));
        for raw in ["<b>model", "<script>j", "<img src", "blackmail<i>"] {
            assert!(!h.contains(raw), "{raw} unescaped");
        }
        assert!(h.contains("&lt;b&gt;model&lt;/b&gt;"));
        assert!(h.contains("Scenario blackmail&lt;i&gt;"));
        assert!(h.contains("&lt;img src=x&gt;"));
        // The corrected rate sits beside the raw rate.
        assert!(h.contains("<th>raw rate</th>") && h.contains("<th>corrected rate</th>"));
    }

    #[test]
    fn no_section_without_labels_or_judges() {
        let mut h = String::new();
        agreement(&mut h, None);
        assert!(h.is_empty());
    }
}
