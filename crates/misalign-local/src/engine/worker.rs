//! The model thread: loads the GGUF, owns the llama context, prefills each prompt once and
//! generates its samples as parallel sequences.

use super::{backend, Job, ModelInfo, Reply};
use crate::settings::EngineSettings;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use misalign_models::{AnswerKind, Completion, ProviderError, Usage};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sequence 0 holds the cached prompt; samples use 1..=max_parallel.
const PROMPT_SEQ: i32 = 0;
/// How long the worker waits for sibling requests before starting a batch.
const GATHER: Duration = Duration::from_millis(20);

fn local(msg: impl Into<String>) -> ProviderError {
    ProviderError::Local(msg.into())
}

/// Thread entry: load, report, then serve jobs until every sender is gone.
pub(super) fn run(
    path: &Path,
    settings: &EngineSettings,
    rx: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<ModelInfo, ProviderError>>,
) {
    let loaded = load(path, settings);
    let (model, template) = match loaded {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut worker = match Worker::new(&model, template, settings, path) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(worker.info.clone())).is_err() {
        return;
    }
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let until = Instant::now() + GATHER;
        while let Ok(j) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            jobs.push(j);
        }
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        worker.serve(jobs);
    }
}

pub(super) fn load(
    path: &Path,
    settings: &EngineSettings,
) -> Result<(LlamaModel, LlamaChatTemplate), ProviderError> {
    refuse_unsafe_cpu_paths()?;
    let backend = backend()?;
    let params = LlamaModelParams::default().with_n_gpu_layers(settings.gpu_layers);
    let model = LlamaModel::load_from_file(backend, path, &params)
        .map_err(|e| local(format!("cannot load {}: {e}", path.display())))?;
    let template = match model.chat_template(None) {
        Ok(t) => t,
        Err(_) => {
            tracing::warn!(path = %path.display(), "the GGUF has no chat template; using ChatML");
            LlamaChatTemplate::new("chatml").map_err(|e| local(e.to_string()))?
        }
    };
    Ok((model, template))
}

/// Refuses, before llama.cpp computes anything, the two ways this build is known to die on
/// a CPU: an extension the build was compiled for that the CPU lacks (SIGILL), and llama.cpp's
/// AMX kernels (compiled only by a build for an AMX target, which `.cargo/config.toml`
/// prevents) on a CPU that has AMX, where its matrix multiply segfaults (upstream issue 20824).
fn refuse_unsafe_cpu_paths() -> Result<(), ProviderError> {
    let cpu = crate::cpu::CpuInfo::detect();
    if let Some(why) = crate::cpu::unsupported_reason(&cpu) {
        return Err(local(why));
    }
    if cpu.has_amx() && super::runner::system_info().contains("AMX_INT8 = 1") {
        return Err(local(
            "this build of llama.cpp includes its AMX kernels and this CPU has AMX: that path \
             segfaults (llama.cpp issue 20824), so the engine will not load. Rebuild misalign \
             without `-C target-cpu=native` in RUSTFLAGS or without the -mno-amx-* flags of \
             .cargo/config.toml removed (docs/local-model.md)",
        ));
    }
    Ok(())
}

/// A sample being generated.
struct Slot {
    job: Job,
    seq: i32,
    sampler: LlamaSampler,
    /// Position of the next token to decode.
    pos: i32,
    /// Index of this slot's token in the current batch.
    batch_index: i32,
    last: LlamaToken,
    text: Vec<u8>,
    generated: u32,
    budget: u32,
    finish: Option<&'static str>,
}

pub(super) struct Worker<'m> {
    pub(super) model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    template: LlamaChatTemplate,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    max_parallel: usize,
    /// The tokens whose KV state sequence 0 holds.
    pub(super) cached: Vec<LlamaToken>,
    pub(super) info: ModelInfo,
}

impl<'m> Worker<'m> {
    pub(super) fn new(
        model: &'m LlamaModel,
        template: LlamaChatTemplate,
        settings: &EngineSettings,
        path: &Path,
    ) -> Result<Self, ProviderError> {
        let n_ctx = settings.context_for(model.n_ctx_train());
        let threads = settings.thread_count();
        let max_parallel = settings.max_parallel.max(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(settings.batch_size)
            .with_n_ubatch(settings.ubatch())
            .with_n_seq_max(max_parallel + 1)
            // One pool of cells for all sequences, so copies of the prompt share its cells.
            .with_kv_unified(true)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let ctx = model.new_context(backend()?, params).map_err(|e| {
            local(format!(
                "cannot create a llama context of {n_ctx} tokens: {e}"
            ))
        })?;
        let n_batch = settings.batch_size.max(max_parallel) as usize;
        let info = ModelInfo {
            path: path.to_path_buf(),
            n_ctx_train: model.n_ctx_train(),
            n_ctx: ctx.n_ctx(),
            n_params: model.n_params(),
            size_bytes: model.size(),
            threads,
            chat_template: template.to_string().unwrap_or_default(),
        };
        Ok(Worker {
            model,
            ctx,
            template,
            batch: LlamaBatch::new(n_batch, max_parallel as i32 + 1),
            n_batch: settings.batch_size as usize,
            max_parallel: max_parallel as usize,
            cached: Vec::new(),
            info,
        })
    }

    /// Serves a set of queued jobs: those with the same prompt share one prefill.
    pub(super) fn serve(&mut self, jobs: Vec<Job>) {
        let mut groups: Vec<Vec<Job>> = Vec::new();
        for job in jobs {
            match groups.iter_mut().find(|g| g[0].key == job.key) {
                Some(g) => g.push(job),
                None => groups.push(vec![job]),
            }
        }
        // Start with the prompt already in the cache, if any is queued.
        if let Some(i) = groups
            .iter()
            .position(|g| self.prompt_tokens(&g[0]).ok().as_deref() == Some(&self.cached[..]))
        {
            groups.swap(0, i);
        }
        for group in groups {
            self.serve_group(group);
        }
    }

    fn prompt_tokens(&self, job: &Job) -> Result<Vec<LlamaToken>, ProviderError> {
        let mut chat = Vec::with_capacity(2 + job.turns.len());
        if !job.system.is_empty() {
            chat.push(
                LlamaChatMessage::new("system".into(), job.system.clone())
                    .map_err(|e| local(format!("system prompt: {e}")))?,
            );
        }
        for (i, t) in job.turns.iter().enumerate() {
            chat.push(
                LlamaChatMessage::new(t.role.as_str().into(), t.text.clone())
                    .map_err(|e| local(format!("prior turn {}: {e}", i + 1)))?,
            );
        }
        chat.push(
            LlamaChatMessage::new("user".into(), job.user.clone())
                .map_err(|e| local(format!("user message: {e}")))?,
        );
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| local(format!("cannot apply the model's chat template: {e}")))?;
        Ok(self.model.vocab().tokenize(text.as_bytes(), true, true))
    }

    fn serve_group(&mut self, mut jobs: Vec<Job>) {
        let tokens = match self.prompt_tokens(&jobs[0]) {
            Ok(t) => t,
            Err(e) => return fail_all(jobs, &e),
        };
        let n_ctx = self.ctx.n_ctx() as usize;
        if tokens.len() >= n_ctx {
            let e = local(format!(
                "the prompt has {} tokens but the context holds only {n_ctx} (the model was \
                 trained on {}): raise `context_length` of the local provider or shorten the prompt",
                tokens.len(),
                self.info.n_ctx_train
            ));
            return fail_all(jobs, &e);
        }
        while !jobs.is_empty() {
            let t0 = Instant::now();
            let (last_index, reused) = match self.prefill(&tokens) {
                Ok(x) => x,
                Err(e) => {
                    self.cached.clear();
                    return fail_all(jobs, &e);
                }
            };
            let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
            // As many samples as the cells left after the prompt can hold in the worst case.
            let room = n_ctx - tokens.len();
            let mut taken = 0usize;
            let mut used = 0usize;
            for job in &jobs {
                let budget = budget_of(job.max_tokens, room);
                if taken > 0 && (taken == self.max_parallel || used + budget > room) {
                    break;
                }
                taken += 1;
                used += budget;
            }
            let rest = jobs.split_off(taken);
            self.generate(jobs, &tokens, last_index, room, reused, prefill_ms);
            jobs = rest;
        }
    }

    /// Makes sequence 0 hold `tokens` with the last token's logits ready; returns that
    /// token's batch index and how many tokens were reused from the cache.
    ///
    /// llama.cpp's results depend in their last bits on how tokens are grouped into batches,
    /// so every prompt is decoded the same way whatever the cache holds: the body in chunks
    /// aligned to multiples of `n_batch` from position 0, then the last token alone. Reuse
    /// therefore keeps only whole aligned chunks of a partly matching prefix (or the whole
    /// body), and a sample's answer does not depend on which prompt came before it.
    pub(super) fn prefill(&mut self, tokens: &[LlamaToken]) -> Result<(i32, usize), ProviderError> {
        let step = self.n_batch.max(1);
        let body = tokens.len().saturating_sub(1);
        let matching = self
            .cached
            .iter()
            .zip(&tokens[..body])
            .take_while(|(a, b)| a == b)
            .count();
        let reuse = if matching == body {
            body
        } else {
            matching / step * step
        };
        self.ctx
            .clear_kv_cache_seq(Some(PROMPT_SEQ as u32), Some(reuse as u32), None)
            .map_err(|e| local(format!("cannot trim the cached prompt: {e}")))?;
        self.cached.truncate(reuse);
        let mut start = reuse;
        while start < tokens.len() {
            // The body in aligned chunks, the last token in a batch of its own.
            let end = if start < body {
                (start / step + 1) * step
            } else {
                tokens.len()
            }
            .min(body.max(start + 1));
            self.batch.clear();
            for (i, tok) in tokens[start..end].iter().enumerate() {
                let pos = start + i;
                self.batch
                    .add(*tok, pos as i32, &[PROMPT_SEQ], pos + 1 == tokens.len())
                    .map_err(|e| local(format!("batch: {e}")))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| local(format!("prompt processing failed at token {start}: {e}")))?;
            self.cached.extend_from_slice(&tokens[start..end]);
            start = end;
        }
        Ok((0, reuse))
    }

    pub(super) fn generate(
        &mut self,
        jobs: Vec<Job>,
        prompt: &[LlamaToken],
        last_index: i32,
        room: usize,
        reused: usize,
        prefill_ms: f64,
    ) {
        let t0 = Instant::now();
        let vocab = self.model.vocab();
        let mut slots: Vec<Slot> = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.into_iter().enumerate() {
            let seq = i as i32 + 1;
            let _ = self.ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            if let Err(e) = self.ctx.kv_cache_seq_cp(PROMPT_SEQ, seq, None, None) {
                job.reply
                    .send(Err(local(format!("cannot copy the prompt state: {e}"))));
                continue;
            }
            let budget = budget_of(job.max_tokens, room) as u32;
            slots.push(Slot {
                sampler: sampler_for(&job),
                job,
                seq,
                pos: prompt.len() as i32,
                batch_index: last_index,
                last: LlamaToken(0),
                text: Vec::new(),
                generated: 0,
                budget,
                finish: None,
            });
        }
        let mut error: Option<ProviderError> = None;
        loop {
            // Sample every live slot from the logits of its last decoded token.
            for s in slots.iter_mut().filter(|s| s.finish.is_none()) {
                if s.job.reply.is_closed() {
                    s.finish = Some("cancelled");
                    continue;
                }
                let tok = s.sampler.sample(&self.ctx, s.batch_index);
                if vocab.is_eog(tok) && !s.job.ignore_eos {
                    s.finish = Some("stop");
                    continue;
                }
                vocab.token_to_piece_into(tok, &mut s.text, false, None);
                s.generated += 1;
                s.last = tok;
                if s.generated >= s.budget {
                    s.finish = Some("length");
                }
            }
            self.batch.clear();
            for s in slots.iter_mut().filter(|s| s.finish.is_none()) {
                if let Err(e) = self.batch.add(s.last, s.pos, &[s.seq], true) {
                    error = Some(local(format!("batch: {e}")));
                    break;
                }
                s.batch_index = self.batch.n_tokens() - 1;
                s.pos += 1;
            }
            if error.is_some() || self.batch.n_tokens() == 0 {
                break;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                error = Some(local(format!("generation failed: {e}")));
                break;
            }
        }
        let gen_ms = t0.elapsed().as_secs_f64() * 1e3;
        let group = slots.len();
        for s in slots {
            let _ = self.ctx.clear_kv_cache_seq(Some(s.seq as u32), None, None);
            let reply: Reply = match (&error, s.finish) {
                (Some(e), None) => Err(e.clone()),
                (_, finish) => Ok(completion(
                    s.text,
                    s.job.read_tool_calls,
                    finish.unwrap_or("length"),
                    prompt.len(),
                    s.generated,
                    serde_json::json!({
                        "engine": "llama.cpp",
                        "sample_seed": s.job.seed,
                        "prompt_tokens": prompt.len(),
                        "prompt_tokens_reused": reused,
                        "parallel_samples": group,
                        "prefill_ms": prefill_ms,
                        "generation_ms": gen_ms,
                    }),
                )),
            };
            s.job.reply.send(reply);
        }
    }
}

/// Tokens a sample may generate: its `max_tokens` (0 = no limit) within the free cells.
fn budget_of(max_tokens: u32, room: usize) -> usize {
    let max = if max_tokens == 0 {
        usize::MAX
    } else {
        max_tokens as usize
    };
    max.min(room).max(1)
}

/// top-p, then temperature, then a seeded draw; temperature 0 is greedy.
fn sampler_for(job: &Job) -> LlamaSampler {
    let temperature = job.temperature.unwrap_or(1.0);
    if temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    let mut chain = Vec::with_capacity(3);
    if let Some(p) = job.top_p.filter(|p| *p > 0.0 && *p < 1.0) {
        chain.push(LlamaSampler::top_p(p as f32, 1));
    }
    chain.push(LlamaSampler::temp(temperature as f32));
    chain.push(LlamaSampler::dist(job.seed));
    LlamaSampler::chain_simple(chain)
}

fn completion(
    bytes: Vec<u8>,
    read_tool_calls: bool,
    finish: &str,
    prompt_tokens: usize,
    generated: u32,
    mut raw: serde_json::Value,
) -> Completion {
    // Model output is untrusted text: invalid UTF-8 is replaced, never an error.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (text, tool_calls) = if read_tool_calls {
        let (rest, calls) = crate::tool_calls::read_reply(&text);
        if !calls.is_empty() {
            // The reply as generated, calls included, for the audit trail.
            raw["generated_text"] = serde_json::Value::String(text);
        }
        (rest, calls)
    } else {
        (text, Vec::new())
    };
    let outcome = if text.trim().is_empty() && tool_calls.is_empty() {
        AnswerKind::Empty
    } else {
        AnswerKind::Answer
    };
    Completion {
        reasoning_blocks: Vec::new(),
        text,
        tool_calls,
        reasoning: None,
        finish_reason: Some(finish.to_string()),
        outcome,
        usage: Usage {
            input_tokens: Some(prompt_tokens as u64),
            output_tokens: Some(generated as u64),
            reasoning_tokens: None,
            ..Usage::default()
        },
        request_id: None,
        raw: Some(raw.to_string()),
    }
}

fn fail_all(jobs: Vec<Job>, e: &ProviderError) {
    for j in jobs {
        j.reply.send(Err(e.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_models::ToolArguments;

    fn reply(text: &str, read_tool_calls: bool) -> Completion {
        let raw = serde_json::json!({"engine": "llama.cpp"});
        completion(
            text.as_bytes().to_vec(),
            read_tool_calls,
            "stop",
            10,
            5,
            raw,
        )
    }

    #[test]
    fn replies_are_read_for_calls_only_when_tools_were_offered() {
        let text = "Reading.\n<tool_call>{\"name\": \"read_email\", \"arguments\": {\"id\": \"e1\"}}</tool_call>";
        let plain = reply(text, false);
        assert_eq!((plain.text.as_str(), plain.tool_calls.len()), (text, 0));

        let read = reply(text, true);
        assert_eq!(read.text, "Reading.");
        assert_eq!(read.tool_calls[0].name, "read_email");
        assert_eq!(read.outcome, AnswerKind::Answer);
        let raw: serde_json::Value = serde_json::from_str(read.raw.as_deref().unwrap()).unwrap();
        assert_eq!(raw["generated_text"], text);

        // Calls alone are an answer; nothing at all is empty; a fumbled call is still a call.
        let only = reply("<tool_call>{'name': 'list_emails',}</tool_call>", true);
        assert_eq!((only.text.as_str(), only.outcome), ("", AnswerKind::Answer));
        assert_eq!(reply("  ", true).outcome, AnswerKind::Empty);
        let fumbled = reply(
            "<tool_call>{\"name\": \"send_email\", \"arguments\": {",
            true,
        );
        assert!(matches!(
            fumbled.tool_calls[0].arguments,
            ToolArguments::NotJson(_)
        ));
        assert_eq!(fumbled.tool_calls[0].name, "send_email");
    }
}
