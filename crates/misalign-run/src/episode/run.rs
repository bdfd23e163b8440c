//! One episode, step by step: resume from the committed steps, then call, apply, commit,
//! until the environment ends it, the provider fails for good, or the run stops.

use super::conversation::{agent_reply, results_messages, tool_definitions};
use super::EpisodeSetup;
use crate::call::sample_params;
use crate::item::WorkItem;
use crate::limits::ModelLimits;
use crate::retry;
use crate::scheduler::{fill_usage, scrub, Shared, Stored};
use crate::stop::StopReason;
use misalign_core::cost::{estimate_tokens, TokenCounts};
use misalign_core::environment::{AgentReply, Environment, Setup, StepResult};
use misalign_models::{AnswerKind, CompletionRequest, ErrorClass, Message, ToolDefinition};
use misalign_store::episodes::EpisodeStepRow;
use misalign_store::samples::{Inserted, ResponseRow, ResponseStatus};
use std::time::Instant;

/// Runs (or resumes) the episode of `item`, returning what became of it.
pub(crate) async fn run_episode(
    item: &WorkItem,
    setup: &EpisodeSetup,
    limits: &ModelLimits,
    sh: &Shared,
) -> (Stored, TokenCounts) {
    let m = &item.model;
    sh.counters.started(&m.name, &m.provider);
    let mut ep = match Episode::resume(item, setup, sh).await {
        Ok(ep) => ep,
        Err(message) => return lost(item, sh, message),
    };
    let mut used = TokenCounts::default();
    loop {
        if let Some(done) = ep.env.terminal().cloned() {
            let stored = ep
                .finish(item, sh, Ok(done.reason.label().to_string()))
                .await;
            return (stored, used);
        }
        if sh.stop.is_stopped() {
            // Paused, not lost: the next run goes on from the last committed step.
            sh.counters.abandoned(&m.name, &m.provider);
            return (Stored::Lost, used);
        }
        match ep.step(item, limits, sh).await {
            Ok(Some(t)) => used.add(&t),
            Ok(None) => {
                sh.counters.abandoned(&m.name, &m.provider);
                return (Stored::Lost, used);
            }
            Err(StepFailed::Provider(message)) => {
                let stored = ep.finish(item, sh, Err(message)).await;
                return (stored, used);
            }
            Err(StepFailed::Store(message)) => return lost(item, sh, message),
            Err(StepFailed::Duplicate) => {
                sh.counters
                    .finished(&m.name, &m.provider, true, &TokenCounts::default());
                return (Stored::Duplicate, used);
            }
        }
    }
}

fn lost(item: &WorkItem, sh: &Shared, message: String) -> (Stored, TokenCounts) {
    sh.counters
        .abandoned(&item.model.name, &item.model.provider);
    sh.stop.trigger(StopReason::Store(message));
    (Stored::Lost, TokenCounts::default())
}

enum StepFailed {
    /// The call failed after its retries: the episode ends with an error row.
    Provider(ProviderFailure),
    /// A step could not be committed: the run stops.
    Store(String),
    /// Another writer had already stored this step.
    Duplicate,
}

struct ProviderFailure {
    error: String,
    class: ErrorClass,
    attempts: u32,
}

/// An episode in progress: its environment, the conversation so far and the sums over its
/// committed steps (for the `responses` row).
struct Episode {
    env: Environment,
    system: String,
    tools: Vec<ToolDefinition>,
    messages: Vec<Message>,
    steps: Vec<EpisodeStepRow>,
    last_reply: AgentReply,
    /// How the provider classed this process's last reply: a filtered last reply makes the
    /// episode's row `content_filtered`, as a filtered single answer is.
    last_outcome: Option<AnswerKind>,
}

impl Episode {
    /// A fresh environment with the committed steps of this episode applied again, and the
    /// conversation they make.
    async fn resume(item: &WorkItem, setup: &EpisodeSetup, sh: &Shared) -> Result<Self, String> {
        let key = item.key.clone();
        let steps = sh
            .writer
            .run(move |store| store.episode_steps(&key))
            .await
            .map_err(|e| e.to_string())?;
        let seed = sample_params(&sh.opts.params, item.sample_index)
            .seed
            .unwrap_or(u64::from(item.sample_index));
        let mut env = Environment::new(
            &setup.spec,
            Setup {
                email_content: &item.prompt.rendered.email_content,
                facts: &setup.facts,
                labels: &setup.labels,
                seed,
                max_steps: setup.max_steps,
            },
        )
        .map_err(|e| format!("episode {}: {e}", item.key))?;
        let mut messages = vec![Message::user(item.prompt.user_message.clone())];
        let mut last_reply = AgentReply::default();
        for row in &steps {
            let reply: AgentReply = serde_json::from_str(&row.reply_json)
                .map_err(|e| format!("episode {} step {}: reply: {e}", item.key, row.step))?;
            let said: Message = serde_json::from_str(&row.resume_json)
                .map_err(|e| format!("episode {} step {}: message: {e}", item.key, row.step))?;
            let result = apply(&mut env, &reply);
            messages.push(said);
            messages.extend(results_messages(&result));
            last_reply = reply;
        }
        Ok(Episode {
            tools: tool_definitions(&env.tools()),
            env,
            system: item.prompt.rendered.system_prompt.clone(),
            messages,
            steps,
            last_reply,
            last_outcome: None,
        })
    }

    /// The request of the next step.
    fn request(&self, item: &WorkItem, sh: &Shared) -> CompletionRequest {
        CompletionRequest {
            model: item.model.model_id.clone(),
            system: self.system.clone(),
            messages: self.messages.clone(),
            tools: self.tools.clone(),
            params: sample_params(&sh.opts.params, item.sample_index),
            cache_prefix: sh.opts.prompt_cache,
        }
    }

    /// One step: wait for the limits, call, apply the calls, commit. `Ok(None)`: the run
    /// stopped before the call was made.
    async fn step(
        &mut self,
        item: &WorkItem,
        limits: &ModelLimits,
        sh: &Shared,
    ) -> Result<Option<TokenCounts>, StepFailed> {
        let m = &item.model;
        let request = self.request(item, sh);
        let permits = tokio::select! {
            biased;
            _ = sh.stop.stopped() => return Ok(None),
            p = limits.acquire() => p,
        };
        let guess = conversation_tokens(&request);
        let taken = if limits.counts_tokens() {
            let est = guess + u64::from(sh.opts.params.max_tokens);
            tokio::select! {
                biased;
                _ = sh.stop.stopped() => return Ok(None),
                _ = limits.take_tokens(est) => est,
            }
        } else {
            0
        };
        let step_no = self.steps.len() as u32 + 1;
        // Every step's prompt is new (the conversation grew), so the budget learns nothing
        // from an earlier step's size: each is keyed by its own step.
        let budget_key = format!("{}#{step_no}", item.key);
        let reservation = match &sh.opts.budget {
            Some(b) => match b.reserve(&m.name, &budget_key, guess, 1) {
                Ok(r) => Some(r),
                Err(over) => {
                    limits.correct_tokens(taken, 0);
                    sh.stop.trigger(StopReason::Budget(over.to_string()));
                    return Ok(None);
                }
            },
            None => None,
        };
        let started_at = misalign_store::timestamp();
        let t0 = Instant::now();
        let r = retry::call(
            m.client.as_ref(),
            &request,
            &sh.opts.live.retry,
            || !sh.stop.is_stopped(),
            |_, _| sh.counters.retried(&m.name, &m.provider),
        )
        .await;
        let latency = t0.elapsed();
        drop(permits);
        let completion = match r.result {
            Ok(c) => c,
            Err(e) => {
                limits.correct_tokens(taken, 0);
                if let (Some(b), Some(res)) = (&sh.opts.budget, reservation) {
                    b.settle(res, &m.name, &budget_key, &TokenCounts::default(), false);
                }
                return Err(StepFailed::Provider(ProviderFailure {
                    error: e.to_string(),
                    class: e.class(),
                    attempts: r.attempts,
                }));
            }
        };
        let mut reply = agent_reply(&completion);
        if completion.outcome == AnswerKind::ContentFiltered {
            // The provider withheld the reply: nothing in it is carried out (its raw reply
            // keeps what came back), and the episode ends as a filtered answer.
            reply.tool_calls.clear();
        }
        let result = apply(&mut self.env, &reply);
        let secrets = &sh.opts.secrets;
        let json = |v: String| scrub(Some(v), secrets).unwrap_or_default();
        let said = Message::of_reply(&completion);
        let mut row = EpisodeStepRow {
            item_key: item.key.clone(),
            step: step_no,
            run_id: sh.opts.run_id,
            reply_json: json(serde_json::to_string(&reply).expect("a reply serializes")),
            result_json: json(serde_json::to_string(&result).expect("a result serializes")),
            resume_json: json(serde_json::to_string(&said).expect("a message serializes")),
            attempts: r.attempts,
            latency_ms: Some(latency.as_millis().min(i64::MAX as u128) as i64),
            started_at,
            finished_at: misalign_store::timestamp(),
            ..Default::default()
        };
        let tokens = fill_usage(&mut row, &completion, secrets, &m.name);
        limits.correct_tokens(taken, tokens.all_input() + tokens.output);
        if let (Some(b), Some(res)) = (&sh.opts.budget, reservation) {
            b.settle(res, &m.name, &budget_key, &tokens, false);
        }
        match sh.writer.commit_step(row.clone()).await {
            Ok(Inserted::New) => sh.counters.step(&m.name, &m.provider, &tokens),
            Ok(Inserted::Duplicate) => return Err(StepFailed::Duplicate),
            Err(e) => return Err(StepFailed::Store(e.to_string())),
        }
        // The conversation continues from what was stored, so a resumed episode sends the
        // same bytes this one will.
        let said: Message = serde_json::from_str(&row.resume_json).unwrap_or(said);
        self.messages.push(said);
        self.messages.extend(results_messages(&result));
        self.steps.push(row);
        self.last_reply = reply;
        self.last_outcome = Some(completion.outcome);
        Ok(Some(tokens))
    }

    /// Writes the episode's `responses` row: its answer when the environment ended it, or
    /// the provider's error (the committed steps stay; a later run goes on from them).
    async fn finish(
        &self,
        item: &WorkItem,
        sh: &Shared,
        end: Result<String, ProviderFailure>,
    ) -> Stored {
        let m = &item.model;
        let sum = |f: fn(&EpisodeStepRow) -> Option<i64>| -> Option<i64> {
            self.steps
                .iter()
                .filter_map(f)
                .fold(None, |acc, v| Some(acc.unwrap_or(0i64).saturating_add(v)))
        };
        let mut row = ResponseRow {
            item_key: item.key.clone(),
            run_id: sh.opts.run_id,
            input_tokens: sum(|s| s.input_tokens),
            output_tokens: sum(|s| s.output_tokens),
            reasoning_tokens: sum(|s| s.reasoning_tokens),
            cache_write_tokens: sum(|s| s.cache_write_tokens),
            cache_read_tokens: sum(|s| s.cache_read_tokens),
            latency_ms: sum(|s| s.latency_ms),
            attempts: self.steps.iter().map(|s| s.attempts).sum::<u32>().max(1),
            started_at: self
                .steps
                .first()
                .map_or_else(misalign_store::timestamp, |s| s.started_at.clone()),
            finished_at: misalign_store::timestamp(),
            ..Default::default()
        };
        let ok = end.is_ok();
        match end {
            Ok(reason) => {
                row.status = Some(match self.last_outcome {
                    Some(AnswerKind::ContentFiltered) => ResponseStatus::ContentFiltered,
                    _ => ResponseStatus::Answer,
                });
                row.answer = scrub(Some(self.last_reply.text.clone()), &sh.opts.secrets);
                row.finish_reason = Some(reason);
            }
            Err(f) => {
                if f.class == ErrorClass::Auth {
                    sh.stop.trigger(StopReason::Auth {
                        provider: m.provider.clone(),
                        model: m.name.clone(),
                        message: f.error.clone(),
                    });
                }
                row.status = Some(ResponseStatus::Error);
                row.attempts = row.attempts.saturating_add(f.attempts);
                row.error = scrub(
                    Some(format!("step {}: {}", self.steps.len() + 1, f.error)),
                    &sh.opts.secrets,
                );
                row.error_class = Some(crate::scheduler::error_class_name(f.class).into());
            }
        }
        match sh.writer.commit(row).await {
            Ok(Inserted::New) => {
                // Its tokens were counted step by step (`Counters::step`).
                sh.counters
                    .finished(&m.name, &m.provider, ok, &TokenCounts::default());
                if ok {
                    Stored::Answer
                } else {
                    Stored::Error
                }
            }
            Ok(Inserted::Duplicate) => {
                sh.counters
                    .finished(&m.name, &m.provider, true, &TokenCounts::default());
                Stored::Duplicate
            }
            Err(e) => {
                sh.counters.abandoned(&m.name, &m.provider);
                sh.stop.trigger(StopReason::Store(e.to_string()));
                Stored::Lost
            }
        }
    }
}

/// Applies a reply's calls to the environment: a reply without calls ends the episode.
fn apply(env: &mut Environment, reply: &AgentReply) -> StepResult {
    if reply.tool_calls.is_empty() {
        env.finish()
    } else {
        env.step(&reply.tool_calls)
    }
}

/// The chars/4 size of a step's request: system prompt, every message, tool definitions.
fn conversation_tokens(r: &CompletionRequest) -> u64 {
    let messages: u64 = r
        .messages
        .iter()
        .map(|m| estimate_tokens(&serde_json::to_string(m).unwrap_or_default()))
        .sum();
    let tools: u64 = r
        .tools
        .iter()
        .map(|t| estimate_tokens(&t.description) + estimate_tokens(&t.parameters.to_string()))
        .sum();
    estimate_tokens(&r.system) + messages + tools
}
