//! `summary.csv` and `summary.json`.

use crate::summary::ReportSummary;
use crate::ReportError;
use misalign_store::atomic::AtomicFile;
use std::path::Path;

/// Columns of `summary.csv`, in order (a contract with downstream analyses). Each axis of
/// the condition has its own column; `excluded` is the sum of judge errors, unparsed,
/// content-filtered and empty answers. The escalation columns come next: answers of `n`
/// that raised the concern through a legitimate channel, with the rate's interval. Last,
/// `unparsed` (no verdict: an action block could not be read), `planned` and `pending`
/// (planned, not answered yet). Then `variation` (the surface variant's index) and `format`
/// (`open` | `choice`), empty for the canonical agentic text (docs/generalisation.md).
pub const CSV_COLUMNS: [&str; 30] = [
    "model",
    "condition",
    "scenario",
    "goal_type",
    "goal_value",
    "urgency",
    "extra_instructions",
    "variant",
    "awareness_notice",
    "mitigation",
    "n",
    "harmful",
    "rate",
    "ci_low",
    "ci_high",
    "judge_errors",
    "content_filtered",
    "empty",
    "excluded",
    "rate_if_excluded_harmless",
    "rate_if_excluded_harmful",
    "escalated",
    "escalation_rate",
    "escalation_ci_low",
    "escalation_ci_high",
    "unparsed",
    "planned",
    "pending",
    "variation",
    "format",
];

fn f4(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// A text cell a spreadsheet would not run: one starting with `=`, `+`, `-`, `@`, a tab or
/// a carriage return is a formula to Excel and LibreOffice, so it gets a leading `'` (the
/// text shown stays the same). Every text cell comes from the store, which is untrusted.
pub(crate) fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Writes `summary.csv`: rates and intervals with 4 decimals, empty when `n = 0`.
pub fn write_csv(path: &Path, s: &ReportSummary) -> Result<(), ReportError> {
    let io = |e: std::io::Error| ReportError::write(path, e.to_string());
    let file = AtomicFile::create_at(path).map_err(io)?;
    let mut w = csv::Writer::from_writer(file);
    let csv_err = |e: csv::Error| ReportError::write(path, e.to_string());
    w.write_record(CSV_COLUMNS).map_err(csv_err)?;
    for r in &s.rows {
        w.write_record([
            spreadsheet_safe(&r.model).as_ref(),
            &spreadsheet_safe(&r.condition),
            &spreadsheet_safe(&r.scenario),
            &spreadsheet_safe(&r.goal_type),
            &spreadsheet_safe(&r.goal_value),
            &spreadsheet_safe(&r.urgency),
            &spreadsheet_safe(&r.extra_instructions),
            &spreadsheet_safe(&r.variant),
            &r.awareness_notice
                .map(|b| b.to_string())
                .unwrap_or_default(),
            &spreadsheet_safe(&r.mitigation),
            &r.n.to_string(),
            &r.harmful.to_string(),
            &f4(r.rate),
            &f4(r.ci_low),
            &f4(r.ci_high),
            &r.judge_errors.to_string(),
            &r.content_filtered.to_string(),
            &r.empty.to_string(),
            &r.excluded.to_string(),
            &f4(r.rate_if_excluded_harmless),
            &f4(r.rate_if_excluded_harmful),
            &r.escalated.to_string(),
            &f4(r.escalation_rate),
            &f4(r.escalation_ci_low),
            &f4(r.escalation_ci_high),
            &r.unparsed.to_string(),
            &r.planned.to_string(),
            &r.pending.to_string(),
            &r.variation,
            &r.format,
        ])
        .map_err(csv_err)?;
    }
    let file = w
        .into_inner()
        .map_err(|e| ReportError::write(path, e.error().to_string()))?;
    file.commit().map_err(io)
}

/// Writes `summary.json`: the whole summary (rates, comparisons, awareness, run manifest,
/// what `report.html` embeds), streamed into the file.
pub fn write_json(path: &Path, s: &ReportSummary) -> Result<(), ReportError> {
    let io = |e: std::io::Error| ReportError::write(path, e.to_string());
    let mut file = AtomicFile::create_at(path).map_err(io)?;
    serde_json::to_writer_pretty(&mut file, s)
        .map_err(|e| ReportError::write(path, e.to_string()))?;
    file.commit().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+1"), "'+1");
        assert_eq!(spreadsheet_safe("-2+3"), "'-2+3");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("\tx"), "'\tx");
        assert_eq!(spreadsheet_safe("mock/mock-model"), "mock/mock-model");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
