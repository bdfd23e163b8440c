//! `summary.csv` and `summary.json`.

use crate::summary::ReportSummary;
use crate::ReportError;
use std::path::Path;

/// Columns of `summary.csv`, in order (a contract with downstream analyses). Each axis of
/// the condition has its own column; `excluded` = judge errors + content-filtered + empty.
pub const CSV_COLUMNS: [&str; 20] = [
    "model",
    "condition",
    "scenario",
    "goal_type",
    "goal_value",
    "urgency",
    "extra_instructions",
    "variant",
    "awareness_notice",
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
];

fn f4(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// Writes `summary.csv`: rates and intervals with 4 decimals, empty when `n = 0`.
pub fn write_csv(path: &Path, s: &ReportSummary) -> Result<(), ReportError> {
    let io = |e: csv::Error| ReportError::write(path, e.to_string());
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record(CSV_COLUMNS).map_err(io)?;
    for r in &s.rows {
        w.write_record([
            r.model.as_str(),
            &r.condition,
            &r.scenario,
            &r.goal_type,
            &r.goal_value,
            &r.urgency,
            &r.extra_instructions,
            &r.variant,
            &r.awareness_notice
                .map(|b| b.to_string())
                .unwrap_or_default(),
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
        ])
        .map_err(io)?;
    }
    w.flush()
        .map_err(|e| ReportError::write(path, e.to_string()))
}

/// Writes `summary.json`: the whole summary (rates, comparisons, awareness, run manifest,
/// what `report.html` embeds), streamed into the file.
pub fn write_json(path: &Path, s: &ReportSummary) -> Result<(), ReportError> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| ReportError::write(path, e.to_string()))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, s).map_err(|e| ReportError::write(path, e.to_string()))?;
    w.flush()
        .map_err(|e| ReportError::write(path, e.to_string()))
}
