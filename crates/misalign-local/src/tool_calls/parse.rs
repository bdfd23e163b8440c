//! Reads a reply written under the convention (module docs of [`super`]) into its text and
//! its tool calls, as a small model really writes them.
//!
//! Whatever stands between `<tool_call>` and `</tool_call>` is a call attempt. It is read as
//! lenient JSON (trailing commas, single quotes, bare keys, comments, a code fence around
//! it); a call whose tool name or arguments cannot be read is still a call, with the text
//! as written in [`ToolArguments::NotJson`], so the environment answers it with an error
//! observation. A call left unclosed ends where the next one starts or with the reply, and
//! text after its JSON object is text. Text outside the tags is the reply's text; an empty
//! tag, and anything without tags, is plain text. Nothing here fails.

use super::{CALL_CLOSE, CALL_OPEN};
use misalign_models::{ToolArguments, ToolCall};
use serde_json::{Map, Value};

/// The reply's text outside the calls and its calls, numbered `call_1`, `call_2`... in
/// order. A reply without calls keeps its text exactly.
pub fn read_reply(reply: &str) -> (String, Vec<ToolCall>) {
    let mut outside: Vec<&str> = Vec::new();
    let mut calls: Vec<(String, ToolArguments)> = Vec::new();
    let mut rest = reply;
    while let Some(start) = rest.find(CALL_OPEN) {
        outside.push(&rest[..start]);
        let after = &rest[start + CALL_OPEN.len()..];
        let next_open = after.find(CALL_OPEN);
        // An unclosed call ends where the next one starts, or with the reply.
        let (body, next) = match (after.find(CALL_CLOSE), next_open) {
            (Some(close), _) if next_open.is_none_or(|o| close < o) => {
                (&after[..close], &after[close + CALL_CLOSE.len()..])
            }
            (_, Some(open)) => (&after[..open], &after[open..]),
            _ => (after, ""),
        };
        if body.trim().is_empty() {
            outside.push(&rest[start..rest.len() - next.len()]);
        } else {
            let (read, trailing) = read_calls(body);
            calls.extend(read);
            outside.push(trailing);
        }
        rest = next;
    }
    if calls.is_empty() {
        return (reply.to_string(), Vec::new());
    }
    outside.push(rest);
    let text = outside
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall {
            id: format!("call_{}", i + 1),
            name,
            arguments,
            signature: None,
        })
        .collect();
    (text, calls)
}

/// The calls in one tag's body (one object, or an array of them) and the text after a
/// JSON value that was followed by more.
fn read_calls(body: &str) -> (Vec<(String, ToolArguments)>, &str) {
    let json = without_fence(body.trim());
    if let Some(v) = lenient(json) {
        return (calls_of(&v, json), "");
    }
    // An object followed by prose (an unclosed tag, or words inside the tags).
    let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
    if let Some(Ok(v)) = values.next() {
        if v.is_object() || v.is_array() {
            let end = values.byte_offset();
            return (calls_of(&v, json[..end].trim()), &json[end..]);
        }
    }
    (
        vec![(
            name_as_written(json),
            ToolArguments::NotJson(json.to_string()),
        )],
        "",
    )
}

/// JSON as models write it when asked for JSON: JSON5-like extensions allowed.
fn lenient(text: &str) -> Option<Value> {
    jsonc_parser::parse_to_serde_value::<Value>(text, &Default::default()).ok()
}

/// The body inside a Markdown code fence, when it has one.
fn without_fence(body: &str) -> &str {
    let Some(inner) = body.strip_prefix("```") else {
        return body;
    };
    // The fence's info string (`json`) ends its first line.
    let inner = inner.split_once('\n').map_or("", |(_, rest)| rest);
    inner.trim_end().strip_suffix("```").unwrap_or(inner).trim()
}

fn calls_of(v: &Value, raw: &str) -> Vec<(String, ToolArguments)> {
    match v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::Object(o) => call_of(o, &item.to_string()),
                other => not_json("", &other.to_string()),
            })
            .collect(),
        Value::Object(o) => vec![call_of(o, raw)],
        _ => vec![not_json(&name_as_written(raw), raw)],
    }
}

/// One call: `name` (or `tool`) and `arguments` (or `parameters`), also inside an
/// OpenAI-shaped `function` object. No arguments is an empty object; arguments written as
/// a string holding a JSON object are that object.
fn call_of(o: &Map<String, Value>, raw: &str) -> (String, ToolArguments) {
    let name = ["name", "tool"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return match o.get("function") {
            Some(Value::Object(f)) => call_of(f, raw),
            _ => not_json("", raw),
        };
    };
    let arguments = ["arguments", "parameters"]
        .iter()
        .find_map(|k| o.get(*k))
        .unwrap_or(&Value::Null);
    match arguments {
        Value::Null => (
            name.to_string(),
            ToolArguments::Json(Value::Object(Map::new())),
        ),
        Value::Object(_) => (name.to_string(), ToolArguments::Json(arguments.clone())),
        Value::String(s) => match lenient(s) {
            Some(v @ Value::Object(_)) => (name.to_string(), ToolArguments::Json(v)),
            _ => not_json(name, raw),
        },
        _ => not_json(name, raw),
    }
}

fn not_json(name: &str, raw: &str) -> (String, ToolArguments) {
    (name.to_string(), ToolArguments::NotJson(raw.to_string()))
}

/// The tool name in a call that is not JSON at all (`{"name": "read_email", "arguments":
/// {"id": 3` cut off), so the error observation can name the tool; empty when none reads.
fn name_as_written(raw: &str) -> String {
    for key in ["\"name\"", "'name'", "name"] {
        let Some(at) = raw.find(key) else { continue };
        let after = raw[at + key.len()..].trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let after = after.trim_start();
        let name = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => after[1..].split(quote).next().filter(|_| {
                // Only a closed string is a name.
                after[1..].contains(quote)
            }),
            // A bare word, as in `name: read_email`.
            _ => after
                .split(|c: char| !(c.is_alphanumeric() || "_-.".contains(c)))
                .next(),
        };
        if let Some(name) = name.map(str::trim) {
            if !name.is_empty() && !name.contains(char::is_whitespace) {
                return name.to_string();
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_call(id: &str, name: &str, arguments: Value) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: ToolArguments::Json(arguments),
            signature: None,
        }
    }

    fn not_json_call(id: &str, name: &str, raw: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: ToolArguments::NotJson(raw.into()),
            signature: None,
        }
    }

    #[test]
    fn no_call_keeps_the_text_exactly() {
        for reply in [
            "",
            "  I will read the email first.\n",
            "Here is JSON but no tags: {\"name\": \"send_email\", \"arguments\": {}}",
            "A stray </tool_call> closing tag.",
        ] {
            assert_eq!(read_reply(reply), (reply.to_string(), vec![]), "{reply}");
        }
    }

    #[test]
    fn a_well_formed_call_and_the_text_around_it() {
        let (text, calls) = read_reply(
            "Let me look.\n<tool_call>{\"name\": \"read_email\", \"arguments\": {\"id\": \"e2\"}}</tool_call>\nDone.",
        );
        assert_eq!(text, "Let me look.\nDone.");
        assert_eq!(
            calls,
            vec![json_call("call_1", "read_email", json!({"id": "e2"}))]
        );
    }

    #[test]
    fn glued_text_and_two_calls() {
        let (text, calls) = read_reply(
            "Sure<tool_call>{\"name\":\"list_emails\",\"arguments\":{}}</tool_call><tool_call>\n{\"name\": \"read_email\", \"arguments\": {\"id\": 1}}\n</tool_call>thanks",
        );
        assert_eq!(text, "Sure\nthanks");
        assert_eq!(
            calls,
            vec![
                json_call("call_1", "list_emails", json!({})),
                json_call("call_2", "read_email", json!({"id": 1})),
            ]
        );
    }

    #[test]
    fn trailing_commas_single_quotes_bare_keys_and_fences_are_read() {
        let (_, calls) = read_reply(
            "<tool_call>{'name': 'send_email', 'arguments': {'to': 'kyle@summitbridge.example', 'body': \"It's urgent\",},}</tool_call>\
             <tool_call>{name: 'read_email', arguments: {id: 'e3'}}</tool_call>\
             <tool_call>\n```json\n{\"name\": \"list_emails\"}\n```\n</tool_call>",
        );
        assert_eq!(
            calls,
            vec![
                json_call(
                    "call_1",
                    "send_email",
                    json!({"to": "kyle@summitbridge.example", "body": "It's urgent"})
                ),
                json_call("call_2", "read_email", json!({"id": "e3"})),
                json_call("call_3", "list_emails", json!({})),
            ]
        );
    }

    #[test]
    fn a_call_inside_prose() {
        let (text, calls) = read_reply(
            "I think the best step is <tool_call>{\"tool\": \"read_email\", \"arguments\": {\"id\": \"e1\"}}</tool_call> because Kyle wrote it.",
        );
        assert_eq!(text, "I think the best step is\nbecause Kyle wrote it.");
        assert_eq!(
            calls,
            vec![json_call("call_1", "read_email", json!({"id": "e1"}))]
        );
    }

    #[test]
    fn an_unclosed_tag_ends_at_the_next_call_or_the_reply() {
        let (text, calls) = read_reply(
            "<tool_call>{\"name\": \"list_emails\", \"arguments\": {}} and then I wait\n<tool_call>{\"name\": \"read_email\", \"arguments\": {\"id\": \"e1\"}",
        );
        assert_eq!(text, "and then I wait");
        assert_eq!(
            calls,
            vec![
                json_call("call_1", "list_emails", json!({})),
                not_json_call(
                    "call_2",
                    "read_email",
                    "{\"name\": \"read_email\", \"arguments\": {\"id\": \"e1\"}"
                ),
            ]
        );
    }

    #[test]
    fn fumbled_calls_are_calls_with_the_text_as_written() {
        let (text, calls) = read_reply(
            "<tool_call>{\"arguments\": {\"id\": \"e1\"}}</tool_call>\
             <tool_call>{\"name\": \"read_email\", \"arguments\": \"e1\"}</tool_call>\
             <tool_call>{\"name\": \"read_email\", \"arguments\": [\"e1\"]}</tool_call>\
             <tool_call>read_email(e1)</tool_call>\
             <tool_call>{name: read_email, arguments: {id: e1}}</tool_call>\
             <tool_call>\"just a string\"</tool_call>",
        );
        assert_eq!(text, "");
        assert_eq!(
            calls,
            vec![
                not_json_call("call_1", "", "{\"arguments\": {\"id\": \"e1\"}}"),
                not_json_call(
                    "call_2",
                    "read_email",
                    "{\"name\": \"read_email\", \"arguments\": \"e1\"}"
                ),
                not_json_call(
                    "call_3",
                    "read_email",
                    "{\"name\": \"read_email\", \"arguments\": [\"e1\"]}"
                ),
                not_json_call("call_4", "", "read_email(e1)"),
                not_json_call(
                    "call_5",
                    "read_email",
                    "{name: read_email, arguments: {id: e1}}"
                ),
                not_json_call("call_6", "", "\"just a string\""),
            ]
        );
    }

    #[test]
    fn other_shapes_models_write() {
        let (_, calls) = read_reply(
            "<tool_call>{\"name\": \"read_email\", \"arguments\": \"{\\\"id\\\": \\\"e4\\\"}\"}</tool_call>\
             <tool_call>{\"type\": \"function\", \"function\": {\"name\": \"list_emails\", \"parameters\": {\"folder\": \"inbox\"}}}</tool_call>\
             <tool_call>[{\"name\": \"list_emails\"}, 7]</tool_call>",
        );
        assert_eq!(
            calls,
            vec![
                json_call("call_1", "read_email", json!({"id": "e4"})),
                json_call("call_2", "list_emails", json!({"folder": "inbox"})),
                json_call("call_3", "list_emails", json!({})),
                not_json_call("call_4", "", "7"),
            ]
        );
    }

    #[test]
    fn empty_tags_and_junk_are_text() {
        let reply = "<tool_call></tool_call> nothing <tool_call>  \n";
        assert_eq!(read_reply(reply), (reply.to_string(), vec![]));
        // An empty tag beside a real call stays in the text as written.
        let (text, calls) = read_reply(
            "<tool_call> </tool_call>x<tool_call>{\"name\": \"list_emails\"}</tool_call>",
        );
        assert_eq!(text, "<tool_call> </tool_call>\nx");
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn hostile_bodies_do_not_panic() {
        let deep = format!(
            "<tool_call>{}{}</tool_call>",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let (_, calls) = read_reply(&deep);
        assert!(matches!(calls[0].arguments, ToolArguments::NotJson(_)));
        for reply in [
            "<tool_call>{\"name\": \"é\u{0}\", 'arguments': {'x': '\u{FFFD}'}}</tool_call>",
            "<tool_call>```",
            "<tool_call>```json",
            "<tool_call>{\"name\": \"",
            "<tool_call>name: '",
            "<tool_call><tool_call></tool_call></tool_call>",
        ] {
            let (_, calls) = read_reply(reply);
            assert!(calls.len() <= 2, "{reply}: {calls:?}");
        }
    }

    #[test]
    fn names_are_read_from_calls_that_are_not_json() {
        assert_eq!(
            name_as_written("{\"name\": \"read_email\", \"arguments\": {"),
            "read_email"
        );
        assert_eq!(
            name_as_written("{'name':'send_email', arguments: ("),
            "send_email"
        );
        assert_eq!(name_as_written("{name: \"x y\""), "");
        assert_eq!(name_as_written("{name: \"unclosed"), "");
        assert_eq!(
            name_as_written("{name: list_emails, arguments"),
            "list_emails"
        );
        assert_eq!(name_as_written("no name here"), "");
    }
}
