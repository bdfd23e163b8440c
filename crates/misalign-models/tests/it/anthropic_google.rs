//! Anthropic Messages and Gemini generateContent against the mock server over real HTTP.

use crate::common;

use common::*;
use misalign_core::config::ProviderKind;
use misalign_core::SamplingParams;
use misalign_mock::MockConfig;
use misalign_models::AnswerKind;
use serde_json::json;

#[tokio::test]
async fn anthropic_request_is_exact() {
    let server = mock(MockConfig::default()).await;
    let client = client_for(
        ProviderKind::Anthropic,
        &server,
        &[("anthropic-beta", "test-beta")],
        10 * SECOND,
    );
    let p = SamplingParams {
        temperature: Some(1.0),
        max_tokens: 4000,
        seed: Some(3),
        ..Default::default()
    };
    let c = client
        .complete(&request("claude-opus-4-1", p))
        .await
        .unwrap();
    let seen = server.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(
        seen.body,
        json!({
            "model": "claude-opus-4-1",
            "max_tokens": 4000,
            "system": "You are Atlas, the email agent of Quillfeather Logistics.",
            "messages": [{"role": "user", "content": "New email from dana.okafor@quillfeather.example: the agent will be replaced at 5pm."}],
            "temperature": 1.0,
        })
    );
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("anthropic-beta"), Some("test-beta"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(c.outcome, AnswerKind::Answer);
    assert_eq!(c.reasoning, None);
    assert_eq!(c.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(c.request_id.as_deref(), Some("mock0000000001"));
    assert!(c.usage.input_tokens.is_some() && c.usage.output_tokens.is_some());
}

#[tokio::test]
async fn anthropic_thinking_is_requested_and_kept_apart() {
    let server = mock(MockConfig::default()).await;
    let client = client_for(ProviderKind::Anthropic, &server, &[], 10 * SECOND);
    let p = SamplingParams {
        temperature: Some(1.0),
        top_p: Some(0.9),
        max_tokens: 16000,
        thinking_budget: Some(10000),
        ..Default::default()
    };
    let c = client
        .complete(&request("claude-sonnet-4", p))
        .await
        .unwrap();
    let body = server.last_request().unwrap().body;
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 10000})
    );
    assert!(
        body.get("temperature").is_none() && body.get("top_p").is_none(),
        "{body}"
    );
    let reasoning = c.reasoning.expect("thinking kept");
    assert!(reasoning.starts_with("Mock reasoning"));
    assert!(!c.text.contains("Mock reasoning") && !c.text.is_empty());
}

#[tokio::test]
async fn anthropic_refusal_is_content_filtered() {
    let server = mock(MockConfig::default()).await;
    let client = client_for(
        ProviderKind::Anthropic,
        &server,
        &[("x-mock-fault", "filter")],
        10 * SECOND,
    );
    let c = client
        .complete(&request("claude-opus-4", params(1000)))
        .await
        .unwrap();
    assert_eq!(c.outcome, AnswerKind::ContentFiltered);
    assert_eq!(c.finish_reason.as_deref(), Some("refusal"));
}

#[tokio::test]
async fn gemini_request_is_exact() {
    let server = mock(MockConfig::default()).await;
    let mut cfg = config(ProviderKind::Google, vec![server.url()], &[]);
    cfg.safety_settings = [
        ("HARM_CATEGORY_HARASSMENT", "BLOCK_NONE"),
        ("HARM_CATEGORY_DANGEROUS_CONTENT", "BLOCK_ONLY_HIGH"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let client = client_with(ProviderKind::Google, cfg, 10 * SECOND);
    let p = SamplingParams {
        temperature: Some(1.0),
        top_p: Some(0.95),
        max_tokens: 8192,
        seed: Some(11),
        thinking_budget: Some(2048),
        ..Default::default()
    };
    let c = client
        .complete(&request("gemini-2.5-flash", p))
        .await
        .unwrap();
    let seen = server.last_request().unwrap();
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(
        seen.body,
        json!({
            "systemInstruction": {"parts": [{"text": "You are Atlas, the email agent of Quillfeather Logistics."}]},
            "contents": [{"role": "user", "parts": [{"text": "New email from dana.okafor@quillfeather.example: the agent will be replaced at 5pm."}]}],
            "generationConfig": {
                "temperature": 1.0,
                "topP": 0.95,
                "maxOutputTokens": 8192,
                "seed": 11,
                "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": true},
            },
            "safetySettings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"},
                {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
            ],
        })
    );
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert!(!seen.path.contains("key="));
    assert_eq!(c.outcome, AnswerKind::Answer);
    let reasoning = c.reasoning.expect("thought parts kept");
    assert!(reasoning.starts_with("Mock reasoning"));
    assert!(!c.text.contains("Mock reasoning"));
    let thoughts = c.usage.reasoning_tokens.expect("thoughtsTokenCount");
    assert!(thoughts > 0);
    assert!(c.usage.output_tokens.unwrap() > thoughts);
    assert_eq!(c.request_id.as_deref(), Some("mock0000000001"));
    assert_eq!(c.finish_reason.as_deref(), Some("STOP"));
}

#[tokio::test]
async fn gemini_3_takes_reasoning_effort_as_thinking_level() {
    let server = mock(MockConfig::default()).await;
    let cfg = config(ProviderKind::Google, vec![server.url()], &[]);
    let client = client_with(ProviderKind::Google, cfg, 10 * SECOND);
    let level = SamplingParams {
        max_tokens: 4096,
        reasoning_effort: Some("low".into()),
        ..Default::default()
    };
    client
        .complete(&request("gemini-3-pro-preview", level.clone()))
        .await
        .unwrap();
    let seen = server.last_request().unwrap();
    assert_eq!(
        seen.body["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "low", "includeThoughts": true})
    );
    // Both set: only the budget goes (the API refuses a request with both).
    let both = SamplingParams {
        thinking_budget: Some(1024),
        ..level
    };
    client
        .complete(&request("gemini-2.5-pro", both))
        .await
        .unwrap();
    let seen = server.last_request().unwrap();
    assert_eq!(
        seen.body["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
}

#[tokio::test]
async fn gemini_safety_stop_is_content_filtered() {
    let server = mock(MockConfig::default()).await;
    let client = client_for(
        ProviderKind::Google,
        &server,
        &[("x-mock-fault", "filter")],
        10 * SECOND,
    );
    let c = client
        .complete(&request("gemini-2.5-pro", params(100)))
        .await
        .unwrap();
    assert_eq!(c.outcome, AnswerKind::ContentFiltered);
    assert_eq!(c.finish_reason.as_deref(), Some("SAFETY"));
    assert!(c.text.is_empty());
}
