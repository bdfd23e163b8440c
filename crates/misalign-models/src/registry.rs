//! From a resolved model and its provider configuration to a ready [`ModelClient`]: default
//! base URLs and key variables per provider kind, API-key lookup, and the check that reports
//! every missing key before any call is made.

use crate::anthropic::AnthropicClient;
use crate::google::GoogleClient;
use crate::http::{ApiKey, AuthStyle, ClientOptions, Transport};
use crate::openai::{Flavor, OpenAiClient};
use crate::{LocalBackend, ModelClient, ProviderError};
use misalign_core::config::{ProviderConfig, ProviderKind, ResolvedModel};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The endpoint used when `base_urls` is empty. OpenAI-shaped URLs end in `/v1`.
pub fn default_base_url(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Openai => Some("https://api.openai.com/v1"),
        ProviderKind::Google => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::Openrouter => Some("https://openrouter.ai/api/v1"),
        ProviderKind::Together => Some("https://api.together.xyz/v1"),
        ProviderKind::OpenaiCompatible | ProviderKind::Local => None,
    }
}

/// Environment variables searched for the key when `api_key_env` is not set, in order.
pub fn default_key_envs(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Anthropic => &["ANTHROPIC_API_KEY"],
        ProviderKind::Openai => &["OPENAI_API_KEY"],
        ProviderKind::Google => &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
        ProviderKind::Openrouter => &["OPENROUTER_API_KEY"],
        ProviderKind::Together => &["TOGETHER_API_KEY"],
        ProviderKind::OpenaiCompatible | ProviderKind::Local => &[],
    }
}

/// The variables that may hold this provider's key, and whether one is required.
fn key_envs(cfg: &ProviderConfig) -> (Vec<String>, bool) {
    match cfg.kind {
        ProviderKind::Local => (Vec::new(), false),
        // A named variable for a self-hosted server means the user wants it sent.
        ProviderKind::OpenaiCompatible => (cfg.api_key_env.iter().cloned().collect(), true),
        kind => match &cfg.api_key_env {
            Some(var) => (vec![var.clone()], true),
            None => (
                default_key_envs(kind)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                true,
            ),
        },
    }
}

/// Looks the key up; an empty value counts as unset.
fn find_key(
    cfg: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ApiKey>, Vec<String>> {
    let (vars, required) = key_envs(cfg);
    for var in &vars {
        if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
            return Ok(Some(ApiKey::new(v.trim())));
        }
    }
    if required && !cfg.api_key_optional && !vars.is_empty() {
        Err(vars)
    } else {
        Ok(None)
    }
}

/// Everything secret about a provider as configured: its API key and every `headers:` value
/// (a gateway token travels there), so the caller can scrub them from whatever it stores or
/// prints, whatever a server echoes back.
pub fn secret_values(cfg: &ProviderConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    let key = key_envs(cfg)
        .0
        .iter()
        .find_map(|var| env(var).filter(|v| !v.trim().is_empty()));
    for v in key.iter().chain(cfg.headers.values()) {
        if crate::http::is_scrubbed(v) {
            out.push(v.trim().to_string());
        }
    }
    out
}

/// A provider's base URL taken from an environment variable (`OPENAI_BASE_URL`,
/// `VLLM_BASE_URL`, `<SERVICE>_BASE_URL`) that differs from its configured or default one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvBaseUrl {
    pub provider: String,
    pub variable: String,
    pub url: String,
    /// The address(es) it replaces, when there is one.
    pub instead_of: Option<String>,
}

type EnvBaseUrlHook = Box<dyn Fn(&EnvBaseUrl) + Send + Sync>;

static ENV_BASE_URL_HOOK: std::sync::OnceLock<EnvBaseUrlHook> = std::sync::OnceLock::new();

/// Installs what is told of every [`EnvBaseUrl`] when a client is built (before its first
/// call): the binary prints it with where the variable came from (a `.env` file or the
/// process environment), since such a variable sends the key to another address. The first
/// installation stays; without one nothing is told.
pub fn on_env_base_url(hook: impl Fn(&EnvBaseUrl) + Send + Sync + 'static) {
    let _ = ENV_BASE_URL_HOOK.set(Box::new(hook));
}

fn announce(u: &EnvBaseUrl) {
    if let Some(hook) = ENV_BASE_URL_HOOK.get() {
        hook(u);
    }
}

/// `base_urls`, or the kind's default. An OpenAI-compatible URL given as a bare host
/// (`http://localhost:11434`) gets `/v1` appended, as every such server serves there.
fn base_urls(
    model: &ResolvedModel,
    cfg: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ProviderError> {
    // Inspect's variables (`OPENAI_BASE_URL`, `VLLM_BASE_URL`, `<SERVICE>_BASE_URL`).
    let from_env = cfg
        .base_url_env
        .as_deref()
        .and_then(|var| env(var).map(|v| (var, v.trim().to_string())))
        .filter(|(_, v)| !v.is_empty());
    if let Some((var, url)) = from_env {
        misalign_core::config::check_base_url(&url).map_err(|e| {
            ProviderError::Config(format!("{var} (the base URL of `{}`): {e}", model.provider))
        })?;
        let url = url.trim_end_matches('/').to_string();
        let configured: Vec<String> = if cfg.base_urls.is_empty() {
            default_base_url(cfg.kind)
                .map(str::to_string)
                .into_iter()
                .collect()
        } else {
            cfg.base_urls
                .iter()
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .collect()
        };
        if !configured.contains(&url) {
            announce(&EnvBaseUrl {
                provider: model.provider.clone(),
                variable: var.to_string(),
                url: url.clone(),
                instead_of: (!configured.is_empty()).then(|| configured.join(", ")),
            });
        }
        return Ok(vec![url]);
    }
    if cfg.base_urls.is_empty() {
        if let (Some(var), None) = (&cfg.base_url_env, default_base_url(cfg.kind)) {
            return Err(ProviderError::Config(format!(
                "model `{}` needs its server's address: set {var} (e.g. \
                 `{var}=http://localhost:8000/v1`) in the environment or a .env file",
                model.name
            )));
        }
        return match default_base_url(cfg.kind) {
            Some(u) => Ok(vec![u.to_string()]),
            None => Err(ProviderError::Config(format!(
                "provider `{}` (kind {}) has no base_urls; add e.g. `base_urls: [\"http://localhost:8000/v1\"]` \
                 to providers.{} in the experiment file",
                model.provider,
                cfg.kind.as_str(),
                model.provider
            ))),
        };
    }
    Ok(cfg
        .base_urls
        .iter()
        .map(|u| {
            let u = u.trim().trim_end_matches('/');
            let bare_host = u
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.contains('/'));
            if cfg.kind == ProviderKind::OpenaiCompatible && bare_host {
                format!("{u}/v1")
            } else {
                u.to_string()
            }
        })
        .collect())
}

/// Builds the client for `model` with default [`ClientOptions`] (300 s per call).
pub fn build_client(
    model: &ResolvedModel,
    cfg: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
    local: Option<&dyn LocalBackend>,
) -> Result<Arc<dyn ModelClient>, ProviderError> {
    build_client_with(model, cfg, env, local, &ClientOptions::default())
}

/// Builds the client for `model`, reading its key through `env` (the process environment,
/// with a `.env` file already loaded by the binary).
pub fn build_client_with(
    model: &ResolvedModel,
    cfg: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
    local: Option<&dyn LocalBackend>,
    options: &ClientOptions,
) -> Result<Arc<dyn ModelClient>, ProviderError> {
    if cfg.kind == ProviderKind::Local {
        return match local {
            Some(backend) => backend.client(model, cfg),
            None => Err(ProviderError::Config(format!(
                "model `{}` needs a local model, but this build of misalign has no local model \
                 support; rebuild with --features local",
                model.name
            ))),
        };
    }
    let (key, urls) = key_and_urls(model, cfg, env)?;
    let headers: Vec<(String, String)> = cfg.headers.clone().into_iter().collect();
    let transport = |auth| Transport::new(&urls, key.clone(), auth, &headers, options);
    let client: Arc<dyn ModelClient> = match cfg.kind {
        ProviderKind::Anthropic => Arc::new(AnthropicClient::new(transport(AuthStyle::Header(
            "x-api-key",
        ))?)),
        ProviderKind::Google => Arc::new(GoogleClient::new(
            transport(AuthStyle::Header("x-goog-api-key"))?,
            cfg.safety_settings.clone(),
        )),
        ProviderKind::Openai => Arc::new(OpenAiClient::new(
            transport(AuthStyle::Bearer)?,
            Flavor::OpenAi,
        )),
        ProviderKind::Openrouter => Arc::new(OpenAiClient::new(
            transport(AuthStyle::Bearer)?,
            Flavor::OpenRouter,
        )),
        ProviderKind::Together => Arc::new(OpenAiClient::new(
            transport(AuthStyle::Bearer)?,
            Flavor::Together,
        )),
        ProviderKind::OpenaiCompatible => Arc::new(OpenAiClient::new(
            transport(AuthStyle::Bearer)?,
            Flavor::Compatible,
        )),
        ProviderKind::Local => unreachable!("handled above"),
    };
    Ok(client)
}

/// The key and base URLs of a remote model, as every client (live or batch) uses them.
pub(crate) fn key_and_urls(
    model: &ResolvedModel,
    cfg: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<ApiKey>, Vec<String>), ProviderError> {
    let key = find_key(cfg, env).map_err(|vars| {
        ProviderError::Config(missing_key_message(
            &model.provider,
            &vars,
            std::slice::from_ref(&model.name),
        ))
    })?;
    Ok((key, base_urls(model, cfg, env)?))
}

fn missing_key_message(provider: &str, vars: &[String], models: &[String]) -> String {
    let where_ = match vars {
        [one] => one.clone(),
        many => format!("one of {}", many.join(", ")),
    };
    format!(
        "provider `{provider}` needs an API key: set {where_} in the environment or in a .env file \
         (needed by {})",
        models.join(", ")
    )
}

/// Every missing API key at once, one message per provider naming the variable(s) and the
/// models that need it. Empty when all keys are present.
pub fn missing_keys(
    models: &[(ResolvedModel, ProviderConfig)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    // provider name -> (variables, models), in first-seen order of providers.
    let mut order: Vec<String> = Vec::new();
    let mut missing: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (model, cfg) in models {
        if let Err(vars) = find_key(cfg, env) {
            let entry = missing.entry(model.provider.clone()).or_insert_with(|| {
                order.push(model.provider.clone());
                (vars, Vec::new())
            });
            if !entry.1.contains(&model.name) {
                entry.1.push(model.name.clone());
            }
        }
    }
    order
        .iter()
        .map(|p| {
            let (vars, names) = &missing[p];
            missing_key_message(p, vars, names)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(provider: &str, kind: ProviderKind, id: &str) -> (ResolvedModel, ProviderConfig) {
        (
            ResolvedModel {
                name: format!("{provider}/{id}"),
                provider: provider.into(),
                kind,
                model_id: id.into(),
            },
            ProviderConfig::of_kind(kind),
        )
    }

    #[test]
    fn all_missing_keys_reported_together() {
        let models = vec![
            model("anthropic", ProviderKind::Anthropic, "claude-a"),
            model("anthropic", ProviderKind::Anthropic, "claude-b"),
            model("google", ProviderKind::Google, "gemini-x"),
            model("openai", ProviderKind::Openai, "gpt-4.1"),
            model("vllm", ProviderKind::OpenaiCompatible, "llama"),
        ];
        let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_string());
        let msgs = missing_keys(&models, &env);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("ANTHROPIC_API_KEY"));
        assert!(msgs[0].contains("anthropic/claude-a, anthropic/claude-b"));
        assert!(msgs[1].contains("one of GOOGLE_API_KEY, GEMINI_API_KEY"));
        assert!(msgs[1].contains("google/gemini-x"));
    }

    #[test]
    fn gemini_key_is_an_alternative_and_empty_is_missing() {
        let models = vec![model("google", ProviderKind::Google, "gemini-x")];
        let env = |name: &str| match name {
            "GOOGLE_API_KEY" => Some("  ".to_string()),
            "GEMINI_API_KEY" => Some("g-key".to_string()),
            _ => None,
        };
        assert!(missing_keys(&models, &env).is_empty());
    }

    #[test]
    fn named_key_env_for_a_compatible_server_is_required() {
        let (m, mut cfg) = model("fleet", ProviderKind::OpenaiCompatible, "llama");
        cfg.api_key_env = Some("FLEET_TOKEN".into());
        let msgs = missing_keys(&[(m, cfg)], &|_| None);
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].contains("FLEET_TOKEN"));
    }

    #[test]
    fn local_without_backend_and_compatible_without_url() {
        let (m, cfg) = model("local", ProviderKind::Local, "tiny");
        let e = build_client(&m, &cfg, &|_| None, None).err().unwrap();
        assert!(
            e.to_string().contains("rebuild with --features local"),
            "{e}"
        );
        let (m, cfg) = model("vllm", ProviderKind::OpenaiCompatible, "llama");
        let e = build_client(&m, &cfg, &|_| None, None).err().unwrap();
        assert!(e.to_string().contains("providers.vllm"), "{e}");
    }

    #[test]
    fn bare_host_gets_v1() {
        let (m, mut cfg) = model("ollama", ProviderKind::OpenaiCompatible, "llama");
        cfg.base_urls = vec!["http://localhost:11434/".into(), "http://h:8000/v1".into()];
        assert_eq!(
            base_urls(&m, &cfg, &|_| None).unwrap(),
            ["http://localhost:11434/v1", "http://h:8000/v1"]
        );
    }

    #[test]
    fn a_base_url_variable_replaces_the_default_and_is_checked() {
        let (m, mut cfg) = model("openai", ProviderKind::Openai, "gpt-4.1");
        cfg.base_url_env = Some("OPENAI_BASE_URL".into());
        assert_eq!(
            base_urls(&m, &cfg, &|_| None).unwrap(),
            ["https://api.openai.com/v1"]
        );
        let set = |v: &'static str| move |k: &str| (k == "OPENAI_BASE_URL").then(|| v.to_string());
        assert_eq!(
            base_urls(&m, &cfg, &set("http://127.0.0.1:9/v1/")).unwrap(),
            ["http://127.0.0.1:9/v1"]
        );
        let e = base_urls(&m, &cfg, &set("ftp://x")).unwrap_err();
        assert!(e.to_string().contains("OPENAI_BASE_URL"), "{e}");
    }

    #[test]
    fn a_base_url_variable_that_moves_a_provider_is_told() {
        static TOLD: std::sync::Mutex<Vec<EnvBaseUrl>> = std::sync::Mutex::new(Vec::new());
        on_env_base_url(|u| TOLD.lock().unwrap().push(u.clone()));
        let told = |provider: &str| -> Vec<EnvBaseUrl> {
            let all = TOLD.lock().unwrap();
            all.iter()
                .filter(|u| u.provider == provider)
                .cloned()
                .collect()
        };
        let (m, mut cfg) = model("told-openai", ProviderKind::Openai, "gpt-4.1");
        cfg.base_url_env = Some("OPENAI_BASE_URL".into());
        let set = |v: &'static str| move |k: &str| (k == "OPENAI_BASE_URL").then(|| v.to_string());
        base_urls(&m, &cfg, &set("https://api.openai.com/v1/")).unwrap();
        assert!(told("told-openai").is_empty(), "the default is not news");
        base_urls(&m, &cfg, &set("http://10.255.255.1:9/v1")).unwrap();
        assert_eq!(
            told("told-openai"),
            [EnvBaseUrl {
                provider: "told-openai".into(),
                variable: "OPENAI_BASE_URL".into(),
                url: "http://10.255.255.1:9/v1".into(),
                instead_of: Some("https://api.openai.com/v1".into()),
            }]
        );
        // A local server's configured address, and no address at all.
        let (m, mut cfg) = model("told-vllm", ProviderKind::OpenaiCompatible, "q");
        cfg.base_urls = vec!["http://localhost:8000/v1".into()];
        cfg.base_url_env = Some("VLLM_BASE_URL".into());
        let vllm = |v: &'static str| move |k: &str| (k == "VLLM_BASE_URL").then(|| v.to_string());
        base_urls(&m, &cfg, &vllm("http://localhost:8000/v1")).unwrap();
        assert!(told("told-vllm").is_empty());
        cfg.base_urls.clear();
        base_urls(&m, &cfg, &vllm("http://gpu-box:8000/v1")).unwrap();
        assert_eq!(told("told-vllm")[0].instead_of, None);
    }
}
