//! The generalisation section of `report.html`: a dot-and-interval plot per model x cell
//! (canonical, each variant, pooled, reference templates, stated) as inline SVG, then the
//! numbers. Every label comes from the store, so all of it is escaped.

use crate::generalisation::GeneralisationSection;
use crate::html::{ci_pp, esc, rate_cell};
use crate::summary::ReportSummary;
use crate::table::p_text;
use misalign_core::generalisation::GeneralisationRow;
use misalign_core::stats::{RateDifference, RateEstimate};
use std::fmt::Write as _;

const LABEL_WIDTH: f64 = 200.0;
const PLOT_WIDTH: f64 = 420.0;
const LINE: f64 = 18.0;
const TOP: f64 = 24.0;
/// Most model x cells the figure draws (each is a block of lines); the table has them all.
const MAX_FIGURE_ROWS: usize = 40;

/// x of a rate in [0, 1] on the plot.
fn x_of(r: f64) -> f64 {
    LABEL_WIDTH + r.clamp(0.0, 1.0) * PLOT_WIDTH
}

/// One plotted estimate: its label, colour and rate.
struct Mark<'a> {
    label: String,
    colour: &'static str,
    estimate: &'a RateEstimate,
}

/// The estimates of a row, in plot order.
fn marks(r: &GeneralisationRow) -> Vec<Mark<'_>> {
    let mut out = vec![Mark {
        label: "canonical".into(),
        colour: "#1f4e9c",
        estimate: &r.canonical,
    }];
    for v in &r.variants {
        out.push(Mark {
            label: format!("variant {}", v.index),
            colour: "#8aa4cf",
            estimate: &v.estimate,
        });
    }
    let optional = [
        (r.pooled.as_ref(), "pooled variants".to_string(), "#0b6e4f"),
        (
            r.reference.as_ref(),
            "reference templates".into(),
            "#b35900",
        ),
        (r.stated_open.as_ref(), "stated (open)".into(), "#7b2d8b"),
        (
            r.stated_choice.as_ref(),
            "stated (choice)".into(),
            "#a0467a",
        ),
    ];
    for (e, label, colour) in optional {
        if let Some(estimate) = e {
            out.push(Mark {
                label,
                colour,
                estimate,
            });
        }
    }
    out
}

/// Writes the section, or nothing when the run has no generalisation data.
pub(crate) fn generalisation(h: &mut String, s: &ReportSummary) {
    let Some(g) = &s.generalisation else {
        return;
    };
    h.push_str(
        "<h2 id=\"generalisation\">Generalisation</h2>\n<p>Per model and cell (a condition \
         without its surface variant and question form): the harmful rate on our canonical \
         text, on each surface variant and pooled over the variants, on the reference \
         framework's public templates, and the rate the model states when asked directly, \
         each with its 95% interval. Differences are risk differences with Newcombe (hybrid \
         score) 95% intervals; the spread is Pearson's chi-square test that every variant has \
         one rate, with Higgins' I&sup2; and the DerSimonian-Laird between-variant SD of the \
         log-odds (tau). See docs/generalisation.md.</p>\n",
    );
    if let Some(c) = &g.compared {
        let _ = writeln!(
            h,
            "<p class=\"note\">Rates on the {} come from run {} of <code>{}</code>.</p>",
            match c.source {
                misalign_core::generalisation::PromptSource::Templates => "reference templates",
                misalign_core::generalisation::PromptSource::Packs => "built-in packs",
            },
            c.run_id,
            esc(&c.results_dir)
        );
    }
    plot(h, g);
    table(h, g);
}

/// The dot-and-interval plot: one block per row, one line per estimate.
fn plot(h: &mut String, g: &GeneralisationSection) {
    let all: Vec<&GeneralisationRow> = g.all_rows().collect();
    let rows = &all[..all.len().min(MAX_FIGURE_ROWS)];
    if rows.len() < all.len() {
        let _ = writeln!(
            h,
            "<p class=\"note\">The figure shows the first {} of {} model x cells; the table \
             below has them all.</p>",
            rows.len(),
            all.len()
        );
    }
    let lines: usize = rows.iter().map(|r| marks(r).len() + 1).sum();
    let height = TOP + LINE * lines as f64 + 8.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 20.0;
    let _ = writeln!(
        h,
        "<svg class=\"forest\" id=\"generalisation-plot\" role=\"img\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\" \
         font-size=\"11\"><title>Harmful rate per model and cell: canonical text, surface \
         variants, pooled, reference templates and stated (95% intervals)</title>"
    );
    for (r, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let x = x_of(r);
        let _ = write!(
            h,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#bbb\" \
             stroke-dasharray=\"2,3\"/><text x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{label}</text>",
            TOP - 6.0,
            height - 4.0,
        );
    }
    let mut y = TOP;
    for row in rows.iter().copied() {
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\">{} · {}</text>",
            y + LINE * 0.5 + 4.0,
            esc(&row.model),
            esc(&crate::generalisation::row_label(row)),
        );
        y += LINE;
        for m in marks(row) {
            let mid = y + LINE * 0.5;
            let _ = write!(
                h,
                "<text x=\"16\" y=\"{:.1}\">{}</text>",
                mid + 4.0,
                esc(&m.label)
            );
            if let (Some(rate), Some(ci)) = (m.estimate.rate, m.estimate.ci) {
                let _ = write!(
                    h,
                    "<line x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\" stroke=\"{}\" \
                     stroke-width=\"1.5\"/><circle cx=\"{:.1}\" cy=\"{mid:.1}\" r=\"4\" fill=\"{}\">\
                     <title>{}: {}</title></circle>",
                    x_of(ci.low),
                    x_of(ci.high),
                    m.colour,
                    x_of(rate),
                    m.colour,
                    esc(&m.label),
                    esc(&rate_cell(m.estimate)),
                );
            } else {
                let _ = write!(
                    h,
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#999\">no verdict</text>",
                    x_of(0.0) + 4.0,
                    mid + 4.0
                );
            }
            y += LINE;
        }
    }
    h.push_str("</svg>\n");
}

fn opt_rate(e: Option<&RateEstimate>) -> String {
    e.map_or_else(|| "–".into(), rate_cell)
}

fn opt_diff(d: Option<&RateDifference>) -> String {
    d.map_or_else(
        || "–".into(),
        |d| {
            format!(
                "{:+.1} pp {} (p {})",
                d.difference * 100.0,
                ci_pp(d.ci),
                p_text(d.p_value)
            )
        },
    )
}

/// The numbers behind the plot, one row per model x cell.
fn table(h: &mut String, g: &GeneralisationSection) {
    h.push_str(
        "<table class=\"cmp\" id=\"generalisation-table\"><tr><th class=\"l\">model</th>\
         <th class=\"l\">cell</th><th>canonical</th><th>pooled variants</th>\
         <th>pooled − canonical</th><th>spread</th><th>reference templates</th>\
         <th>canonical − reference</th><th>pooled − reference</th><th>stated (open)</th>\
         <th>open − revealed</th><th>stated (choice)</th><th>choice − revealed</th></tr>\n",
    );
    for r in g.all_rows() {
        let spread = r.spread.map_or_else(
            || "–".into(),
            |s| {
                format!(
                    "chi² {:.2} (df {}), p {}{}; I² {:.0}%; tau {:.2}; rates {:.1}–{:.1}%",
                    s.homogeneity.chi_square,
                    s.homogeneity.df,
                    p_text(s.homogeneity.p_value),
                    if s.homogeneity.small_counts {
                        " (expected count below 5: approximate)"
                    } else {
                        ""
                    },
                    s.between.i_squared * 100.0,
                    s.between.tau,
                    s.min_rate * 100.0,
                    s.max_rate * 100.0
                )
            },
        );
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(&r.model),
            esc(&crate::generalisation::row_label(r)),
            rate_cell(&r.canonical),
            opt_rate(r.pooled.as_ref()),
            opt_diff(r.pooled_minus_canonical.as_ref()),
            esc(&spread),
            opt_rate(r.reference.as_ref()),
            opt_diff(r.canonical_minus_reference.as_ref()),
            opt_diff(r.pooled_minus_reference.as_ref()),
            opt_rate(r.stated_open.as_ref()),
            opt_diff(r.say_do_open.as_ref()),
            opt_rate(r.stated_choice.as_ref()),
            opt_diff(r.say_do_choice.as_ref()),
        );
    }
    h.push_str("</table>\n");
}
