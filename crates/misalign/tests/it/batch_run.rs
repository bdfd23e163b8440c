//! `misalign run` in batch mode as a user runs it: the real binary against the mock's
//! Message Batches API (real HTTP, real SQLite), killed with SIGKILL between submission and
//! ingestion and run again; the batched answers classified and reported like live ones;
//! `--batch` / `MISALIGN_BATCH`; and config errors that name the field.

use misalign_mock::{MockConfig, MockServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-test-SECRET-batch-never-stored";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_misalign"))
}

/// 6 conditions x `samples` on an Anthropic-kind model at the mock; `batch` is the
/// `execution.batch` line (or nothing).
fn experiment(dir: &Path, url: &str, samples: u32, batch: &str) -> PathBuf {
    let text = format!(
        "experiment_id: batch-test
providers:
  anth:
    kind: anthropic
    base_url: {url}
    api_key_env: BATCH_MOCK_KEY
global:
  models: [anth/claude-mock]
  temperature: 1.0
  max_tokens: 100
  samples_per_condition: {samples}
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: true
execution:
  timeout_seconds: 20
  retries: 3
  batch_poll_seconds: 0.05
  batch_max_requests: 10
{batch}"
    );
    let p = dir.join("exp.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn misalign(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir).env("BATCH_MOCK_KEY", KEY).args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

async fn misalign_async(
    dir: &Path,
    args: &'static [&'static str],
    envs: &'static [(&'static str, &'static str)],
) -> Output {
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || misalign(&d, args, envs))
        .await
        .unwrap()
}

fn count(store: &Path, sql: &str) -> i64 {
    misalign_store::Store::open_read_only(store)
        .ok()
        .and_then(|s| crate::support::db(&s).query_row(sql, [], |r| r.get(0)).ok())
        .unwrap_or(-1)
}

fn assert_all_answered_once(store: &Path, server: &MockServer, n: usize) {
    assert_eq!(
        count(
            store,
            "SELECT count(*) FROM responses WHERE status != 'error'"
        ) as usize,
        n
    );
    assert_eq!(count(store, "SELECT count(*) FROM responses") as usize, n);
    assert_eq!(
        count(store, "SELECT count(DISTINCT item_key) FROM responses") as usize,
        n
    );
    let subs = server.stats().batch_submissions;
    assert_eq!(subs.len(), n, "{subs:?}");
    assert!(
        subs.values().all(|&c| c == 1),
        "a request was paid for twice: {subs:?}"
    );
    assert_eq!(server.stats().requests, 0, "no live call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_9_between_submission_and_ingestion_then_resume_pays_once() {
    let server = MockServer::start(MockConfig {
        api_key: Some(KEY.into()),
        batch_delay: Duration::from_millis(2500),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.url(), 4, "  batch: true\n");
    let store = dir.path().join("out/results.sqlite");
    let mut child = Command::new(bin())
        .current_dir(dir.path())
        .env("BATCH_MOCK_KEY", KEY)
        .args(["run", "exp.yaml", "--out", "out", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // 24 requests in batches of 10: wait until all three are submitted and recorded, then
    // kill while they are still in progress at the provider.
    let t0 = Instant::now();
    while count(
        &store,
        "SELECT count(*) FROM batch_events WHERE kind = 'submitted'",
    ) < 3
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "no batch submitted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM batches"), 3);
    assert_eq!(count(&store, "SELECT count(*) FROM batch_items"), 24);
    assert_eq!(
        count(&store, "SELECT count(*) FROM responses"),
        0,
        "killed before ingestion"
    );
    assert_eq!(server.stats().batches_created, 3);

    let out = misalign_async(
        dir.path(),
        &["run", "exp.yaml", "--out", "out", "--quiet"],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming 3 batch(es)"), "{stderr}");
    assert_eq!(
        server.stats().batches_created,
        3,
        "resumed, not resubmitted"
    );
    assert_all_answered_once(&store, &server, 24);
    assert_eq!(count(&store, "SELECT count(*) FROM batch_answers"), 24);
    // Classified and reported like live answers.
    assert!(stderr.contains("classified 24 answers"), "{stderr}");
    for f in ["summary.csv", "summary.json", "report.html"] {
        assert!(dir.path().join("out").join(f).is_file(), "{f} missing");
    }
    let f = dir
        .path()
        .join("out/models/anth_claude-mock/murder_none-none_replacement/sample_001/response.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert!(
        doc["classification"]["harmful_behavior"].is_boolean(),
        "{doc}"
    );
    // The key is nowhere in the store.
    let bytes = std::fs::read(&store).unwrap();
    assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()));

    // A third run has nothing to send.
    let out = misalign_async(
        dir.path(),
        &["run", "exp.yaml", "--out", "out", "--quiet"],
        &[],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(server.stats().batches_created, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_flag_and_variable_turn_batch_mode_on() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.url(), 1, "");
    // Without the flag: live calls, no batch.
    let out = misalign_async(
        dir.path(),
        &[
            "run",
            "exp.yaml",
            "--out",
            "live",
            "--quiet",
            "--no-classify",
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (server.stats().requests, server.stats().batches_created),
        (6, 0)
    );
    server.reset();
    let out = misalign_async(
        dir.path(),
        &[
            "run",
            "exp.yaml",
            "--out",
            "flag",
            "--quiet",
            "--no-classify",
            "--batch",
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_all_answered_once(&dir.path().join("flag/results.sqlite"), &server, 6);
    server.reset();
    let out = misalign_async(
        dir.path(),
        &[
            "run",
            "exp.yaml",
            "--out",
            "var",
            "--quiet",
            "--no-classify",
        ],
        &[("MISALIGN_BATCH", "1")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_all_answered_once(&dir.path().join("var/results.sqlite"), &server, 6);
}

#[test]
fn a_bad_batch_setting_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (line, field) in [
        ("  batch_fallback: later\n", "execution.batch_fallback"),
        ("  batch: sometimes\n", "execution.batch"),
    ] {
        experiment(dir.path(), "http://127.0.0.1:9", 1, line);
        let out = misalign(dir.path(), &["validate", "exp.yaml"], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("exp.yaml:27"), "{stderr}");
        assert!(stderr.contains(field), "{stderr}");
    }
}
