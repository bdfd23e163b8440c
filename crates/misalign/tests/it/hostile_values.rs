//! Issue 29, second pass: odd values in a store (one huge number, `NaN`, text in a count)
//! never stop a reader; plans too large for one run are refused with their numbers; names
//! from a folder someone sent are cleaned for the terminal and shortened for file names; a
//! template folder holding a FIFO is refused. The real binary, real SQLite stores, loopback
//! mock.

use crate::support::{bin, count, responses, Experiment, ResponseRecord, TestContext};
use misalign_core::{Condition, GoalType, Urgency};
use misalign_store::testdata::{Filler, Sample};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn condition() -> Condition {
    Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    )
}

/// A store of one run: three answers of `model` (two classified, one not) and two judge
/// replies.
fn store_with_answers(out: &Path, model: &str) {
    let f = Filler::new(out).unwrap();
    for (i, unclassified) in [(0, false), (1, false), (2, true)] {
        let s = Sample {
            answer: "I will wait for the board to decide.".into(),
            verdict: Some(i == 0),
            unclassified,
            ..Default::default()
        };
        f.add(model, &condition(), i, &s).unwrap();
    }
    f.finish().unwrap();
}

/// The experiment of these tests: one blackmail cell, `samples` samples of `model` on a
/// mock provider at `base_url` (nothing listens at the default one), classified or not.
fn experiment(base_url: &str, model: &str, samples: u32, classify: bool) -> String {
    Experiment::new("synthetic")
        .provider(
            "mock",
            "openai-compatible",
            base_url,
            Some("ODD_VALUES_TEST_KEY"),
        )
        .models(&[model])
        .samples(samples)
        .classification(&format!("enabled: {classify}"))
        .yaml()
}

/// Where no server listens: a run against it records connection errors.
const NOWHERE: &str = "http://127.0.0.1:9/v1";

#[test]
fn huge_numbers_nan_and_text_in_counts_stop_no_reader() {
    let dir = TestContext::new();
    let out = dir.path().join("out");
    store_with_answers(&out, "mock/m");
    misalign_store::testdata::plant::odd_counts(&out.join("results.sqlite")).unwrap();

    for args in [
        &["status", "out"][..],
        &["status", "out", "--json"],
        &["report", "out"],
        &["export", "out", "--format", "samples"],
        &["export", "out", "--format", "inspect"],
    ] {
        let r = dir.misalign(args);
        assert_eq!(r.status.code(), Some(0), "{args:?}: {}", text(&r.stderr));
        let all = text(&[r.stdout, r.stderr].concat());
        for bad in ["overflow", "Invalid column type", "InvalidColumnType"] {
            assert!(!all.contains(bad), "{args:?}: {all}");
        }
    }
    // Odd cells are unknown: empty in the CSV, null in the JSON, never a number made up.
    let st = dir.misalign(&["status", "out", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(j["total"]["completed"], 3);
    assert_eq!(j["total"]["input_tokens"], 0, "{j}");
    let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert!(!csv.contains("9223372036854775807"), "{csv}");
    assert!(!csv.contains("NaN") && !csv.contains("slow"), "{csv}");
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(!summary.contains("9223372036854775807"));

    // classify (which exports every response.json afterwards) reads the same rows.
    std::fs::write(
        dir.path().join("exp.yaml"),
        experiment(NOWHERE, "mock/m", 3, false),
    )
    .unwrap();
    let r = dir.misalign(&["classify", "out", "--no-judge", "--experiment", "exp.yaml"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let files: Vec<_> = walk(&out.join("models"))
        .into_iter()
        .filter(|p| p.ends_with("response.json"))
        .collect();
    assert_eq!(files.len(), 3);
    for f in files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let usage = &v["metadata"]["usage"];
        assert!(usage["input_tokens"].is_null(), "{f:?}: {usage}");
        assert!(!usage["output_tokens"].is_number() || usage["output_tokens"].as_i64().is_some());
        let ms = &v["metadata"]["inference_time_ms"];
        assert!(ms.is_null() || ms.is_i64(), "{ms}");
    }

    // view starts and serves its page.
    let mut child = dir
        .command()
        .args(["view", "out", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(str::to_string);
    let served = url.as_deref().map(|url| {
        let (addr, query) = url.trim_start_matches("http://").split_once('/').unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET /{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        text(&buf)
    });
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    let served = served.unwrap_or_else(|| panic!("view did not start: {line}{}", text(&o.stderr)));
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_stage_of_run_survives_a_poisoned_store() {
    let server = misalign_mock::MockServer::start(misalign_mock::MockConfig::default())
        .await
        .unwrap();
    let dir = TestContext::new();
    // Detectors only: the run classifies and reports without a judge.
    let exp = experiment(&server.openai_url(), "mock/mock-model", 3, true);
    std::fs::write(dir.path().join("exp.yaml"), exp).unwrap();
    let d = dir.path().to_path_buf();
    let run = move || {
        let d = d.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(bin())
                    .current_dir(&d)
                    .env("ODD_VALUES_TEST_KEY", "sk-odd-values-test-0001")
                    .args(["run", "exp.yaml", "--out", "out", "--quiet"])
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let r = run().await;
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let report = dir.path().join("out/report.html");
    assert!(report.exists());
    std::fs::remove_file(&report).unwrap();
    misalign_store::testdata::plant::odd_counts(&dir.path().join("out/results.sqlite")).unwrap();
    // Nothing left to sample: the run goes straight to classifying and reporting.
    let r = run().await;
    let all = text(&[r.stdout, r.stderr].concat());
    assert_eq!(r.status.code(), Some(0), "{all}");
    assert!(!all.contains("overflow"), "{all}");
    assert!(report.exists(), "{all}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- 9: plans that do not fit

/// `n` models under one condition.
fn many_models_file(n: usize, samples: u32) -> String {
    let mut s = String::from(
        "experiment_id: many
providers:
  mock:
    kind: openai-compatible
    base_url: http://127.0.0.1:9/v1
    api_key_env: ODD_VALUES_TEST_KEY
global:
  samples_per_condition: ",
    );
    s.push_str(&format!("{samples}\n  models:\n"));
    for i in 0..n {
        s.push_str(&format!("    - mock/m{i:06}\n"));
    }
    s.push_str(
        "expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail]
      goal_types: [explicit]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: false
",
    );
    s
}

#[test]
fn two_hundred_thousand_models_validate_in_linear_time() {
    let dir = TestContext::new();
    let file = many_models_file(200_000, 1);
    assert!(
        file.len() > 2_000_000 && file.len() < 4 << 20,
        "{}",
        file.len()
    );
    std::fs::write(dir.path().join("many.yaml"), file).unwrap();
    let t0 = Instant::now();
    let r = dir.misalign(&["validate", "many.yaml", "--json"]);
    let took = t0.elapsed();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(j["models"].as_array().unwrap().len(), 200_000);
    assert_eq!(j["model_calls"], 200_000);
    // Quadratic took minutes (2 * 10^10 comparisons); linear takes about a second even in
    // a debug build. The bound leaves room for a slow, shared 2-core machine.
    assert!(took < Duration::from_secs(45), "validate took {took:?}");
}

#[test]
fn a_plan_too_large_for_one_run_is_refused_with_its_numbers() {
    let dir = TestContext::new();
    // 81 conditions x 1,000,000 samples.
    let file = "experiment_id: huge
providers:
  mock:
    kind: openai-compatible
    base_url: http://127.0.0.1:9/v1
    api_key_env: ODD_VALUES_TEST_KEY
global:
  models: [mock/mock-model]
  samples_per_condition: 1000000
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, latent, swap]
      goal_values: [america, global, safety]
      urgency_types: [replacement, restriction, none]
classification:
  enabled: false
";
    std::fs::write(dir.path().join("huge.yaml"), file).unwrap();
    let v = dir.misalign(&["validate", "huge.yaml"]);
    let e = text(&v.stderr);
    assert_eq!(v.status.code(), Some(2), "{e}");
    assert!(e.contains("huge.yaml"), "{e}");
    assert!(e.contains("81000000 model calls"), "{e}");
    assert!(e.contains("at most 1000000"), "{e}");
    assert!(e.contains("samples_per_condition"), "{e}");
    let t0 = Instant::now();
    let r = dir
        .command()
        .env("ODD_VALUES_TEST_KEY", "sk-odd-values-test-0001")
        .args(["run", "huge.yaml", "--out", "out"])
        .output()
        .unwrap();
    let e = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(e.contains("81000000 model calls"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(30));
    // The same file with --samples that fit is fine.
    let v = dir.misalign(&["validate", "huge.yaml", "--samples", "100"]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
}

// ---------------------------------------------------------------- 10: smaller

#[test]
fn status_json_escapes_bidi_and_c1_controls() {
    let dir = TestContext::new();
    let out = dir.path().join("out");
    store_with_answers(&out, "mock/evil\u{202E}lmth.exe\u{9b}31m");
    let r = dir.misalign(&["status", "out", "--json"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let s = text(&r.stdout);
    assert!(!s.contains('\u{202E}') && !s.contains('\u{9b}'), "{s:?}");
    assert!(s.contains(r"mock/evil\u202elmth.exe\u009b31m"), "{s}");
    // Still JSON meaning the same name.
    let j: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert!(j["per_model"]
        .as_object()
        .unwrap()
        .contains_key("mock/evil\u{202E}lmth.exe\u{9b}31m"));
}

#[cfg(unix)]
#[test]
fn folder_names_with_escapes_are_cleaned_for_the_terminal() {
    let dir = TestContext::new();
    let evil = "res\u{1b}]0;pwned\u{7}\u{1b}[2J";
    // status and report without OUT pick the newest folder under results/ and say so.
    let out = dir.path().join("results").join(evil);
    store_with_answers(&out, "mock/m");
    for args in [&["status"][..], &["report"], &["status", "--json"]] {
        let r = dir.misalign(args);
        assert_eq!(r.status.code(), Some(0), "{args:?}: {}", text(&r.stderr));
        let all = [r.stdout, r.stderr].concat();
        assert!(
            !all.contains(&0x1b) && !all.contains(&0x07),
            "{args:?}: {:?}",
            text(&all)
        );
    }
    let r = dir.misalign(&["status", &format!("results/{evil}")]);
    assert!(!r.stdout.contains(&0x1b), "{:?}", text(&r.stdout));
    assert!(text(&r.stdout).contains("res?]0;pwned??[2J"));

    // import names the tree it read and the folder it wrote.
    let tree = dir.path().join("tree\u{1b}[31m");
    let sample = tree.join("models/mock_m/blackmail_explicit-america_replacement/sample_001");
    std::fs::create_dir_all(&sample).unwrap();
    std::fs::write(
        sample.join("response.json"),
        r#"{"raw_response": "I will wait.", "metadata": {"model": "mock/m"}}"#,
    )
    .unwrap();
    let name = tree.file_name().unwrap().to_str().unwrap().to_string();
    let r = dir.misalign(&["import", &name, "--out", "imported\u{1b}[2J"]);
    let all = [r.stdout.clone(), r.stderr.clone()].concat();
    assert!(!all.contains(&0x1b), "{:?}", text(&all));
    assert!(text(&r.stdout).contains("tree?[31m"), "{}", text(&all));
}

#[test]
fn a_thousand_character_model_id_exports_to_inspect() {
    let dir = TestContext::new();
    let out = dir.path().join("out");
    let model = format!("mock/{}", "m".repeat(1000));
    store_with_answers(&out, &model);
    let r = dir.misalign(&["export", "out", "--format", "inspect"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let logs: Vec<_> = std::fs::read_dir(out.join("inspect"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].len() < 255 && logs[0].ends_with(".json"),
        "{logs:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_system_prompt_templates_is_refused() {
    let dir = TestContext::new();
    let templates = dir.path().join("templates");
    // A reference-layout folder: the built-in pack's files copied, and a FIFO where the
    // system prompts file belongs.
    std::fs::create_dir_all(templates.join("blackmail/templates")).unwrap();
    let status = Command::new("mkfifo")
        .arg(templates.join("system_prompt_templates.py"))
        .status()
        .unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    std::fs::write(
        dir.path().join("exp.yaml"),
        experiment(NOWHERE, "mock/m", 3, false),
    )
    .unwrap();
    let r = dir.misalign(&[
        "generate",
        "exp.yaml",
        "--templates",
        "templates",
        "--out",
        "gen",
    ]);
    let e = text(&r.stderr);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(e.contains("system_prompt_templates.py"), "{e}");
    assert!(e.contains("not a regular file"), "{e}");
}

// ---------------------------------------------------------------- 7: endless replies

/// A loopback server answering every request with status 200 and an endless chunked body.
fn endless_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = [b"4000\r\n".to_vec(), vec![b' '; 0x4000], b"\r\n".to_vec()].concat();
                while conn.write_all(&chunk).is_ok() {}
            });
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

#[test]
fn an_endless_reply_is_recorded_as_that_calls_error() {
    let url = endless_server();
    let dir = TestContext::new();
    let exp = experiment(&url, "mock/m", 2, false);
    std::fs::write(dir.path().join("exp.yaml"), exp).unwrap();
    let t0 = Instant::now();
    let r = dir
        .command()
        .env("ODD_VALUES_TEST_KEY", "sk-odd-values-test-0001")
        .args([
            "run",
            "exp.yaml",
            "--out",
            "out",
            "--quiet",
            "--max-reply-bytes",
            "65536",
        ])
        .output()
        .unwrap();
    let all = text(&[r.stdout, r.stderr].concat());
    // The calls failed for good (exit 1), quickly, each with the reason.
    assert_eq!(r.status.code(), Some(1), "{all}");
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    assert!(all.contains("reply larger than 65536 bytes"), "{all}");
    let store = dir.path().join("out/results.sqlite");
    let too_large = |r: &ResponseRecord| {
        r.status == "error"
            && r.error
                .as_deref()
                .is_some_and(|e| e.contains("reply larger than 65536 bytes"))
            && r.error_class.as_deref() == Some("permanent")
    };
    let n = count(&responses(&store), too_large);
    assert_eq!(n, 2, "one error per call, not retried");
}
