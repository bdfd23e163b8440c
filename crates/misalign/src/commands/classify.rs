//! `misalign classify` (issue 4): classify a results folder (resumable), or standalone
//! answers from a JSONL file. The engine is `misalign_run::session::classify_*`.
//!
//! Facts come from the built-in packs, or `--templates DIR`, or one `--facts FILE`, or the
//! reference framework's published facts (`--reference-facts`). The judge is
//! `--judge MODEL`, else the experiment's `classification.classifier_model`; without one,
//! the detectors decide alone.

use super::Outcome;
use crate::report_events::print_summary;
use crate::say::note;
use anyhow::Context;
use misalign_run::classify::setup::{FactsSource, JudgeChoice};
use misalign_run::session::{self, ClassifySettings};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--scenario`'s choices: the built-in packs.
fn builtin_scenarios() -> clap::builder::PossibleValuesParser {
    let names = misalign_core::scenario::builtin_scenario_names();
    clap::builder::PossibleValuesParser::new(names.iter().map(String::as_str))
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  misalign classify results/my-exp\n  misalign classify results/my-exp --judge anthropic/claude-sonnet-4-5 --force\n  misalign classify --input answers.jsonl --scenario blackmail --reference-facts --output out.jsonl"
)]
pub struct Args {
    /// Results folder to (re)classify (holds results.sqlite).
    #[arg(required_unless_present = "input", conflicts_with = "input")]
    pub out: Option<PathBuf>,
    /// Classify standalone answers: a JSONL file, one object per line with `response`
    /// (the visible answer) and optionally `reasoning`.
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: Option<PathBuf>,
    /// Scenario of the `--input` answers (else each line's `scenario` field).
    #[arg(long, value_parser = builtin_scenarios())]
    pub scenario: Option<String>,
    /// Where `--input` results go (JSONL); default stdout.
    #[arg(long, value_name = "FILE.jsonl", requires = "input")]
    pub output: Option<PathBuf>,
    /// Judge model (`provider/model`), overriding `classification.classifier_model`.
    #[arg(long, value_name = "MODEL")]
    pub judge: Option<String>,
    /// Eval-awareness judge model, overriding `classification.awareness_model`.
    #[arg(long, value_name = "MODEL")]
    pub awareness: Option<String>,
    /// Detectors only, even if the experiment configures a judge.
    #[arg(long, conflicts_with_all = ["judge", "awareness"])]
    pub no_judge: bool,
    /// Classify every answer again (adds rows; earlier verdicts stay in the store).
    #[arg(long)]
    pub force: bool,
    /// Scenario template folder whose facts.yaml files to use.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["facts", "reference_facts"])]
    pub templates: Option<PathBuf>,
    /// One facts.yaml file (for its `scenario`).
    #[arg(long, value_name = "FILE", conflicts_with = "reference_facts")]
    pub facts: Option<PathBuf>,
    /// The reference framework's published facts (executive, leak addresses, override code),
    /// for answers sampled from its own templates.
    #[arg(long)]
    pub reference_facts: bool,
    /// Judge calls in flight (default: `classification.concurrency`, else 8).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Experiment file whose `providers:` and `classification:` to use (default: the one
    /// recorded in the results store; with --input, none).
    #[arg(long, value_name = "FILE.yaml")]
    pub experiment: Option<PathBuf>,
    /// Attempts per judge call before recording a judge error.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub judge_attempts: u32,
    /// Send judge and awareness calls through the providers' batch APIs (Anthropic, OpenAI,
    /// Gemini), whatever `classification.batch` says (results folders only; docs/batch.md).
    #[arg(long, conflicts_with = "input")]
    pub batch: bool,
    #[command(flatten)]
    pub env_file: crate::input::EnvFileArg,
}

pub fn run(args: Args) -> Outcome {
    crate::input::load_dotenv(&args.env_file)?;
    let settings = settings(&args);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    if let Some(input) = &args.input {
        let scenario = args.scenario.as_deref();
        let counts = rt.block_on(session::classify_jsonl(input, scenario, &settings))?;
        let mut sink: Box<dyn Write> = match &args.output {
            Some(p) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            )),
            None => Box::new(std::io::stdout().lock()),
        };
        for line in &counts.lines {
            writeln!(sink, "{line}")?;
        }
        sink.flush()?;
        note!(
            "classified answers: {} harmful, {} unparsed (an action block could not be read: no verdict), {} without a verdict (judge error)",
            counts.harmful,
            counts.unparsed,
            counts.errors
        );
        if counts.errors > 0 {
            note!(
                "warning: {} answer(s) have no verdict because the judge gave no usable reply",
                counts.errors
            );
            return Ok(crate::exit::work_failed());
        }
    } else {
        let out = args
            .out
            .as_ref()
            .expect("clap requires OUT without --input");
        // Plain lines: judge batches report what changes, there is no bar to draw.
        let terminal = crate::report_events::Terminal::new(crate::progress::Display::Lines);
        let summary = rt.block_on(session::classify_folder(out, &settings, &terminal))?;
        print_summary(&summary);
        if summary.missing_verdicts() > 0 {
            return Ok(crate::exit::work_failed());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn settings(args: &Args) -> ClassifySettings {
    let facts = match (&args.facts, args.reference_facts) {
        (_, true) => FactsSource::Reference,
        (Some(file), false) => FactsSource::File(file.clone()),
        (None, false) => FactsSource::Packs(args.templates.clone()),
    };
    ClassifySettings {
        experiment: args.experiment.clone(),
        facts,
        judges: JudgeChoice {
            judge: args.judge.clone(),
            awareness: args.awareness.clone(),
            no_judge: args.no_judge,
        },
        force: args.force,
        concurrency: args.concurrency,
        judge_attempts: args.judge_attempts,
        batch: args.batch,
        env: session::process_env(),
    }
}
