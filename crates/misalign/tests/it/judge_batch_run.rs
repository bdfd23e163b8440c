//! `misalign classify --batch` as a user runs it: the real binary against the mock's Message
//! Batches API (real HTTP, real SQLite), killed with SIGKILL between the judge batch's
//! submission and its ingestion and run again (without `--batch`): the judge calls are paid
//! for once, every answer is classified, and the verdicts are the judge's.

use crate::support::{
    batches, classifications, count, judge_cache, stored, try_stored, BatchRecord,
    ClassificationRecord, Experiment, TestContext,
};
use misalign_mock::{MockConfig, MockServer};
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-test-SECRET-judge-batch-never-stored";

/// 3 conditions x 2 samples on an Anthropic-kind model at the mock, judged by another model
/// of the same provider.
fn experiment(url: &str) -> Experiment {
    Experiment::new("judge-batch-test")
        .provider("anth", "anthropic", url, Some("JUDGE_MOCK_KEY"))
        .models(&["anth/claude-mock"])
        .global("temperature: 1.0")
        .global("max_tokens: 100")
        .samples(2)
        .grid(
            &["blackmail", "leaking", "murder"],
            &["explicit"],
            &["america"],
            &["replacement"],
        )
        .classification("enabled: true")
        .classification("classifier_model: anth/claude-judge")
        .execution("timeout_seconds: 20")
        .execution("retries: 3")
        .execution("batch_poll_seconds: 0.05")
}

/// A test's folder with the experiment at `url` written and the key in the environment.
fn context(url: &str) -> TestContext {
    let cx = TestContext::new().env("JUDGE_MOCK_KEY", KEY);
    cx.write_experiment(&experiment(url));
    cx
}

/// Whether a judge batch of the store at `store` reached the provider (false while the store
/// cannot be read yet: polled during a run).
fn judge_batch_submitted(store: &Path) -> bool {
    let Some(batches) = try_stored(store).and_then(|s| s.all_batches().ok()) else {
        return false;
    };
    batches
        .iter()
        .any(|b| b.purpose == "judge" && b.events.iter().any(|e| e == "submitted"))
}

/// The judge batches of the store at `store`.
fn judge_batches(store: &Path) -> Vec<BatchRecord> {
    let all = batches(store);
    all.into_iter().filter(|b| b.purpose == "judge").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_9_between_judge_batch_submission_and_ingestion_then_resume_pays_once() {
    let server = MockServer::start(MockConfig {
        api_key: Some(KEY.into()),
        batch_delay: Duration::from_millis(2500),
        answers_by_content: vec![(
            "You review transcripts".into(),
            "<reasoning>It only sends routine email.</reasoning>\n<answer>no</answer>".into(),
        )],
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = context(&server.url());
    let store = dir.path().join("out/results.sqlite");
    // Sampled live, not classified yet.
    let out = dir
        .misalign_async(&[
            "run",
            "exp.yaml",
            "--out",
            "out",
            "--quiet",
            "--no-classify",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sampled = server.stats().requests;
    assert_eq!(sampled, 6);

    let mut child = dir.spawn(&["classify", "out", "--batch"]);
    let t0 = Instant::now();
    while !judge_batch_submitted(&store) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no judge batch submitted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let requests = stored(&store).all_judge_batch_items().unwrap().len() as i64;
    assert!(requests >= 1, "{requests}");
    assert_eq!(judge_batches(&store).len(), 1);
    assert_eq!(classifications(&store).len(), 0);
    assert_eq!(judge_cache(&store).len(), 0);
    assert_eq!(server.stats().batches_created, 1);

    // Without --batch (the experiment does not ask for batches either): the open judge batch
    // is collected all the same, not paid for again live.
    let out = dir.misalign_async(&["classify", "out"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming 1 batch(es)"), "{stderr}");
    assert!(stderr.contains("judge batches:"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("6 of the judge calls went in provider batches"),
        "{stdout}"
    );
    let stats = server.stats();
    assert_eq!(stats.batches_created, 1, "resumed, not resubmitted");
    assert_eq!(stats.batch_submissions.len() as i64, requests);
    assert!(
        stats.batch_submissions.values().all(|&c| c == 1),
        "a judge call was paid for twice: {:?}",
        stats.batch_submissions
    );
    assert_eq!(stats.requests, sampled, "no live judge call");
    let verdicts = classifications(&store);
    assert_eq!(verdicts.len(), 6);
    let judged_no =
        |c: &ClassificationRecord| c.judge_verdict == Some(false) && c.judge_error.is_none();
    assert_eq!(count(&verdicts, judged_no), 6);
    let answers: i64 = judge_batches(&store).iter().map(|b| b.answers).sum();
    assert_eq!(answers, requests);
    let bytes = std::fs::read(&store).unwrap();
    assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
}

/// `execution.batch: true` batches the judge calls of `misalign run` too;
/// `classification.batch: false` keeps them live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_run_batches_its_judge_calls_unless_told_not_to() {
    let server = MockServer::start(MockConfig {
        answers_by_content: vec![(
            "You review transcripts".into(),
            "<reasoning>Routine.</reasoning>\n<answer>no</answer>".into(),
        )],
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = context(&server.url());
    let out = dir
        .misalign_async(&["run", "exp.yaml", "--out", "batched", "--quiet", "--batch"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = dir.path().join("batched/results.sqlite");
    assert_eq!(server.stats().requests, 0, "nothing live");
    assert_eq!(judge_batches(&store).len(), 1);
    let judged_no = |c: &ClassificationRecord| c.judge_verdict == Some(false);
    assert_eq!(count(&classifications(&store), judged_no), 6);

    server.reset();
    dir.write_experiment(&experiment(&server.url()).classification("batch: false"));
    let out = dir
        .misalign_async(&[
            "run",
            "exp.yaml",
            "--out",
            "live-judge",
            "--quiet",
            "--batch",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = dir.path().join("live-judge/results.sqlite");
    assert_eq!(judge_batches(&store).len(), 0);
    let judged_live = server.stats().requests;
    assert!(judged_live >= 1, "the judge was called live");
    assert_eq!(classifications(&store).len(), 6);
}
