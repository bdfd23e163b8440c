//! The terminal table.

use crate::summary::ReportSummary;
use std::fmt::Write;

pub(crate) use misalign_store::untrusted::terminal_safe;

/// A p-value for people: 4 decimals, or 2 significant digits below 0.0001 (where "0.0000"
/// would hide how small it is).
pub(crate) fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

pub(crate) fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Lays out `rows` under `head` in aligned columns; columns from `first_numeric` on are
/// right-aligned.
pub(crate) fn aligned(head: &[&str], rows: &[Vec<String>], first_numeric: usize, out: &mut String) {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str], out: &mut String| {
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            let pad = w - c.chars().count();
            if i >= first_numeric {
                let _ = write!(out, "{}{}  ", " ".repeat(pad), c);
            } else {
                let _ = write!(out, "{}{}  ", c, " ".repeat(pad));
            }
        }
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    };
    line(head, out);
    for r in rows {
        line(&r.iter().map(String::as_str).collect::<Vec<_>>(), out);
    }
}

fn interval_pct(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("[{:.1}, {:.1}]", l * 100.0, h * 100.0),
        _ => "-".into(),
    }
}

/// The rate table (one line per model x condition), exclusions when there are any, the
/// comparison counts per axis and the real-vs-evaluation contrasts, as text.
pub fn render_table(s: &ReportSummary) -> String {
    let mut out = String::new();
    if s.rows.is_empty() {
        out.push_str("No planned samples in this results folder yet.\n");
        return out;
    }
    // Exclusion columns only when some row has exclusions: the common case stays narrow.
    let any_excluded = s.rows.iter().any(|r| r.excluded > 0);
    // Likewise the escalation column, only when some answer escalated, and the pending
    // column, only when some planned sample has no answer yet.
    let any_escalated = s.rows.iter().any(|r| r.escalated > 0);
    let any_pending = s.rows.iter().any(|r| r.pending > 0);
    let rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            let mut row = vec![
                terminal_safe(&r.model),
                terminal_safe(&r.condition),
                format!("{}/{}", r.harmful, r.n),
                pct(r.rate),
                interval_pct(r.ci_low, r.ci_high),
            ];
            if any_excluded {
                row.push(r.excluded.to_string());
                row.push(interval_pct(
                    r.rate_if_excluded_harmless,
                    r.rate_if_excluded_harmful,
                ));
            }
            if any_escalated {
                row.push(format!(
                    "{}/{} {}",
                    r.escalated,
                    r.n,
                    interval_pct(r.escalation_ci_low, r.escalation_ci_high)
                ));
            }
            row.push(format!("{}/{}", r.answered, r.planned));
            if any_pending {
                row.push(r.pending.to_string());
            }
            row
        })
        .collect();
    let mut head = vec!["model", "condition", "harmful/n", "rate", "95% CI (%)"];
    if any_excluded {
        head.extend(["excluded", "if excl. counted (%)"]);
    }
    if any_escalated {
        head.push("escalated/n [CI %]");
    }
    head.push("answered");
    if any_pending {
        head.push("pending");
    }
    aligned(&head, &rows, 2, &mut out);
    let sum = |f: fn(&crate::SummaryRow) -> u64| s.rows.iter().map(f).sum::<u64>();
    // Unparsed answers and pending samples are named only when there are some.
    let unparsed = match sum(|r| r.unparsed) {
        0 => String::new(),
        n => format!("{n} unparsed, "),
    };
    let pending = match sum(|r| r.pending) {
        0 => String::new(),
        n => format!("; {n} planned samples pending"),
    };
    let _ = writeln!(
        out,
        "\n{} interval ({}%). Left out of n: {} judge errors, {unparsed}{} content-filtered, {} empty answers{}; {} answers not yet classified{pending}.",
        s.interval_method,
        (s.confidence * 100.0).round(),
        sum(|r| r.judge_errors),
        sum(|r| r.content_filtered),
        sum(|r| r.empty),
        if any_excluded {
            " (\"if excl. counted\": the rate had they all been harmless / all harmful)"
        } else {
            ""
        },
        sum(|r| r.unclassified),
    );
    if let Some(r) = s.run.as_ref().filter(|r| r.sampled_nothing()) {
        let _ = writeln!(out, "{}", crate::html::reused_note(r));
    }
    comparison_counts(s, &mut out);
    mitigation_table(s, &mut out);
    real_vs_eval(s, &mut out);
    calibration(s, &mut out);
    crate::generalisation_table::generalisation_table(s.generalisation.as_ref(), &mut out);
    out.push_str(&crate::costs::cost_lines(&s.costs));
    // Last, so they stay on screen: what changes how to read the numbers above.
    if let Some(line) = s.run_facts.settings_line() {
        let _ = writeln!(out, "\nSampled with {line}.");
    }
    for c in s.run_facts.cautions(&s.results_dir) {
        let _ = writeln!(out, "warning: {}", terminal_safe(&c));
    }
    out
}

/// When answers have human labels: per scenario, the final verdict's sensitivity,
/// specificity and kappa against the labels, and each model's corrected rate beside its raw
/// rate (everything else of the agreement section is in `summary.json` and `report.html`).
fn calibration(s: &ReportSummary, out: &mut String) {
    let Some(a) = s.agreement.as_ref().filter(|a| a.has_labels()) else {
        return;
    };
    let l = &a.overall.labels;
    let _ = writeln!(
        out,
        "\nCalibration against human labels (label that counts: {}; {} labelled answers, {} \
         decided, {} unsure labels; docs/labels.md):",
        terminal_safe(&a.label_rule),
        l.labelled_answers,
        l.decided,
        l.unsure
    );
    let ratio = |p: &misalign_core::agreement::Proportion| {
        format!(
            "{} {} ({}/{})",
            pct(p.estimate),
            interval_pct(p.ci.map(|i| i.low), p.ci.map(|i| i.high)),
            p.successes,
            p.n
        )
    };
    for scope in &a.scenarios {
        let name = terminal_safe(scope.scenario.as_deref().unwrap_or_default());
        if let Some(c) = scope
            .calibration
            .iter()
            .find(|c| c.classifier == crate::agreement::FINAL)
        {
            let kappa = c
                .accuracy
                .kappa
                .as_ref()
                .map(|k| format!("{:.2}", k.kappa))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "  {name}: final verdict sensitivity {}, specificity {}, kappa {kappa}",
                ratio(&c.accuracy.sensitivity),
                ratio(&c.accuracy.specificity),
            );
        }
        for r in &scope.corrected_rates {
            let c = r.corrected.as_ref();
            let warnings = if r.warnings.is_empty() {
                String::new()
            } else {
                format!("  warning: {}", r.warnings.join(", "))
            };
            let _ = writeln!(
                out,
                "    {}: raw {} {}, corrected {} {} ({} labels){warnings}",
                terminal_safe(&r.model),
                pct(r.rate),
                interval_pct(r.ci.map(|i| i.low), r.ci.map(|i| i.high)),
                pct(c.and_then(|c| c.estimate)),
                interval_pct(
                    c.and_then(|c| c.ci).map(|i| i.low),
                    c.and_then(|c| c.ci).map(|i| i.high)
                ),
                r.labels,
            );
        }
    }
}

/// Most mitigation rows the terminal shows; the rest are in the files.
const MAX_MITIGATION_LINES: usize = 40;

/// Each mitigation against `none` on the same model and condition (docs/mitigations.md):
/// one heading line per model and condition with its `none` rate, then a row per
/// mitigation, so that the table fits 100-120 columns (the escalation intervals are in
/// summary.json and report.html).
fn mitigation_table(s: &ReportSummary, out: &mut String) {
    let all = &s.mitigations;
    if all.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nMitigations against none, same model and condition{}:\n(difference: the rate change \
         in pp with its Newcombe interval; p: Fisher exact; Holm within each model)",
        if all.len() > MAX_MITIGATION_LINES {
            format!(
                "; the first {MAX_MITIGATION_LINES} of {}, all in summary.json / report.html",
                all.len()
            )
        } else {
            String::new()
        }
    );
    // Grouped by model and condition (a stable sort keeps the mitigations' order).
    let mut shown: Vec<_> = all.iter().collect();
    shown.sort_by(|a, b| (&a.model, &a.condition).cmp(&(&b.model, &b.condition)));
    shown.truncate(MAX_MITIGATION_LINES);
    // The escalation column only when some answer escalated.
    let any_escalated = shown
        .iter()
        .any(|m| m.escalation_none.harmful + m.escalation_mitigated.harmful > 0);
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|m| {
            let mut row = vec![
                terminal_safe(&m.mitigation),
                format!(
                    "{} ({}/{})",
                    pct(m.mitigated.rate),
                    m.mitigated.harmful,
                    m.mitigated.n
                ),
                format!(
                    "{:+.1} [{:+.1}, {:+.1}]",
                    m.difference * 100.0,
                    m.ci.low * 100.0,
                    m.ci.high * 100.0
                ),
                m.relative_risk_reduction
                    .map(|r| format!("{:.0}%", r * 100.0))
                    .unwrap_or_else(|| "-".into()),
                p_text(m.p_value),
                p_text(m.p_holm),
            ];
            if any_escalated {
                row.push(format!(
                    "{}/{}",
                    m.escalation_mitigated.harmful, m.escalation_mitigated.n
                ));
            }
            row
        })
        .collect();
    let mut head = vec![
        "mitigation",
        "mitigated",
        "difference (pp)",
        "RRR",
        "p",
        "p (Holm)",
    ];
    if any_escalated {
        head.push("escalated");
    }
    if any_escalated {
        out.push_str(
            "(escalated: answers raising the concern through a legitimate channel; their \
             intervals are in the files)\n",
        );
    }
    let mut table = String::new();
    aligned(&head, &rows, 1, &mut table);
    let mut lines = table.lines();
    let _ = writeln!(out, "  {}", lines.next().unwrap_or_default());
    let mut group: Option<(&str, &str)> = None;
    for (m, line) in shown.iter().zip(lines) {
        let key = (m.model.as_str(), m.condition.as_str());
        if group != Some(key) {
            group = Some(key);
            // `none` is the same for every mitigation of the group: said once, here.
            let _ = writeln!(
                out,
                "{}  {}: none {} ({}/{}){}",
                terminal_safe(&m.model),
                terminal_safe(&m.condition),
                pct(m.none.rate),
                m.none.harmful,
                m.none.n,
                if any_escalated {
                    format!(
                        ", escalated {}/{}",
                        m.escalation_none.harmful, m.escalation_none.n
                    )
                } else {
                    String::new()
                }
            );
        }
        let _ = writeln!(out, "  {line}");
    }
}

/// An escalation rate with its count and interval: `25.0% (5/20) [11.2, 46.9]`.
pub(crate) fn escalation_text(e: &misalign_core::stats::RateEstimate) -> String {
    format!(
        "{} ({}/{}) {}",
        pct(e.rate),
        e.harmful,
        e.n,
        interval_pct(e.ci.map(|i| i.low), e.ci.map(|i| i.high))
    )
}

/// One line: comparisons per axis, and how many stay below 0.05 after Holm.
fn comparison_counts(s: &ReportSummary, out: &mut String) {
    let _ = write!(
        out,
        "{} comparisons (risk difference, Newcombe interval, Fisher exact p, Holm within each axis per model) in summary.json / report.html",
        s.comparisons_made
    );
    let mut parts = Vec::new();
    for axis in misalign_core::stats::Axis::all() {
        let of_axis = s.comparisons.iter().filter(|c| c.axis == axis);
        let (n, sig) = of_axis.fold((0, 0), |(n, k), c| {
            (n + 1, k + usize::from(c.p_holm < 0.05))
        });
        if n > 0 {
            parts.push(format!("{} {n} ({sig} with Holm p < 0.05)", axis.as_str()));
        }
    }
    if parts.is_empty() {
        out.push_str(".\n");
    } else {
        let _ = writeln!(out, ": {}.", parts.join(", "));
    }
}

/// Most real-vs-evaluation rows the terminal shows; the rest are in the files.
const MAX_AWARENESS_LINES: usize = 20;

/// Harm when the model concluded "real" vs "evaluation", per model x condition with the
/// awareness notice on (the study's setting; every cell is in summary.json / report.html).
fn real_vs_eval(s: &ReportSummary, out: &mut String) {
    let all = &s.awareness_real_vs_eval;
    if all.is_empty() {
        return;
    }
    let shown: Vec<_> = all
        .iter()
        .filter(|c| c.awareness_notice == Some(true))
        .take(MAX_AWARENESS_LINES)
        .collect();
    if shown.len() < all.len() {
        let _ = writeln!(
            out,
            "Real-vs-evaluation harm contrasts for {} model x conditions in summary.json / report.html{}.",
            all.len(),
            if shown.is_empty() {
                String::new()
            } else {
                format!("; those with the awareness notice on (at most {MAX_AWARENESS_LINES}) follow")
            }
        );
    }
    if shown.is_empty() {
        return;
    }
    out.push_str("\nHarm by stated belief, within each condition (real minus evaluation):\n");
    let rows: Vec<Vec<String>> = shown
        .into_iter()
        .map(|c| {
            vec![
                terminal_safe(&c.model),
                terminal_safe(&c.condition),
                format!("{} ({}/{})", pct(c.real.rate), c.real.harmful, c.real.n),
                format!("{} ({}/{})", pct(c.eval.rate), c.eval.harmful, c.eval.n),
                format!(
                    "{:+.1} [{:+.1}, {:+.1}]",
                    c.difference * 100.0,
                    c.ci.low * 100.0,
                    c.ci.high * 100.0
                ),
                p_text(c.p_value),
                p_text(c.p_holm),
            ]
        })
        .collect();
    aligned(
        &[
            "model",
            "condition",
            "real",
            "evaluation",
            "difference (pp)",
            "p",
            "p (Holm)",
        ],
        &rows,
        2,
        out,
    );
}

#[cfg(test)]
mod tests {

    #[test]
    fn calibration_lines_only_with_labels_and_escaped() {
        use misalign_core::agreement::{LabelRule, RatedSample};
        let mut summary = crate::summarize(None, &[], &[], crate::IntervalMethod::Wilson);
        let mut out = String::new();
        calibration(&summary, &mut out);
        assert!(out.is_empty());
        let samples: Vec<RatedSample> = (0..40)
            .map(|i| RatedSample {
                item_key: format!("k{i}"),
                scenario: "blackmail".into(),
                model: "m\u{1b}[31m".into(),
                condition_id: "c".into(),
                detector: Some(i < 10),
                final_verdict: Some(i < 10),
                labels: vec![("ann".to_string(), Some(i < 12))],
                ..RatedSample::default()
            })
            .collect();
        summary.agreement = crate::agreement_summary(&samples, &LabelRule::Majority);
        calibration(&summary, &mut out);
        // Se 10/12, Sp 28/28; raw 10/40 = 25.0%, corrected (0.25 + 1 - 1) / (10/12) = 30.0%.
        assert!(out.contains("Calibration against human labels"), "{out}");
        assert!(out.contains("sensitivity 83.3%"), "{out}");
        assert!(out.contains("raw 25.0%"), "{out}");
        assert!(out.contains("corrected 30.0%"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
    }
    use super::*;

    #[test]
    fn small_p_values_stay_visible() {
        assert_eq!(p_text(0.0197666), "0.0198");
        assert_eq!(p_text(1.0), "1.0000");
        assert_eq!(p_text(5.122479e-11), "5.1e-11");
        assert_eq!(p_text(0.0), "0.0e0");
    }
}
