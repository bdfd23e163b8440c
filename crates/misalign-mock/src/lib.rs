//! A loopback mock model server for tests and benchmarks.
//!
//! It speaks the wire formats of every provider `misalign` supports (Anthropic Messages,
//! OpenAI Chat Completions, Gemini `generateContent`) with configurable latency and injected
//! faults (429 with Retry-After, 500, 529, dropped connections, truncated JSON, slow replies,
//! 401), and counts the requests it saw so tests can assert on retries and resumes.
//! It binds to 127.0.0.1 only.
