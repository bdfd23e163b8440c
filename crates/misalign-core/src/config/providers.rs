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
    /// An environment variable that, when set, replaces `base_urls` (Inspect's
    /// `OPENAI_BASE_URL`, `VLLM_BASE_URL`, `<SERVICE>_BASE_URL`). Only built-in providers set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url_env: Option<String>,
    /// A missing key is no error (local servers such as vLLM and Ollama need none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub api_key_optional: bool,
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
            base_url_env: None,
            api_key_optional: false,
        }
    }
}

/// Where a resolved model is served: its `providers:` entry, else the built-in provider of
/// its name (`openai` honours `OPENAI_BASE_URL`; `vllm/`, `ollama/` and
/// `openai-api/<service>/` follow Inspect's variables), else its kind's defaults.
pub fn provider_config(
    model: &ResolvedModel,
    providers: &BTreeMap<String, ProviderConfig>,
) -> ProviderConfig {
    if let Some(cfg) = providers.get(&model.provider) {
        return cfg.clone();
    }
    let mut cfg = ProviderConfig::of_kind(model.kind);
    let local_server = |cfg: &mut ProviderConfig, url: &str, var: &str| {
        cfg.base_urls = vec![url.to_string()];
        cfg.base_url_env = Some(format!("{var}_BASE_URL"));
        cfg.api_key_env = Some(format!("{var}_API_KEY"));
        cfg.api_key_optional = true;
    };
    match model.provider.as_str() {
        "openai" => cfg.base_url_env = Some("OPENAI_BASE_URL".into()),
        "vllm" => local_server(&mut cfg, "http://localhost:8000/v1", "VLLM"),
        "ollama" => local_server(&mut cfg, "http://localhost:11434/v1", "OLLAMA"),
        p => {
            if let Some(service) = p.strip_prefix("openai-api/") {
                let var = service.to_ascii_uppercase().replace('-', "_");
                cfg.base_url_env = Some(format!("{var}_BASE_URL"));
                cfg.api_key_env = Some(format!("{var}_API_KEY"));
            }
        }
    }
    cfg
}

/// How far a bare or vendor-prefixed id may be routed by guessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdRouting {
    /// Experiment files: the reference framework's routing, including its vendor prefixes
    /// (`Qwen/...` with capitals to Together, lower case to OpenRouter), so its files run
    /// unchanged.
    Reference,
    /// The command line: an id whose provider the id itself does not say is an error
    /// listing the choices, never a guess by letter case.
    Strict,
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

/// A model id or provider address that cannot be used; the message says what to write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderSettingError(pub String);

/// The message, for callers that add it to their own (a config error's file and field).
impl std::ops::Deref for ProviderSettingError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<ProviderSettingError> for String {
    fn from(e: ProviderSettingError) -> String {
        e.0
    }
}

/// Resolves `provider/model` (provider = a `providers:` key or a built-in kind name) or a
/// bare reference-framework id by prefix (`claude-` -> anthropic, `gpt-`/`o1`/`o3`/`o4` ->
/// openai, `gemini-` -> google, `deepseek-ai/...` -> together, other ids with a slash ->
/// openrouter). Errors say which names are accepted.
///
/// Details:
/// - `name/model` where `name` is a `providers:` key wins over everything else; then a
///   built-in provider name (every kind but `openai-compatible`, which needs a URL).
/// - A bare id maps to a kind by its prefix. If the `providers:` section defines exactly
///   one provider of that kind, the id goes there (e.g. an Anthropic proxy); if it defines
///   several, the id is ambiguous and must be written `provider/id`.
/// - Slash ids of the reference framework's open-weight models: Together's spellings
///   (`deepseek-ai/`, `Qwen/`, `meta-llama/` with capitals, `mistralai/`... with capitals)
///   go to together; lower-case vendor ids (`x-ai/grok-4`, `meta-llama/llama-4-maverick`,
///   `deepseek/deepseek-r1`, `qwen/...`) go to openrouter. Any other prefix is an error
///   naming the known providers, because a typo in a provider name must not silently send
///   prompts to a third party.
pub fn resolve_model(
    name: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<ResolvedModel, ProviderSettingError> {
    resolve_model_with(name, providers, IdRouting::Reference)
}

/// [`resolve_model`] with a choice of [`IdRouting`]; also reads Inspect's ids
/// `vllm/<model>`, `ollama/<model>` and `openai-api/<service>/<model>`.
pub fn resolve_model_with(
    name: &str,
    providers: &BTreeMap<String, ProviderConfig>,
    routing: IdRouting,
) -> Result<ResolvedModel, ProviderSettingError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProviderSettingError(format!(
            "model name `{}` must be non-empty and contain no spaces",
            name.escape_debug()
        )));
    }
    if let Some((prefix, rest)) = name.split_once('/') {
        if let Some(cfg) = providers.get(prefix) {
            return resolved(prefix, cfg.kind, rest, name);
        }
        if let Some(kind) =
            ProviderKind::parse(prefix).filter(|k| *k != ProviderKind::OpenaiCompatible)
        {
            return resolved(prefix, kind, rest, name);
        }
        if let Some(r) = inspect_id(prefix, rest, name)? {
            return Ok(r);
        }
        if let Some(kind) = vendor_kind(prefix, rest) {
            if routing == IdRouting::Strict {
                return Err(ProviderSettingError(format!(
                    "cannot tell which provider serves `{name}`: write it with the provider in                      front, e.g. `together/{name}`, `openrouter/{name}`, `vllm/{name}` or                      `ollama/{name}`; the providers are {}",
                    known_providers(providers)
                )));
            }
            return via_kind(kind, name, providers);
        }
        return Err(ProviderSettingError(format!(
            "unknown provider `{prefix}` in model `{name}`{}: write `provider/model` with a \
             provider from {}, or add `{prefix}:` (with its `kind` and `base_url`) to the \
             `providers:` section",
            provider_suggestion(prefix, rest, providers),
            known_providers(providers)
        )));
    }
    let lower = name.to_ascii_lowercase();
    let kind = if lower.starts_with("claude-") {
        ProviderKind::Anthropic
    } else if lower.starts_with("gpt-")
        || lower.starts_with("chatgpt-")
        || ["o1", "o3", "o4"]
            .iter()
            .any(|p| lower == *p || lower.starts_with(&format!("{p}-")))
    {
        ProviderKind::Openai
    } else if lower.starts_with("gemini-") {
        ProviderKind::Google
    } else {
        return Err(ProviderSettingError(format!(
            "cannot tell which provider serves `{name}`: write it as `provider/{name}` with a \
             provider from {}",
            known_providers(providers)
        )));
    };
    via_kind(kind, name, providers)
}

/// Inspect's ids for OpenAI-compatible servers: `vllm/<model>`, `ollama/<model>`,
/// `openai-api/<service>/<model>` (`None` for any other prefix).
fn inspect_id(
    prefix: &str,
    rest: &str,
    name: &str,
) -> Result<Option<ResolvedModel>, ProviderSettingError> {
    match prefix {
        "vllm" | "ollama" => resolved(prefix, ProviderKind::OpenaiCompatible, rest, name).map(Some),
        OPENAI_API => {
            let (service, model) = rest.split_once('/').unwrap_or((rest, ""));
            let service_ok = !service.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !service_ok || model.is_empty() {
                return Err(ProviderSettingError(format!(
                    "model `{name}`: write `openai-api/<service>/<model>`, where <service>                      (letters, digits, `-`, `_`) names the variables <SERVICE>_BASE_URL and                      <SERVICE>_API_KEY"
                )));
            }
            let provider = format!("{OPENAI_API}/{service}");
            let mut r = resolved(&provider, ProviderKind::OpenaiCompatible, model, name)?;
            r.name = name.to_string();
            Ok(Some(r))
        }
        _ => Ok(None),
    }
}

/// Reference-framework vendor prefixes of open-weight models.
fn vendor_kind(prefix: &str, rest: &str) -> Option<ProviderKind> {
    const TOGETHER: [&str; 1] = ["deepseek-ai"];
    const OPENROUTER: [&str; 12] = [
        "x-ai",
        "meta-llama",
        "deepseek",
        "qwen",
        "mistralai",
        "moonshotai",
        "nousresearch",
        "cohere",
        "amazon",
        "microsoft",
        "nvidia",
        "z-ai",
    ];
    if rest.is_empty() {
        return None;
    }
    let lower = prefix.to_ascii_lowercase();
    if TOGETHER.contains(&prefix) {
        return Some(ProviderKind::Together);
    }
    if OPENROUTER.contains(&lower.as_str()) {
        // Together spells ids with capitals (`Qwen/Qwen3-235B`, `meta-llama/Llama-3.3-70B`);
        // OpenRouter's are lower case.
        let capitals = prefix.chars().any(|c| c.is_ascii_uppercase())
            || rest.chars().any(|c| c.is_ascii_uppercase());
        return Some(if capitals {
            ProviderKind::Together
        } else {
            ProviderKind::Openrouter
        });
    }
    None
}

/// A bare id served by `kind`: the one configured provider of that kind, else the built-in.
fn via_kind(
    kind: ProviderKind,
    model_id: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> Result<ResolvedModel, ProviderSettingError> {
    let matching: Vec<&String> = providers
        .iter()
        .filter(|(_, cfg)| cfg.kind == kind)
        .map(|(n, _)| n)
        .collect();
    match matching.as_slice() {
        [] => resolved(kind.as_str(), kind, model_id, model_id),
        [one] => resolved(one, kind, model_id, model_id),
        several => Err(ProviderSettingError(format!(
            "model `{model_id}` is ambiguous: the `providers:` section has several providers of \
             kind {} ({}); write `provider/{model_id}` with one of them",
            kind.as_str(),
            several
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The model id within its provider of a canonical `provider/model` name (as
/// [`resolve_model`] builds it and the store records it): what a price is looked up by
/// besides the name. Inspect's `openai-api/<service>/<model>` names the model after the
/// service; every other name after its first `/`.
pub fn model_id_of(name: &str) -> &str {
    match name.split_once('/') {
        Some((OPENAI_API, rest)) => rest.split_once('/').map_or(rest, |(_, model)| model),
        Some((_, id)) => id,
        None => name,
    }
}

/// The prefix of Inspect's ids for a named OpenAI-compatible service.
const OPENAI_API: &str = "openai-api";

fn resolved(
    provider: &str,
    kind: ProviderKind,
    model_id: &str,
    written: &str,
) -> Result<ResolvedModel, ProviderSettingError> {
    if model_id.is_empty() || model_id.starts_with('/') || model_id.ends_with('/') {
        return Err(ProviderSettingError(format!(
            "model `{written}` names no model after `{provider}/`; write e.g. `{provider}/<model id>`"
        )));
    }
    Ok(ResolvedModel {
        name: format!("{provider}/{model_id}"),
        provider: provider.to_string(),
        kind,
        model_id: model_id.to_string(),
    })
}

/// "; did you mean `anthropic/claude-x`?" when `prefix` is close to a provider's name (a
/// configured one or a built-in one), as unknown keys, scenarios and kinds get.
fn provider_suggestion(
    prefix: &str,
    rest: &str,
    providers: &BTreeMap<String, ProviderConfig>,
) -> String {
    let mut names: Vec<&str> = providers.keys().map(String::as_str).collect();
    names.extend(
        ProviderKind::ALL
            .iter()
            .filter(|k| **k != ProviderKind::OpenaiCompatible)
            .map(|k| k.as_str()),
    );
    names.extend(["vllm", "ollama", "openai-api"]);
    // Configured names keep their case (a `providers:` key may have capitals).
    let score =
        |n: &str| strsim::jaro_winkler(&prefix.to_ascii_lowercase(), &n.to_ascii_lowercase());
    let close = names
        .iter()
        .copied()
        .filter(|n| score(n) >= 0.8)
        .max_by(|a, b| score(a).total_cmp(&score(b)));
    match close {
        Some(n) => format!("; did you mean `{n}/{rest}`?"),
        None => String::new(),
    }
}

fn known_providers(providers: &BTreeMap<String, ProviderConfig>) -> String {
    let mut names: Vec<String> = providers.keys().map(|k| format!("`{k}`")).collect();
    for kind in ProviderKind::ALL {
        if kind != ProviderKind::OpenaiCompatible && !providers.contains_key(kind.as_str()) {
            names.push(format!("`{}`", kind.as_str()));
        }
    }
    for inspect in ["vllm", "ollama", "openai-api/<service>"] {
        if !providers.contains_key(inspect) {
            names.push(format!("`{inspect}`"));
        }
    }
    let configured = if providers.is_empty() {
        " (the file has no `providers:` section)".to_string()
    } else {
        String::new()
    };
    format!("{}{configured}", names.join(", "))
}

/// Checks an `http(s)://host[:port][/path]` address. Messages never quote the URL when it
/// carries credentials.
pub fn check_base_url(url: &str) -> Result<(), ProviderSettingError> {
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        return Err(ProviderSettingError(format!(
            "`{}` is not an http:// or https:// address",
            url.escape_debug()
        )));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(ProviderSettingError(
            "the URL contains credentials (`user@`); remove them and put the key in the \
             environment variable named by `api_key_env`"
                .to_string(),
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProviderSettingError(
            "the URL contains spaces or control characters".to_string(),
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => {
                return Err(ProviderSettingError(format!(
                    "`{url}` has an unclosed `[` in its host"
                )))
            }
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !host_ok {
        return Err(ProviderSettingError(format!(
            "`{url}` has no valid host name"
        )));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |n| n == 0) {
            return Err(ProviderSettingError(format!(
                "`{url}` has an invalid port `{p}` (use 1-65535)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_model_id_of_a_resolved_name_is_the_resolved_model_id() {
        let mut providers = BTreeMap::new();
        providers.insert(
            "lab".to_string(),
            ProviderConfig::of_kind(ProviderKind::OpenaiCompatible),
        );
        for written in [
            "claude-sonnet-4-5",
            "gpt-4.1",
            "openai/gpt-4.1",
            "anthropic/claude-opus-4-1",
            "x-ai/grok-4",
            "openrouter/x-ai/grok-4",
            "deepseek-ai/DeepSeek-R1",
            "vllm/Qwen/Qwen3-8B",
            "ollama/llama3",
            "openai-api/house/gpt-4.1",
            "lab/qwen",
            "local/tiny",
        ] {
            let r = resolve_model(written, &providers).unwrap();
            assert_eq!(model_id_of(&r.name), r.model_id, "{written} -> {}", r.name);
        }
        assert_eq!(model_id_of("no-slash"), "no-slash");
    }

    use super::*;

    fn none() -> BTreeMap<String, ProviderConfig> {
        BTreeMap::new()
    }

    #[test]
    fn bare_reference_ids() {
        let r = resolve_model("claude-3-5-sonnet-latest", &none()).unwrap();
        assert_eq!(r.name, "anthropic/claude-3-5-sonnet-latest");
        assert_eq!(r.kind, ProviderKind::Anthropic);
        assert_eq!(r.model_id, "claude-3-5-sonnet-latest");
        assert_eq!(
            resolve_model("gpt-4.1", &none()).unwrap().provider,
            "openai"
        );
        assert_eq!(resolve_model("o3", &none()).unwrap().provider, "openai");
        assert_eq!(
            resolve_model("o4-mini", &none()).unwrap().provider,
            "openai"
        );
        assert_eq!(
            resolve_model("gemini-2.5-pro", &none()).unwrap().provider,
            "google"
        );
        let r = resolve_model("deepseek-ai/DeepSeek-R1", &none()).unwrap();
        assert_eq!(
            (r.provider.as_str(), r.model_id.as_str()),
            ("together", "deepseek-ai/DeepSeek-R1")
        );
        assert_eq!(r.name, "together/deepseek-ai/DeepSeek-R1");
        assert_eq!(
            resolve_model("x-ai/grok-4", &none()).unwrap().provider,
            "openrouter"
        );
        assert_eq!(
            resolve_model("meta-llama/llama-4-maverick", &none())
                .unwrap()
                .provider,
            "openrouter"
        );
        assert_eq!(
            resolve_model("Qwen/Qwen3-235B-A22B", &none())
                .unwrap()
                .provider,
            "together"
        );
    }

    #[test]
    fn explicit_provider_prefix() {
        let r = resolve_model("openrouter/x-ai/grok-4", &none()).unwrap();
        assert_eq!(
            (r.provider.as_str(), r.model_id.as_str()),
            ("openrouter", "x-ai/grok-4")
        );
        let mut p = none();
        p.insert(
            "mock".into(),
            ProviderConfig::of_kind(ProviderKind::OpenaiCompatible),
        );
        let r = resolve_model("mock/tiny", &p).unwrap();
        assert_eq!(
            (r.name.as_str(), r.kind),
            ("mock/tiny", ProviderKind::OpenaiCompatible)
        );
        // openai-compatible is not a built-in provider: it needs a URL.
        assert!(resolve_model("openai-compatible/x", &none()).is_err());
    }

    #[test]
    fn unknown_prefix_lists_providers() {
        let err = resolve_model("antropic/claude-x", &none()).unwrap_err();
        assert!(err.contains("unknown provider `antropic`"), "{err}");
        assert!(err.contains("did you mean `anthropic/claude-x`?"), "{err}");
        // Configured providers are candidates too; a name far from all of them gets none.
        let mut fleet = none();
        fleet.insert(
            "myfleet".to_string(),
            ProviderConfig::of_kind(ProviderKind::OpenaiCompatible),
        );
        let err = resolve_model("myflet/qwen3", &fleet).unwrap_err();
        assert!(err.contains("did you mean `myfleet/qwen3`?"), "{err}");
        let err = resolve_model("zzzqqq/m", &fleet).unwrap_err();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(
            err.contains("`anthropic`") && err.contains("providers:"),
            "{err}"
        );
        let err = resolve_model("llama3", &none()).unwrap_err();
        assert!(err.contains("provider/llama3"), "{err}");
        assert!(resolve_model("anthropic/", &none()).is_err());
        assert!(resolve_model("", &none()).is_err());
        assert!(resolve_model("gpt 4", &none()).is_err());
    }

    #[test]
    fn bare_ids_follow_one_configured_provider_and_refuse_ambiguity() {
        let mut p = none();
        p.insert(
            "proxy".into(),
            ProviderConfig::of_kind(ProviderKind::Anthropic),
        );
        assert_eq!(
            resolve_model("claude-opus-4-1", &p).unwrap().name,
            "proxy/claude-opus-4-1"
        );
        p.insert(
            "anthropic".into(),
            ProviderConfig::of_kind(ProviderKind::Anthropic),
        );
        let err = resolve_model("claude-opus-4-1", &p).unwrap_err();
        assert!(
            err.contains("ambiguous") && err.contains("`proxy`"),
            "{err}"
        );
        assert_eq!(
            resolve_model("proxy/claude-opus-4-1", &p).unwrap().provider,
            "proxy"
        );
    }

    #[test]
    fn base_urls() {
        assert!(check_base_url("http://127.0.0.1:8089/v1").is_ok());
        assert!(check_base_url("https://api.example.invalid").is_ok());
        assert!(check_base_url("http://[::1]:8080/v1").is_ok());
        assert!(check_base_url("ftp://x").is_err());
        assert!(check_base_url("http://").is_err());
        assert!(check_base_url("http://host:99999").is_err());
        assert!(check_base_url("http://host:0").is_err());
        let err = check_base_url("https://user:s3cret@host/v1").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
