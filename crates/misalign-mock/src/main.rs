//! `misalign-mock`: run the loopback mock model server from bench scripts.

use anyhow::Context;
use clap::Parser;
use misalign_mock::{policies_from_json, FaultKind, MockConfig, MockServer};
use std::io::Write;
use std::time::Duration;

/// A loopback mock model server (OpenAI, Anthropic and Gemini wire formats) with latency and
/// fault injection. Prints `listening on http://127.0.0.1:PORT` once ready; `GET /mock/stats`
/// returns request counters as JSON.
#[derive(Parser, Debug)]
#[command(name = "misalign-mock", version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay before every reply, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Extra random delay up to this many milliseconds (seeded, reproducible).
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Share of requests (0..1) that get an injected fault.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Faults to draw from, comma-separated: 429,500,503,529,401,drop,truncate,slow,filter,empty.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "429,500,529,drop,truncate"
    )]
    faults: Vec<FaultKind>,
    /// Seed for fault decisions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fail the first N attempts of each distinct prompt.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// The fault used by --fail-first.
    #[arg(long, default_value = "500")]
    fail_first_kind: FaultKind,
    /// Retry-After seconds sent with 429s.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// How long a `slow` fault takes, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    slow_ms: u64,
    /// Require this API key (401 otherwise). Read from the named environment variable.
    #[arg(long, value_name = "ENV_VAR")]
    api_key_env: Option<String>,
    /// An answer to give (repeat to cycle through several) instead of the canned answers.
    #[arg(long = "answer")]
    answers: Vec<String>,
    /// Always include reasoning in replies.
    #[arg(long)]
    always_reasoning: bool,
    /// Do not keep request bodies in memory (long benchmark runs).
    #[arg(long)]
    no_record_bodies: bool,
    /// How long a batch stays in progress, in milliseconds.
    #[arg(long, default_value_t = 0)]
    batch_delay_ms: u64,
    /// Share of batched requests (0..1) that fail with a transient error inside the batch.
    #[arg(long, default_value_t = 0.0)]
    batch_error_rate: f64,
    /// Share of batched requests (0..1) that expire inside the batch.
    #[arg(long, default_value_t = 0.0)]
    batch_expire_rate: f64,
    /// Prompts shorter than this many tokens are not cached (as the providers do).
    #[arg(long, default_value_t = 1024)]
    min_cacheable_tokens: u64,
    /// Scripted agents: a JSON file holding a list of `{needle, steps, after, faults}` (see
    /// the crate docs); the first whose needle is in a prompt answers its conversation.
    #[arg(long, value_name = "FILE")]
    agent_policy: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.fault_rate),
        "--fault-rate must be between 0 and 1, got {}",
        args.fault_rate
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&(args.batch_error_rate + args.batch_expire_rate)),
        "--batch-error-rate plus --batch-expire-rate must be between 0 and 1"
    );
    let api_key = match &args.api_key_env {
        Some(var) => Some(std::env::var(var).with_context(|| {
            format!("--api-key-env {var}: the environment variable {var} is not set")
        })?),
        None => None,
    };
    let agent_policies = match &args.agent_policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--agent-policy: reading {}", path.display()))?;
            policies_from_json(&text).with_context(|| {
                format!("--agent-policy: {} is not a policy list", path.display())
            })?
        }
        None => Vec::new(),
    };
    let config = MockConfig {
        port: args.port,
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        fault_rate: args.fault_rate,
        fault_kinds: args.faults,
        seed: args.seed,
        fail_first: args.fail_first,
        fail_first_kind: args.fail_first_kind,
        retry_after_secs: args.retry_after,
        slow: Duration::from_millis(args.slow_ms),
        api_key,
        answers: args.answers,
        answers_by_content: Vec::new(),
        tool_calls_by_content: Vec::new(),
        agent_policies,
        always_reasoning: args.always_reasoning,
        record_bodies: !args.no_record_bodies,
        batch_delay: Duration::from_millis(args.batch_delay_ms),
        batch_error_rate: args.batch_error_rate,
        batch_expire_rate: args.batch_expire_rate,
        batch_lose_replies: 0,
        min_cacheable_tokens: args.min_cacheable_tokens,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let server = MockServer::start(config)
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
        println!("listening on {}", server.url());
        std::io::stdout().flush().ok();
        tokio::select! {
            _ = server.wait() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}
