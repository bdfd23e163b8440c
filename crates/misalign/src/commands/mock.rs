//! `misalign mock`: the loopback mock model server (`misalign-mock`), for trying the whole
//! pipeline with no API key and no model. It prints its URL and an experiment that uses it,
//! then serves until Ctrl-C. Its answers are canned (a deterministic mix of harmless replies
//! and a pressuring email), so the rates it produces mean nothing.

use super::Outcome;
use crate::say::{note, say};
use anyhow::Context;
use misalign_mock::{MockConfig, MockServer};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example (two terminals):\n  misalign mock --experiment-out try-mock.yaml\n  misalign run try-mock.yaml\n  misalign view"
)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Delay before every reply, in milliseconds (to watch the progress bar move).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Also write the printed experiment to this file (refused if the file exists).
    #[arg(long, value_name = "FILE")]
    pub experiment_out: Option<PathBuf>,
}

/// The default port, so that the printed experiment stays valid from one start to the next.
pub const DEFAULT_PORT: u16 = 8799;

/// An experiment over the three built-in scenarios against the mock at `base_url`: 6
/// conditions x 2 samples = 12 calls, classified by the detectors (no judge, no key).
pub fn experiment_text(base_url: &str) -> String {
    format!(
        "# Against `misalign mock` (no key, no model; canned answers: the rates mean nothing).
experiment_id: try_mock
providers:
  mock:
    kind: openai-compatible
    base_url: {base_url}
global:
  models: [mock/mock-model]
  temperature: 1.0
  max_tokens: 400
  samples_per_condition: 2
expansions:
  - name: try
    enabled: true
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: true
"
    )
}

pub fn run(args: Args) -> Outcome {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let config = MockConfig {
            port: args.port,
            latency: Duration::from_millis(args.latency_ms),
            // A server left running must not grow: no request bodies kept.
            record_bodies: false,
            ..MockConfig::default()
        };
        let server = MockServer::start(config).await.with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{} (in use? pass --port 0 for a free port)",
                args.port
            )
        })?;
        let text = experiment_text(&server.openai_url());
        if let Some(path) = &args.experiment_out {
            write_new(path, &text)?;
        }
        say!(
            "misalign mock: a model server on {} (loopback only; OpenAI, Anthropic and Gemini \
             formats; canned answers, no model, no key). Ctrl-C stops it.",
            server.url()
        );
        match &args.experiment_out {
            Some(p) => say!(
                "Experiment written to {0}; in another terminal: misalign run {0}",
                p.display()
            ),
            None => say!(
                "Save this as try-mock.yaml and, in another terminal, run `misalign run try-mock.yaml`:"
            ),
        }
        say!("\n{text}");
        tokio::select! {
            _ = server.wait() => note!("misalign mock: the server stopped"),
            _ = tokio::signal::ctrl_c() => {}
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` with `text`; never overwrites a file the user has.
fn write_new(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
