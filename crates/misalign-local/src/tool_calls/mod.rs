//! Tool calls for the embedded model, through a JSON convention of our own.
//!
//! llama.cpp's template engine as `llama-cpp-2` exposes it (`llama_chat_apply_template`)
//! knows the system, user and assistant roles only: it has no place for tool definitions,
//! tool calls or tool results, whatever the GGUF's Jinja template says (docs/local-model.md,
//! "Tool calls"). So every model gets the same convention, written as text through its chat
//! template:
//!
//! - the tools are listed in the system prompt ([`render::tools_section`]), one JSON object
//!   each (name, description, JSON Schema parameters), with the instruction to call one as
//!   `<tool_call>{"name": "...", "arguments": {...}}</tool_call>` (the tags and JSON shape
//!   of the Hermes / Qwen tool format, which some small models have seen in training);
//! - an earlier reply's calls are written back in that form in its assistant turn, and tool
//!   results come back as user-role text, one `<tool_response id="..." name="...">` block
//!   per result ([`render::text_prompt`]);
//! - the reply is read back into text and calls ([`parse::read_reply`]): a call the model
//!   fumbled is kept as a call with its text as written, never an error.

pub mod parse;
pub mod render;

pub use parse::read_reply;
pub use render::{text_prompt, TextPrompt};

/// Opens a call in a reply.
pub const CALL_OPEN: &str = "<tool_call>";
/// Closes a call.
pub const CALL_CLOSE: &str = "</tool_call>";
/// Opens a tool result in a user turn (attributes follow).
pub const RESULT_OPEN: &str = "<tool_response";
/// Closes a tool result.
pub const RESULT_CLOSE: &str = "</tool_response>";
