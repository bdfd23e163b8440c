//! `misalign report`: summary.csv, summary.json, report.html and the rate table.

use super::Outcome;
use anyhow::Context;
use misalign_report::{render_table, write_reports, IntervalMethod, ReportOptions};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The results folder (holds results.sqlite).
    pub out: PathBuf,
    /// Interval for single rates: `wilson` or `clopper-pearson`.
    #[arg(long, default_value = "wilson", value_parser = ["wilson", "clopper-pearson"])]
    pub interval: String,
    /// Report this run id instead of the latest `misalign run`.
    #[arg(long)]
    pub run: Option<i64>,
    /// Skip report.html.
    #[arg(long)]
    pub no_html: bool,
}

pub fn run(args: Args) -> Outcome {
    let options = ReportOptions {
        interval: IntervalMethod::parse(&args.interval).unwrap_or_default(),
        run_id: args.run,
        html: !args.no_html,
        ..ReportOptions::default()
    };
    let summary = write_reports(&args.out, &options)
        .with_context(|| format!("cannot report on {}", args.out.display()))?;
    print!("{}", render_table(&summary));
    let mut written = vec!["summary.csv", "summary.json"];
    if options.html {
        written.push("report.html");
    }
    println!("Wrote {} in {}", written.join(", "), args.out.display());
    Ok(std::process::ExitCode::SUCCESS)
}
