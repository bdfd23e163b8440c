//! Throughput of our own code path (chunked prefill; sampled, one-token-per-step generation),
//! measured the way llama-bench measures llama.cpp: `pp` = prompt tokens per second,
//! `tg` = generated tokens per second.

use super::worker::{load, Worker};
use super::{Job, ModelInfo};
use crate::settings::EngineSettings;
use llama_cpp_2::token::LlamaToken;
use misalign_models::ProviderError;
use std::path::Path;
use std::time::Instant;

/// Mean and spread of repeated runs.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub info: ModelInfo,
    pub n_prompt: usize,
    pub n_gen: usize,
    /// Prompt tokens per second, one value per repetition.
    pub pp: Vec<f64>,
    /// Generated tokens per second, one value per repetition.
    pub tg: Vec<f64>,
}

/// Runs `reps` repetitions of a `n_prompt`-token prefill and a `n_gen`-token generation
/// (after one warm-up), in the calling thread.
pub fn bench(
    path: &Path,
    settings: &EngineSettings,
    n_prompt: usize,
    n_gen: usize,
    reps: usize,
) -> Result<BenchResult, ProviderError> {
    let (model, template) = load(path, settings)?;
    let mut w = Worker::new(&model, template, settings, path)?;
    let vocab_size = model.n_vocab().max(2);
    // Arbitrary but fixed token ids, like llama-bench's random prompt.
    let prompt: Vec<LlamaToken> = (0..n_prompt.max(1))
        .map(|i| LlamaToken(((i as u64 * 2_654_435_761) % (vocab_size as u64 - 1) + 1) as i32))
        .collect();
    let mut pp = Vec::new();
    let mut tg = Vec::new();
    for rep in 0..=reps {
        w.cached.clear();
        let t = Instant::now();
        let (last, _) = w.prefill(&prompt)?;
        let pp_s = t.elapsed().as_secs_f64();

        // tg from a one-token prompt, as llama-bench does.
        w.cached.clear();
        let (last1, _) = w.prefill(&prompt[..1])?;
        let _ = last;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let job = Job {
            key: [0; 32],
            system: String::new(),
            turns: Vec::new(),
            user: String::new(),
            temperature: Some(0.8),
            top_p: None,
            max_tokens: n_gen as u32,
            seed: 42 + rep as u32,
            ignore_eos: true,
            read_tool_calls: false,
            reply: tx.into(),
        };
        let t = Instant::now();
        w.generate(
            vec![job],
            &prompt[..1],
            last1,
            w.info.n_ctx as usize - 1,
            0,
            0.0,
        );
        let tg_s = t.elapsed().as_secs_f64();
        let done = rx
            .try_recv()
            .map_err(|e| ProviderError::Local(format!("bench: {e}")))??;
        let generated = done.usage.output_tokens.unwrap_or(0) as f64;
        if rep > 0 {
            pp.push(n_prompt as f64 / pp_s);
            tg.push(generated / tg_s);
        }
    }
    Ok(BenchResult {
        info: w.info.clone(),
        n_prompt,
        n_gen,
        pp,
        tg,
    })
}
