//! `misalign run` / `validate` overrides (`--model`, `--limit`, `--samples`,
//! `--max-connections`, `--judge`, `--seed` and their `MISALIGN_*` variables): the real
//! binary against the loopback mock, with the real store recording what was overridden.

use crate::support::bin;
use misalign_mock::{MockConfig, MockServer};
use std::path::Path;
use std::process::{Command, Output};

/// 2 scenarios x (explicit, none) = 4 conditions x 3 samples = 12 calls by the file.
fn experiment(dir: &Path, url: &str) {
    let text = format!(
        "experiment_id: ovr-test
providers:
  mock:
    kind: openai-compatible
    base_url: {url}
    api_key_env: OVR_MOCK_KEY
global:
  models: [mock/mock-model]
  max_tokens: 50
  seed: 5
  samples_per_condition: 3
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [blackmail, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: false
"
    );
    std::fs::write(dir.join("exp.yaml"), text).unwrap();
}

fn misalign(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir).env("OVR_MOCK_KEY", "k").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

async fn blocking(
    dir: &Path,
    args: &'static [&'static str],
    env: &'static [(&str, &str)],
) -> Output {
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || misalign(&d, args, env))
        .await
        .unwrap()
}

fn recorded_overrides(dir: &Path) -> serde_json::Value {
    let s = misalign_store::Store::open_read_only(&dir.join("out/results.sqlite")).unwrap();
    let totals: String = crate::support::db(&s)
        .query_row(
            "SELECT totals_json FROM run_ends ORDER BY run_id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&totals).unwrap()["overrides"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_cut_the_plan_change_model_and_seed_and_are_recorded() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.openai_url());
    const ARGS: &[&str] = &[
        "run",
        "exp.yaml",
        "--out",
        "out",
        "--quiet",
        "--limit",
        "2",
        "--samples",
        "1",
        "--seed",
        "77",
        "--model",
        "mock/other-model",
        "--max-connections",
        "1",
    ];
    let out = blocking(dir.path(), ARGS, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 calls planned"), "{stderr}");
    assert_eq!(server.request_count(), 2);
    let mut seeds: Vec<u64> = Vec::new();
    for r in server.requests() {
        assert_eq!(r.body["model"], "other-model", "{}", r.body);
        seeds.push(r.body["seed"].as_u64().unwrap());
    }
    assert_eq!(
        seeds,
        vec![77, 77],
        "sample 0 of each condition is sent the base seed"
    );
    let o = recorded_overrides(dir.path());
    assert_eq!(o["limit"], 2, "{o}");
    assert_eq!(o["samples"], 1, "{o}");
    assert_eq!(o["seed"], 77, "{o}");
    assert_eq!(o["max_connections"], 1, "{o}");
    assert_eq!(o["models"][0], "mock/other-model", "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_work_like_the_flags() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), &server.openai_url());
    const ENV: &[(&str, &str)] = &[("MISALIGN_LIMIT", "1"), ("MISALIGN_SAMPLES", "2")];
    let out = blocking(
        dir.path(),
        &["run", "exp.yaml", "--out", "out", "--quiet"],
        ENV,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(server.request_count(), 2);
    let o = recorded_overrides(dir.path());
    assert_eq!(
        (o["limit"].as_u64(), o["samples"].as_u64()),
        (Some(1), Some(2)),
        "{o}"
    );
    // Nothing overridden: the record says so.
    let again = blocking(
        dir.path(),
        &["run", "exp.yaml", "--out", "out2", "--quiet"],
        &[],
    )
    .await;
    assert!(again.status.success());
    let s = misalign_store::Store::open_read_only(&dir.path().join("out2/results.sqlite")).unwrap();
    let totals: String = crate::support::db(&s)
        .query_row("SELECT totals_json FROM run_ends", [], |r| r.get(0))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&totals).unwrap();
    assert_eq!(v["overrides"], serde_json::json!({}));
    assert_eq!(server.request_count(), 2 + 12);
}

#[test]
fn validate_shows_the_overridden_plan_and_refuses_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path(), "http://127.0.0.1:9/v1");
    let out = misalign(
        dir.path(),
        &[
            "validate",
            "exp.yaml",
            "--limit",
            "3",
            "--samples",
            "2",
            "--judge",
            "mock/judge",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("conditions:            3"), "{stdout}");
    assert!(stdout.contains("model calls:           6"), "{stdout}");
    assert!(stdout.contains("judge mock/judge"), "{stdout}");

    let out = misalign(dir.path(), &["validate", "exp.yaml", "--samples", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exp.yaml") && stderr.contains("--samples"),
        "{stderr}"
    );
    let out = misalign(
        dir.path(),
        &["validate", "exp.yaml", "--model", "nowhere/x"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--model") && stderr.contains("nowhere/x"),
        "{stderr}"
    );
}
