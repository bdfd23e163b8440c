//! `misalign report`: summary.csv, summary.json, report.html and the rate table.

use super::Outcome;
use crate::say::{say, say_raw};
use anyhow::Context;
use misalign_core::agreement::LabelRule;
use misalign_report::{render_table, write_reports_to, IntervalMethod, ReportOptions};
use misalign_store::untrusted::path_safe;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The results folder (holds results.sqlite) [default: the most recent under results/].
    #[arg(value_name = "OUT")]
    pub results: Option<PathBuf>,
    /// Interval for single rates: `wilson` or `clopper-pearson`.
    #[arg(long, default_value = "wilson", value_parser = ["wilson", "clopper-pearson"])]
    pub interval: String,
    /// Report this run id instead of the latest `misalign run`.
    #[arg(long)]
    pub run: Option<i64>,
    /// Skip report.html.
    #[arg(long)]
    pub no_html: bool,
    /// Write the report files into this folder instead of the results folder (for results
    /// you cannot or do not want to write to; the store is only read).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// In the calibration section, this reviewer's label counts wherever they labelled
    /// (else the majority of the reviewers'): the rule of `misalign labels --adjudicator`.
    #[arg(long, value_name = "NAME")]
    pub adjudicator: Option<String>,
    /// Another results folder holding the same grid run on the other prompt source (one run
    /// with --templates, one on the built-in packs): the report adds the public-prompt gap
    /// (docs/generalisation.md).
    #[arg(long, value_name = "DIR")]
    pub compare_prompts: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    let options = ReportOptions {
        interval: IntervalMethod::parse(&args.interval).unwrap_or_default(),
        run_id: args.run,
        html: !args.no_html,
        label_rule: args
            .adjudicator
            .map_or(LabelRule::Majority, LabelRule::Adjudicator),
        compare_prompts: args.compare_prompts,
        ..ReportOptions::default()
    };
    let results = crate::results_dir::resolve(args.results)?;
    let dest = args.out.as_ref().unwrap_or(&results);
    let summary = write_reports_to(&results, dest, &options)
        .with_context(|| format!("cannot report on {}", path_safe(&results)))?;
    say_raw!("{}", render_table(&summary));
    let mut written = vec!["summary.csv", "summary.json"];
    if options.html {
        written.push("report.html");
    }
    say!("Wrote {} in {}", written.join(", "), path_safe(dest));
    Ok(std::process::ExitCode::SUCCESS)
}
