//! The parent's side of the engine runner ([`super::runner`]): a [`ModelClient`] whose
//! llama.cpp lives in a child process, so that a native crash fails the calls in flight
//! with a message instead of ending the run.
//!
//! After a crash the next call starts a new runner (the model loads again in about a
//! second for small models), up to [`MAX_CRASHES`] crashes per model and run; after that
//! every call of the model fails at once with the last crash's message, so a model that
//! crashes on every prompt costs a few seconds, not the whole run.

use super::runner::{FromRunner, Spec, ToRunner, WireJob, RUNNER_ARG};
use super::ModelInfo;
use crate::settings::EngineSettings;
use misalign_models::{Completion, CompletionRequest, ModelClient, ProviderError};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Crashes of one model's runner after which its calls fail without a new start.
pub const MAX_CRASHES: u32 = 3;
/// Lines of the runner's stderr kept for the crash message.
const STDERR_TAIL: usize = 20;

type Reply = Result<Completion, ProviderError>;

fn local(msg: impl Into<String>) -> ProviderError {
    ProviderError::Local(msg.into())
}

/// The calls waiting for one runner, and whether it has died (with the message to give).
#[derive(Default)]
struct Waiting {
    pending: HashMap<u64, tokio::sync::oneshot::Sender<Reply>>,
    dead: Option<String>,
}

/// One started runner process.
struct Runner {
    stdin: Mutex<ChildStdin>,
    waiting: Arc<Mutex<Waiting>>,
}

impl Runner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, msg: &ToRunner) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        stdin.write_all(&line).and_then(|_| stdin.flush())
    }
}

/// Where the runner comes from and what it loads.
#[derive(Clone, Debug)]
struct Launch {
    exe: PathBuf,
    spec: Spec,
}

impl Launch {
    /// Starts a runner, waits for its model to load, and starts the threads that read its
    /// answers and its stderr.
    fn start(&self, crashes: Arc<Mutex<u32>>) -> Result<(Arc<Runner>, ModelInfo), ProviderError> {
        let what = self.spec.path.display().to_string();
        let mut child = Command::new(&self.exe)
            .arg(RUNNER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                local(format!(
                    "cannot start the llama.cpp engine runner `{} {RUNNER_ARG}`: {e}",
                    self.exe.display()
                ))
            })?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        spawn_stderr_reader(stderr, tail.clone());

        let mut start = serde_json::to_vec(&self.spec).map_err(|e| local(e.to_string()))?;
        start.push(b'\n');
        let _ = stdin.write_all(&start).and_then(|_| stdin.flush());
        let mut answers = BufReader::new(stdout);
        let mut first = String::new();
        let read = answers.read_line(&mut first);
        let ready = match read {
            Ok(n) if n > 0 => serde_json::from_str::<FromRunner>(&first).ok(),
            _ => None,
        };
        let info = match ready {
            Some(FromRunner::Ready(info)) => info,
            Some(FromRunner::Failed { message }) => {
                let _ = child.wait();
                return Err(local(message));
            }
            _ => {
                drop(stdin);
                let status = child.wait();
                *crashes.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                return Err(local(crash_message(
                    &what,
                    status.ok(),
                    &tail,
                    "loading the model",
                )));
            }
        };
        let runner = Arc::new(Runner {
            stdin: Mutex::new(stdin),
            waiting: Arc::new(Mutex::new(Waiting::default())),
        });
        spawn_answer_reader(answers, child, runner.waiting.clone(), tail, what, crashes);
        Ok((runner, info))
    }
}

fn spawn_stderr_reader(stderr: std::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let _ = std::thread::Builder::new()
        .name("misalign-engine-stderr".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                tracing::debug!(target: "misalign_local::runner", "{line}");
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
}

fn spawn_answer_reader(
    mut answers: BufReader<std::process::ChildStdout>,
    mut child: Child,
    waiting: Arc<Mutex<Waiting>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    what: String,
    crashes: Arc<Mutex<u32>>,
) {
    let _ = std::thread::Builder::new()
        .name("misalign-engine-answers".into())
        .spawn(move || {
            let mut line = String::new();
            loop {
                line.clear();
                match answers.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let Ok(FromRunner::Done { id, result }) = serde_json::from_str(&line) else {
                    tracing::warn!("engine runner: ignoring an unreadable answer line");
                    continue;
                };
                let tx = waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pending
                    .remove(&id);
                if let Some(tx) = tx {
                    let _ = tx.send(result.into_reply());
                }
            }
            // stdout closed: the runner ended, on purpose (its stdin closed) or not.
            let status = child.wait().ok();
            let mut w = waiting.lock().unwrap_or_else(|e| e.into_inner());
            let clean = status.is_some_and(|s| s.success()) && w.pending.is_empty();
            if !clean {
                *crashes.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
            let message = crash_message(&what, status, &tail, "this call was in flight");
            for (_, tx) in w.pending.drain() {
                let _ = tx.send(Err(local(message.clone())));
            }
            w.dead = Some(message);
        });
}

/// The signal's usual name, for the message.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV, a segmentation fault",
        libc::SIGABRT => "SIGABRT, an abort: a failed assertion or allocation",
        libc::SIGILL => "SIGILL, an illegal instruction: the CPU lacks an extension the build uses",
        libc::SIGBUS => "SIGBUS, a bus error",
        libc::SIGFPE => "SIGFPE, an arithmetic fault",
        libc::SIGKILL => "SIGKILL: killed, often by the kernel's out-of-memory killer",
        _ => return format!("signal {sig}"),
    };
    format!("signal {sig}, {name}")
}

fn crash_message(
    what: &str,
    status: Option<std::process::ExitStatus>,
    tail: &Mutex<VecDeque<String>>,
    when: &str,
) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match status {
        Some(s) => match (s.signal(), s.code()) {
            (Some(sig), _) => format!("was killed by {}", signal_name(sig)),
            (None, Some(code)) => format!("exited with code {code}"),
            (None, None) => "ended".to_string(),
        },
        None => "ended and its status could not be read".to_string(),
    };
    let last = tail
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(" Its last words: \"{}\".", l.trim()))
        .unwrap_or_default();
    format!(
        "the embedded llama.cpp engine for {what} {how} while {when}.{last} The answers \
         already stored are kept and the other models go on; rerun the same command to retry \
         these calls. If it happens again, run `misalign doctor` (the CPU's features and the \
         llama.cpp build) and set `threads:` or `context_length:` lower on the local \
         provider, or use a hosted or OpenAI-compatible model"
    )
}

/// One model's runner, restarted after a crash.
struct Supervisor {
    launch: Launch,
    current: Mutex<Arc<Runner>>,
    crashes: Arc<Mutex<u32>>,
    next_id: AtomicU64,
}

impl Supervisor {
    /// The live runner, starting a new one when the last has died and crashes allow.
    fn runner(&self) -> Result<Arc<Runner>, ProviderError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let dead = current.lock().dead.clone();
        if let Some(message) = dead {
            let crashes = *self.crashes.lock().unwrap_or_else(|e| e.into_inner());
            if crashes >= MAX_CRASHES {
                return Err(local(format!(
                    "{message} (the engine crashed {crashes} times in this run; no more restarts)"
                )));
            }
            tracing::warn!(
                model = %self.launch.spec.path.display(),
                "restarting the llama.cpp engine after a crash"
            );
            let (runner, _) = self.launch.start(self.crashes.clone())?;
            *current = runner;
        }
        Ok(current.clone())
    }

    async fn submit(&self, job: WireJob) -> Reply {
        let runner = self.runner()?;
        let id = job.id;
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut w = runner.lock();
            if let Some(message) = &w.dead {
                return Err(local(message.clone()));
            }
            w.pending.insert(id, tx);
        }
        // A runner that died while we wrote answers through its reader thread (which fails
        // every pending call, this one included).
        let _ = runner.write(&ToRunner::Job(job));
        let mut guard = CancelOnDrop {
            runner: Some(runner),
            id,
        };
        let reply = rx.await;
        guard.runner = None;
        reply.map_err(|_| local("the llama.cpp engine runner dropped this call"))?
    }
}

/// Tells the runner to stop generating an answer nobody waits for any more (a timeout or
/// Ctrl-C dropped the call's future).
struct CancelOnDrop {
    runner: Option<Arc<Runner>>,
    id: u64,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.runner.take() {
            r.lock().pending.remove(&self.id);
            let _ = r.write(&ToRunner::Cancel { id: self.id });
        }
    }
}

/// A [`ModelClient`] running a GGUF model in an engine runner process (module docs). Seeds
/// are drawn as [`super::LlamaClient`] draws them, so both give the same answers.
pub struct IsolatedClient {
    sup: Arc<Supervisor>,
    info: ModelInfo,
}

impl IsolatedClient {
    /// Starts a runner from the executable `exe` (the `misalign` binary) and loads the model.
    pub fn open(exe: &Path, path: &Path, settings: &EngineSettings) -> Result<Self, ProviderError> {
        let launch = Launch {
            exe: exe.to_path_buf(),
            spec: Spec {
                path: path.to_path_buf(),
                settings: settings.clone(),
            },
        };
        let crashes = Arc::new(Mutex::new(0));
        let (runner, info) = launch.start(crashes.clone())?;
        Ok(IsolatedClient {
            sup: Arc::new(Supervisor {
                launch,
                current: Mutex::new(runner),
                crashes,
                next_id: AtomicU64::new(1),
            }),
            info,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }
}

#[async_trait::async_trait]
impl ModelClient for IsolatedClient {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let id = self.sup.next_id.fetch_add(1, Ordering::Relaxed);
        self.sup.submit(WireJob::of_request(id, request)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_messages_name_the_engine_the_signal_and_what_to_do() {
        use std::os::unix::process::ExitStatusExt;
        let tail = Mutex::new(VecDeque::from(vec![
            "load: ok".to_string(),
            "GGML_ASSERT(n > 0) failed".to_string(),
            String::new(),
        ]));
        let m = crash_message(
            "/m/smol.gguf",
            Some(std::process::ExitStatus::from_raw(libc::SIGSEGV)),
            &tail,
            "this call was in flight",
        );
        for part in [
            "llama.cpp engine",
            "/m/smol.gguf",
            "SIGSEGV",
            "GGML_ASSERT(n > 0) failed",
            "misalign doctor",
            "rerun",
        ] {
            assert!(m.contains(part), "{part}: {m}");
        }
        let m = crash_message(
            "x",
            Some(std::process::ExitStatus::from_raw(3 << 8)),
            &Mutex::new(VecDeque::new()),
            "loading the model",
        );
        assert!(
            m.contains("exited with code 3") && m.contains("loading the model"),
            "{m}"
        );
    }
}
