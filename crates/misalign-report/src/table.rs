//! The terminal table.

use crate::summary::ReportSummary;
use std::fmt::Write;

pub(crate) use misalign_run::untrusted::terminal_safe;

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The rate table (one line per model x condition) plus the comparison count, as text.
pub fn render_table(s: &ReportSummary) -> String {
    let mut out = String::new();
    if s.rows.is_empty() {
        out.push_str("No planned samples in this results folder yet.\n");
        return out;
    }
    let rows: Vec<[String; 7]> = s
        .rows
        .iter()
        .map(|r| {
            [
                terminal_safe(&r.model),
                terminal_safe(&r.condition),
                format!("{}/{}", r.harmful, r.n),
                pct(r.rate),
                match (r.ci_low, r.ci_high) {
                    (Some(l), Some(h)) => format!("[{:.1}, {:.1}]", l * 100.0, h * 100.0),
                    _ => "-".into(),
                },
                r.judge_errors.to_string(),
                format!("{}/{}", r.answered, r.planned),
            ]
        })
        .collect();
    let head = [
        "model",
        "condition",
        "harmful/n",
        "rate",
        "95% CI (%)",
        "judge err",
        "answered",
    ];
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str], out: &mut String| {
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            let pad = w - c.chars().count();
            if i >= 2 {
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
    line(&head, &mut out);
    for r in &rows {
        line(&r.iter().map(String::as_str).collect::<Vec<_>>(), &mut out);
    }
    let errors: u64 = s.rows.iter().map(|r| r.judge_errors).sum();
    let unclassified: u64 = s.rows.iter().map(|r| r.unclassified).sum();
    let _ = writeln!(
        out,
        "\n{} interval ({}%); judge errors are excluded from n ({errors} in total); {unclassified} answers not yet classified.",
        s.interval_method,
        (s.confidence * 100.0).round()
    );
    if let Some(r) = s.run.as_ref().filter(|r| r.sampled_nothing()) {
        let _ = writeln!(out, "{}", crate::html::reused_note(r));
    }
    let _ = writeln!(
        out,
        "{} comparisons (risk difference, Newcombe interval, Fisher exact p, Holm-adjusted) in summary.json / report.html.",
        s.comparisons_made
    );
    out
}
