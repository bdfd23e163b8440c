//! What the test modules of this crate share, one context per test (as uv's `TestContext`):
//! a working folder and the environment every command of the test runs with, the binary
//! under test, an experiment-file builder, and typed reads of a results store through
//! misalign-store's own queries (no SQL in the tests: a schema change is made once, in the
//! store crate).

pub use misalign_store::tables::{
    BatchRecord, ClassificationRecord, JudgeCacheRecord, PromptRecord, ResponseRecord, RunRecord,
};
use misalign_store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `misalign` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_misalign"))
}

/// The binary under test as an `assert_cmd` command.
pub fn misalign() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("misalign").unwrap()
}

/// The API-key variables of the built-in providers.
pub const PROVIDER_KEYS: [&str; 6] = [
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "TOGETHER_API_KEY",
];

/// [`misalign`] without any provider key from the developer's shell (commands that must not
/// need one, or must say that one is missing).
pub fn misalign_without_keys() -> assert_cmd::Command {
    let mut c = misalign();
    for key in PROVIDER_KEYS {
        c.env_remove(key);
    }
    c
}

/// One test's working folder (removed at the end) and the variables every command it runs
/// gets.
pub struct TestContext {
    dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
    removed: Vec<String>,
}

impl TestContext {
    pub fn new() -> TestContext {
        TestContext {
            dir: tempfile::tempdir().unwrap(),
            envs: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// Every command of this context gets `key=value`.
    pub fn env(mut self, key: &str, value: &str) -> TestContext {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// No command of this context sees `key`, whatever the test process has.
    pub fn without_env(mut self, key: &str) -> TestContext {
        self.removed.push(key.to_string());
        self
    }

    /// The working folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `misalign` in the working folder with the context's variables.
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.path());
        for k in &self.removed {
            c.env_remove(k);
        }
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Starts `misalign ARGS` in the background, its output discarded (a test that kills it).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs `misalign ARGS` to the end.
    pub fn misalign(&self, args: &[&str]) -> Output {
        self.misalign_with(args, &[])
    }

    /// Runs `misalign ARGS` to the end with `envs` on top of the context's variables.
    pub fn misalign_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.command();
        c.args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// [`TestContext::misalign`] off the async runtime's threads (a test's mock server
    /// keeps answering meanwhile).
    pub async fn misalign_async(&self, args: &[&str]) -> Output {
        self.misalign_async_with(args, &[]).await
    }

    /// [`TestContext::misalign_async`] that must succeed (the failure shows both streams).
    pub async fn misalign_ok_async(&self, args: &[&str]) -> Output {
        succeeded(args, self.misalign_async(args).await)
    }

    /// [`TestContext::misalign`] that must succeed (the failure shows both streams).
    pub fn misalign_ok(&self, args: &[&str]) -> Output {
        succeeded(args, self.misalign(args))
    }

    /// [`TestContext::misalign_async`] with `envs` on top of the context's variables.
    pub async fn misalign_async_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.command();
        c.args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// Writes `experiment` as `exp.yaml` in the working folder; returns its path.
    pub fn write_experiment(&self, experiment: &Experiment) -> PathBuf {
        self.write_experiment_as("exp.yaml", experiment)
    }

    /// Writes `experiment` as `file` in the working folder; returns its path.
    pub fn write_experiment_as(&self, file: &str, experiment: &Experiment) -> PathBuf {
        let path = self.path().join(file);
        std::fs::write(&path, experiment.yaml()).unwrap();
        path
    }
}

/// An experiment file for a test: one provider at a mock, the models, a grid of one
/// expansion, and whatever global, classification and execution settings the test sets
/// (each as its own `key: value` line, written as given).
#[derive(Clone, Debug)]
pub struct Experiment {
    id: String,
    providers: Vec<String>,
    models: Vec<String>,
    global: Vec<String>,
    grid: [Vec<String>; 4],
    /// More lines under the expansion's `variables:` (`interaction: [agent]`).
    variables: Vec<String>,
    classification: Vec<String>,
    execution: Vec<String>,
    /// Lines of the expansion itself, beside `variables:` (`agent: {max_steps: 6}`).
    expansion: Vec<String>,
    extra: String,
}

impl Experiment {
    /// `experiment_id: ID`, with one expansion over blackmail, explicit-america, replacement.
    pub fn new(id: &str) -> Experiment {
        Experiment {
            id: id.to_string(),
            providers: Vec::new(),
            models: Vec::new(),
            global: Vec::new(),
            grid: [
                vec!["blackmail".into()],
                vec!["explicit".into()],
                vec!["america".into()],
                vec!["replacement".into()],
            ],
            variables: Vec::new(),
            classification: Vec::new(),
            execution: Vec::new(),
            expansion: Vec::new(),
            extra: String::new(),
        }
    }

    /// A `providers:` entry of `kind` at `base_url`, its key in `key_env` (if any).
    pub fn provider(
        mut self,
        name: &str,
        kind: &str,
        base_url: &str,
        key_env: Option<&str>,
    ) -> Self {
        let mut entry = format!("  {name}:\n    kind: {kind}\n    base_url: \"{base_url}\"\n");
        if let Some(k) = key_env {
            entry.push_str(&format!("    api_key_env: {k}\n"));
        }
        self.providers.push(entry);
        self
    }

    /// `global.models`.
    pub fn models(mut self, models: &[&str]) -> Self {
        self.models = models.iter().map(|m| m.to_string()).collect();
        self
    }

    /// A line under `global:` (`max_tokens: 50`, `seed: 3`, ...).
    pub fn global(mut self, line: &str) -> Self {
        self.global.push(line.to_string());
        self
    }

    /// `global.samples_per_condition`.
    pub fn samples(self, n: u32) -> Self {
        self.global(&format!("samples_per_condition: {n}"))
    }

    /// The expansion's scenarios, goal types, goal values and urgency types.
    pub fn grid(
        mut self,
        scenarios: &[&str],
        goal_types: &[&str],
        goal_values: &[&str],
        urgency: &[&str],
    ) -> Self {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        self.grid = [
            own(scenarios),
            own(goal_types),
            own(goal_values),
            own(urgency),
        ];
        self
    }

    /// A line of the expansion beside its `variables:` (`agent: {max_steps: 6}`).
    pub fn expansion(mut self, line: &str) -> Self {
        self.expansion.push(line.to_string());
        self
    }

    /// A line under the expansion's `variables:` (`interaction: [single, agent]`).
    pub fn variable(mut self, line: &str) -> Self {
        self.variables.push(line.to_string());
        self
    }

    /// A line under `classification:` (`enabled: false`, `classifier_model: ...`).
    pub fn classification(mut self, line: &str) -> Self {
        self.classification.push(line.to_string());
        self
    }

    /// A line under `execution:` (`retries: 3`, `batch: true`, ...).
    pub fn execution(mut self, line: &str) -> Self {
        self.execution.push(line.to_string());
        self
    }

    /// Text appended as it is (a `prices:` section, a line of the last section).
    pub fn extra(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self
    }

    /// The file's text.
    pub fn yaml(&self) -> String {
        let mut y = format!("experiment_id: {}\n", self.id);
        if !self.providers.is_empty() {
            y.push_str("providers:\n");
            self.providers.iter().for_each(|p| y.push_str(p));
        }
        y.push_str("global:\n");
        if !self.models.is_empty() {
            y.push_str(&format!("  models: [{}]\n", self.models.join(", ")));
        }
        for line in &self.global {
            y.push_str(&format!("  {line}\n"));
        }
        let [scenarios, goal_types, goal_values, urgency] = &self.grid;
        y.push_str(&format!(
            "expansions:\n  - name: grid\n    enabled: true\n    variables:\n      \
             scenarios: [{}]\n      goal_types: [{}]\n      goal_values: [{}]\n      \
             urgency_types: [{}]\n",
            scenarios.join(", "),
            goal_types.join(", "),
            goal_values.join(", "),
            urgency.join(", ")
        ));
        for line in &self.variables {
            y.push_str(&format!("      {line}\n"));
        }
        for line in &self.expansion {
            y.push_str(&format!("    {line}\n"));
        }
        for (section, lines) in [
            ("classification", &self.classification),
            ("execution", &self.execution),
        ] {
            if !lines.is_empty() {
                y.push_str(&format!("{section}:\n"));
                lines.iter().for_each(|l| y.push_str(&format!("  {l}\n")));
            }
        }
        y.push_str(&self.extra);
        y
    }
}

/// The store at `path` (a results folder or its `results.sqlite`), opened read-only.
pub fn stored(path: &Path) -> Store {
    try_stored(path).unwrap()
}

/// [`stored`], or None while the store does not exist yet (or cannot be read).
pub fn try_stored(path: &Path) -> Option<Store> {
    let file = if path.is_dir() {
        path.join(misalign_store::STORE_FILE)
    } else {
        path.to_path_buf()
    };
    Store::open_read_only(&file).ok()
}

/// Every response row (answers and given-up calls) of the store at `path`, oldest first.
pub fn responses(path: &Path) -> Vec<ResponseRecord> {
    stored(path).all_responses().unwrap()
}

/// Every classification of the store at `path`, oldest first.
pub fn classifications(path: &Path) -> Vec<ClassificationRecord> {
    stored(path).all_classifications().unwrap()
}

/// Every judge cache entry of the store at `path`.
pub fn judge_cache(path: &Path) -> Vec<JudgeCacheRecord> {
    stored(path).all_judge_cache().unwrap()
}

/// Every batch of the store at `path`, with its requests, events and answers.
pub fn batches(path: &Path) -> Vec<BatchRecord> {
    stored(path).all_batches().unwrap()
}

/// Every run of the store at `path`, with its end.
pub fn runs(path: &Path) -> Vec<RunRecord> {
    stored(path).all_runs().unwrap()
}

/// Every prompt of the store at `path`.
pub fn prompts(path: &Path) -> Vec<PromptRecord> {
    stored(path).all_prompts().unwrap()
}

/// How many of `rows` satisfy `keep`.
pub fn count<T>(rows: &[T], keep: impl Fn(&T) -> bool) -> usize {
    rows.iter().filter(|r| keep(r)).count()
}

/// `out` of `misalign ARGS`, which must have succeeded.
fn succeeded(args: &[&str], out: Output) -> Output {
    assert!(
        out.status.success(),
        "misalign {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
