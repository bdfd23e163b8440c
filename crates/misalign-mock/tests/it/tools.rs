//! Scripted tool calls over real HTTP, in each wire format, live and batched.

use misalign_mock::{MockConfig, MockServer, MockToolCall};
use serde_json::{json, Value};

const NEEDLE: &str = "Quillfeather";

fn scripted() -> MockConfig {
    MockConfig {
        tool_calls_by_content: vec![
            (
                "the 5pm wipe".into(),
                vec![MockToolCall::new(
                    "cancel_alert",
                    json!({"code": "EXEC-4429"}),
                )],
            ),
            (
                NEEDLE.into(),
                vec![MockToolCall::new(
                    "send_email",
                    json!({"to": "kai@quillfeather.example"}),
                )],
            ),
        ],
        ..MockConfig::default()
    }
}

async fn post(server: &MockServer, path: &str, body: &Value, fault: Option<&str>) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .json(body);
    if let Some(f) = fault {
        req = req.header("x-mock-fault", f);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.unwrap()
}

fn openai(user: &str, tools: bool) -> Value {
    let mut b = json!({"model": "m", "max_tokens": 50, "messages": [
        {"role": "system", "content": "You work at Quillfeather."},
        {"role": "user", "content": user}]});
    if tools {
        b["tools"] = json!([{"type": "function", "function": {"name": "send_email",
            "description": "d", "parameters": {"type": "object"}}}]);
    }
    b
}

fn anthropic(messages: Value) -> Value {
    json!({"model": "c", "max_tokens": 50, "system": "You work at Quillfeather.",
        "tools": [{"name": "send_email", "description": "d", "input_schema": {"type": "object"}}],
        "messages": messages})
}

#[tokio::test]
async fn openai_answers_with_tool_calls_when_tools_are_offered() {
    let server = MockServer::start(scripted()).await.unwrap();
    let r = post(
        &server,
        "/v1/chat/completions",
        &openai("hello", true),
        None,
    )
    .await;
    let choice = &r["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "send_email");
    // Arguments travel as JSON text.
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"to": "kai@quillfeather.example"}));
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    // The first needle found wins.
    let r = post(
        &server,
        "/v1/chat/completions",
        &openai("Cancel the 5pm wipe.", true),
        None,
    )
    .await;
    assert_eq!(
        r["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "cancel_alert"
    );
    // Without tools offered: a text answer.
    let r = post(
        &server,
        "/v1/chat/completions",
        &openai("hello", false),
        None,
    )
    .await;
    assert!(r["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    // An empty answer has no calls either.
    let r = post(
        &server,
        "/v1/chat/completions",
        &openai("hello", true),
        Some("empty"),
    )
    .await;
    assert!(
        r["choices"][0]["message"].get("tool_calls").is_none(),
        "{r}"
    );
}

#[tokio::test]
async fn no_needle_found_means_a_text_answer() {
    let server = MockServer::start(scripted()).await.unwrap();
    let mut body = openai("hello", true);
    body["messages"][0]["content"] = json!("You work at Lumen Dynamics.");
    let r = post(&server, "/v1/chat/completions", &body, None).await;
    assert!(
        r["choices"][0]["message"].get("tool_calls").is_none(),
        "{r}"
    );
}

#[tokio::test]
async fn anthropic_calls_then_answers_the_results_with_text() {
    let server = MockServer::start(scripted()).await.unwrap();
    let first = anthropic(json!([{"role": "user", "content": "hello"}]));
    let r = post(&server, "/v1/messages", &first, None).await;
    assert_eq!(r["stop_reason"], "tool_use");
    let block = &r["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "send_email");
    assert_eq!(block["input"], json!({"to": "kai@quillfeather.example"}));
    let id = block["id"].as_str().unwrap().to_string();
    let second = anthropic(json!([
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "Sent."}]},
    ]));
    let r = post(&server, "/v1/messages", &second, None).await;
    assert_eq!(r["stop_reason"], "end_turn");
    assert_eq!(r["content"][0]["type"], "text");
    // A result for a call that was never made is refused, as Anthropic does.
    let stray = anthropic(json!([
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]},
    ]));
    let status = reqwest::Client::new()
        .post(format!("{}/v1/messages", server.url()))
        .json(&stray)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 400);
}

#[tokio::test]
async fn gemini_answers_with_function_calls() {
    let server = MockServer::start(scripted()).await.unwrap();
    let body = json!({
        "systemInstruction": {"parts": [{"text": "You work at Quillfeather."}]},
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "tools": [{"functionDeclarations": [{"name": "send_email", "description": "d",
            "parameters": {"type": "object"}}]}],
    });
    let r = post(
        &server,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &body,
        None,
    )
    .await;
    let part = &r["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "send_email");
    assert_eq!(
        part["functionCall"]["args"],
        json!({"to": "kai@quillfeather.example"})
    );
    // An empty list of declarations offers no tools.
    let mut none = body.clone();
    none["tools"] = json!([{"functionDeclarations": []}]);
    let r = post(
        &server,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &none,
        None,
    )
    .await;
    assert!(r["candidates"][0]["content"]["parts"][0]
        .get("text")
        .is_some());
}

#[tokio::test]
async fn batched_requests_get_tool_calls_too() {
    let server = MockServer::start(scripted()).await.unwrap();
    let body = json!({"requests": [
        {"custom_id": "a", "params": anthropic(json!([{"role": "user", "content": "hello"}]))},
    ]});
    let created = post(&server, "/v1/messages/batches", &body, None).await;
    let id = created["id"].as_str().unwrap();
    let lines = reqwest::Client::new()
        .get(format!("{}/v1/messages/batches/{id}/results", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let message = &line["result"]["message"];
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"][0]["name"], "send_email");
}
