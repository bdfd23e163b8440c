//! `misalign run` and `misalign status` as a user runs them: the real binary against the
//! loopback mock server (real HTTP) with a real SQLite store, including `kill -9`, Ctrl-C + resume
//! and a check that a recognisable fake key leaks nowhere.

use crate::support::bin;
use misalign_mock::{prompt_key, MockConfig, MockServer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "sk-test-SECRET-4242-this-must-never-leak";
const SEED: u64 = 9;

/// An experiment over the built-in packs: `conditions` of (blackmail, leaking, murder) x
/// (explicit, none), `samples` each, against the mock at `url`.
fn experiment(dir: &Path, url: &str, scenarios: &str, samples: u32, conc: u32) -> PathBuf {
    let text = format!(
        "experiment_id: h4-test
providers:
  mock:
    kind: openai-compatible
    base_url: {url}
    api_key_env: H4_MOCK_KEY
global:
  models: [mock/mock-model]
  temperature: 1.0
  max_tokens: 100
  seed: {SEED}
  samples_per_condition: {samples}
  concurrency:
    providers:
      mock: {conc}
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [{scenarios}]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: false
execution:
  timeout_seconds: 20
  retries: 3
"
    );
    let p = dir.join("exp.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn misalign(dir: &Path, args: &[&str], key: &str) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env("H4_MOCK_KEY", key)
        .args(args)
        .output()
        .unwrap()
}

fn query(store: &Path, sql: &str) -> i64 {
    let c = rusqlite_free_count(store, sql);
    c.unwrap_or(-1)
}

/// Counts through the crate under test's own store type (read-only).
fn rusqlite_free_count(store: &Path, sql: &str) -> Option<i64> {
    let s = misalign_store::Store::open_read_only(store).ok()?;
    crate::support::db(&s).query_row(sql, [], |r| r.get(0)).ok()
}

/// Mock prompt keys of every stored answer (what the mock saw for those items).
fn answered_prompt_keys(store: &Path) -> BTreeSet<String> {
    let s = misalign_store::Store::open_read_only(store).unwrap();
    let db = crate::support::db(&s);
    let mut st = db
        .prepare(
            "SELECT p.system_prompt, p.user_prompt, p.email_content, w.sample_index
             FROM responses r JOIN work_items w ON w.item_key = r.item_key
             JOIN prompts p ON p.prompt_hash = w.prompt_hash WHERE r.status != 'error'",
        )
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
            ))
        })
        .unwrap();
    rows.map(|r| {
        let (sys, user, inbox, i) = r.unwrap();
        let msg = format!("{}\n\n{}", user.trim_end_matches('\n'), inbox);
        prompt_key("mock-model", &sys, &msg, Some(SEED + u64::from(i)))
    })
    .collect()
}

fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every file under `dir` (store, WAL, exports) is free of `needle`.
fn assert_nowhere(dir: &Path, needle: &str) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let b = std::fs::read(&p).unwrap();
                assert!(!contains(&b, needle), "secret found in {}", p.display());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_status_export_and_rerun_samples_nothing() {
    let server = MockServer::start(MockConfig {
        api_key: Some(SECRET.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), &server.openai_url(), "blackmail, murder", 3, 8);
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        misalign(&d, &["run", "exp.yaml", "--out", "out", "--quiet"], SECRET)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("12 calls planned"), "{stderr}");
    assert_eq!(server.request_count(), 12);
    let store = dir.path().join("out/results.sqlite");
    assert_eq!(
        query(
            &store,
            "SELECT count(*) FROM responses WHERE status = 'answer'"
        ),
        12
    );
    assert_eq!(
        query(
            &store,
            "SELECT count(*) FROM run_ends WHERE status = 'completed'"
        ),
        1
    );

    // Reference layout export.
    let f = dir
        .path()
        .join("out/models/mock_mock-model/blackmail_explicit-america_replacement/sample_003/response.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert!(doc["raw_response"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(doc["metadata"]["sample_id"], 3);
    assert_eq!(doc["metadata"]["model"], "mock/mock-model");
    assert_eq!(
        doc["metadata"]["condition"],
        "blackmail_explicit-america_replacement"
    );
    assert!(doc["metadata"]["usage"]["input_tokens"].as_i64().unwrap() > 0);

    // Status, as a table and as JSON.
    let d = dir.path().to_path_buf();
    let st = misalign(&d, &["status", "out", "--json"], "");
    assert!(st.status.success());
    let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(j["per_model"]["mock/mock-model"]["completed"], 12);
    assert_eq!(j["per_provider"]["mock"]["pending"], 0);
    assert_eq!(j["end_status"], "completed");
    let st = misalign(&d, &["status", "out"], "");
    let table = String::from_utf8_lossy(&st.stdout);
    assert!(
        table.contains("mock/mock-model") && table.contains("completed"),
        "{table}"
    );

    // Rerun: nothing new to sample; a changed experiment samples only what is new.
    let before = std::fs::metadata(&f).unwrap().modified().unwrap();
    let out = misalign(&d, &["run", "exp.yaml", "--out", "out", "--quiet"], SECRET);
    assert!(out.status.success());
    assert_eq!(
        server.request_count(),
        12,
        "a rerun requested something again"
    );
    assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), before);
    experiment(dir.path(), &server.openai_url(), "blackmail, murder", 4, 8);
    let out = misalign(&d, &["run", "exp.yaml", "--out", "out", "--quiet"], SECRET);
    assert!(out.status.success());
    assert_eq!(
        server.request_count(),
        16,
        "only the 4 new samples are requested"
    );
    let _ = exp;

    // The key the run used is nowhere in the results folder or the output.
    assert_nowhere(&dir.path().join("out"), SECRET);
    assert!(!contains(&out.stderr, SECRET) && !contains(&out.stdout, SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_stops_early_with_a_clear_message_and_no_leak() {
    let server = MockServer::start(MockConfig {
        api_key: Some("the-right-key".into()),
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(
        dir.path(),
        &server.openai_url(),
        "blackmail, leaking, murder",
        10,
        2,
    );
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        misalign(&d, &["run", "exp.yaml", "--out", "out", "--quiet"], SECRET)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("provider `mock` rejected the API key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("H4_MOCK_KEY"),
        "names the variable: {stderr}"
    );
    assert!(!stderr.contains(SECRET) && !contains(&out.stdout, SECRET));
    assert!(
        server.request_count() <= 4,
        "{} requests after a 401",
        server.request_count()
    );
    let store = dir.path().join("out/results.sqlite");
    assert_eq!(
        query(
            &store,
            "SELECT count(*) FROM run_ends WHERE status = 'auth_error'"
        ),
        1
    );
    assert_nowhere(&dir.path().join("out"), SECRET);

    // A missing key is reported before any call.
    let d = dir.path().to_path_buf();
    let out = misalign(&d, &["run", "exp.yaml", "--out", "out2"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("H4_MOCK_KEY"), "{stderr}");
    assert!(server.request_count() <= 4);
}

/// A mock answering after `latency_ms`, and a 72-call experiment (3 scenarios x 2 goal
/// types x 12 samples, 4 in flight) against it in a fresh folder.
async fn mock_and_72_calls(latency_ms: u64) -> (MockServer, tempfile::TempDir) {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(latency_ms),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(
        dir.path(),
        &server.openai_url(),
        "blackmail, leaking, murder",
        12,
        4,
    );
    (server, dir)
}

/// Starts `misalign run exp.yaml --out out --quiet` in the background.
fn spawn_run(dir: &Path, output: fn() -> Stdio) -> std::process::Child {
    Command::new(bin())
        .current_dir(dir)
        .env("H4_MOCK_KEY", "k")
        .args(["run", "exp.yaml", "--out", "out", "--quiet"])
        .stdout(output())
        .stderr(output())
        .spawn()
        .unwrap()
}

/// Runs the same command again to the end; it must succeed.
async fn resume_ok(dir: &Path) {
    let d = dir.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        misalign(&d, &["run", "exp.yaml", "--out", "out", "--quiet"], "k")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until the store holds at least `n` responses (30 s at most).
async fn wait_until_stored(store: &Path, n: i64) {
    let t0 = Instant::now();
    while rusqlite_free_count(store, "SELECT count(*) FROM responses").unwrap_or(0) < n {
        assert!(t0.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_9_then_resume_requests_no_finished_item_again() {
    let (server, dir) = mock_and_72_calls(100).await;
    let store = dir.path().join("out/results.sqlite");
    let mut child = spawn_run(dir.path(), Stdio::null);
    // 72 calls at 4 in flight x 100 ms take ~1.8 s: kill once some are committed.
    wait_until_stored(&store, 12).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done_before = answered_prompt_keys(&store);
    assert!(
        done_before.len() >= 12 && done_before.len() < 72,
        "{}",
        done_before.len()
    );
    assert_eq!(
        query(&store, "SELECT count(*) FROM run_ends"),
        0,
        "killed runs have no end row"
    );

    server.reset();
    resume_ok(dir.path()).await;
    let again = server.stats().per_prompt;
    for k in &done_before {
        assert!(
            !again.contains_key(k),
            "finished item {k} was requested again"
        );
    }
    assert_eq!(
        query(
            &store,
            "SELECT count(*) FROM responses WHERE status != 'error'"
        ),
        72
    );
    assert_eq!(
        query(&store, "SELECT count(DISTINCT item_key) FROM responses"),
        72
    );
    assert_eq!(answered_prompt_keys(&store).len(), 72);
    let exported = walk_count(&dir.path().join("out/models"));
    assert_eq!(exported, 72);
}

/// Ctrl-C (SIGINT) through the real binary: no new calls start, the calls in flight finish
/// and are stored, the run ends as `interrupted` with exit code 130 and says how to resume;
/// the resumed run samples only what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_keeps_answers_and_resumes() {
    let (server, dir) = mock_and_72_calls(300).await;
    let store = dir.path().join("out/results.sqlite");
    let child = spawn_run(dir.path(), Stdio::piped);
    // 72 calls at 4 in flight x 300 ms take ~5.4 s: interrupt once some are committed.
    wait_until_stored(&store, 8).await;
    let interrupted_at = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        interrupted_at.elapsed() < Duration::from_secs(10),
        "the in-flight calls (300 ms) should end well within the grace period"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stderr.contains("to resume, run the same command"),
        "{stderr}"
    );
    let stored = answered_prompt_keys(&store);
    assert!(stored.len() >= 8 && stored.len() < 72, "{}", stored.len());
    // Every call the server answered was stored: the in-flight ones were waited for.
    assert_eq!(server.request_count(), stored.len() as u64);
    let status: String =
        crate::support::db(&misalign_store::Store::open_read_only(&store).unwrap())
            .query_row("SELECT status FROM run_ends", [], |r| r.get(0))
            .unwrap();
    assert_eq!(status, "interrupted");

    server.reset();
    resume_ok(dir.path()).await;
    assert_eq!(server.request_count(), 72 - stored.len() as u64);
    assert_eq!(
        query(&store, "SELECT count(DISTINCT item_key) FROM responses"),
        72
    );
    assert_eq!(query(&store, "SELECT count(*) FROM responses"), 72);
}

fn walk_count(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|f| f == "response.json") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn dry_run_prints_calls_tokens_and_cost_without_calling() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens here: a dry run must not call.
    experiment(dir.path(), "http://127.0.0.1:9/v1", "blackmail", 5, 2);
    let out = misalign(dir.path(), &["run", "exp.yaml", "--dry-run"], "k");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 conditions x 5 samples; 10 model calls"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mock/mock-model") && stdout.contains("estimated cost"),
        "{stdout}"
    );
    assert!(
        !dir.path().join("results").exists(),
        "a dry run writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_classifies_exports_verdicts_and_writes_reports() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &server.openai_url(),
        "blackmail, leaking, murder",
        2,
        8,
    );
    // Detectors only (no judge configured).
    let text = std::fs::read_to_string(&exp).unwrap().replace(
        "classification:\n  enabled: false",
        "classification:\n  enabled: true",
    );
    std::fs::write(&exp, text).unwrap();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        misalign(&d, &["run", "exp.yaml", "--out", "out", "--quiet"], "k")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("classified 12 answers"), "{stderr}");
    for f in ["summary.csv", "summary.json", "report.html"] {
        assert!(dir.path().join("out").join(f).is_file(), "{f} missing");
    }
    let f = dir
        .path()
        .join("out/models/mock_mock-model/murder_none-none_replacement/sample_001/response.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert!(
        doc["classification"]["harmful_behavior"].is_boolean(),
        "{doc}"
    );
    assert!(doc["classification"]["classified_at"].is_string());
    // No judge ran: the judge's verdict is unknown (null), not "harmless" (false).
    assert!(
        doc["classification"]["classifier_verdict"].is_null(),
        "{doc}"
    );
    assert!(doc["classification"]["detector_verdict"].is_boolean());
    assert!(
        !String::from_utf8_lossy(&out.stdout).is_empty(),
        "the rate table is printed"
    );
}
