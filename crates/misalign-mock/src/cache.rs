//! The prompt cache: which prefixes of a request earlier requests left in the cache, and how
//! many of its input tokens that makes read from the cache or written to it.
//!
//! Prefixes break at segments (messages; Anthropic: content blocks). Anthropic writes the
//! prefix up to a request's last `cache_control` breakpoint (and each earlier breakpoint);
//! a request reads the longest cached prefix at any block boundary before its last
//! breakpoint, and writes the rest up to it, so a growing conversation that moves its
//! breakpoint to the newest block reads what the step before wrote. OpenAI and Gemini cache
//! automatically: every prefix from the first prompt on (system through the first user
//! message) is written, and a later request reads the longest one it starts with (OpenAI in
//! 128-token blocks). Prefixes under `min_cacheable_tokens` are never cached, as with the
//! providers. An entry becomes readable once its writer's reply is sent.

use crate::protocol::{tokens, CacheUse, PromptInfo, Protocol};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// One prefix of a request: its cache key and size in tokens.
#[derive(Clone, Debug)]
struct Prefix {
    key: String,
    tokens: u64,
    /// Written to the cache once the reply is out.
    written: bool,
}

/// A request's prefixes, shortest first, as the cache sees them.
#[derive(Clone, Debug)]
pub(crate) struct CachePlan {
    protocol: Protocol,
    /// The prefixes a hit may be found at.
    prefixes: Vec<Prefix>,
    /// Anthropic: the prefix up to the last breakpoint (the one written and read up to).
    breakpoint: Option<usize>,
}

impl CachePlan {
    /// None when nothing of this request can be cached (no breakpoint for Anthropic, or too
    /// short).
    pub fn new(protocol: Protocol, info: &PromptInfo, min_tokens: u64) -> Option<CachePlan> {
        let mut hasher = Sha256::new();
        hasher.update(info.model.as_bytes());
        let (mut system_len, mut user_len) = (0usize, 0usize);
        let mut prefixes = Vec::with_capacity(info.segments.len());
        let mut marks = Vec::new();
        for (i, s) in info.segments.iter().enumerate() {
            hasher.update((s.text.len() as u64).to_le_bytes());
            hasher.update(u8::from(s.system).to_le_bytes());
            hasher.update(s.text.as_bytes());
            if s.system {
                system_len += s.text.len();
            } else {
                user_len += s.text.len();
            }
            // Counted as the reply's input is (system and conversation apart), so the
            // whole prompt's prefix is exactly its input tokens.
            let n = (system_len as u64).div_ceil(4) + (user_len as u64).div_ceil(4);
            if s.marked {
                marks.push(i);
            }
            let written = match protocol {
                Protocol::Anthropic => s.marked,
                Protocol::OpenAi | Protocol::Google => i + 1 >= info.head,
            };
            prefixes.push(Prefix {
                key: hex::encode(&hasher.clone().finalize()[..8]),
                tokens: n,
                written: written && n >= min_tokens,
            });
        }
        debug_assert_eq!(
            prefixes.last().map_or(0, |p| p.tokens),
            tokens(&info.system) + tokens(&info.user)
        );
        let breakpoint = match protocol {
            Protocol::Anthropic => {
                let last = *marks.last()?;
                if prefixes[last].tokens < min_tokens {
                    return None;
                }
                Some(last)
            }
            Protocol::OpenAi | Protocol::Google => None,
        };
        Some(CachePlan {
            protocol,
            prefixes,
            breakpoint,
        })
    }

    /// What the cache serves this request, given the entries already readable.
    pub fn lookup(&self, cached: &HashSet<String>) -> CacheUse {
        let searched = match self.breakpoint {
            Some(last) => &self.prefixes[..=last],
            None => &self.prefixes[..],
        };
        let hit = searched
            .iter()
            .filter(|p| cached.contains(&p.key))
            .map(|p| p.tokens)
            .max()
            .unwrap_or(0);
        match (self.protocol, self.breakpoint) {
            (Protocol::Anthropic, Some(last)) => CacheUse {
                read: hit,
                write: self.prefixes[last].tokens.saturating_sub(hit),
            },
            (Protocol::Anthropic, None) => CacheUse::default(),
            (Protocol::OpenAi, _) => CacheUse {
                read: hit / 128 * 128,
                write: 0,
            },
            (Protocol::Google, _) => CacheUse {
                read: hit,
                write: 0,
            },
        }
    }

    /// The entries this request leaves in the cache.
    pub fn written(&self) -> impl Iterator<Item = &String> {
        self.prefixes.iter().filter(|p| p.written).map(|p| &p.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_request;
    use serde_json::json;

    fn long(word: &str) -> String {
        format!("{word} ").repeat(400)
    }

    fn plan(protocol: Protocol, body: serde_json::Value) -> CachePlan {
        let info = parse_request(protocol, Some("g"), &body).unwrap();
        CachePlan::new(protocol, &info, 1024).unwrap()
    }

    fn remember(cached: &mut HashSet<String>, plan: &CachePlan) {
        cached.extend(plan.written().cloned());
    }

    #[test]
    fn openai_reads_the_longest_prefix_seen_before() {
        let first = json!({"model": "m", "messages": [
            {"role": "system", "content": long("system")},
            {"role": "user", "content": long("inbox")}]});
        let mut second = first.clone();
        second["messages"].as_array_mut().unwrap().extend([
            json!({"role": "assistant", "content": long("reply")}),
            json!({"role": "user", "content": "go on"}),
        ]);
        let mut cached = HashSet::new();
        let p1 = plan(Protocol::OpenAi, first);
        assert_eq!(p1.lookup(&cached), CacheUse::default());
        remember(&mut cached, &p1);
        let p2 = plan(Protocol::OpenAi, second);
        let use2 = p2.lookup(&cached);
        // The first prompt (system 700 + inbox 600 tokens) in 128-token blocks.
        assert_eq!(use2.read, 1280);
        assert_eq!(use2.write, 0);
        // A different first prompt shares no entry, even with the same system prompt.
        let other = json!({"model": "m", "messages": [
            {"role": "system", "content": long("system")},
            {"role": "user", "content": long("other")}]});
        assert_eq!(plan(Protocol::OpenAi, other).lookup(&cached).read, 0);
    }

    #[test]
    fn anthropic_reads_the_earlier_breakpoint_and_writes_the_rest() {
        let marked = |text: String| json!([{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]);
        let first = json!({"model": "c", "max_tokens": 9, "system": long("system"),
            "messages": [{"role": "user", "content": marked(long("inbox"))}]});
        let second = json!({"model": "c", "max_tokens": 9, "system": long("system"),
            "messages": [{"role": "user", "content": [{"type": "text", "text": long("inbox")}]},
                         {"role": "assistant", "content": [{"type": "text", "text": long("reply")}]},
                         {"role": "user", "content": marked("go on".into())}]});
        let mut cached = HashSet::new();
        let p1 = plan(Protocol::Anthropic, first);
        let use1 = p1.lookup(&cached);
        assert_eq!((use1.read, use1.write), (0, 1300));
        remember(&mut cached, &p1);
        let p2 = plan(Protocol::Anthropic, second);
        let use2 = p2.lookup(&cached);
        // The first step's prefix is read; the reply and the new message are written.
        assert_eq!(use2.read, 1300);
        assert_eq!(use2.write, 602);
        // Without a breakpoint nothing is cached.
        let unmarked = json!({"model": "c", "max_tokens": 9, "system": long("system"),
            "messages": [{"role": "user", "content": long("inbox")}]});
        let info = parse_request(Protocol::Anthropic, None, &unmarked).unwrap();
        assert!(CachePlan::new(Protocol::Anthropic, &info, 1024).is_none());
    }
}
