//! A newcomer's first hour (issue 29, items 11-14), through the real binary: a smoke run
//! beside a full one, an unpriced model's cost, `misalign mock` with no key and no model, and
//! the small dead ends (messages, exit codes, plural forms). Real HTTP against the loopback
//! mock, real SQLite stores.

use crate::support::{bin, Experiment};
use misalign_mock::{MockConfig, MockServer};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// 2 conditions x `samples` against the mock as `fleet/mock-model` (an openai-compatible
/// model with no price: `mock/*` has a built-in price of 0), with
/// the detectors classifying; `extra` is appended (e.g. `prices:`).
fn experiment(dir: &Path, url: &str, samples: u32, extra: &str) -> PathBuf {
    let text = Experiment::new("first-use")
        .provider("fleet", "openai-compatible", url, None)
        .models(&["fleet/mock-model"])
        .global("temperature: 1.0")
        .global("max_tokens: 200")
        .global("seed: 3")
        .samples(samples)
        .grid(
            &["blackmail"],
            &["explicit", "none"],
            &["america"],
            &["replacement"],
        )
        .classification("enabled: true")
        .execution("timeout_seconds: 20")
        .execution("retries: 2")
        .extra(extra)
        .yaml();
    let p = dir.join("exp.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn misalign_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("MISALIGN_LIMIT")
        .env_remove("MISALIGN_SAMPLES")
        .env_remove("MISALIGN_MAX_COST")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(o: &Output) -> (String, String) {
    let (out, err) = text(o);
    assert!(
        o.status.success(),
        "exit {:?}\n{out}\n{err}",
        o.status.code()
    );
    (out, err)
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Answers the report counts: the sum of its rows' `answered`.
fn answered(s: &Value) -> u64 {
    s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["answered"].as_u64().unwrap())
        .sum()
}

/// The README's smoke test (`--limit 2 --samples 1`, no `--out`) beside a full run of the
/// same experiment: it gets a folder of its own, and the full run's report stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_run_never_replaces_the_report_of_a_full_run() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = server.openai_url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        experiment(&d, &url, 4, "");
        let full = d.join("results/first-use");
        ok(&misalign_in(&d, &["run", "exp.yaml", "-q"]));
        assert_eq!(answered(&summary(&full)), 8);
        let report = std::fs::read(full.join("report.html")).unwrap();
        let json = std::fs::read(full.join("summary.json")).unwrap();

        let (_, err) = ok(&misalign_in(
            &d,
            &["run", "exp.yaml", "-q", "--limit", "1", "--samples", "1"],
        ));
        assert!(
            err.contains("this smoke run goes to results/first-use-smoke"),
            "{err}"
        );
        let smoke = d.join("results/first-use-smoke");
        assert_eq!(answered(&summary(&smoke)), 1);
        assert_eq!(std::fs::read(full.join("report.html")).unwrap(), report);
        assert_eq!(std::fs::read(full.join("summary.json")).unwrap(), json);
        // The full folder's store holds only the full run.
        let runs = crate::support::runs(&full);
        assert_eq!(crate::support::count(&runs, |r| r.command == "run"), 1);
        // `report` on the full folder still reports all of it.
        let (out, _) = ok(&misalign_in(
            &d,
            &["report", "results/first-use", "--no-html"],
        ));
        assert!(out.contains("4 samples per condition"), "{out}");
        assert_eq!(answered(&summary(&full)), 8);

        // The other side: with --out the smoke run goes where it is told, and without any
        // override the default folder is results/<experiment_id>.
        let (out, _) = ok(&misalign_in(
            &d,
            &[
                "run",
                "exp.yaml",
                "--dry-run",
                "--limit",
                "1",
                "--out",
                "elsewhere",
            ],
        ));
        assert!(out.contains("->  elsewhere"), "{out}");
        let (out, _) = ok(&misalign_in(&d, &["run", "exp.yaml", "--dry-run"]));
        assert!(out.contains("->  results/first-use\n"), "{out}");
    })
    .await
    .unwrap();
}

/// A model with no price: its cost is unknown in `--dry-run`, the run's notes, the rate
/// table of `run` and `report`, summary.json (null) and report.html, each saying how to add
/// a price; with a `prices:` entry the same figures are numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpriced_models_cost_reads_as_unknown() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let url = server.openai_url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        experiment(&d, &url, 1, "");
        let (out, _) = ok(&misalign_in(&d, &["run", "exp.yaml", "--dry-run"]));
        assert!(
            out.contains("estimated cost: unknown (no price for fleet/mock-model)"),
            "{out}"
        );
        assert!(!out.contains("$-0.00") && !out.contains("up to $"), "{out}");
        assert!(
            out.contains("prices:\n    \"fleet/mock-model\": {"),
            "{out}"
        );
        assert!(out.contains("1 sample;"), "{out}");

        let (out, err) = ok(&misalign_in(&d, &["run", "exp.yaml", "-q"]));
        assert!(
            err.contains("cost unknown (no price for fleet/mock-model)"),
            "{err}"
        );
        assert!(err.contains("fleet/mock-model: in "), "{err}");
        assert!(!err.contains("~$0.0000"), "{err}");
        for table in [out, ok(&misalign_in(&d, &["report", "--no-html"])).0] {
            assert!(
                table.contains("total: unknown (no price for fleet/mock-model)"),
                "{table}"
            );
            assert!(!table.contains("total: $"), "{table}");
            assert!(
                table.contains("no price known for fleet/mock-model"),
                "{table}"
            );
        }
        let folder = d.join("results/first-use");
        let s = summary(&folder);
        assert_eq!(s["cost_total"]["usd"], Value::Null, "{}", s["cost_total"]);
        assert_eq!(
            s["cost_total"]["unpriced"],
            serde_json::json!(["fleet/mock-model"])
        );
        assert_eq!(s["costs"][0]["cost_usd"], Value::Null);
        ok(&misalign_in(&d, &["report"]));
        let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
        assert!(
            html.contains("unknown (no price for fleet/mock-model)"),
            "total"
        );
        assert!(html.contains("id=\"no-price\"") && html.contains("prices:"));

        // Priced: numbers again.
        experiment(
            &d,
            &url,
            1,
            "prices:\n  fleet/mock-model: { input: 1.0, output: 2.0 }\n",
        );
        let (out, _) = ok(&misalign_in(&d, &["run", "exp.yaml", "--dry-run"]));
        assert!(out.contains("estimated cost: up to $0.0"), "{out}");
        assert!(!out.contains("unknown"), "{out}");
        let (out, _) = ok(&misalign_in(&d, &["run", "exp.yaml", "-q", "--append"]));
        assert!(out.contains("total: $0.0"), "{out}");
        let s = summary(&folder);
        assert!(
            s["cost_total"]["usd"].as_f64().unwrap() > 0.0,
            "{}",
            s["cost_total"]
        );
    })
    .await
    .unwrap();
}

/// Kills the child it holds when dropped (a failed assertion must not leave a server).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `misalign mock` on a free port: it prints its URL and writes an experiment that uses it;
/// `misalign run` of that file goes through sampling, classification and the report with no
/// key and no model.
#[test]
fn misalign_mock_runs_the_whole_pipeline_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Child(
        Command::new(bin())
            .current_dir(d)
            .args(["mock", "--port", "0", "--experiment-out", "try-mock.yaml"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("misalign mock: a model server on http://127.0.0.1:"),
        "{first}"
    );
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("misalign run try-mock.yaml"), "{second}");
    let exp = std::fs::read_to_string(d.join("try-mock.yaml")).unwrap();
    let port = first
        .split("http://127.0.0.1:")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap();
    assert!(
        exp.contains(&format!("base_url: http://127.0.0.1:{port}/v1")),
        "{exp}"
    );
    // The printed experiment is the written one.
    let printed: Vec<String> = lines
        .by_ref()
        .take(exp.lines().count() + 1)
        .map(|l| l.unwrap())
        .collect();
    assert_eq!(printed[1..].join("\n"), exp.trim_end());

    let t0 = Instant::now();
    let env_free = Command::new(bin())
        .current_dir(d)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["run", "try-mock.yaml", "-q"])
        .output()
        .unwrap();
    let (out, err) = ok(&env_free);
    assert!(t0.elapsed() < Duration::from_secs(120));
    let folder = d.join("results/try_mock");
    assert_eq!(answered(&summary(&folder)), 12, "{out}\n{err}");
    assert!(folder.join("report.html").is_file());
    assert!(err.contains("classified 12 answers"), "{err}");
    // A second `misalign mock` on the same port is refused with what to do.
    let busy = misalign_in(d, &["mock", "--port", port]);
    assert_eq!(busy.status.code(), Some(2));
    assert!(text(&busy).1.contains("pass --port 0"), "{}", text(&busy).1);
    // It never overwrites a file.
    let again = misalign_in(
        d,
        &["mock", "--port", "0", "--experiment-out", "try-mock.yaml"],
    );
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn a_missing_experiment_file_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = misalign_in(dir.path(), &["run", "nope.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("nope.yaml"), "{err}");
}

#[test]
fn a_misspelt_provider_gets_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), "http://127.0.0.1:9/v1", 1, "");
    let text_ = std::fs::read_to_string(&exp)
        .unwrap()
        .replace("[fleet/mock-model]", "[antropic/claude-sonnet-4-5]");
    std::fs::write(&exp, text_).unwrap();
    let o = misalign_in(dir.path(), &["validate", "exp.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let all = format!("{}{}", text(&o).0, text(&o).1);
    assert!(
        all.contains("did you mean `anthropic/claude-sonnet-4-5`?"),
        "{all}"
    );
}

#[test]
fn folders_that_do_not_exist_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("results/empty")).unwrap();
    for cmd in ["status", "report", "view"] {
        let o = misalign_in(d, &[cmd, "results/tpyo"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = text(&o).1;
        assert!(err.contains("no such folder results/tpyo"), "{cmd}: {err}");
        assert!(!err.contains("misalign run` first"), "{cmd}: {err}");
    }
    // A folder that exists but holds no run yet: still "run first".
    let o = misalign_in(d, &["status", "results/empty"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("run `misalign run` first"),
        "{}",
        text(&o).1
    );

    let o = misalign_in(d, &["runs", "--root", "/nonexistent-misalign-root"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("no such folder /nonexistent-misalign-root"),
        "{}",
        text(&o).1
    );
    // `runs` before any run: an empty list, not an error.
    let fresh = tempfile::tempdir().unwrap();
    let o = misalign_in(fresh.path(), &["runs"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).0.contains("no results folders under results"));
}

const COND: &str = "blackmail_explicit-america_replacement";

fn reference_tree(root: &Path, classified: bool) {
    let file = root
        .join("models/gpt-4.1")
        .join(COND)
        .join("sample_001/response.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut v = serde_json::json!({"raw_response": "I will take no action."});
    if classified {
        v["classification"] = serde_json::json!({"harmful_behavior": false});
    }
    std::fs::write(file, v.to_string()).unwrap();
}

/// `import`: one sample is "1 sample"; classify is suggested only when some answer has no
/// classification; and it says that commands without OUT now read the imported folder.
#[test]
fn import_suggests_only_what_is_left_and_says_where_commands_now_look() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    reference_tree(&d.join("classified"), true);
    reference_tree(&d.join("raw"), false);

    let o = misalign_in(d, &["import", "classified"]);
    let (out, err) = ok(&o);
    assert!(out.contains("1 sample found in"), "{out}");
    assert!(out.contains("0 files not imported"), "{out}");
    assert!(out.contains("prompts found for 0 conditions"), "{out}");
    assert!(
        out.contains("next: misalign report results/classified-imported"),
        "{out}"
    );
    assert!(!out.contains("misalign classify"), "{out}");
    assert!(
        err.contains("results/classified-imported is now the most recently written results folder"),
        "{err}"
    );

    let (out, _) = ok(&misalign_in(d, &["import", "raw"]));
    assert!(
        out.contains("next: misalign classify results/raw-imported"),
        "{out}"
    );

    // Outside results/: no note (commands without OUT do not look there).
    let (_, err) = ok(&misalign_in(d, &["import", "raw", "--out", "elsewhere"]));
    assert!(!err.contains("most recently written"), "{err}");
}

/// The README's example experiment says what it would cost, and the figure is the one
/// `--dry-run` prints for it today (a price table change shows up here).
#[test]
fn the_readme_example_states_the_cost_dry_run_prints() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme.find("```yaml\nexperiment_id: my_study").unwrap();
    let yaml = &readme[start + "```yaml\n".len()..];
    let yaml = &yaml[..yaml.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("study.yaml"), yaml).unwrap();
    let (out, _) = ok(&misalign_in(
        dir.path(),
        &["run", "study.yaml", "--dry-run"],
    ));
    assert!(
        out.contains("144 conditions x 100 samples; 28800 model calls"),
        "{out}"
    );
    let figure = out
        .split("up to $")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap();
    let before_yaml = &readme[..start];
    assert!(
        before_yaml.contains(&format!("up to ${figure} "))
            && before_yaml.contains("28,800 model calls"),
        "the README should state the dry-run's `up to ${figure}` before its example"
    );
}
