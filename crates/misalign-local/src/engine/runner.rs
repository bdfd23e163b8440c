//! The engine runner: llama.cpp in a child process of its own.
//!
//! llama.cpp is native code that can still abort (an assertion, a failed allocation, a
//! kernel defect such as the AMX segfault of upstream issue 20824). In the `misalign` process
//! that would end the whole run; in a runner it ends only the runner, and the parent turns
//! it into failed calls ([`super::IsolatedClient`]), as ollama runs llama.cpp.
//!
//! The runner is the `misalign` binary itself, started as `misalign __misalign-engine`
//! ([`RUNNER_ARG`]), so a copied binary needs nothing beside it. It speaks JSON lines:
//!
//! - stdin, first line: a [`Spec`] (the GGUF and its [`EngineSettings`]); then one
//!   [`ToRunner`] per line: a job to generate, or the cancellation of one.
//! - stdout: [`FromRunner::Ready`] with the loaded model's facts (or `Failed`), then one
//!   `Done` per job, in the order they finish.
//! - stderr: llama.cpp's own messages (an assertion's text), which the parent keeps the
//!   tail of for the crash message.
//!
//! The runner ends when its stdin closes, so it never outlives the parent.

use super::{Engine, Job, ModelInfo, Reply, ReplyTo};
use crate::seed::{prompt_key_with_turns, sample_seed};
use crate::settings::EngineSettings;
use crate::tool_calls::text_prompt;
use misalign_models::{Completion, CompletionRequest, ProviderError, Turn};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// The first argument that makes the `misalign` binary an engine runner.
pub const RUNNER_ARG: &str = "__misalign-engine";

/// Test-only switch (docs/local-model.md): makes a runner crash on its first job with
/// `segv` (SIGSEGV, as the AMX defect did) or `abort` (SIGABRT, as a failed GGML_ASSERT
/// does), so the tests can prove that a native crash becomes a recorded error.
pub const CRASH_SWITCH: &str = "MISALIGN_TEST_ENGINE_CRASH";

/// What to load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Spec {
    pub path: PathBuf,
    pub settings: EngineSettings,
}

/// One sample to generate, as it crosses the pipe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireJob {
    pub id: u64,
    pub key: [u8; 32],
    pub system: String,
    pub turns: Vec<Turn>,
    pub user: String,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: u32,
    pub seed: u32,
    /// Tools were offered: the reply is read for tool calls (`tool_calls::read_reply`).
    pub read_tool_calls: bool,
}

impl WireJob {
    /// The job for `request`, written as text (`tool_calls::text_prompt`: tools, tool calls
    /// and tool results through our JSON convention). The sampler seed depends only on the
    /// request's seed and that text (keyed on the prompt too, so one seed does not replay
    /// the same draws everywhere); without a seed a fresh one is drawn.
    pub(crate) fn of_request(
        id: u64,
        request: &CompletionRequest,
    ) -> Result<WireJob, ProviderError> {
        let prompt = text_prompt(request)?;
        let key = prompt_key_with_turns(&prompt.system, &prompt.turns, &prompt.user);
        let base = request.params.seed.unwrap_or_else(super::random_seed);
        let p = &request.params;
        Ok(WireJob {
            id,
            key,
            system: prompt.system,
            turns: prompt.turns,
            user: prompt.user,
            temperature: p.temperature,
            top_p: p.top_p,
            max_tokens: p.max_tokens,
            seed: sample_seed(base, &key, 0),
            read_tool_calls: prompt.offers_tools,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ToRunner {
    Job(WireJob),
    Cancel { id: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FromRunner {
    Ready(ModelInfo),
    Failed { message: String },
    Done { id: u64, result: WireResult },
}

/// A job's answer; errors travel as the text of [`ProviderError::Local`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireResult {
    /// Boxed: a completion is large beside an error (serde writes the box as its content).
    Ok(Box<Completion>),
    Err(String),
}

impl WireResult {
    fn of(reply: Reply) -> WireResult {
        match reply {
            Ok(c) => WireResult::Ok(Box::new(c)),
            Err(ProviderError::Local(m)) => WireResult::Err(m),
            Err(e) => WireResult::Err(e.to_string()),
        }
    }

    pub(crate) fn into_reply(self) -> Reply {
        match self {
            WireResult::Ok(c) => Ok(*c),
            WireResult::Err(m) => Err(ProviderError::Local(m)),
        }
    }
}

/// The runner's side of stdout: answers written one line each, and the jobs the parent
/// cancelled.
pub(crate) struct Outbox {
    out: Mutex<Box<dyn Write + Send>>,
    cancelled: Mutex<HashSet<u64>>,
}

impl Outbox {
    fn send(&self, msg: &FromRunner) {
        let mut line = serde_json::to_vec(msg).unwrap_or_else(|e| {
            serde_json::to_vec(&FromRunner::Failed {
                message: format!("cannot encode an answer: {e}"),
            })
            .unwrap_or_default()
        });
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed pipe means the parent is gone; the stdin reader will see it too.
        let _ = out.write_all(&line).and_then(|_| out.flush());
    }

    pub(crate) fn done(&self, id: u64, reply: Reply) {
        self.cancelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.send(&FromRunner::Done {
            id,
            result: WireResult::of(reply),
        });
    }

    pub(crate) fn is_cancelled(&self, id: u64) -> bool {
        self.cancelled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }
}

/// llama.cpp's own account of what it was compiled with ("CPU : SSE3 = 1 | AVX2 = 1 |
/// ... | REPACK = 1 |").
pub fn system_info() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated string owned by llama.cpp.
    let ptr = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if ptr.is_null() {
        return String::new();
    }
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .trim()
        .to_string()
}

/// Keeps the real stdout for the protocol and points file descriptor 1 at stderr, so text
/// that native code prints with `printf` cannot corrupt the answers.
fn protocol_stdout() -> Box<dyn Write + Send> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain descriptor calls on this process's own standard streams.
    unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            return Box::new(std::io::stdout());
        }
        Box::new(std::fs::File::from_raw_fd(fd))
    }
}

/// The test-only crash (see [`CRASH_SWITCH`]).
fn crash_if_asked() {
    match std::env::var(CRASH_SWITCH).as_deref() {
        Ok("segv") => {
            // SAFETY: restores the default action (Rust's handler would return from a
            // raised, not faulting, SIGSEGV) and raises the signal in this process.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
        }
        Ok("abort") => std::process::abort(),
        _ => {}
    }
}

/// The runner's `main`: serve jobs from stdin until it closes.
pub fn main() -> ExitCode {
    let out = Arc::new(Outbox {
        out: Mutex::new(protocol_stdout()),
        cancelled: Mutex::new(HashSet::new()),
    });
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let spec: Spec = match lines.next() {
        Some(Ok(line)) => match serde_json::from_str(&line) {
            Ok(s) => s,
            Err(e) => {
                out.send(&FromRunner::Failed {
                    message: format!("engine runner: unreadable start line: {e}"),
                });
                return ExitCode::from(2);
            }
        },
        _ => return ExitCode::from(2),
    };
    let engine = match Engine::start(&spec.path, &spec.settings) {
        Ok(e) => e,
        Err(e) => {
            out.send(&FromRunner::Failed {
                message: match e {
                    ProviderError::Local(m) => m,
                    other => other.to_string(),
                },
            });
            return ExitCode::from(1);
        }
    };
    out.send(&FromRunner::Ready(engine.info.clone()));
    for line in lines {
        let Ok(line) = line else { break };
        let msg: ToRunner = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("engine runner: ignoring an unreadable line: {e}");
                continue;
            }
        };
        match msg {
            ToRunner::Cancel { id } => {
                out.cancelled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id);
            }
            ToRunner::Job(j) => {
                crash_if_asked();
                let id = j.id;
                let job = Job::from_wire(
                    j,
                    ReplyTo::Remote {
                        id,
                        out: out.clone(),
                    },
                );
                if !engine.send(job) {
                    out.done(
                        id,
                        Err(ProviderError::Local("the model thread has stopped".into())),
                    );
                }
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_models::{Speaker, ToolDefinition};

    #[test]
    fn text_turns_become_a_job_and_tools_go_through_the_convention() {
        let turns = [
            Turn::new(Speaker::User, "T1"),
            Turn::new(Speaker::Assistant, "T2"),
        ];
        let params = misalign_core::SamplingParams {
            seed: Some(3),
            ..Default::default()
        };
        let plain = CompletionRequest::single_turn("m", "S", &turns, "U", params);
        let job = WireJob::of_request(1, &plain).unwrap();
        assert_eq!((job.turns.as_slice(), job.user.as_str()), (&turns[..], "U"));
        assert_eq!(job.key, prompt_key_with_turns("S", &turns, "U"));
        assert_eq!((job.system.as_str(), job.read_tool_calls), ("S", false));
        let with_tools = plain.with_tools(vec![ToolDefinition {
            name: "send_email".into(),
            description: "d".into(),
            parameters: serde_json::json!({"type": "object"}),
        }]);
        let tool_job = WireJob::of_request(1, &with_tools).unwrap();
        assert!(tool_job.read_tool_calls);
        assert!(tool_job.system.starts_with("S\n\n# Tools\n"));
        assert!(tool_job.system.contains("\"send_email\""));
        // The tools are part of the prompt, so of its key and seed.
        assert_ne!(tool_job.key, job.key);
        assert_ne!(tool_job.seed, job.seed);
    }
}
