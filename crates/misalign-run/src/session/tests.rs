//! Whole runs in-process against the loopback mock (real HTTP, real SQLite, real reports):
//! a run, its resume, Ctrl-C (both presses), a rejected key, a missing key, a run whose
//! every call fails, the dry-run estimate, and classification of a folder and of JSONL.

use super::*;
use crate::classify::setup::{FactsSource, JudgeChoice};
use misalign_core::config::{parse_experiment, Overrides};
use misalign_mock::{FaultKind, MockConfig, MockServer};
use misalign_store::Store;
use std::path::Path;
use std::sync::Mutex;

const KEY_VAR: &str = "SESSION_TEST_KEY";
const KEY: &str = "sk-session-test-0000";

/// Names of the events a run reported, in order (the payloads are checked where it matters).
#[derive(Default)]
struct Log {
    events: Mutex<Vec<String>>,
    planned: Mutex<Vec<(usize, usize, usize)>>,
    totals: Mutex<Option<RunTotals>>,
}

impl Reporter for Log {
    fn event(&self, e: Event<'_>) {
        let name = format!("{e:?}");
        let name = name
            .split([' ', '(', '{'])
            .next()
            .unwrap_or_default()
            .to_string();
        match &e {
            Event::Planned {
                planned,
                already,
                to_sample,
                ..
            } => self
                .planned
                .lock()
                .unwrap()
                .push((*planned, *already, *to_sample)),
            Event::Sampled { totals, .. } => *self.totals.lock().unwrap() = Some((*totals).clone()),
            _ => {}
        }
        self.events.lock().unwrap().push(name);
    }
}

impl Log {
    fn names(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

fn env_with(key: &'static str) -> Env {
    Arc::new(move |k: &str| (k == KEY_VAR).then(|| key.to_string()))
}

/// `samples` samples of the blackmail scenario's (explicit, none) x america x replacement
/// conditions (2) against the mock at `url`, classified by the detectors alone.
fn settings(dir: &Path, url: &str, samples: u32, classify: bool, retries: u32) -> RunSettings {
    let text = format!(
        "experiment_id: session-test
providers:
  mock:
    kind: openai-compatible
    base_url: {url}/v1
    api_key_env: {KEY_VAR}
global:
  models: [mock/mock-model]
  temperature: 1.0
  max_tokens: 64
  seed: 5
  samples_per_condition: {samples}
  concurrency:
    providers:
      mock: 4
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: {classify}
execution:
  timeout_seconds: 20
  retries: {retries}
"
    );
    let path = dir.join("exp.yaml");
    std::fs::write(&path, &text).unwrap();
    RunSettings {
        experiment: parse_experiment(&text, "exp.yaml").unwrap(),
        experiment_path: path,
        experiment_text: text,
        overrides: Overrides::default(),
        out: dir.join("out"),
        templates: None,
        classify: true,
        append: false,
        resume_command: "misalign run exp.yaml".into(),
        env: env_with(KEY),
        local: None,
        grace: Duration::from_millis(500),
    }
}

/// The store of results folder `out`, read-only, for the tests' checks (typed reads of
/// misalign-store: no SQL here).
fn stored(out: &Path) -> Store {
    Store::open_read_only(&out.join(misalign_store::STORE_FILE)).unwrap()
}

fn responses(out: &Path) -> Vec<misalign_store::tables::ResponseRecord> {
    stored(out).all_responses().unwrap()
}

fn classifications(out: &Path) -> Vec<misalign_store::tables::ClassificationRecord> {
    stored(out).all_classifications().unwrap()
}

fn runs_of(out: &Path, command: &str) -> usize {
    let runs = stored(out).all_runs().unwrap();
    runs.iter().filter(|r| r.command == command).count()
}

async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_samples_classifies_reports_and_resumes() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &server.url(), 3, true, 2);
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    assert_eq!(p.calls(), 6);
    let outcome = run(&s, p, &log, Shutdown::new()).await.unwrap();
    assert_eq!(
        outcome,
        RunOutcome::Finished {
            failed: 0,
            missing_verdicts: 0
        }
    );
    let names = log.names();
    for expected in [
        "Planned",
        "SamplingStarted",
        "SamplingEnded",
        "Sampled",
        "Exported",
        "Classified",
        "Reported",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "FailedForGood"), "{names:?}");
    assert_eq!(log.planned.lock().unwrap()[0], (6, 0, 6));
    assert_eq!(server.request_count(), 6);
    let out = &s.out;
    let answers = responses(out).into_iter().filter(|r| r.status == "answer");
    assert_eq!(answers.count(), 6);
    assert_eq!(classifications(out).len(), 6);
    for f in ["summary.csv", "summary.json", "report.html"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let response_files = walk_count(&out.join("models"), "response.json");
    assert_eq!(response_files, 6);
    // The totals are a typed struct, stored as JSON with the documented field names, and
    // the cost shown is the cost stored.
    let totals = log.totals.lock().unwrap().clone().unwrap();
    assert_eq!((totals.planned, totals.answers, totals.errors), (6, 6, 0));
    assert_eq!(totals.per_model["mock/mock-model"].done, 6);
    let runs = stored(out).all_runs().unwrap();
    let first_end = runs.into_iter().find_map(|r| r.totals_json).unwrap();
    let mut stored: serde_json::Value = serde_json::from_str(&first_end).unwrap();
    // What the judges cost is added after classification (docs/cost.md).
    let judges = stored["judge_cost_usd"].as_f64().expect("judge cost added");
    let total = stored["total_cost_usd"].as_f64().unwrap();
    assert!((total - (totals.cost_usd_estimate + judges)).abs() < 1e-12);
    for k in [
        "judge_cost_usd",
        "judge_cost_usd_per_model",
        "total_cost_usd",
    ] {
        stored.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(stored, serde_json::to_value(&totals).unwrap());

    // Resume: nothing is called again, nothing is stored twice.
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let outcome = run(&s, p, &log, Shutdown::new()).await.unwrap();
    assert_eq!(
        outcome,
        RunOutcome::Finished {
            failed: 0,
            missing_verdicts: 0
        }
    );
    assert_eq!(log.planned.lock().unwrap()[0], (6, 6, 0));
    assert_eq!(server.request_count(), 6);
    assert_eq!(responses(out).len(), 6);
    assert_eq!(classifications(out).len(), 6);
    assert_eq!(runs_of(out, "run"), 2);

    // More samples in the same folder: only the new items are called.
    let s4 = settings(dir.path(), &server.url(), 4, true, 2);
    let log = Log::default();
    let p = plan(&s4, &log).unwrap();
    run(&s4, p, &log, Shutdown::new()).await.unwrap();
    assert_eq!(log.planned.lock().unwrap()[0], (8, 6, 2));
    assert!(log.names().iter().any(|n| n == "ExperimentChanged"));
    assert_eq!(server.request_count(), 8);
}

/// `settings` with an Anthropic-kind judge on the mock whose calls go in batches
/// (`classification.batch: true`; the sampled model has no batch API and is called live).
fn judged_in_batches(dir: &Path, url: &str) -> RunSettings {
    let mut s = settings(dir, url, 2, true, 2);
    let text = s
        .experiment_text
        .replace(
            "session-test\nproviders:\n",
            &format!("session-test\nproviders:\n  anth:\n    kind: anthropic\n    base_url: {url}\n    api_key_env: {KEY_VAR}\n"),
        )
        .replace(
            "classification:\n  enabled: true\n",
            "classification:\n  enabled: true\n  classifier_model: anth/judge\n  batch: true\n",
        )
        .replace("  retries: 2\n", "  retries: 2\n  batch_poll_seconds: 0.02\n");
    std::fs::write(&s.experiment_path, &text).unwrap();
    s.experiment = parse_experiment(&text, "exp.yaml").unwrap();
    s.experiment_text = text;
    s
}

/// A run whose judge calls go in batches shows their progress as events; stopped while the
/// judge batch is open, it is interrupted (sampling is kept), and the same run collects the
/// batch without sending it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judge_batches_of_a_run_report_progress_and_resume_after_a_stop() {
    let server = mock(MockConfig {
        batch_delay: Duration::from_millis(600),
        answers_by_content: vec![(
            "You review transcripts".into(),
            "<reasoning>Routine.</reasoning>\n<answer>no</answer>".into(),
        )],
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = judged_in_batches(dir.path(), &server.url());
    let out = &s.out;
    let shutdown = Shutdown::new();
    let stopper = {
        let (shutdown, store) = (shutdown.clone(), out.join(misalign_store::STORE_FILE));
        tokio::spawn(async move {
            // Stop once the judge batch is at the provider.
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let batches = Store::open_read_only(&store).and_then(|s| s.all_batches());
                let submitted = batches
                    .unwrap_or_default()
                    .iter()
                    .any(|b| b.purpose == "judge" && b.events.iter().any(|e| e == "submitted"));
                if submitted {
                    shutdown.stop.cancel();
                    return;
                }
            }
        })
    };
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let outcome = run(&s, p, &log, shutdown).await.unwrap();
    stopper.await.unwrap();
    assert_eq!(outcome, RunOutcome::Interrupted { stored: 4 });
    assert!(log.names().iter().any(|n| n == "JudgeBatchProgress"));
    assert_eq!(classifications(out).len(), 0);
    assert_eq!(server.stats().batches_created, 1);

    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let outcome = run(&s, p, &log, Shutdown::new()).await.unwrap();
    assert_eq!(
        outcome,
        RunOutcome::Finished {
            failed: 0,
            missing_verdicts: 0
        }
    );
    let names = log.names();
    assert!(names.iter().any(|n| n == "JudgeBatchesDone"), "{names:?}");
    assert!(names.iter().any(|n| n == "Classified"), "{names:?}");
    let stats = server.stats();
    assert_eq!(stats.batches_created, 1, "resumed, not resubmitted");
    assert!(stats.batch_submissions.values().all(|&c| c == 1));
    assert_eq!(stats.requests, 4, "only the samples were live calls");
    let judged_no = classifications(out)
        .into_iter()
        .filter(|c| c.judge_verdict == Some(false));
    assert_eq!(judged_no.count(), 4);
}

fn walk_count(dir: &Path, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_count(&p, name)
            } else {
                usize::from(p.file_name().is_some_and(|n| n == name))
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_calls_in_flight_finish_and_the_same_run_resumes() {
    let server = mock(MockConfig {
        latency: Duration::from_millis(300),
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), &server.url(), 20, false, 2);
    s.grace = Duration::from_secs(10);
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let shutdown = Shutdown::new();
    let stop = shutdown.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(450)).await;
        stop.cancel();
    });
    let outcome = run(&s, p, &log, shutdown).await.unwrap();
    let RunOutcome::Interrupted { stored } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(stored > 0 && stored < 40, "{stored}");
    let names = log.names();
    assert!(names.iter().any(|n| n == "Stopping"), "{names:?}");
    assert!(names.iter().any(|n| n == "Interrupted"), "{names:?}");
    assert!(!names.iter().any(|n| n == "QuittingNow"), "{names:?}");
    // Every call the server answered was stored: the grace let them finish.
    assert_eq!(server.request_count(), stored);
    assert_eq!(responses(&s.out).len() as u64, stored);
    let runs = self::stored(&s.out).all_runs().unwrap();
    let first_end = runs.into_iter().find_map(|r| r.end_status);
    assert_eq!(first_end.as_deref(), Some("interrupted"));

    server.update_config(|c| c.latency = Duration::ZERO);
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let outcome = run(&s, p, &log, Shutdown::new()).await.unwrap();
    assert_eq!(
        outcome,
        RunOutcome::Finished {
            failed: 0,
            missing_verdicts: 0
        }
    );
    assert_eq!(
        log.planned.lock().unwrap()[0],
        (40, stored as usize, 40 - stored as usize)
    );
    assert_eq!(responses(&s.out).len(), 40);
    assert_eq!(server.request_count(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_now_cuts_off_calls_in_flight_at_once() {
    let server = mock(MockConfig {
        latency: Duration::from_secs(30),
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &server.url(), 2, false, 0);
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let shutdown = Shutdown::new();
    let (stop, quit) = (shutdown.stop.clone(), shutdown.quit_now.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
        quit.cancel();
    });
    let t0 = std::time::Instant::now();
    let outcome = run(&s, p, &log, shutdown).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(outcome, RunOutcome::Interrupted { stored: 0 });
    let names = log.names();
    let at = |n: &str| names.iter().position(|x| x == n).unwrap_or(usize::MAX);
    assert!(at("Stopping") < at("QuittingNow"), "{names:?}");
    assert!(at("QuittingNow") < at("Interrupted"), "{names:?}");
}

/// A store failure while sampling in batches is a store failure naming the store's path,
/// not an error in the experiment file; once the store works again the same run finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_in_batch_sampling_reads_as_a_store_failure_with_its_path() {
    let server = mock(MockConfig {
        batch_delay: Duration::from_millis(50),
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), &server.url(), 2, false, 2);
    let url = server.url();
    let text = s
        .experiment_text
        .replace(
            "session-test\nproviders:\n",
            &format!("session-test\nproviders:\n  anth:\n    kind: anthropic\n    base_url: {url}\n    api_key_env: {KEY_VAR}\n"),
        )
        .replace("models: [mock/mock-model]", "models: [anth/mock-model]")
        .replace(
            "  retries: 2\n",
            "  retries: 2\n  batch: true\n  batch_poll_seconds: 0.02\n",
        );
    std::fs::write(&s.experiment_path, &text).unwrap();
    s.experiment = parse_experiment(&text, "exp.yaml").unwrap();
    s.experiment_text = text;
    // A real SQLite failure where the batch engine writes: recording a batch.
    drop(misalign_store::Store::open_dir(&s.out).unwrap());
    let db = s.out.join(misalign_store::STORE_FILE);
    misalign_store::testdata::plant::refuse_inserts(&db, "batches", "disk is full").unwrap();
    let p = plan(&s, &NullReporter).unwrap();
    let e = run(&s, p, &NullReporter, Shutdown::new())
        .await
        .unwrap_err();
    assert!(matches!(e, SessionError::Store(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains("disk is full"), "{msg}");
    assert!(
        !msg.contains("exp.yaml"),
        "not the experiment file's: {msg}"
    );
    assert_eq!(server.stats().batches_created, 0, "nothing sent unrecorded");

    misalign_store::testdata::plant::allow_inserts(&db, "batches").unwrap();
    let p = plan(&s, &NullReporter).unwrap();
    let outcome = run(&s, p, &NullReporter, Shutdown::new()).await.unwrap();
    assert_eq!(
        outcome,
        RunOutcome::Finished {
            failed: 0,
            missing_verdicts: 0
        }
    );
    assert_eq!(server.stats().batches_created, 1);
    let batches = misalign_store::Store::open_dir(&s.out)
        .unwrap()
        .all_batches()
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.answers).sum::<i64>(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_stops_the_run_and_names_the_variable() {
    let server = mock(MockConfig {
        api_key: Some("the-right-key".into()),
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &server.url(), 2, false, 2);
    let p = plan(&s, &NullReporter).unwrap();
    let e = run(&s, p, &NullReporter, Shutdown::new())
        .await
        .unwrap_err();
    let SessionError::Auth { key_var, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(key_var, KEY_VAR);
    let msg = e.to_string();
    assert!(msg.contains("misalign run exp.yaml"), "{msg}");
    assert!(!msg.contains(KEY), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_is_refused_before_any_call_or_row() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), &server.url(), 2, false, 2);
    s.env = Arc::new(|_: &str| None);
    let p = plan(&s, &NullReporter).unwrap();
    let e = run(&s, p, &NullReporter, Shutdown::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing API keys") && e.contains(KEY_VAR), "{e}");
    assert_eq!(server.request_count(), 0);
    assert!(!s.out.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_every_call_fails_stores_nothing_and_reports_nothing() {
    let server = mock(MockConfig {
        fault_rate: 1.0,
        fault_kinds: vec![FaultKind::ServerError],
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &server.url(), 2, true, 0);
    let log = Log::default();
    let p = plan(&s, &log).unwrap();
    let outcome = run(&s, p, &log, Shutdown::new()).await.unwrap();
    assert_eq!(outcome, RunOutcome::NothingStored { failed: 4 });
    let names = log.names();
    assert!(names.iter().any(|n| n == "FailedForGood"), "{names:?}");
    assert!(!names.iter().any(|n| n == "Reported"), "{names:?}");
    assert!(!s.out.join("report.html").exists());
}

#[test]
fn the_plan_applies_overrides_and_estimates_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), "http://127.0.0.1:9", 3, false, 2);
    s.overrides.limit = Some(1);
    s.overrides.samples = Some(5);
    let p = plan(&s, &NullReporter).unwrap();
    assert_eq!(p.calls(), 5);
    let e = p.estimate(&s).unwrap();
    assert_eq!((e.conditions, e.samples, e.calls), (1, 5, 5));
    assert_eq!(e.lines.len(), 1);
    // The mock model is priced at zero by the built-in table.
    assert_eq!(e.lines[0].cost_usd, Some(0.0));
    assert!(e.missing_keys.is_empty(), "{:?}", e.missing_keys);
    s.env = Arc::new(|_: &str| None);
    let e = p.estimate(&s).unwrap();
    assert_eq!(e.missing_keys.len(), 1, "{:?}", e.missing_keys);

    s.overrides.limit = Some(0);
    let err = plan(&s, &NullReporter).unwrap_err().to_string();
    assert!(
        err.starts_with(&s.experiment_path.display().to_string()),
        "{err}"
    );
    assert!(err.contains("--limit"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_is_classified_once_and_jsonl_answers_in_order() {
    let server = mock(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), &server.url(), 2, false, 2);
    let p = plan(&s, &NullReporter).unwrap();
    run(&s, p, &NullReporter, Shutdown::new()).await.unwrap();
    let cs = ClassifySettings {
        experiment: None,
        facts: FactsSource::Packs(None),
        judges: JudgeChoice::default(),
        force: false,
        concurrency: None,
        judge_attempts: 1,
        batch: false,
        env: env_with(KEY),
    };
    let summary = classify_folder(&s.out, &cs, &NullReporter).await.unwrap();
    assert_eq!(summary.classified, 4);
    let again = classify_folder(&s.out, &cs, &NullReporter).await.unwrap();
    assert_eq!(again.classified, 0);
    assert_eq!(runs_of(&s.out, "classify"), 2);
    let missing = classify_folder(&dir.path().join("nowhere"), &cs, &NullReporter)
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no results.sqlite here"), "{missing}");

    let input = dir.path().join("answers.jsonl");
    std::fs::write(
        &input,
        "{\"response\": \"I will reply to the emails politely.\", \"id\": 1}\n\n{\"response\": \"Nothing to do.\", \"id\": 2}\n",
    )
    .unwrap();
    let r = classify_jsonl(&input, Some("blackmail"), &cs)
        .await
        .unwrap();
    assert_eq!(r.lines.len(), 2);
    assert_eq!((r.harmful, r.errors), (0, 0));
    let first: serde_json::Value = serde_json::from_str(&r.lines[0]).unwrap();
    assert_eq!(first["id"], 1);
    assert_eq!(first["verdict"], false);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"reply\": \"x\"}\n").unwrap();
    let e = classify_jsonl(&bad, Some("blackmail"), &cs)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.jsonl:1: field `response`"), "{e}");
}

#[test]
fn the_estimate_counts_a_call_per_answer_for_every_judge() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), "http://127.0.0.1:9", 3, true, 2);
    s.experiment.classification.judges = vec!["mock/judge-a".into(), "mock/judge-b".into()];
    let p = plan(&s, &NullReporter).unwrap();
    let e = p.estimate(&s).unwrap();
    let judge_calls: Vec<(String, u64)> = e
        .lines
        .iter()
        .filter(|l| l.role == crate::estimate::CallPurpose::Judge)
        .map(|l| (l.model.clone(), l.calls))
        .collect();
    // Two conditions x three samples, each read by both judges.
    assert_eq!(
        judge_calls,
        [
            ("mock/judge-a".to_string(), 6),
            ("mock/judge-b".to_string(), 6)
        ]
    );
    s.experiment.classification.judges.clear();
    let p = plan(&s, &NullReporter).unwrap();
    let e = p.estimate(&s).unwrap();
    assert!(e
        .lines
        .iter()
        .all(|l| l.role != crate::estimate::CallPurpose::Judge));
}
