//! llama.cpp behind [`ModelClient`]: one worker thread per loaded model owns the llama
//! context; requests reach it over a channel and wait on a oneshot reply, so inference never
//! blocks the async runtime.
//!
//! Prefix sharing: the worker keeps the last prompt's KV state in sequence 0. A request whose
//! prompt shares a prefix with it only decodes the rest; requests queued together with the
//! same prompt are generated as parallel sequences that copy sequence 0's cells.

mod bench;
mod isolated;
pub mod runner;
mod worker;

pub use bench::{bench, BenchResult};
pub use isolated::IsolatedClient;
pub use runner::{system_info, RUNNER_ARG};

use crate::settings::EngineSettings;
use llama_cpp_2::llama_backend::LlamaBackend;
use misalign_models::{Completion, CompletionRequest, ModelClient, ProviderError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};

/// llama.cpp's global state: initialised once per process.
pub(crate) fn backend() -> Result<&'static LlamaBackend, ProviderError> {
    // The failure is kept as text: it is cached for every later call and llama.cpp's error
    // type is not `Clone`.
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every load step to stderr; route it to `tracing` instead.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ProviderError::Local(format!("cannot initialise llama.cpp: {e}")))
}

/// What the worker reports once the model is loaded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub n_ctx_train: u32,
    /// The KV-cache size actually allocated.
    pub n_ctx: u32,
    pub n_params: u64,
    pub size_bytes: u64,
    pub threads: u32,
    pub chat_template: String,
}

/// One sample to generate.
pub(crate) struct Job {
    pub key: [u8; 32],
    pub system: String,
    /// Earlier turns, between the system prompt and `user`, through the chat template.
    pub turns: Vec<misalign_models::Turn>,
    pub user: String,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: u32,
    pub seed: u32,
    /// Benchmarks only: keep generating past end-of-text so every run has the same length.
    pub ignore_eos: bool,
    /// Read the reply for tool calls (tools were offered).
    pub read_tool_calls: bool,
    pub reply: ReplyTo,
}

type Reply = Result<Completion, ProviderError>;

/// Where a job's answer goes: the caller in this process, or the parent process that sent
/// the job to this engine runner (see [`runner`]).
pub(crate) enum ReplyTo {
    Local(tokio::sync::oneshot::Sender<Reply>),
    Remote { id: u64, out: Arc<runner::Outbox> },
}

impl Job {
    /// The job a request (in this process or from the parent) stands for.
    pub(crate) fn from_wire(j: runner::WireJob, reply: ReplyTo) -> Job {
        Job {
            key: j.key,
            system: j.system,
            turns: j.turns,
            user: j.user,
            temperature: j.temperature,
            top_p: j.top_p,
            max_tokens: j.max_tokens,
            seed: j.seed,
            ignore_eos: false,
            read_tool_calls: j.read_tool_calls,
            reply,
        }
    }
}

impl From<tokio::sync::oneshot::Sender<Reply>> for ReplyTo {
    fn from(tx: tokio::sync::oneshot::Sender<Reply>) -> Self {
        ReplyTo::Local(tx)
    }
}

impl ReplyTo {
    /// True when nobody waits for the answer any more (the caller gave up): the worker
    /// stops generating it.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            ReplyTo::Local(tx) => tx.is_closed(),
            ReplyTo::Remote { id, out } => out.is_cancelled(*id),
        }
    }

    pub(crate) fn send(self, reply: Reply) {
        match self {
            ReplyTo::Local(tx) => {
                let _ = tx.send(reply);
            }
            ReplyTo::Remote { id, out } => out.done(id, reply),
        }
    }
}

/// A loaded model and its worker thread. Dropping the last handle stops the worker.
pub(crate) struct Engine {
    tx: Mutex<mpsc::Sender<Job>>,
    info: ModelInfo,
}

impl Engine {
    pub(crate) fn start(path: &Path, settings: &EngineSettings) -> Result<Engine, ProviderError> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (p, s) = (path.to_path_buf(), settings.clone());
        std::thread::Builder::new()
            .name("misalign-llama".into())
            .spawn(move || worker::run(&p, &s, rx, ready_tx))
            .map_err(|e| ProviderError::Local(format!("cannot start the model thread: {e}")))?;
        let info = ready_rx.recv().map_err(|_| {
            ProviderError::Local(format!(
                "the model thread for {} stopped while loading",
                path.display()
            ))
        })??;
        Ok(Engine {
            tx: Mutex::new(tx),
            info,
        })
    }

    /// The engine for `path` with `settings`, shared with every other client of it.
    fn shared(path: &Path, settings: &EngineSettings) -> Result<Arc<Engine>, ProviderError> {
        type Key = (PathBuf, EngineSettings);
        static ENGINES: OnceLock<Mutex<HashMap<Key, Weak<Engine>>>> = OnceLock::new();
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let key = (canonical, settings.clone());
        let mut map = ENGINES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(engine) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(engine);
        }
        let engine = Arc::new(Engine::start(path, settings)?);
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(key, Arc::downgrade(&engine));
        Ok(engine)
    }

    /// Hands a job to the worker thread; false when the thread has stopped.
    pub(crate) fn send(&self, job: Job) -> bool {
        self.tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .is_ok()
    }

    pub(crate) async fn submit(
        &self,
        job_of: impl FnOnce(ReplyTo) -> Job,
    ) -> Result<Completion, ProviderError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job_of(reply.into()));
        let stopped = || {
            ProviderError::Local(format!(
                "the model thread for {} has stopped",
                self.info.path.display()
            ))
        };
        sent.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// A [`ModelClient`] running a GGUF model in-process.
///
/// The sampler seed of a request depends only on its seed and its prompt: the scheduler
/// already gives sample i of a condition the seed `seed + i`, so a resumed run, a rerun or
/// a different arrival order reproduces every sample, and the samples of one condition
/// differ from each other. Without a seed each request draws a fresh one.
pub struct LlamaClient {
    engine: Arc<Engine>,
}

impl LlamaClient {
    /// Loads the model (or reuses the already-loaded one with the same settings).
    pub fn open(path: &Path, settings: &EngineSettings) -> Result<Self, ProviderError> {
        Ok(LlamaClient {
            engine: Engine::shared(path, settings)?,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.engine.info
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[async_trait::async_trait]
impl ModelClient for LlamaClient {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let job = runner::WireJob::of_request(0, request)?;
        self.engine.submit(|reply| Job::from_wire(job, reply)).await
    }
}
