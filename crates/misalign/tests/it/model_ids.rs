//! Model ids as Inspect users write them (`vllm/`, `ollama/`, `openai-api/<service>/`,
//! `OPENAI_BASE_URL`), through the real binary against the loopback mock; and an id whose
//! provider cannot be told is refused with the choices instead of guessed.

use crate::support::{bin, Experiment};
use misalign_mock::{MockConfig, MockServer};
use std::path::Path;
use std::process::{Command, Output};

/// One condition, one sample; the file's own model is never called (every test overrides it).
fn experiment(dir: &Path) {
    let e = Experiment::new("ids-test")
        .models(&["anthropic/claude-never-called"])
        .global("max_tokens: 50")
        .samples(1)
        .grid(&["blackmail"], &["none"], &["none"], &["replacement"])
        .classification("enabled: false");
    std::fs::write(dir.join("exp.yaml"), e.yaml()).unwrap();
}

/// `misalign run exp.yaml --model MODEL` with exactly the variables given (plus PATH).
fn run_model(dir: &Path, model: &str, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args([
            "run", "exp.yaml", "--out", "out", "--quiet", "--model", model,
        ]);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

async fn served(
    model: &'static str,
    env: Vec<(&'static str, String)>,
    key: Option<&str>,
) -> (MockServer, Output) {
    let server = MockServer::start(MockConfig {
        api_key: key.map(str::to_string),
        ..Default::default()
    })
    .await
    .unwrap();
    let url = server.openai_url();
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path());
    let out = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, String)> = env
            .into_iter()
            .map(|(k, v)| (k, v.replace("{url}", &url)))
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run_model(dir.path(), model, &env);
        drop(dir);
        out
    })
    .await
    .unwrap();
    (server, out)
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_ids_go_to_vllm_base_url_without_a_key() {
    let (server, out) = served(
        "vllm/org/tiny-7b",
        vec![("VLLM_BASE_URL", "{url}".into())],
        None,
    )
    .await;
    assert_ok(&out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].protocol, "openai");
    assert_eq!(reqs[0].body["model"], "org/tiny-7b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_api_service_ids_read_the_services_url_and_key() {
    let (server, out) = served(
        "openai-api/acme-cloud/tiny",
        vec![
            ("ACME_CLOUD_BASE_URL", "{url}".into()),
            ("ACME_CLOUD_API_KEY", "acme-key-1".into()),
        ],
        Some("acme-key-1"),
    )
    .await;
    assert_ok(&out);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body["model"], "tiny");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_base_url_redirects_the_openai_provider() {
    let (server, out) = served(
        "openai/gpt-4.1",
        vec![
            ("OPENAI_BASE_URL", "{url}".into()),
            ("OPENAI_API_KEY", "sk-local".into()),
        ],
        Some("sk-local"),
    )
    .await;
    assert_ok(&out);
    assert_eq!(server.requests()[0].body["model"], "gpt-4.1");
}

#[test]
fn a_service_without_its_url_is_named_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path());
    let out = run_model(dir.path(), "openai-api/acme/tiny", &[("ACME_API_KEY", "k")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ACME_BASE_URL"), "{stderr}");
}

#[test]
fn a_vendor_id_on_the_command_line_is_refused_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    experiment(dir.path());
    let out = run_model(dir.path(), "Qwen/Qwen3-8B", &[("TOGETHER_API_KEY", "k")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for choice in [
        "together/Qwen/Qwen3-8B",
        "openrouter/Qwen/Qwen3-8B",
        "vllm/Qwen/Qwen3-8B",
    ] {
        assert!(stderr.contains(choice), "{choice} missing: {stderr}");
    }
    assert!(!dir.path().join("out").exists(), "nothing may be started");
}
