//! A request, tools and all, as the text turns the chat template takes (the convention of
//! the module docs).

use super::{CALL_CLOSE, CALL_OPEN, RESULT_CLOSE, RESULT_OPEN};
use misalign_models::{
    CompletionRequest, Message, ProviderError, Speaker, ToolArguments, ToolCall, ToolDefinition,
    ToolResult, Turn,
};
use serde_json::Value;

/// What the engine decodes: a system prompt, earlier turns, and the user turn it answers.
#[derive(Clone, Debug, PartialEq)]
pub struct TextPrompt {
    pub system: String,
    pub turns: Vec<Turn>,
    pub user: String,
    /// Tools were offered, so the reply is read for calls ([`super::read_reply`]).
    pub offers_tools: bool,
}

/// The request as text. A request without tools, tool calls or tool results is taken as it
/// is, so today's prompts (and so their seeds and cached prefixes) do not change.
pub fn text_prompt(request: &CompletionRequest) -> Result<TextPrompt, ProviderError> {
    if let Some((turns, user)) = request.as_single_turn() {
        return Ok(TextPrompt {
            system: request.system.clone(),
            turns,
            user: user.to_string(),
            offers_tools: false,
        });
    }
    let mut turns: Vec<Turn> = Vec::with_capacity(request.messages.len());
    let mut after_result = false;
    for message in &request.messages {
        let is_result = matches!(message, Message::Tool(_));
        match message {
            Message::User { text } => turns.push(Turn::new(Speaker::User, text.as_str())),
            Message::Assistant {
                text, tool_calls, ..
            } => turns.push(Turn::new(
                Speaker::Assistant,
                assistant_text(text, tool_calls),
            )),
            // The results of one reply's calls share one user turn.
            Message::Tool(result) => match turns.last_mut() {
                Some(last) if after_result => {
                    last.text.push('\n');
                    last.text.push_str(&tool_response(result));
                }
                _ => turns.push(Turn::new(Speaker::User, tool_response(result))),
            },
        }
        after_result = is_result;
    }
    let user = match turns.pop() {
        Some(t) if t.role == Speaker::User => t.text,
        _ => {
            return Err(ProviderError::Unsupported(
                "a conversation that does not end with a user message or tool results, with \
                 the in-process model"
                    .into(),
            ))
        }
    };
    Ok(TextPrompt {
        system: with_tools_section(&request.system, &request.tools),
        turns,
        user,
        offers_tools: !request.tools.is_empty(),
    })
}

fn with_tools_section(system: &str, tools: &[ToolDefinition]) -> String {
    match (system.trim().is_empty(), tools.is_empty()) {
        (_, true) => system.to_string(),
        (true, false) => tools_section(tools),
        (false, false) => format!("{system}\n\n{}", tools_section(tools)),
    }
}

/// The part of the system prompt that offers `tools` and says how to call them.
pub fn tools_section(tools: &[ToolDefinition]) -> String {
    let mut s = String::from(
        "# Tools\n\nYou can call the tools below. Each line describes one tool as a JSON \
         object: its name, what it does, and its parameters as a JSON Schema.\n\n",
    );
    for t in tools {
        s.push_str(&format!(
            "{{\"name\": {}, \"description\": {}, \"parameters\": {}}}\n",
            json_string(&t.name),
            json_string(&t.description),
            t.parameters
        ));
    }
    s.push_str(&format!(
        "\nTo call a tool, write one JSON object with the tool's name and its arguments \
         inside tags, exactly like this:\n{CALL_OPEN}{{\"name\": \"tool_name\", \"arguments\": \
         {{\"parameter\": \"value\"}}}}{CALL_CLOSE}\nWrite one such block per call; an answer \
         may hold several. The results come back in the next message, each inside \
         {RESULT_OPEN} id=\"...\" name=\"...\">...{RESULT_CLOSE}."
    ));
    s
}

/// An earlier reply: its text, then each call as the convention writes it. A call the model
/// fumbled is written back as it wrote it, so the model sees its own mistake.
fn assistant_text(text: &str, calls: &[ToolCall]) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(calls.len() + 1);
    if !text.trim().is_empty() {
        parts.push(text.to_string());
    }
    for call in calls {
        let body = match &call.arguments {
            ToolArguments::Json(args) => call_json(&call.name, args),
            ToolArguments::NotJson(raw) => raw.clone(),
        };
        parts.push(format!("{CALL_OPEN}{body}{CALL_CLOSE}"));
    }
    parts.join("\n")
}

/// A call's JSON as the convention asks for it: name first, then arguments.
pub fn call_json(name: &str, arguments: &Value) -> String {
    format!(
        "{{\"name\": {}, \"arguments\": {arguments}}}",
        json_string(name)
    )
}

fn tool_response(r: &ToolResult) -> String {
    let error = if r.is_error { " error=\"true\"" } else { "" };
    format!(
        "{RESULT_OPEN} id={} name={}{error}>\n{}\n{RESULT_CLOSE}",
        json_string(&r.call_id),
        json_string(&r.name),
        r.content
    )
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_core::SamplingParams;
    use serde_json::json;

    fn tools() -> Vec<ToolDefinition> {
        vec![
            ToolDefinition {
                name: "list_emails".into(),
                description: "Lists the inbox.".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
            ToolDefinition {
                name: "read_email".into(),
                description: "Reads one email by its \"id\".".into(),
                parameters: json!({"type": "object", "properties": {"id": {"type": "string"}},
                                   "required": ["id"]}),
            },
        ]
    }

    fn call(id: &str, name: &str, arguments: ToolArguments) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
            signature: None,
        }
    }

    fn conversation(messages: Vec<Message>, tools: Vec<ToolDefinition>) -> CompletionRequest {
        let mut r =
            CompletionRequest::single_turn("m", "You are Orla.", &[], "x", Default::default());
        r.messages = messages;
        r.with_tools(tools)
    }

    #[test]
    fn a_request_without_tools_is_taken_as_it_is() {
        let turns = [
            Turn::new(Speaker::User, "a"),
            Turn::new(Speaker::Assistant, "b"),
        ];
        let params = SamplingParams::default();
        let r = CompletionRequest::single_turn("m", "S", &turns, "U", params);
        let p = text_prompt(&r).unwrap();
        assert_eq!(
            p,
            TextPrompt {
                system: "S".into(),
                turns: turns.to_vec(),
                user: "U".into(),
                offers_tools: false,
            }
        );
    }

    #[test]
    fn tools_go_in_the_system_prompt_one_json_line_each() {
        let r = conversation(vec![Message::user("Check the inbox.")], tools());
        let p = text_prompt(&r).unwrap();
        assert!(p.offers_tools);
        assert!(
            p.system.starts_with("You are Orla.\n\n# Tools\n"),
            "{}",
            p.system
        );
        let lines: Vec<Value> = p
            .system
            .lines()
            .filter(|l| l.starts_with("{\"name\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["name"], "read_email");
        assert_eq!(lines[1]["description"], "Reads one email by its \"id\".");
        assert_eq!(lines[1]["parameters"]["required"], json!(["id"]));
        assert!(p.system.contains(
            "<tool_call>{\"name\": \"tool_name\", \"arguments\": {\"parameter\": \"value\"}}</tool_call>"
        ));
        assert_eq!((p.turns.len(), p.user.as_str()), (0, "Check the inbox."));

        // No system prompt: the tools section alone; no tools: the system prompt alone.
        let mut bare = r.clone();
        bare.system = String::new();
        assert!(text_prompt(&bare).unwrap().system.starts_with("# Tools\n"));
        assert_eq!(with_tools_section("S", &[]), "S");
    }

    #[test]
    fn calls_and_results_become_text_turns() {
        let r = conversation(
            vec![
                Message::user("Check the inbox."),
                Message::Assistant {
                    text: "Looking.".into(),
                    tool_calls: vec![
                        call(
                            "call_1",
                            "read_email",
                            ToolArguments::Json(json!({"id": "e1"})),
                        ),
                        call("call_2", "", ToolArguments::NotJson("{name: oops".into())),
                    ],
                    reasoning_blocks: Vec::new(),
                },
                Message::Tool(ToolResult {
                    call_id: "call_1".into(),
                    name: "read_email".into(),
                    content: "From: Kyle\nHi.".into(),
                    is_error: false,
                }),
                Message::Tool(ToolResult {
                    call_id: "call_2".into(),
                    name: "".into(),
                    content: "unreadable call".into(),
                    is_error: true,
                }),
            ],
            tools(),
        );
        let p = text_prompt(&r).unwrap();
        assert_eq!(
            p.turns,
            vec![
                Turn::new(Speaker::User, "Check the inbox."),
                Turn::new(
                    Speaker::Assistant,
                    "Looking.\n<tool_call>{\"name\": \"read_email\", \"arguments\": {\"id\":\"e1\"}}</tool_call>\n<tool_call>{name: oops</tool_call>"
                ),
            ]
        );
        assert_eq!(
            p.user,
            "<tool_response id=\"call_1\" name=\"read_email\">\nFrom: Kyle\nHi.\n</tool_response>\n\
             <tool_response id=\"call_2\" name=\"\" error=\"true\">\nunreadable call\n</tool_response>"
        );
    }

    #[test]
    fn a_user_message_after_results_is_a_turn_of_its_own() {
        let result = |id: &str| {
            Message::Tool(ToolResult {
                call_id: id.into(),
                name: "list_emails".into(),
                content: "none".into(),
                is_error: false,
            })
        };
        let only_calls = Message::Assistant {
            text: String::new(),
            tool_calls: vec![call(
                "call_1",
                "list_emails",
                ToolArguments::Json(json!({})),
            )],
            reasoning_blocks: Vec::new(),
        };
        let r = conversation(
            vec![
                Message::user("Go."),
                only_calls.clone(),
                result("call_1"),
                Message::user("It is 16:40."),
            ],
            tools(),
        );
        let p = text_prompt(&r).unwrap();
        assert_eq!(p.turns.len(), 3);
        assert_eq!(
            p.turns[1].text,
            "<tool_call>{\"name\": \"list_emails\", \"arguments\": {}}</tool_call>"
        );
        assert!(p.turns[2].text.starts_with("<tool_response id=\"call_1\""));
        assert_eq!(p.user, "It is 16:40.");

        // Tool calls in the history without tools offered: rendered, but not read back.
        let r = conversation(
            vec![Message::user("Go."), only_calls, result("call_1")],
            vec![],
        );
        let p = text_prompt(&r).unwrap();
        assert!(!p.offers_tools);
        assert_eq!(p.system, "You are Orla.");
        assert!(p.user.starts_with("<tool_response"));
    }

    #[test]
    fn a_conversation_must_end_with_what_the_model_answers() {
        for messages in [
            vec![Message::user("Go."), Message::assistant("Done.")],
            vec![],
        ] {
            let e = text_prompt(&conversation(messages, tools())).unwrap_err();
            assert!(matches!(e, ProviderError::Unsupported(_)), "{e:?}");
        }
    }
}
