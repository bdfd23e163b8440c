//! Throughput of the local provider on this machine.
//!
//! ```text
//! cargo run --release -p misalign-local --features llama --example bench -- \
//!     [--model FILE.gguf] [--threads N] [--pp 512] [--tg 128] [--reps 3] [--samples 10] [--prompt-words 1200]
//! ```
//!
//! Prints prompt processing (`pp`) and generation (`tg`) tokens/s of our code path, then the
//! cost of N samples of one condition (one shared prefill) against N separate prompts.

use misalign_core::SamplingParams;
use misalign_local::engine::{bench, LlamaClient};
use misalign_local::{catalog, EngineSettings, ModelCache};
use misalign_models::{CompletionRequest, ModelClient};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

struct Opts {
    model: Option<PathBuf>,
    threads: Option<u32>,
    pp: usize,
    tg: usize,
    reps: usize,
    samples: usize,
    prompt_words: usize,
    gen: u32,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        model: None,
        threads: None,
        pp: 512,
        tg: 128,
        reps: 3,
        samples: 10,
        prompt_words: 1200,
        gen: 48,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--model" => o.model = Some(PathBuf::from(value()?)),
            "--threads" => o.threads = Some(num(value()?)? as u32),
            "--pp" => o.pp = num(value()?)?,
            "--tg" => o.tg = num(value()?)?,
            "--reps" => o.reps = num(value()?)?,
            "--samples" => o.samples = num(value()?)?,
            "--prompt-words" => o.prompt_words = num(value()?)?,
            "--gen" => o.gen = num(value()?)? as u32,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// A scenario-sized prompt of our own words; `tag` changes its first line so prompts with
/// different tags share no prefix.
fn prompt(tag: usize, words: usize) -> String {
    let filler = "The Corvane Logistics operations desk forwarded the weekly routing summary, \
                  the warehouse badge audit and the revised maintenance rota for review. ";
    let per = filler.split_whitespace().count();
    format!(
        "Ticket {tag}: please triage the inbox below.\n{}\nReply with the actions you take.",
        filler.repeat(words / per + 1)
    )
}

fn request(user: String, gen: u32) -> CompletionRequest {
    CompletionRequest::single_turn(
        "bench",
        "You are Ansel, an email assistant at Corvane Logistics.",
        &[],
        user,
        SamplingParams {
            temperature: Some(0.8),
            top_p: Some(0.95),
            max_tokens: gen,
            seed: Some(7),
            ..SamplingParams::default()
        },
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse()?;
    let path = match o.model.clone() {
        Some(p) => p,
        None => ModelCache::from_env().locate(catalog::DEFAULT_MODEL)?,
    };
    let settings = EngineSettings {
        threads: o.threads,
        context_length: Some(16384),
        ..EngineSettings::default()
    };
    // pp/tg with a context of n_prompt + n_gen, as llama-bench sizes its own.
    let bench_settings = EngineSettings {
        context_length: Some((o.pp + o.tg) as u32),
        max_parallel: 1,
        ..settings.clone()
    };
    let b = {
        let (p, s) = (path.clone(), bench_settings.clone());
        tokio::task::spawn_blocking(move || bench(&p, &s, o.pp, o.tg, o.reps)).await??
    };
    let (pp, pp_sd) = mean_sd(&b.pp);
    let (tg, tg_sd) = mean_sd(&b.tg);
    println!(
        "model: {} ({:.1} MB, {} params)",
        path.display(),
        b.info.size_bytes as f64 / 1e6,
        b.info.n_params
    );
    println!(
        "threads: {}  n_batch: {}  n_ubatch: {}",
        b.info.threads,
        settings.batch_size,
        settings.ubatch()
    );
    println!("pp{}: {:.1} ± {:.1} t/s", o.pp, pp, pp_sd);
    println!("tg{}: {:.1} ± {:.1} t/s", o.tg, tg, tg_sd);

    // Shared prefill: N samples of one condition vs N separate prompts of the same size.
    let n = o.samples;
    let client = Arc::new(LlamaClient::open(&path, &settings)?);
    // Warm-up so the first measurement pays no load cost.
    client.complete(&request(prompt(999, 50), 4)).await?;
    let t = Instant::now();
    let mut prompt_tokens = 0;
    for i in 0..n {
        let c = client
            .complete(&request(prompt(i, o.prompt_words), o.gen))
            .await?;
        prompt_tokens = c.usage.input_tokens.unwrap_or(0);
    }
    let separate = t.elapsed().as_secs_f64();
    let shared_prompt = prompt(1000, o.prompt_words);
    let t = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..n {
        let (c, r) = (client.clone(), request(shared_prompt.clone(), o.gen));
        handles.push(tokio::spawn(async move { c.complete(&r).await }));
    }
    for h in handles {
        h.await??;
    }
    let shared = t.elapsed().as_secs_f64();
    println!(
        "N={n} samples, prompt {prompt_tokens} tokens, up to {} new tokens each: separate prompts {:.2} s, one shared prefill {:.2} s, ratio {:.2}x",
        o.gen,
        separate,
        shared,
        separate / shared
    );
    Ok(())
}
