//! The `providers:` section: named endpoints and how to reach them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Wire protocol (or in-process runtime) of a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Anthropic,
    Openai,
    Google,
    Openrouter,
    Together,
    OpenaiCompatible,
    Local,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 7] = [
        Self::Anthropic,
        Self::Openai,
        Self::Google,
        Self::Openrouter,
        Self::Together,
        Self::OpenaiCompatible,
        Self::Local,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::Openai => "openai",
            Self::Google => "google",
            Self::Openrouter => "openrouter",
            Self::Together => "together",
            Self::OpenaiCompatible => "openai-compatible",
            Self::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One `providers.<name>` entry. HTTP kinds use `base_urls`/`api_key_env`/`headers`;
/// `local` uses `model_path` and the llama.cpp knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// One or more endpoints; several are load-balanced. Empty means the kind's default.
    pub base_urls: Vec<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Gemini `safetySettings` as given (category -> threshold).
    pub safety_settings: BTreeMap<String, String>,
    /// `local`: path to a GGUF file (else the model cache is searched by name).
    pub model_path: Option<String>,
    pub context_length: Option<u32>,
    pub threads: Option<u32>,
    pub batch_size: Option<u32>,
    pub gpu_layers: Option<u32>,
}

impl ProviderConfig {
    /// A provider of `kind` with every option at its default.
    pub fn of_kind(kind: ProviderKind) -> Self {
        ProviderConfig {
            kind,
            base_urls: Vec::new(),
            api_key_env: None,
            headers: BTreeMap::new(),
            safety_settings: BTreeMap::new(),
            model_path: None,
            context_length: None,
            threads: None,
            batch_size: None,
            gpu_layers: None,
        }
    }
}

/// A model name resolved to the provider that serves it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResolvedModel {
    /// The canonical `provider/model` name used in the store, reports and folder names.
    pub name: String,
    /// The provider's name: a key of `providers:` or a built-in provider name.
    pub provider: String,
    pub kind: ProviderKind,
    /// The model id within the provider (`claude-opus-4-1`, `x-ai/grok-4`).
    pub model_id: String,
}

/// Resolves `provider/model` (provider = a `providers:` key or a built-in kind name) or a
/// bare reference-framework id by prefix (`claude-` -> anthropic, `gpt-`/`o1`/`o3`/`o4` ->
/// openai, `gemini-` -> google, `deepseek-ai/...` -> together, other ids with a slash ->
/// openrouter). Errors say which names are accepted.
pub fn resolve_model(
    name: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<ResolvedModel, String> {
    let _ = (name, providers);
    unimplemented!("issue 2/3: model name resolution")
}
