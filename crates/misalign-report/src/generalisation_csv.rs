//! `generalisation.csv`: the generalisation section as one flat table (the roll-ups, then the
//! cells), for analyses that read CSV rather than `summary.json`. Written only when the
//! report has the section; its columns are a contract (docs/generalisation.md).

use crate::files::spreadsheet_safe;
use crate::generalisation::GeneralisationSection;
use crate::ReportError;
use misalign_core::stats::{RateDifference, RateEstimate};
use misalign_store::atomic::AtomicFile;
use std::path::Path;

/// The file's name in the results folder.
pub const GENERALISATION_CSV: &str = "generalisation.csv";

/// A rate's columns: harmful, n, rate, ci_low, ci_high.
const RATE: [&str; 5] = ["harmful", "n", "rate", "ci_low", "ci_high"];
/// A difference's columns: difference, ci_low, ci_high, p.
const DIFF: [&str; 4] = ["", "ci_low", "ci_high", "p"];

/// The header: fixed columns, then each rate and difference under its prefix.
pub fn columns() -> Vec<String> {
    let mut out: Vec<String> = ["model", "scenario", "cell", "cells", "variants"]
        .map(String::from)
        .to_vec();
    let rate = |out: &mut Vec<String>, prefix: &str| {
        out.extend(RATE.iter().map(|c| format!("{prefix}_{c}")));
    };
    let diff = |out: &mut Vec<String>, prefix: &str| {
        out.extend(DIFF.iter().map(|c| {
            if c.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}_{c}")
            }
        }));
    };
    rate(&mut out, "canonical");
    rate(&mut out, "pooled");
    diff(&mut out, "pooled_minus_canonical");
    out.extend(
        [
            "chi_square",
            "chi_square_df",
            "chi_square_p",
            "small_counts",
            "cochran_q",
            "i_squared",
            "tau_squared",
        ]
        .map(String::from),
    );
    rate(&mut out, "reference");
    diff(&mut out, "canonical_minus_reference");
    diff(&mut out, "pooled_minus_reference");
    rate(&mut out, "stated_open");
    diff(&mut out, "say_do_open");
    rate(&mut out, "stated_choice");
    diff(&mut out, "say_do_choice");
    out
}

fn num(x: f64) -> String {
    format!("{x:.4}")
}

fn rate_cells(r: Option<&RateEstimate>) -> [String; 5] {
    match r {
        None => Default::default(),
        Some(r) => [
            r.harmful.to_string(),
            r.n.to_string(),
            r.rate.map(num).unwrap_or_default(),
            r.ci.map(|c| num(c.low)).unwrap_or_default(),
            r.ci.map(|c| num(c.high)).unwrap_or_default(),
        ],
    }
}

fn diff_cells(d: Option<&RateDifference>) -> [String; 4] {
    match d {
        None => Default::default(),
        Some(d) => [
            num(d.difference),
            num(d.ci.low),
            num(d.ci.high),
            format!("{:.6}", d.p_value),
        ],
    }
}

/// Writes the section's rows to `path`.
pub fn write(path: &Path, section: &GeneralisationSection) -> Result<(), ReportError> {
    let io = |e: std::io::Error| ReportError::write(path, e.to_string());
    let csv_err = |e: csv::Error| ReportError::write(path, e.to_string());
    let file = AtomicFile::create_at(path).map_err(io)?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(columns()).map_err(csv_err)?;
    for r in section.all_rows() {
        let mut rec: Vec<String> = vec![
            spreadsheet_safe(&r.model).into_owned(),
            spreadsheet_safe(&r.scenario).into_owned(),
            spreadsheet_safe(&r.cell).into_owned(),
            r.cells.to_string(),
            r.variants.len().to_string(),
        ];
        rec.extend(rate_cells(Some(&r.canonical)));
        rec.extend(rate_cells(r.pooled.as_ref()));
        rec.extend(diff_cells(r.pooled_minus_canonical.as_ref()));
        match &r.spread {
            None => rec.extend(std::iter::repeat_n(String::new(), 7)),
            Some(s) => rec.extend([
                num(s.homogeneity.chi_square),
                s.homogeneity.df.to_string(),
                format!("{:.6}", s.homogeneity.p_value),
                s.homogeneity.small_counts.to_string(),
                num(s.between.cochran_q),
                num(s.between.i_squared),
                format!("{:.6}", s.between.tau_squared),
            ]),
        }
        rec.extend(rate_cells(r.reference.as_ref()));
        rec.extend(diff_cells(r.canonical_minus_reference.as_ref()));
        rec.extend(diff_cells(r.pooled_minus_reference.as_ref()));
        rec.extend(rate_cells(r.stated_open.as_ref()));
        rec.extend(diff_cells(r.say_do_open.as_ref()));
        rec.extend(rate_cells(r.stated_choice.as_ref()));
        rec.extend(diff_cells(r.say_do_choice.as_ref()));
        w.write_record(&rec).map_err(csv_err)?;
    }
    let file = w
        .into_inner()
        .map_err(|e| ReportError::write(path, e.error().to_string()))?;
    file.commit().map_err(io)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_column_name_is_unique() {
        let cols = super::columns();
        let set: std::collections::BTreeSet<&String> = cols.iter().collect();
        assert_eq!(set.len(), cols.len());
        assert_eq!(cols.len(), 5 + 5 + 5 + 4 + 7 + 5 + 4 + 4 + 5 + 4 + 5 + 4);
    }
}
