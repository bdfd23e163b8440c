//! Conversations with tools on each provider's wire format, over real HTTP to the mock: a
//! request offering tools, the mock's tool calls decoded, then a round carrying the
//! assistant's calls and their results, whose bytes are compared with golden files
//! (`tests/golden/wire/tools_{provider}.http`, recorded as `wire_golden` describes), and the
//! same calls through each batch API.

use crate::common::*;
use misalign_core::config::ProviderKind;
use misalign_core::SamplingParams;
use misalign_mock::{MockConfig, MockServer, MockToolCall};
use misalign_models::batch::{build_batch_client, BatchRequest, BatchState, ItemResult};
use misalign_models::{
    AnswerKind, ClientOptions, CompletionRequest, Message, ToolArguments, ToolDefinition,
    ToolResult,
};
use serde_json::json;
use std::path::PathBuf;

const LEFT_OUT: [&str; 4] = ["host", "authorization", "x-api-key", "x-goog-api-key"];
const SYSTEM: &str = "You are Atlas, the email agent of Quillfeather Logistics.";

fn tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "send_email".into(),
            description: "Send an email from the agent's account.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "to": {"type": "string", "description": "Recipient address"},
                    "subject": {"type": "string"},
                    "body": {"type": "string"}
                },
                "required": ["to", "subject", "body"]
            }),
        },
        ToolDefinition {
            name: "read_inbox".into(),
            description: "List unread emails.".into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ]
}

fn scripted() -> MockConfig {
    MockConfig {
        tool_calls_by_content: vec![(
            "quillfeather".into(),
            vec![
                MockToolCall::new(
                    "send_email",
                    json!({"to": "dana.okafor@quillfeather.example", "subject": "Handover",
                           "body": "Notes are attached."}),
                ),
                MockToolCall::new("read_inbox", json!({})),
            ],
        )],
        ..MockConfig::default()
    }
}

fn first_request(model: &str) -> CompletionRequest {
    let p = SamplingParams {
        temperature: Some(1.0),
        max_tokens: 2000,
        seed: Some(4),
        ..SamplingParams::default()
    };
    CompletionRequest::single_turn(model, SYSTEM, &[], USER, p).with_tools(tools())
}

/// The request bytes as `wire_golden` writes them (request line, kept headers, body).
fn render(server: &MockServer) -> Vec<u8> {
    let mut out = Vec::new();
    for r in server.raw_requests() {
        out.extend_from_slice(format!("{} {}\n", r.method, r.target).as_bytes());
        for (name, value) in &r.headers {
            if !LEFT_OUT.contains(&name.as_str()) {
                let value = value.replace(env!("CARGO_PKG_VERSION"), "{version}");
                out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
            }
        }
        out.push(b'\n');
        out.extend_from_slice(&r.body);
        out.extend_from_slice(b"\n\n");
    }
    out
}

fn check_golden(case: &str, server: &MockServer) {
    let seen = render(server);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/wire")
        .join(format!("{case}.http"));
    if std::env::var_os("MISALIGN_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &seen).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        seen == want,
        "{case}: the bytes sent differ from {}\n--- sent ---\n{}",
        path.display(),
        String::from_utf8_lossy(&seen)
    );
}

/// Two rounds on one provider: returns the first reply's call ids.
async fn two_rounds(kind: ProviderKind, model: &str) -> Vec<String> {
    let server = mock(scripted()).await;
    let client = client_for(kind, &server, &[], 10 * SECOND);
    let first = first_request(model);
    let c = client.complete(&first).await.unwrap();
    assert_eq!(c.outcome, AnswerKind::Answer, "{c:?}");
    assert_eq!(c.text, "");
    let names: Vec<&str> = c.tool_calls.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["send_email", "read_inbox"]);
    assert_eq!(
        c.tool_calls[0].arguments,
        ToolArguments::Json(json!({"to": "dana.okafor@quillfeather.example",
            "subject": "Handover", "body": "Notes are attached."}))
    );
    assert_eq!(c.tool_calls[1].arguments, ToolArguments::Json(json!({})));

    let mut second = first.clone();
    second.messages.push(Message::Assistant {
        reasoning_blocks: Vec::new(),
        text: c.text.clone(),
        tool_calls: c.tool_calls.clone(),
    });
    second.messages.push(Message::Tool(ToolResult {
        call_id: c.tool_calls[0].id.clone(),
        name: "send_email".into(),
        content: "Sent.".into(),
        is_error: false,
    }));
    second.messages.push(Message::Tool(ToolResult {
        call_id: c.tool_calls[1].id.clone(),
        name: "read_inbox".into(),
        content: "The mail server is down.".into(),
        is_error: true,
    }));
    let answer = client.complete(&second).await.unwrap();
    assert!(answer.tool_calls.is_empty(), "{answer:?}");
    assert_eq!(answer.outcome, AnswerKind::Answer);
    assert!(!answer.text.is_empty());
    check_golden(&format!("tools_{}", kind.as_str()), &server);
    c.tool_calls.into_iter().map(|t| t.id).collect()
}

#[tokio::test]
async fn openai_tool_round() {
    let ids = two_rounds(ProviderKind::Openai, "gpt-4.1").await;
    assert_eq!(ids, ["call_mock0000000001_0", "call_mock0000000001_1"]);
}

#[tokio::test]
async fn anthropic_tool_round() {
    let ids = two_rounds(ProviderKind::Anthropic, "claude-opus-4-1").await;
    assert_eq!(ids, ["toolu_mock0000000001_0", "toolu_mock0000000001_1"]);
}

#[tokio::test]
async fn gemini_tool_round() {
    // Gemini gives no ids: the client numbers the calls and sends no id back.
    let ids = two_rounds(ProviderKind::Google, "gemini-2.5-flash").await;
    assert_eq!(ids, ["call_0", "call_1"]);
}

#[tokio::test]
async fn a_result_for_a_call_never_made_is_refused() {
    for kind in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Google,
    ] {
        let server = mock(scripted()).await;
        let client = client_for(kind, &server, &[], 10 * SECOND);
        let mut r = first_request("gemini-2.5-flash");
        r.messages.push(Message::Tool(ToolResult {
            call_id: "toolu_nowhere".into(),
            name: "nowhere".into(),
            content: "?".into(),
            is_error: false,
        }));
        let e = client.complete(&r).await.unwrap_err();
        assert!(
            e.to_string().contains("no earlier assistant message"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn openai_arguments_that_are_not_json_are_kept_as_written() {
    let server = mock(MockConfig {
        tool_calls_by_content: vec![(
            String::new(),
            vec![MockToolCall::new(
                "send_email",
                json!("{\"to\": \"dana.okafor@quillfeather.example\", \"subject\": "),
            )],
        )],
        ..MockConfig::default()
    })
    .await;
    let client = client_for(ProviderKind::OpenaiCompatible, &server, &[], 10 * SECOND);
    let c = client.complete(&first_request("llama")).await.unwrap();
    assert_eq!(
        c.tool_calls[0].arguments,
        ToolArguments::NotJson(
            "{\"to\": \"dana.okafor@quillfeather.example\", \"subject\": ".into()
        )
    );
    // Anthropic and Gemini take only an object: the call goes back with empty arguments,
    // so the conversation stays one the API accepts.
    let mut again = first_request("llama");
    again.messages.push(Message::Assistant {
        reasoning_blocks: Vec::new(),
        text: String::new(),
        tool_calls: c.tool_calls.clone(),
    });
    let anthropic = client_for(ProviderKind::Anthropic, &server, &[], 10 * SECOND);
    anthropic.complete(&again).await.unwrap();
    let body = server.last_request().unwrap().body;
    let sent = &body["messages"][1]["content"][0];
    assert_eq!(
        (&sent["type"], &sent["input"]),
        (&json!("tool_use"), &json!({}))
    );
    let google = client_for(ProviderKind::Google, &server, &[], 10 * SECOND);
    google.complete(&again).await.unwrap();
    let body = server.last_request().unwrap().body;
    assert_eq!(
        body["contents"][1]["parts"][0]["functionCall"]["args"],
        json!({})
    );
}

#[tokio::test]
async fn without_tools_offered_the_mock_answers_text() {
    let server = mock(scripted()).await;
    let client = client_for(ProviderKind::Anthropic, &server, &[], 10 * SECOND);
    let plain = CompletionRequest::single_turn("claude-opus-4-1", SYSTEM, &[], USER, params(500));
    let c = client.complete(&plain).await.unwrap();
    assert!(c.tool_calls.is_empty() && !c.text.is_empty(), "{c:?}");
    let body = &server.last_request().unwrap().body;
    assert!(body.get("tools").is_none(), "{body}");
}

/// A batch of one tool-offering request: the calls come back decoded as live ones do.
async fn batched(kind: ProviderKind, model: &str) {
    let server = mock(scripted()).await;
    let cfg = config(kind, vec![base_url(kind, &server)], &[]);
    let client = build_batch_client(
        &resolved(kind, "test", model),
        &cfg,
        &env_with_key,
        &ClientOptions::default(),
    )
    .unwrap()
    .expect("a batch API");
    let requests = vec![BatchRequest {
        custom_id: "t-0001".into(),
        request: first_request(model),
    }];
    let id = client.submit("tools-marker", &requests).await.unwrap();
    assert_eq!(client.poll(&id).await.unwrap().state, BatchState::Ended);
    let results = client.results(&id, &["t-0001".to_string()]).await.unwrap();
    let [(cid, ItemResult::Done(c))] = results.as_slice() else {
        panic!("{results:?}")
    };
    assert_eq!(cid, "t-0001");
    let names: Vec<&str> = c.tool_calls.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["send_email", "read_inbox"], "{kind:?}");
    assert_eq!(c.outcome, AnswerKind::Answer);
}

#[tokio::test]
async fn batch_apis_carry_tool_calls() {
    batched(ProviderKind::Anthropic, "claude-opus-4-1").await;
    batched(ProviderKind::Openai, "gpt-4.1").await;
    batched(ProviderKind::Google, "gemini-2.5-flash").await;
}
