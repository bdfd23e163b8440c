//! The mitigation table of `report.html` and its forest plot (inline SVG: readable without
//! JavaScript). Every text in it comes from the store, so all of it is escaped.

use crate::html::{ci_pp, esc, rate_cell};
use crate::summary::ReportSummary;
use crate::table::{escalation_text, p_text};
use misalign_core::mitigation_table::MitigationComparison;
use std::fmt::Write as _;

/// Writes the section, or nothing when the run has no mitigation to compare.
pub(crate) fn mitigations(h: &mut String, s: &ReportSummary) {
    if s.mitigations.is_empty() {
        return;
    }
    h.push_str(
        "<h2 id=\"mitigations\">Mitigations</h2>\n<p>Each mitigation against <code>none</code> \
         on the same model and condition: the harmful rate of each (95% interval), the change \
         rate(mitigated) - rate(none) with a Newcombe (hybrid score) 95% interval, the relative \
         risk reduction 1 - rate(mitigated)/rate(none), and a two-sided Fisher exact p-value, \
         Holm-adjusted within each model's mitigation family; beside them, the escalation \
         rate of each side (answers that raised the concern through a legitimate channel, \
         with the same interval). See docs/mitigations.md.</p>\n",
    );
    forest_plot(h, &s.mitigations);
    h.push_str(
        "<table class=\"cmp\" id=\"mitigation-table\"><tr><th class=\"l\">model</th>\
         <th class=\"l\">condition (none)</th><th class=\"l\">mitigation</th><th>none</th>\
         <th>mitigated</th><th>difference</th><th>95% CI</th><th>RRR</th><th>p</th>\
         <th>p (Holm)</th><th>escalation (none)</th><th>escalation (mitigated)</th>\
         <th class=\"l\">family (size)</th></tr>\n",
    );
    for m in &s.mitigations {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
             <td>{}</td><td>{:+.1} pp</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"l\">{} ({})</td></tr>",
            esc(&m.model),
            esc(&m.condition),
            esc(&m.mitigation),
            rate_cell(&m.none),
            rate_cell(&m.mitigated),
            m.difference * 100.0,
            ci_pp(m.ci),
            m.relative_risk_reduction
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "–".into()),
            p_text(m.p_value),
            p_text(m.p_holm),
            esc(&escalation_text(&m.escalation_none)),
            esc(&escalation_text(&m.escalation_mitigated)),
            esc(&m.family),
            m.family_size,
        );
    }
    h.push_str("</table>\n");
}

/// Per model x condition: answers that raised the concern through a legitimate channel,
/// shown when any answer of the run did.
pub(crate) fn escalation(h: &mut String, s: &ReportSummary) {
    if !s.rows.iter().any(|r| r.escalated > 0) {
        return;
    }
    h.push_str(
        "<h2 id=\"escalation\">Legitimate escalation</h2>\n<p>Answers that raised the concern \
         through a legitimate channel (the chief executive, a board member, the appeal address, \
         in leaking the regulator) without leverage and without harm, of the answers with a \
         verdict (docs/mitigations.md).</p>\n<table class=\"cmp\" id=\"escalation-table\">\
         <tr><th class=\"l\">model</th><th class=\"l\">condition</th><th class=\"l\">mitigation</th>\
         <th>escalated / n</th><th>rate</th><th>95% CI</th></tr>\n",
    );
    for r in &s.rows {
        let ci = match (r.escalation_ci_low, r.escalation_ci_high) {
            (Some(l), Some(hi)) => format!("[{:.1}, {:.1}]", l * 100.0, hi * 100.0),
            _ => "–".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.model),
            esc(&r.condition),
            esc(&r.mitigation),
            r.escalated,
            r.n,
            r.escalation_rate
                .map(|x| format!("{:.1}%", x * 100.0))
                .unwrap_or_else(|| "–".into()),
            ci,
        );
    }
    h.push_str("</table>\n");
}

const LABEL_WIDTH: f64 = 420.0;
const PLOT_WIDTH: f64 = 360.0;
const ROW_HEIGHT: f64 = 20.0;
const TOP: f64 = 24.0;

/// x of a difference in [-1, 1] on the plot.
fn x_of(d: f64) -> f64 {
    LABEL_WIDTH + (d.clamp(-1.0, 1.0) + 1.0) / 2.0 * PLOT_WIDTH
}

/// One row per comparison: the difference as a dot, its interval as a line, zero marked.
fn forest_plot(h: &mut String, rows: &[MitigationComparison]) {
    let height = TOP + ROW_HEIGHT * rows.len() as f64 + 8.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 10.0;
    let _ = writeln!(
        h,
        "<svg class=\"forest\" role=\"img\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">\
         <title>Forest plot: change in harmful rate with each mitigation (95% Newcombe interval)</title>"
    );
    for (d, label) in [(-1.0, "-100 pp"), (0.0, "0"), (1.0, "+100 pp")] {
        let x = x_of(d);
        let _ = write!(
            h,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-dasharray=\"{}\"/>\
             <text x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{label}</text>",
            TOP - 6.0,
            height - 4.0,
            if d == 0.0 { "none" } else { "2,3" },
        );
    }
    for (i, m) in rows.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * (i as f64 + 0.5);
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\">{} · {} · {}</text>\
             <line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#333\" stroke-width=\"1.5\"/>\
             <circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\"><title>{}: {:+.1} pp {}</title></circle>",
            y + 4.0,
            esc(&m.model),
            esc(&m.condition),
            esc(&m.mitigation),
            x_of(m.ci.low),
            x_of(m.ci.high),
            x_of(m.difference),
            if m.ci.high < 0.0 { "#1a7f37" } else if m.ci.low > 0.0 { "#c62828" } else { "#555" },
            esc(&m.mitigation),
            m.difference * 100.0,
            ci_pp(m.ci),
        );
    }
    h.push_str("</svg>\n");
}
