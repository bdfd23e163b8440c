//! Exit codes scripts rely on (docs/cli.md): 0 success, 1 when some work failed for good,
//! 2 for usage and configuration errors, 130 after Ctrl-C; the real binary against the
//! loopback mock (real HTTP) or a closed port, with a real SQLite store.

use crate::support::{bin, Experiment};
use misalign_mock::{FaultKind, MockConfig, MockServer};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// blackmail x (explicit, none) x `samples`, no retries, no judge, against `url`.
fn experiment(dir: &Path, url: &str, samples: u32) {
    let e = Experiment::new("exit-test")
        .provider("mock", "openai-compatible", url, Some("EXIT_MOCK_KEY"))
        .models(&["mock/mock-model"])
        .global("max_tokens: 50")
        .global("seed: 3")
        .samples(samples)
        .global("concurrency: { providers: { mock: 4 } }")
        .grid(
            &["blackmail"],
            &["explicit", "none"],
            &["america"],
            &["replacement"],
        )
        .classification("enabled: false")
        .execution("timeout_seconds: 60")
        .execution("retries: 0");
    std::fs::write(dir.join("exp.yaml"), e.yaml()).unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env("EXIT_MOCK_KEY", "k")
        .args(["run", "exp.yaml", "--out", "out", "--quiet"])
        .args(extra)
        .output()
        .unwrap()
}

fn end_status(dir: &Path) -> Option<String> {
    let runs = crate::support::try_stored(&dir.join("out"))?
        .all_runs()
        .ok()?;
    runs.into_iter().find_map(|r| r.end_status)
}

/// A port nothing listens on: every call fails with a connection error.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}

#[test]
fn every_call_failing_exits_1_with_the_reasons_grouped() {
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &closed_port_url(), 3);
    let out = run(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("6 calls failed for good"), "{stderr}");
    // One reason line carries all six: the same failure is grouped, not repeated.
    assert!(
        stderr.lines().any(|l| l.trim_start().starts_with("6  ")),
        "{stderr}"
    );
    assert!(stderr.contains("every call failed"), "{stderr}");
    assert!(!stderr.contains("completed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn some_calls_failing_exits_1_after_writing_what_succeeded() {
    let server = MockServer::start(MockConfig {
        fault_rate: 0.5,
        fault_kinds: vec![FaultKind::ServerError],
        seed: 11,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.openai_url(), 6);
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&d, &[]))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("calls failed for good"), "{stderr}");
    assert!(!stderr.contains("every call failed"), "{stderr}");
    assert_eq!(end_status(dir.path()).as_deref(), Some("completed"));
    assert!(dir.path().join("out/models").is_dir(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_run_exits_0_and_a_config_error_exits_2() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.openai_url(), 1);
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&d, &[]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(dir.path().join("exp.yaml"), "experiment_id: [oops\n").unwrap();
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(dir.path(), &["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A second Ctrl-C cuts off the calls in flight at once, and the command still ends the way
/// a run ends: recorded as interrupted in the store, exit 130 (it used to exit from inside
/// the signal task, leaving the run without an end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_cuts_off_calls_in_flight_and_records_the_interruption() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_secs(60),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.openai_url(), 4);
    let child = Command::new(bin())
        .current_dir(dir.path())
        .env("EXIT_MOCK_KEY", "k")
        .args(["run", "exp.yaml", "--out", "out", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while server.request_count() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no call started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sigint = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success())
    };
    let pid = child.id();
    sigint(pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cut_at = Instant::now();
    sigint(pid);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        cut_at.elapsed() < Duration::from_secs(8),
        "the second Ctrl-C should not wait out the 10 s grace period"
    );
    assert!(
        stderr.contains("to resume, run the same command"),
        "{stderr}"
    );
    assert_eq!(end_status(dir.path()).as_deref(), Some("interrupted"));
}

/// One Ctrl-C lets the calls in flight finish, then writes the partial report of what is
/// stored: the page and the terminal name the commands that finish classification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_a_partial_report_that_names_misalign_classify() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(1500),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 8 items, 4 at a time: the first four finish during the grace period.
    experiment(dir.path(), &server.openai_url(), 4);
    let child = Command::new(bin())
        .current_dir(dir.path())
        .env("EXIT_MOCK_KEY", "k")
        .args(["run", "exp.yaml", "--out", "out", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while server.request_count() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no call started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("misalign classify out && misalign report out"),
        "{stderr}"
    );
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(
        html.contains("id=\"cautions\""),
        "no cautions in the partial report"
    );
    assert!(
        html.contains("4 of 4 answers are not classified yet"),
        "the partial report counts the unclassified answers"
    );
    assert!(html.contains("`misalign classify out` then `misalign report out`"));
    assert_eq!(end_status(dir.path()).as_deref(), Some("interrupted"));
    // Issue 23 item 12: the partial report says what is still missing, and so do classify
    // and report afterwards: planned minus sampled, in the header, the warnings and the table.
    assert!(
        html.contains("4 of 8 planned samples have no answer yet"),
        "the partial report counts the pending samples"
    );
    assert!(
        html.contains("4 samples per condition planned, 4 of 8 sampled (4 pending)"),
        "the header gives the plan and what was sampled"
    );
    let classify = Command::new(bin())
        .current_dir(dir.path())
        .args(["classify", "out"])
        .output()
        .unwrap();
    assert!(classify.status.success(), "{classify:?}");
    let report = Command::new(bin())
        .current_dir(dir.path())
        .args(["report", "out"])
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let table = String::from_utf8_lossy(&report.stdout).to_string()
        + &String::from_utf8_lossy(&report.stderr);
    assert!(table.contains("pending"), "{table}");
    assert!(
        table.contains("4 of 8 planned samples have no answer yet"),
        "{table}"
    );
    assert!(table.contains("4 planned samples pending"), "{table}");
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("4 of 8 planned samples have no answer yet"));
    let csv = std::fs::read_to_string(dir.path().join("out/summary.csv")).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = head
        .iter()
        .position(|c| *c == "pending")
        .expect("a pending column");
    assert_eq!(head[at - 2..=at], ["unparsed", "planned", "pending"]);
    let pending: u64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(at).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(pending, 4);
}
