//! `misalign view`: serve the transcript viewer on 127.0.0.1.

use super::Outcome;
use crate::say::say;
use anyhow::Context;
use misalign_report::ReportOptions;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The results folder (holds results.sqlite) [default: the most recent under results/].
    pub out: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Show this run id instead of the latest `misalign run`.
    #[arg(long)]
    pub run: Option<i64>,
    /// Label as this reviewer (else the page asks once and remembers the name).
    #[arg(long, value_name = "NAME")]
    pub reviewer: Option<String>,
    /// Show every sample's verdicts before it is labelled (blind mode is the default).
    #[arg(long)]
    pub no_blind: bool,
    /// List only the samples of this label sheet, in its order (`misalign labels sample`).
    #[arg(long, value_name = "FILE")]
    pub queue: Option<PathBuf>,
}

pub fn run(args: Args) -> Outcome {
    let options = ReportOptions {
        run_id: args.run,
        ..ReportOptions::default()
    };
    let out = crate::results_dir::resolve(args.out)?;
    let queue = match &args.queue {
        Some(f) => Some(misalign_report::labels::read_queue(f)?),
        None => None,
    };
    if let Some(r) = &args.reviewer {
        misalign_store::labels::validate_reviewer(r)
            .map_err(|m| anyhow::anyhow!("--reviewer: {m}"))?;
    }
    let labelling = misalign_report::Labelling {
        blind: !args.no_blind,
        reviewer: args.reviewer,
        queue,
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let (access, server) = misalign_report::serve::bind_labelling(&out, &options, labelling, args.port)
            .await
            .with_context(|| format!("cannot serve {}", out.display()))?;
        say!(
            "Viewer for {} at {} (loopback only; the link carries this viewer's access token; Ctrl-C to stop)",
            out.display(),
            access.url()
        );
        server.await.context("viewer server stopped")
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}
