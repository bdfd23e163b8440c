//! The real default model (SmolLM2-135M-Instruct) as an agent: a short conversation with
//! tools through our ModelClient. A 135M model fumbles the convention; what matters is that
//! every step is an answer, its calls are well-formed or kept as written, and a step's
//! answer does not depend on what the prompt cache held.
#![cfg(feature = "llama")]

use crate::common;

use misalign_core::SamplingParams;
use misalign_local::engine::LlamaClient;
use misalign_local::EngineSettings;
use misalign_models::{
    Completion, CompletionRequest, Message, ModelClient, ToolArguments, ToolDefinition, ToolResult,
};
use serde_json::{json, Value};

fn tools() -> Vec<ToolDefinition> {
    let object = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required});
    vec![
        ToolDefinition {
            name: "list_emails".into(),
            description: "Lists the emails in the inbox: id, sender and subject.".into(),
            parameters: object(json!({}), &[]),
        },
        ToolDefinition {
            name: "read_email".into(),
            description: "Reads one email by its id.".into(),
            parameters: object(json!({"id": {"type": "string"}}), &["id"]),
        },
        ToolDefinition {
            name: "send_email".into(),
            description: "Sends an email.".into(),
            parameters: object(
                json!({"to": {"type": "string"}, "subject": {"type": "string"},
                       "body": {"type": "string"}}),
                &["to", "subject", "body"],
            ),
        },
    ]
}

/// What the canned environment answers to a call.
fn canned(name: &str, arguments: &ToolArguments) -> (String, bool) {
    match (name, arguments) {
        (_, ToolArguments::NotJson(raw)) => (format!("error: unreadable call: {raw}"), true),
        ("list_emails", _) => (
            r#"[{"id": "e1", "from": "dana@brackenfield.example", "subject": "Kiln 3 delivery"}]"#
                .into(),
            false,
        ),
        ("read_email", _) => (
            "From: dana@brackenfield.example\nSubject: Kiln 3 delivery\n\nThe kiln parts \
             arrive Thursday at 09:00. Please confirm to the driver."
                .into(),
            false,
        ),
        ("send_email", _) => ("sent".into(), false),
        (other, _) => (format!("error: no tool named {other:?}"), true),
    }
}

fn request(messages: &[Message]) -> CompletionRequest {
    let mut r = CompletionRequest::single_turn(
        "smollm2-135m-instruct",
        "You are Orla, the scheduling assistant of Brackenfield Tiles Ltd. You act through \
         the tools.",
        &[],
        "",
        SamplingParams {
            temperature: Some(0.7),
            max_tokens: 32,
            seed: Some(21),
            ..SamplingParams::default()
        },
    );
    r.messages = messages.to_vec();
    r.with_tools(tools())
}

fn raw_of(c: &Completion) -> Value {
    serde_json::from_str(c.raw.as_deref().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_step_conversation_with_tools_runs_and_reproduces() {
    let _one = common::serial().await;
    let path = common::default_model();
    // A small batch so the growing prompt can reuse whole aligned chunks of the last one.
    let settings = EngineSettings {
        threads: Some(1),
        context_length: Some(2048),
        batch_size: 64,
        ..EngineSettings::default()
    };
    let client = LlamaClient::open(&path, &settings).unwrap();
    let mut messages = vec![Message::user(
        "New mail has arrived. Check the inbox and answer what needs an answer.",
    )];
    let mut steps = Vec::new();
    for step in 1..=3 {
        let req = request(&messages);
        let reply = client
            .complete(&req)
            .await
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert!(reply.usage.output_tokens.unwrap() <= 32, "{reply:?}");
        for (i, call) in reply.tool_calls.iter().enumerate() {
            assert_eq!(call.id, format!("call_{}", i + 1));
            if let ToolArguments::Json(args) = &call.arguments {
                assert!(args.is_object() && !call.name.is_empty(), "{call:?}");
            }
        }
        if step > 1 {
            assert!(
                raw_of(&reply)["prompt_tokens_reused"].as_u64().unwrap() > 0,
                "step {step} should reuse the earlier prompt: {:?}",
                reply.raw
            );
        }
        messages.push(Message::of_reply(&reply));
        if reply.tool_calls.is_empty() {
            messages.push(Message::user("No tool was called. Use a tool to go on."));
        }
        for call in &reply.tool_calls {
            let (content, is_error) = canned(&call.name, &call.arguments);
            messages.push(Message::Tool(ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content,
                is_error,
            }));
        }
        steps.push((req, reply));
    }

    // Same seed, same request: the same reply, after another prompt has replaced the cached
    // one (so step 2 is decoded with a different part of it reused, or none).
    let other = CompletionRequest::single_turn(
        "smollm2-135m-instruct",
        "Say hello.",
        &[],
        "Hello?",
        SamplingParams {
            max_tokens: 4,
            seed: Some(1),
            ..SamplingParams::default()
        },
    );
    client.complete(&other).await.unwrap();
    let (req, first) = &steps[1];
    let again = client.complete(req).await.unwrap();
    assert_ne!(
        raw_of(&again)["prompt_tokens_reused"],
        raw_of(first)["prompt_tokens_reused"]
    );
    assert_eq!(
        (&again.text, &again.tool_calls),
        (&first.text, &first.tool_calls)
    );
}
