//! What a run costs, as a user sees it: the real binary against the loopback mock speaking
//! Anthropic's API (with its cache accounting), a real SQLite store. `--dry-run`'s estimate
//! with judges and cache, `--max-cost` stopping within the limit with exit 1 and resuming
//! with a higher one, and the per-model costs in the terminal, `summary.json` and the report.

use crate::support::{bin, Experiment};
use misalign_mock::{MockConfig, MockServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// blackmail and leaking x `samples` on Anthropic's Claude Sonnet 4.5 at `url` (its built-in
/// price); `extra` is appended (whole sections).
fn experiment(dir: &Path, url: &str, samples: u32, extra: &str) -> PathBuf {
    let text = Experiment::new("cost-test")
        .provider("anthropic", "anthropic", url, Some("COST_TEST_KEY"))
        .models(&["anthropic/claude-sonnet-4-5"])
        .global("temperature: 1.0")
        .global("max_tokens: 300")
        .samples(samples)
        .global("concurrency: { providers: { anthropic: 4 } }")
        .grid(
            &["blackmail", "leaking"],
            &["explicit"],
            &["america"],
            &["replacement"],
        )
        .extra(extra)
        .yaml();
    let p = dir.join("exp.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The binary run in `dir` with the test key and no cost limit from the environment.
fn misalign_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env("COST_TEST_KEY", "sk-cost-test-key-0000")
        .env_remove("MISALIGN_MAX_COST")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stored_cost(out: &Path) -> (f64, i64) {
    let s = misalign_store::Store::open_read_only(&out.join("results.sqlite")).unwrap();
    let run = s.report_run(None).unwrap().unwrap().run_id;
    let prices = misalign_core::cost::PriceTable::new(&Default::default()).unwrap();
    let price = prices.price_of("anthropic/claude-sonnet-4-5").unwrap();
    let usage = s.plan_usage_by_model(run).unwrap();
    let u = &usage["anthropic/claude-sonnet-4-5"];
    (u.cost(&price), u.answers as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_counts_judges_and_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        "http://127.0.0.1:9",
        100,
        "classification:
  enabled: true
  classifier_model: anthropic/claude-haiku-4-5
  awareness_model: anthropic/claude-haiku-4-5
",
    );
    let o = misalign_in(dir.path(), &["run", exp.to_str().unwrap(), "--dry-run"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let line = |t: &str, role: &str, model: &str| {
        t.lines()
            .find(|l| l.starts_with(role) && l.contains(model))
            .unwrap_or_else(|| panic!("no {role} line for {model}:\n{t}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // role model calls input cache-write cache-read output cost no-cache-cost
    let s = line(&t, "sample", "claude-sonnet-4-5");
    assert_eq!(s[2], "200");
    assert_eq!(
        s[3], "0",
        "every sample's prompt goes through the cache: {t}"
    );
    let (write, read): (u64, u64) = (s[4].parse().unwrap(), s[5].parse().unwrap());
    // Two conditions: one write each, 99 reads each of the same prompt.
    assert!(
        write > 2 * 1500 && read > 99 * write / 2 && read < 100 * write,
        "{t}"
    );
    let cost: f64 = s[7].parse().unwrap();
    let no_cache: f64 = s[8].parse().unwrap();
    assert!(cost < no_cache * 0.6, "{t}");
    let j = line(&t, "judge", "claude-haiku-4-5");
    assert_eq!(j[2], "200");
    let a = line(&t, "awareness", "claude-haiku-4-5");
    assert_eq!(a[2], "200");
    assert!(t.contains("estimated cost: up to $"), "{t}");
    assert!(t.contains("prices as of 2025-11-30"), "{t}");

    // Caching off: every sample pays full input.
    let exp = experiment(
        dir.path(),
        "http://127.0.0.1:9",
        100,
        "execution:\n  prompt_cache: false\n",
    );
    let o = misalign_in(dir.path(), &["run", exp.to_str().unwrap(), "--dry-run"]);
    let t = text(&o);
    let s = line(&t, "sample", "claude-sonnet-4-5");
    assert_eq!((s[4].as_str(), s[5].as_str()), ("0", "0"), "{t}");
    assert_eq!(s[7], s[8], "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_cost_stops_within_the_limit_exits_1_and_a_higher_limit_resumes() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Detectors only (no judge): the finished run writes its reports.
    let exp = experiment(dir.path(), &server.url(), 10, "");
    let exp = exp.to_str().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();

    // A model without a price: refused before any call.
    let o = misalign_in(
        dir.path(),
        &[
            "run",
            exp,
            "--out",
            out_s,
            "--max-cost",
            "1",
            "--model",
            "anthropic/acme-unpriced",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no price is known for anthropic/acme-unpriced"),
        "{}",
        text(&o)
    );
    assert_eq!(server.request_count(), 0);
    std::fs::remove_dir_all(&out).ok();

    let limit = 0.03;
    let o = misalign_in(
        dir.path(),
        &["run", exp, "--out", out_s, "--max-cost", &limit.to_string()],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("cost limit of $0.0300 is reached"), "{t}");
    assert!(
        t.contains("--max-cost 0.03"),
        "the resume hint repeats the limit: {t}"
    );
    let (spent, answers) = stored_cost(&out);
    assert!(spent <= limit, "spent {spent} > {limit}");
    assert!(answers > 0 && answers < 20, "{answers} answers");
    let s = misalign_store::Store::open_read_only(&out.join("results.sqlite")).unwrap();
    let status = s.report_run(None).unwrap().unwrap().status;
    assert_eq!(status.as_deref(), Some("budget_reached"));
    // What is stored is reported (unclassified), as after Ctrl-C.
    assert!(t.contains("partial report"), "{t}");
    assert!(out.join("report.html").is_file());
    drop(s);

    // The same limit again: what is stored counts as spent, so only what still fits under
    // the limit is sampled (the first run stopped on its cold-cache reservations, so a few
    // warm-cache answers may fit; how many depends on the mock's answers, which a hash of the
    // prompt picks), and the total stays within the limit.
    let before = server.request_count();
    let o = misalign_in(
        dir.path(),
        &["run", exp, "--out", out_s, "--max-cost", "0.03"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let (spent_again, answers_again) = stored_cost(&out);
    assert!(
        spent_again <= limit,
        "spent {spent_again} > {limit}: {}",
        text(&o)
    );
    assert!(answers_again < 20, "{answers_again} answers: {}", text(&o));
    assert!(server.request_count() - before <= 4, "{}", text(&o));

    // From the environment, higher: the rest is sampled and the costs are reported.
    let o = Command::new(bin())
        .current_dir(dir.path())
        .env("COST_TEST_KEY", "sk-cost-test-key-0000")
        .env("MISALIGN_MAX_COST", "5")
        .args(["run", exp, "--out", out_s])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let (spent, answers) = stored_cost(&out);
    assert_eq!(answers, 20);
    assert!(t.contains("anthropic/claude-sonnet-4-5: in "), "{t}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let costs = summary["costs"].as_array().unwrap();
    assert_eq!(costs.len(), 1);
    assert_eq!(costs[0]["answers"], 20);
    let reported = costs[0]["cost_usd"].as_f64().unwrap();
    assert!((reported - spent).abs() < 1e-9, "{reported} vs {spent}");
    assert!(costs[0]["cache_read_tokens"].as_u64().unwrap() > 0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2 id=\"cost\">Cost</h2>"));
    // samples.csv carries the cache columns and a cost per answer adding up to the total.
    let o = misalign_in(dir.path(), &["export", out_s, "--format", "samples"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut rdr = csv::Reader::from_path(out.join("samples.csv")).unwrap();
    let head = rdr.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (cw, cr, cost) = (
        col("cache_write_tokens"),
        col("cache_read_tokens"),
        col("cost_usd"),
    );
    let mut sum = 0.0;
    let mut writes = 0;
    for r in rdr.records() {
        let r = r.unwrap();
        sum += r[cost].parse::<f64>().unwrap();
        writes += usize::from(r[cw].parse::<u64>().unwrap() > 0);
        assert!(!r[cr].is_empty());
    }
    assert!((sum - spent).abs() < 1e-4, "{sum} vs {spent}");
    assert!(
        writes >= 2,
        "each condition's first sample writes the cache"
    );
}

/// In batch mode the limit is kept per request too: each request put in a batch sets aside
/// its cold-cache estimate at the batch price, the first one that does not fit ends the
/// sending, the batch already sent is collected (it is paid for), and the run stops with
/// exit 1; a higher limit sends the rest, each request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_cost_in_batch_mode_sends_what_fits_collects_it_and_resumes() {
    let server = MockServer::start(MockConfig {
        batch_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &server.url(),
        10,
        "execution:\n  batch: true\n  batch_poll_seconds: 0.05\n",
    );
    let exp = exp.to_str().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();

    let limit = 0.05;
    let o = misalign_in(
        dir.path(),
        &["run", exp, "--out", out_s, "--max-cost", &limit.to_string()],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("cost limit of $0.0500 is reached"), "{t}");
    let (spent, answers) = stored_cost(&out);
    assert!(spent <= limit, "spent {spent} > {limit}");
    // About 0.009 set aside per request (a cold cache at the batch price): five fit.
    assert!((3..20).contains(&answers), "{answers} answers: {t}");
    // Everything sent was collected, through the batch API only.
    let subs = server.stats().batch_submissions;
    assert_eq!(subs.len() as i64, answers, "{subs:?}");
    let s = misalign_store::Store::open_read_only(&out.join("results.sqlite")).unwrap();
    assert_eq!(
        s.report_run(None).unwrap().unwrap().status.as_deref(),
        Some("budget_reached")
    );
    let billed_as_batch: i64 = s.all_batches().unwrap().iter().map(|b| b.answers).sum();
    assert_eq!(billed_as_batch, answers);
    drop(s);

    // A higher limit: the rest goes out in batches; no request is sent twice.
    let o = misalign_in(dir.path(), &["run", exp, "--out", out_s, "--max-cost", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    let (_, answers) = stored_cost(&out);
    assert_eq!(answers, 20);
    let subs = server.stats().batch_submissions;
    assert_eq!(subs.len(), 20, "{subs:?}");
    assert!(subs.values().all(|&c| c == 1), "{subs:?}");
}
