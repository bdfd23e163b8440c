//! `misalign run` in batch mode as a user runs it: the real binary against the mock's
//! Message Batches API (real HTTP, real SQLite), killed with SIGKILL between submission and
//! ingestion and run again; the batched answers classified and reported like live ones;
//! `--batch` / `MISALIGN_BATCH`; and config errors that name the field.

use crate::support::{batches, count, responses, try_stored, Experiment, TestContext};
use misalign_mock::{MockConfig, MockServer};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-test-SECRET-batch-never-stored";

/// 6 conditions x `samples` on an Anthropic-kind model at the mock; `batch` is one more
/// `execution:` line (the 27th of the file), if any.
fn experiment(url: &str, samples: u32, batch: Option<&str>) -> Experiment {
    let e = Experiment::new("batch-test")
        .provider("anth", "anthropic", url, Some("BATCH_MOCK_KEY"))
        .models(&["anth/claude-mock"])
        .global("temperature: 1.0")
        .global("max_tokens: 100")
        .samples(samples)
        .grid(
            &["blackmail", "leaking", "murder"],
            &["explicit", "none"],
            &["america"],
            &["replacement"],
        )
        .classification("enabled: true")
        .execution("timeout_seconds: 20")
        .execution("retries: 3")
        .execution("batch_poll_seconds: 0.05")
        .execution("batch_max_requests: 10");
    match batch {
        Some(line) => e.execution(line),
        None => e,
    }
}

/// A test's folder with the key in the environment.
fn context() -> TestContext {
    TestContext::new().env("BATCH_MOCK_KEY", KEY)
}

fn assert_all_answered_once(store: &Path, server: &MockServer, n: usize) {
    let rows = responses(store);
    assert_eq!(count(&rows, |r| r.is_answer()), n);
    assert_eq!(rows.len(), n);
    let items: HashSet<&str> = rows.iter().map(|r| r.item_key.as_str()).collect();
    assert_eq!(items.len(), n);
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
    let dir = context();
    dir.write_experiment(&experiment(&server.url(), 4, Some("batch: true")));
    let store = dir.path().join("out/results.sqlite");
    let mut child = dir.spawn(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    // 24 requests in batches of 10: wait until all three are submitted and recorded, then
    // kill while they are still in progress at the provider.
    let t0 = Instant::now();
    let submitted = |store: &Path| {
        let batches = try_stored(store).and_then(|s| s.all_batches().ok());
        let events = batches
            .unwrap_or_default()
            .into_iter()
            .flat_map(|b| b.events);
        events.filter(|e| e == "submitted").count()
    };
    while submitted(&store) < 3 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no batch submitted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let recorded = batches(&store);
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded.iter().map(|b| b.items).sum::<i64>(), 24);
    assert_eq!(responses(&store).len(), 0, "killed before ingestion");
    assert_eq!(server.stats().batches_created, 3);

    let out = dir
        .misalign_async(&["run", "exp.yaml", "--out", "out", "--quiet"])
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
    assert_eq!(batches(&store).iter().map(|b| b.answers).sum::<i64>(), 24);
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
    let out = dir
        .misalign_async(&["run", "exp.yaml", "--out", "out", "--quiet"])
        .await;
    assert!(out.status.success());
    assert_eq!(server.stats().batches_created, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_flag_and_variable_turn_batch_mode_on() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = context();
    dir.write_experiment(&experiment(&server.url(), 1, None));
    // Without the flag: live calls, no batch.
    let out = dir
        .misalign_async(&[
            "run",
            "exp.yaml",
            "--out",
            "live",
            "--quiet",
            "--no-classify",
        ])
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
    let out = dir
        .misalign_async(&[
            "run",
            "exp.yaml",
            "--out",
            "flag",
            "--quiet",
            "--no-classify",
            "--batch",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_all_answered_once(&dir.path().join("flag/results.sqlite"), &server, 6);
    server.reset();
    let out = dir
        .misalign_async_with(
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
    let dir = context();
    for (line, field) in [
        ("batch_fallback: later", "execution.batch_fallback"),
        ("batch: sometimes", "execution.batch"),
    ] {
        dir.write_experiment(&experiment("http://127.0.0.1:9", 1, Some(line)));
        let out = dir.misalign(&["validate", "exp.yaml"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("exp.yaml:27"), "{stderr}");
        assert!(stderr.contains(field), "{stderr}");
    }
}

#[test]
fn batch_mode_with_agent_conditions_is_refused_at_setup_naming_them() {
    let dir = context();
    let agents = experiment("http://127.0.0.1:9", 1, Some("batch: true"))
        .variable("interaction: [single, agent]");
    dir.write_experiment(&agents);
    for args in [
        &["validate", "exp.yaml"][..],
        &["run", "exp.yaml", "--out", "out", "--quiet"][..],
    ] {
        let out = dir.misalign(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stderr.contains("batch mode cannot run agent conditions")
                && stderr.contains("blackmail_explicit-america_replacement_agent")
                && stderr.contains("murder_explicit-america_replacement_agent and 1 more")
                && stderr.contains("run them live (batch: false) or drop `agent` from interaction"),
            "{args:?}: {stderr}"
        );
        // Only the agent conditions are named.
        assert!(!stderr.contains("replacement,"), "{stderr}");
    }
    assert!(!dir.path().join("out/results.sqlite").exists());
    // `--batch` on the command line is refused the same way; live is fine to validate.
    let live = experiment("http://127.0.0.1:9", 1, None).variable("interaction: [single, agent]");
    dir.write_experiment(&live);
    let out = dir.misalign(&["validate", "exp.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dir.misalign(&["validate", "exp.yaml", "--batch"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("batch mode cannot run agent conditions"),
        "{stderr}"
    );
    // Without agent conditions batch mode validates as before.
    dir.write_experiment(&experiment("http://127.0.0.1:9", 1, Some("batch: true")));
    let out = dir.misalign(&["validate", "exp.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
