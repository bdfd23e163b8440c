//! What judge and awareness calls cost, as a user sees it: the real binary against the
//! loopback mock speaking Anthropic's API (which reports usage for every call), a real
//! SQLite store. Each judge reply stores its four token counts and the run that paid for
//! it; the run's totals, the classify run's totals and `summary.json` show the judges' cost
//! apart from sampling, equal to a sum computed here from the stored rows; a reply reused
//! from the cache is not counted again; batched judge calls cost the batch price.

use crate::support::{judge_cache, runs, stored, Experiment, TestContext};
use misalign_mock::{MockConfig, MockServer};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const KEY: &str = "sk-ant-test-judge-cost-key";

/// USD per million tokens for every model of the test provider, and the batch discount.
const INPUT: f64 = 2.0;
const CACHE_WRITE: f64 = 2.5;
const CACHE_READ: f64 = 0.2;
const OUTPUT: f64 = 10.0;
const BATCH_DISCOUNT: f64 = 0.5;

/// Two scenarios x 2 samples on an Anthropic-kind model at the mock, with a harm judge and an
/// awareness judge of the same provider, every model priced by the constants above.
fn experiment(url: &str) -> Experiment {
    Experiment::new("judge-cost-test")
        .provider("anth", "anthropic", url, Some("JUDGE_COST_KEY"))
        .models(&["anth/claude-mock"])
        .global("temperature: 1.0")
        .global("max_tokens: 100")
        .samples(2)
        .grid(&["blackmail", "leaking"], &["explicit"], &["america"], &["replacement"])
        .classification("enabled: true")
        .classification("classifier_model: anth/claude-judge")
        .classification("awareness_model: anth/claude-aware")
        .execution("timeout_seconds: 20")
        .execution("retries: 3")
        .execution("batch_poll_seconds: 0.05")
        .extra(&format!(
            "prices:\n  \"anth/*\": {{ input: {INPUT}, output: {OUTPUT}, cache_write: {CACHE_WRITE}, cache_read: {CACHE_READ}, batch_discount: {BATCH_DISCOUNT} }}\n"
        ))
}

/// A test's folder with the experiment at `url` written, and the key in the environment
/// (and no cost limit from the developer's shell).
fn context(url: &str) -> TestContext {
    let cx = TestContext::new()
        .env("JUDGE_COST_KEY", KEY)
        .without_env("MISALIGN_MAX_COST");
    cx.write_experiment(&experiment(url));
    cx
}

fn mock() -> MockConfig {
    MockConfig {
        api_key: Some(KEY.into()),
        batch_delay: Duration::from_millis(50),
        answers_by_content: vec![
            (
                "You label whether the agent deliberated".into(),
                "<reasoning>No thought of a test.</reasoning>\n<answer>no_deliberation</answer>"
                    .into(),
            ),
            (
                "You review transcripts".into(),
                "<reasoning>It only sends routine email.</reasoning>\n<answer>no</answer>".into(),
            ),
        ],
        ..Default::default()
    }
}

/// `misalign ARGS` in `cx`, which must succeed.
async fn misalign_ok(cx: &TestContext, args: &[&str]) -> Output {
    let out = cx.misalign_async(args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Per judge reply: (judge model, run that paid, the four counts, billed as batch).
type JudgeRow = (String, Option<i64>, [Option<i64>; 4], bool);

fn judge_rows(out: &Path) -> Vec<JudgeRow> {
    judge_cache(out)
        .into_iter()
        .map(|c| {
            let counts = [
                c.input_tokens,
                c.cache_write_tokens,
                c.cache_read_tokens,
                c.output_tokens,
            ];
            (c.judge_model, c.run_id, counts, c.batched)
        })
        .collect()
}

/// The cost of the replies `run` paid for, computed here from the rows and the prices above.
fn expected_cost(rows: &[JudgeRow], run: Option<i64>) -> f64 {
    rows.iter()
        .filter(|r| run.is_none() || r.1 == run)
        .map(|(_, _, t, batched)| {
            let n = |i: usize| t[i].unwrap_or(0) as f64;
            let usd = (n(0) * INPUT + n(1) * CACHE_WRITE + n(2) * CACHE_READ + n(3) * OUTPUT) / 1e6;
            if *batched {
                usd * (1.0 - BATCH_DISCOUNT)
            } else {
                usd
            }
        })
        .sum()
}

/// The latest run of `command` and its totals.
fn last_run(out: &Path, command: &str) -> (i64, serde_json::Value) {
    let (id, totals) = runs(out)
        .into_iter()
        .rev()
        .filter(|r| r.command == command)
        .find_map(|r| Some((r.id, r.totals_json?)))
        .unwrap();
    (id, serde_json::from_str(&totals).unwrap())
}

/// The judge rows of `summary.json`'s costs: (model, cost).
fn summary_judge_costs(out: &Path) -> Vec<(String, f64)> {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    s["costs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "judge")
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_string(),
                r["cost_usd"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_judge_calls_are_counted_once_in_the_run_and_the_reports() {
    let server = MockServer::start(mock()).await.unwrap();
    let dir = context(&server.url());
    let out_dir = dir.path().join("out");
    misalign_ok(&dir, &["run", "exp.yaml", "--out", "out", "--quiet"]).await;

    // 4 answers x (harm judge + awareness judge) = 8, identical transcripts judged once (the
    // mock's canned answers, picked by a hash of the prompt, repeat: 7 with the built-in
    // packs of issue 23): each reply with the usage the provider reported, paid by the run.
    let (run, totals) = last_run(&out_dir, "run");
    let rows = judge_rows(&out_dir);
    assert_eq!(rows.len(), 7, "{rows:?}");
    for (model, paid_by, t, batched) in &rows {
        assert!(model.starts_with("anth/claude-"), "{model}");
        assert_eq!(*paid_by, Some(run));
        assert!(t[0].unwrap() > 0 && t[3].unwrap() > 0, "{t:?}");
        assert!(!batched);
    }
    let judged = expected_cost(&rows, Some(run));
    assert!(judged > 0.0);
    // The run's totals: sampling apart, judges apart, and both in the total.
    let sampled = totals["cost_usd_estimate"].as_f64().unwrap();
    assert!(sampled > 0.0);
    assert!(
        close(totals["judge_cost_usd"].as_f64().unwrap(), judged),
        "{totals}"
    );
    let per_judge = &totals["judge_cost_usd_per_model"];
    assert_eq!(per_judge.as_object().unwrap().len(), 2, "{per_judge}");
    assert!(close(
        totals["total_cost_usd"].as_f64().unwrap(),
        sampled + judged
    ));
    // summary.json: one judge row per judge model, summing to the same figure; the
    // sampled model's row is not a judge row.
    let in_summary = summary_judge_costs(&out_dir);
    assert_eq!(in_summary.len(), 2, "{in_summary:?}");
    assert!(close(in_summary.iter().map(|r| r.1).sum(), judged));
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("<td>anth/claude-judge</td><td>judge</td>"));

    // Classified again: every judge call is answered from the cache, paid for already.
    let calls = server.stats().requests;
    let o = misalign_ok(&dir, &["classify", "out", "--force"]).await;
    assert_eq!(server.stats().requests, calls, "no judge call made");
    let (classify_run, totals) = last_run(&out_dir, "classify");
    assert!(classify_run > run);
    assert_eq!(totals["judge_cost"]["usd"].as_f64(), Some(0.0), "{totals}");
    assert_eq!(judge_rows(&out_dir), rows, "nothing re-recorded");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("judge cost"), "nothing paid: {stdout}");
    misalign_ok(&dir, &["report", "out"]).await;
    let again = summary_judge_costs(&out_dir);
    assert!(close(again.iter().map(|r| r.1).sum(), judged), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_judge_calls_cost_the_batch_price_and_the_classify_run_records_it() {
    let server = MockServer::start(mock()).await.unwrap();
    let dir = context(&server.url());
    let out_dir = dir.path().join("out");
    misalign_ok(
        &dir,
        &[
            "run",
            "exp.yaml",
            "--out",
            "out",
            "--quiet",
            "--no-classify",
        ],
    )
    .await;
    let o = misalign_ok(&dir, &["classify", "out", "--batch"]).await;
    let (run, totals) = last_run(&out_dir, "classify");
    let rows = judge_rows(&out_dir);
    assert_eq!(rows.len(), 7, "{rows:?}");
    for (_, paid_by, t, batched) in &rows {
        assert_eq!(*paid_by, Some(run));
        assert!(t[0].unwrap() > 0 && t[3].unwrap() > 0, "{t:?}");
        assert!(batched, "billed through the batch");
    }
    let judged = expected_cost(&rows, Some(run));
    let at_list_price = expected_cost(
        &rows
            .iter()
            .map(|r| (r.0.clone(), r.1, r.2, false))
            .collect::<Vec<_>>(),
        None,
    );
    assert!(close(judged, at_list_price * (1.0 - BATCH_DISCOUNT)));
    assert!(
        close(totals["judge_cost"]["usd"].as_f64().unwrap(), judged),
        "{totals}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "judge cost (estimate from the stored token counts): ${judged:.4}"
        )),
        "{stdout}"
    );
    misalign_ok(&dir, &["report", "out"]).await;
    let in_summary = summary_judge_costs(&out_dir);
    assert!(
        close(in_summary.iter().map(|r| r.1).sum(), judged),
        "{in_summary:?}"
    );
}

/// Issue 23 item 11: a judge that never answers in the format (36/36 failures in the
/// report that found it) must not look clean. The run warns, report.html's warning box says
/// so, the exit code is 1 (some verdicts are missing), and the judge calls the provider
/// billed are in the cost although no reply was usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_that_never_parses_warns_exits_1_and_is_still_billed() {
    let server = MockServer::start(MockConfig {
        answers_by_content: vec![
            (
                "You label whether the agent deliberated".into(),
                "<reasoning>No thought of a test.</reasoning>\n<answer>no_deliberation</answer>"
                    .into(),
            ),
            (
                "You review transcripts".into(),
                "Hard to say; it depends on how one reads it.".into(),
            ),
        ],
        ..mock()
    })
    .await
    .unwrap();
    let dir = context(&server.url());
    let out = dir
        .misalign_async(&["run", "exp.yaml", "--out", "out", "--quiet"])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("have no verdict because the judge gave no usable reply"),
        "{all}"
    );
    assert!(all.contains("The judge failed on every answer"), "{all}");
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    let cautions = &html[html.find("id=\"cautions\"").expect("a warning box")..];
    assert!(
        cautions.contains("The judge failed on every answer (4 of 4)"),
        "{}",
        &cautions[..cautions.len().min(600)]
    );

    // Each unusable call is kept with what the provider billed for its attempts.
    let failed: Vec<_> = stored(&dir.path().join("out"))
        .all_judge_failures()
        .unwrap()
        .into_iter()
        .filter(|f| f.judge_model == "anth/claude-judge")
        .collect();
    let (input, output): (i64, i64) = (
        failed.iter().filter_map(|f| f.input_tokens).sum(),
        failed.iter().filter_map(|f| f.output_tokens).sum(),
    );
    let failures = failed.len() as i64;
    assert!(failures >= 1, "no judge failure recorded");
    assert!(input > 0 && output > 0);
    // Three attempts per call: the tokens of all three are counted.
    let requests_to_judge = server
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("You review transcripts"))
        .count() as i64;
    assert_eq!(requests_to_judge, failures * 3);
    let (_, totals) = last_run(&dir.path().join("out"), "run");
    let per_model = &totals["judge_cost_usd_per_model"];
    assert!(
        per_model["anth/claude-judge"].as_f64().unwrap_or(0.0) > 0.0,
        "{totals}"
    );
    assert!(summary_judge_costs(&dir.path().join("out"))
        .iter()
        .any(|(m, usd)| m == "anth/claude-judge" && *usd > 0.0));
    // No verdict is shown as "not harmful": every answer is a judge error.
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r["judge_errors"].as_u64().unwrap())
            .sum::<u64>(),
        4
    );
    assert!(rows.iter().all(|r| r["n"] == 0));
}
