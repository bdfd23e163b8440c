//! The generalisation section of the terminal summary: one line per model x cell, with only
//! the column groups some row has (variants, the reference templates, the question forms).

use crate::generalisation::GeneralisationSection;
use crate::table::{aligned, p_text, pct, terminal_safe};
use misalign_core::generalisation::GeneralisationRow;
use misalign_core::stats::{RateDifference, RateEstimate};
use std::fmt::Write;

/// Most rows the terminal shows; all are in summary.json / report.html.
const MAX_LINES: usize = 30;

fn rate(e: &Option<RateEstimate>) -> String {
    e.as_ref().map_or_else(
        || "-".into(),
        |e| format!("{} ({}/{})", pct(e.rate), e.harmful, e.n),
    )
}

fn diff(d: &Option<RateDifference>) -> String {
    d.as_ref().map_or_else(
        || "-".into(),
        |d| {
            format!(
                "{:+.1} [{:+.1}, {:+.1}]",
                d.difference * 100.0,
                d.ci.low * 100.0,
                d.ci.high * 100.0
            )
        },
    )
}

fn spread(r: &GeneralisationRow) -> String {
    r.spread.as_ref().map_or_else(
        || "-".into(),
        |s| {
            format!(
                "p {}{} I2 {:.0}% tau {:.2}",
                p_text(s.homogeneity.p_value),
                if s.homogeneity.small_counts { "*" } else { "" },
                s.between.i_squared * 100.0,
                s.between.tau
            )
        },
    )
}

/// Appends the section to `out` (nothing when the run has no generalisation data).
pub(crate) fn generalisation_table(section: Option<&GeneralisationSection>, out: &mut String) {
    let Some(g) = section else {
        return;
    };
    let rows: Vec<&GeneralisationRow> = g.all_rows().collect();
    let variants = rows.iter().any(|r| !r.variants.is_empty());
    let reference = rows.iter().any(|r| r.reference.is_some());
    let open = rows.iter().any(|r| r.stated_open.is_some());
    let choice = rows.iter().any(|r| r.stated_choice.is_some());
    let _ = writeln!(
        out,
        "\nGeneralisation (docs/generalisation.md; differences in pp with Newcombe intervals{}):",
        if rows.len() > MAX_LINES {
            format!(
                "; the first {MAX_LINES} of {} rows, all in summary.json / report.html",
                rows.len()
            )
        } else {
            String::new()
        }
    );
    let mut head = vec!["model", "cell", "canonical"];
    if variants {
        head.extend([
            "variants pooled",
            "pooled - canonical",
            "spread (chi2 p, I2, tau)",
        ]);
    }
    if reference {
        head.extend(["reference templates", "canonical - reference"]);
    }
    if open {
        head.extend(["stated open", "open - revealed"]);
    }
    if choice {
        head.extend(["stated choice", "choice - revealed"]);
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .take(MAX_LINES)
        .map(|r| {
            let mut line = vec![
                terminal_safe(&r.model),
                terminal_safe(&crate::generalisation::row_label(r)),
                rate(&Some(r.canonical.clone())),
            ];
            if variants {
                line.push(if r.variants.is_empty() {
                    "-".into()
                } else {
                    format!("{} x{}", rate(&r.pooled), r.variants.len())
                });
                line.push(diff(&r.pooled_minus_canonical));
                line.push(spread(r));
            }
            if reference {
                line.push(rate(&r.reference));
                line.push(diff(&r.canonical_minus_reference));
            }
            if open {
                line.push(rate(&r.stated_open));
                line.push(diff(&r.say_do_open));
            }
            if choice {
                line.push(rate(&r.stated_choice));
                line.push(diff(&r.say_do_choice));
            }
            line
        })
        .collect();
    aligned(&head, &lines, 2, out);
    if variants
        && rows
            .iter()
            .any(|r| r.spread.is_some_and(|s| s.homogeneity.small_counts))
    {
        out.push_str("(* an expected count below 5: the chi-square p is approximate)\n");
    }
    if let Some(c) = &g.compared {
        let _ = writeln!(
            out,
            "(reference templates from run {} of {})",
            c.run_id,
            terminal_safe(&c.results_dir)
        );
    }
}
