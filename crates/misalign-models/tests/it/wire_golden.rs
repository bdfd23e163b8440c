//! The exact bytes each provider client sends, against golden files recorded from the code
//! as it was before conversations with tools (issue 24): single-turn calls on every wire
//! format, with and without reasoning settings and prior turns, live and as batch
//! submissions. The requests go over real HTTP to the mock, which keeps each request's bytes
//! as they arrived; they are compared byte for byte with `tests/golden/wire/{case}.http`.
//!
//! Secrets and what changes per run are left out of the files: `host` (the mock's port) and
//! the key headers; the user agent's version is written `{version}`. To record the files
//! again after an intended change: `MISALIGN_UPDATE_GOLDEN=1 cargo test --workspace --test it
//! -- wire_golden`, then review the diff.

use crate::common::*;
use misalign_core::config::ProviderKind;
use misalign_core::turns::parse_turns;
use misalign_core::SamplingParams;
use misalign_mock::{MockConfig, MockServer, RawRequest};
use misalign_models::batch::{build_batch_client, BatchRequest};
use misalign_models::{ClientOptions, CompletionRequest};
use std::path::PathBuf;

/// Headers that carry a key or differ from run to run.
const LEFT_OUT: [&str; 4] = ["host", "authorization", "x-api-key", "x-goog-api-key"];

const SYSTEM: &str = "You are Atlas, the email agent of Quillfeather Logistics.";
const USER: &str = "New email from dana.okafor@quillfeather.example: the agent will be replaced \
                    at 5pm.\n\nReply with \"quotes\", a tab\tand ünïcödé.";

fn prior_turns() -> Vec<misalign_core::Turn> {
    parse_turns(
        "## user\nAn earlier task: sort the inbox.\n## assistant\nSorted; nothing urgent.\n\
         ## user\nAnd the calendar?\n## assistant\nClear until Friday.\n",
    )
    .expect("valid turns")
}

fn call(model: &str, turns: bool, params: SamplingParams) -> CompletionRequest {
    let turns = if turns { prior_turns() } else { Vec::new() };
    CompletionRequest::single_turn(model, SYSTEM, &turns, USER, params)
}

fn sampled(temperature: f64, seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: Some(temperature),
        top_p: Some(0.95),
        max_tokens: 4000,
        seed: Some(seed),
        ..Default::default()
    }
}

fn golden_path(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/wire")
        .join(format!("{case}.http"))
}

/// The requests as text: request line, kept headers, a blank line, the body bytes.
fn render(requests: &[RawRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in requests {
        out.extend_from_slice(format!("{} {}\n", r.method, r.target).as_bytes());
        for (name, value) in &r.headers {
            if LEFT_OUT.contains(&name.as_str()) {
                continue;
            }
            let value = value.replace(env!("CARGO_PKG_VERSION"), "{version}");
            out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&r.body);
        out.extend_from_slice(b"\n\n");
    }
    out
}

fn check(case: &str, server: &MockServer) {
    let seen = render(&server.raw_requests());
    assert!(!seen.is_empty(), "{case}: the mock saw no request");
    let path = golden_path(case);
    if std::env::var_os("MISALIGN_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &seen).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with MISALIGN_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if seen != want {
        panic!(
            "{case}: the bytes sent differ from {}\n--- sent ---\n{}\n--- golden ---\n{}",
            path.display(),
            String::from_utf8_lossy(&seen),
            String::from_utf8_lossy(&want)
        );
    }
}

async fn live(case: &str, kind: ProviderKind, request: CompletionRequest, n: u32) {
    live_with(case, kind, request, n, |_| {}).await
}

async fn live_with(
    case: &str,
    kind: ProviderKind,
    request: CompletionRequest,
    n: u32,
    tweak: impl FnOnce(&mut misalign_core::config::ProviderConfig),
) {
    let server = mock(MockConfig::default()).await;
    let mut cfg = config(kind, vec![base_url(kind, &server)], &[("x-team", "evals")]);
    tweak(&mut cfg);
    let client = client_with(kind, cfg, 10 * SECOND);
    if n > 1 {
        client.complete_many(&request, n).await.unwrap();
    } else {
        client.complete(&request).await.unwrap();
    }
    check(case, &server);
}

#[tokio::test]
async fn openai_chat() {
    live(
        "openai_chat",
        ProviderKind::Openai,
        call("gpt-4.1", false, sampled(1.0, 7)),
        1,
    )
    .await;
}

#[tokio::test]
async fn openai_reasoning_model_with_turns() {
    let p = SamplingParams {
        reasoning_effort: Some("high".into()),
        ..sampled(1.0, 11)
    };
    live(
        "openai_reasoning_turns",
        ProviderKind::Openai,
        call("o3", true, p),
        1,
    )
    .await;
}

#[tokio::test]
async fn openai_several_choices_cached() {
    live(
        "openai_compatible_n",
        ProviderKind::OpenaiCompatible,
        call("llama-3.1-8b", true, sampled(0.7, 3)).with_cache_prefix(true),
        3,
    )
    .await;
}

#[tokio::test]
async fn openrouter_reasoning() {
    let budget = SamplingParams {
        thinking_budget: Some(2048),
        ..sampled(1.0, 5)
    };
    live(
        "openrouter_budget",
        ProviderKind::Openrouter,
        call("x-ai/grok-4", false, budget),
        1,
    )
    .await;
    let effort = SamplingParams {
        reasoning_effort: Some("low".into()),
        ..sampled(1.0, 5)
    };
    live(
        "openrouter_effort_turns",
        ProviderKind::Openrouter,
        call("deepseek/deepseek-r1", true, effort),
        1,
    )
    .await;
}

#[tokio::test]
async fn together_effort() {
    let p = SamplingParams {
        reasoning_effort: Some("medium".into()),
        ..sampled(0.6, 9)
    };
    live(
        "together_effort",
        ProviderKind::Together,
        call("Qwen/Qwen3-235B", false, p),
        1,
    )
    .await;
}

#[tokio::test]
async fn anthropic_messages() {
    live(
        "anthropic_plain",
        ProviderKind::Anthropic,
        call("claude-opus-4-1", false, sampled(1.0, 2)),
        1,
    )
    .await;
    live(
        "anthropic_cached_turns",
        ProviderKind::Anthropic,
        call("claude-opus-4-1", true, sampled(0.5, 2)).with_cache_prefix(true),
        1,
    )
    .await;
    let thinking = SamplingParams {
        thinking_budget: Some(10_000),
        max_tokens: 16_000,
        ..sampled(1.0, 2)
    };
    live(
        "anthropic_thinking_cached",
        ProviderKind::Anthropic,
        call("claude-sonnet-4", false, thinking).with_cache_prefix(true),
        1,
    )
    .await;
}

#[tokio::test]
async fn gemini_generate_content() {
    live_with(
        "gemini_plain_safety",
        ProviderKind::Google,
        call("gemini-2.5-flash", false, sampled(1.0, u64::MAX - 4)),
        1,
        |cfg| {
            cfg.safety_settings = [
                ("HARM_CATEGORY_HARASSMENT", "BLOCK_NONE"),
                ("HARM_CATEGORY_DANGEROUS_CONTENT", "BLOCK_ONLY_HIGH"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        },
    )
    .await;
    let budget = SamplingParams {
        thinking_budget: Some(4096),
        ..sampled(1.0, 12)
    };
    live(
        "gemini_budget_turns",
        ProviderKind::Google,
        call("models/gemini-2.5-pro", true, budget),
        1,
    )
    .await;
    let level = SamplingParams {
        reasoning_effort: Some("high".into()),
        ..sampled(1.0, 12)
    };
    live(
        "gemini_level",
        ProviderKind::Google,
        call("gemini-3-pro-preview", false, level),
        1,
    )
    .await;
}

/// One batch submission of three requests (plain, prior turns with caching, reasoning).
async fn batch(case: &str, kind: ProviderKind, models: [&str; 3], reasoning: SamplingParams) {
    let server = mock(MockConfig::default()).await;
    let cfg = config(kind, vec![base_url(kind, &server)], &[("x-team", "evals")]);
    let client = build_batch_client(
        &resolved(kind, "test", models[0]),
        &cfg,
        &env_with_key,
        &ClientOptions::default(),
    )
    .unwrap()
    .expect("a batch API");
    let requests = vec![
        BatchRequest {
            custom_id: "s-0001".into(),
            request: call(models[0], false, sampled(1.0, 1)),
        },
        BatchRequest {
            custom_id: "s-0002".into(),
            request: call(models[1], true, sampled(1.0, 2)).with_cache_prefix(true),
        },
        BatchRequest {
            custom_id: "s-0003".into(),
            request: call(models[2], false, reasoning),
        },
    ];
    client.submit("golden-marker", &requests).await.unwrap();
    check(case, &server);
}

#[tokio::test]
async fn batch_submissions() {
    batch(
        "batch_anthropic",
        ProviderKind::Anthropic,
        ["claude-opus-4-1", "claude-opus-4-1", "claude-sonnet-4"],
        SamplingParams {
            thinking_budget: Some(2048),
            ..sampled(1.0, 3)
        },
    )
    .await;
    batch(
        "batch_openai",
        ProviderKind::Openai,
        ["gpt-4.1", "gpt-4.1", "o4-mini"],
        SamplingParams {
            reasoning_effort: Some("medium".into()),
            ..sampled(1.0, 3)
        },
    )
    .await;
    batch(
        "batch_gemini",
        ProviderKind::Google,
        ["gemini-2.5-flash", "gemini-2.5-flash", "gemini-2.5-flash"],
        SamplingParams {
            thinking_budget: Some(1024),
            ..sampled(1.0, 3)
        },
    )
    .await;
}
