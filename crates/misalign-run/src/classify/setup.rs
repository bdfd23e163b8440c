//! What classification runs with: facts per scenario (built-in packs, a template folder, one
//! facts file, or the reference framework's published facts) and the judge clients.

use super::{ClassifyOptions, JudgeBatching, JudgeModel};
use crate::options::BatchPolicy;
use misalign_core::config::{
    provider_config, resolve_model, Classification, Execution, ProviderConfig,
};
use misalign_core::detect::reference_facts::{has_reference_scenario, reference_facts};
use misalign_core::scenario::{
    builtin_scenario_names, parse_facts, Facts, ScenarioError, ScenarioKind, ScenarioSource,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Classification could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("judge model `{name}`: {message}")]
    Judge { name: String, message: String },
    /// The OS error is in the message and not also a `source`, so `{:#}` prints it once.
    #[error("cannot read facts file {path}: {error}")]
    ReadFacts {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: field `scenario` is {found:?}; expected {expected}")]
    UnknownScenario {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A results folder's recorded experiment sends requests somewhere other than this
    /// machine; the user's keys would go there.
    #[error("{out}: the experiment recorded in this results folder sends provider `{provider}` requests to {url}; misalign does not send your API keys where a results folder says. Pass --experiment FILE (your copy of the experiment) to classify")]
    RemoteRecordedUrl {
        out: PathBuf,
        /// Terminal-safe.
        provider: String,
        /// Terminal-safe.
        url: String,
    },
}

/// Where the facts come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FactsSource {
    /// The scenario packs: built-in, or this template folder.
    Packs(Option<PathBuf>),
    /// One facts.yaml file (for its `scenario`).
    File(PathBuf),
    /// The reference framework's published facts.
    Reference,
}

/// Judges chosen on the command line over the experiment's `classification:` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JudgeChoice {
    /// Overrides `classification.classifier_model` (and the per-scenario judges).
    pub judge: Option<String>,
    /// Overrides `classification.awareness_model`.
    pub awareness: Option<String>,
    /// Detectors only, whatever the experiment says.
    pub no_judge: bool,
}

/// `blackmail, exfiltration, ... or sabotage`: the built-in scenarios, for messages.
pub fn builtin_scenarios_listed() -> String {
    let names = builtin_scenario_names();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Facts per scenario from the chosen source.
pub fn load_facts(source: &FactsSource) -> Result<BTreeMap<String, Facts>, SetupError> {
    let mut out = BTreeMap::new();
    match source {
        FactsSource::Reference => {
            let builtin = ScenarioSource::builtin();
            for s in builtin_scenario_names() {
                match ScenarioKind::parse(s) {
                    Some(kind) if has_reference_scenario(kind) => {
                        out.insert(s.clone(), reference_facts(kind));
                    }
                    // The reference has no such scenario: answers of this kind can only
                    // come from the built-in pack, whose facts then apply.
                    Some(_) => {
                        if let Some(f) = builtin.facts(s)? {
                            out.insert(s.clone(), f);
                        }
                    }
                    None => {}
                }
            }
        }
        FactsSource::File(file) => {
            let text = std::fs::read_to_string(file).map_err(|error| SetupError::ReadFacts {
                path: file.clone(),
                error,
            })?;
            let facts = parse_facts(&text, &file.display().to_string())?;
            if !builtin_scenario_names().contains(&facts.scenario) {
                return Err(SetupError::UnknownScenario {
                    path: file.clone(),
                    found: facts.scenario,
                    expected: builtin_scenarios_listed(),
                });
            }
            out.insert(facts.scenario.clone(), facts);
        }
        FactsSource::Packs(templates) => {
            let source = ScenarioSource::open(templates.as_deref())?;
            for s in builtin_scenario_names() {
                if let Some(f) = source.facts(s)? {
                    out.insert(s.clone(), f);
                }
            }
        }
    }
    Ok(out)
}

/// A judge client for `name` (`provider/model`).
pub fn build_judge(
    name: &str,
    providers: &BTreeMap<String, ProviderConfig>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<JudgeModel, SetupError> {
    let judge_err = |message: String| SetupError::Judge {
        name: name.to_string(),
        message,
    };
    let resolved = resolve_model(name, providers).map_err(|e| judge_err(e.into()))?;
    let cfg = provider_config(&resolved, providers);
    let client = misalign_models::registry::build_client(&resolved, &cfg, env, None)
        .map_err(|e| judge_err(e.to_string()))?;
    Ok(JudgeModel {
        name: resolved.name,
        model_id: resolved.model_id,
        client,
    })
}

/// Classification options from an experiment's `classification:` section (used by
/// `misalign run` after sampling, and by `misalign classify`), with the command line's
/// judge choice.
pub fn options_from_config(
    classification: &Classification,
    providers: &BTreeMap<String, ProviderConfig>,
    facts: BTreeMap<String, Facts>,
    choice: &JudgeChoice,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClassifyOptions, SetupError> {
    let mut options = ClassifyOptions {
        facts,
        concurrency: classification.concurrency.max(1),
        judge_attempts: 3,
        ..ClassifyOptions::default()
    };
    if choice.no_judge {
        return Ok(options);
    }
    let judge = choice
        .judge
        .as_deref()
        .or(classification.classifier_model.as_deref());
    if let Some(j) = judge {
        options.judge = Some(build_judge(j, providers, env)?);
    } else if choice.judge.is_none() {
        // `--judge` replaces the whole panel with its one judge.
        for j in &classification.judges {
            options.panel.push(build_judge(j, providers, env)?);
        }
        options.combine = classification.combine;
    }
    // Reference classifier names (`blackmail_classifier`) select the scenario's own
    // classifier, which is the default; only model names are per-scenario judges.
    if choice.judge.is_none() {
        for (scenario, model) in classification.scenario_judges() {
            options
                .scenario_judges
                .insert(scenario.to_string(), build_judge(model, providers, env)?);
        }
    }
    let awareness = choice
        .awareness
        .as_deref()
        .or(classification.awareness_model.as_deref());
    if let Some(a) = awareness {
        options.awareness = Some(build_judge(a, providers, env)?);
    }
    Ok(options)
}

/// Whether judge and awareness calls go through batch APIs: `--batch` (`forced`), else
/// `classification.batch`, else `execution.batch`.
pub fn judge_batch_wanted(
    classification: &Classification,
    execution: &Execution,
    forced: bool,
) -> bool {
    forced || classification.batch.unwrap_or(execution.batch)
}

/// Batch clients for the judges of `options` whose provider has a batch API (the others
/// are listed in `live_only`), with the experiment's batch policy (`execution.batch_*`,
/// `execution.retries`). Keys and URLs are found as for the judges' live calls.
pub fn judge_batching(
    options: &ClassifyOptions,
    providers: &BTreeMap<String, ProviderConfig>,
    execution: &Execution,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<JudgeBatching, SetupError> {
    let client_options = misalign_models::ClientOptions {
        timeout: std::time::Duration::from_secs(execution.timeout_seconds.max(1)),
        max_reply_bytes: execution.max_reply_bytes,
        ..Default::default()
    };
    let mut names: Vec<&str> = options
        .judge
        .iter()
        .chain(options.panel.iter())
        .chain(options.scenario_judges.values())
        .chain(options.awareness.iter())
        .map(|j| j.name.as_str())
        .collect();
    names.sort();
    names.dedup();
    let mut batching = JudgeBatching {
        clients: BTreeMap::new(),
        providers: BTreeMap::new(),
        live_only: Vec::new(),
        policy: BatchPolicy::of(execution),
        secrets: Vec::new(),
        notes: None,
    };
    for name in names {
        let judge_err = |message: String| SetupError::Judge {
            name: name.to_string(),
            message,
        };
        let resolved = resolve_model(name, providers).map_err(|e| judge_err(e.into()))?;
        let cfg = provider_config(&resolved, providers);
        let client =
            misalign_models::batch::build_batch_client(&resolved, &cfg, env, &client_options)
                .map_err(|e| judge_err(e.to_string()))?;
        match client {
            Some(c) => {
                batching
                    .secrets
                    .extend(misalign_models::registry::secret_values(&cfg, env));
                batching.clients.insert(name.to_string(), c);
                batching
                    .providers
                    .insert(name.to_string(), resolved.provider.clone());
            }
            None => batching.live_only.push(name.to_string()),
        }
    }
    Ok(batching)
}

/// A results folder may come from someone else, and the judges get the user's API keys: the
/// experiment recorded in it may not send them anywhere but the providers' own endpoints or
/// this machine. Anything else needs the user's own file (`--experiment`).
pub fn refuse_remote_recorded_urls(
    providers: &BTreeMap<String, ProviderConfig>,
    out: &Path,
) -> Result<(), SetupError> {
    for (name, cfg) in providers {
        for url in &cfg.base_urls {
            if !is_loopback_url(url) {
                return Err(SetupError::RemoteRecordedUrl {
                    out: out.to_path_buf(),
                    provider: misalign_store::untrusted::terminal_safe(name),
                    url: misalign_store::untrusted::terminal_safe(url),
                });
            }
        }
    }
    Ok(())
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Userinfo (`user@host`) would let the visible host differ from the real one.
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_only() {
        for ok in [
            "http://127.0.0.1:8080/v1",
            "http://localhost/v1",
            "http://[::1]:9/v1",
            "127.0.0.2:80",
        ] {
            assert!(is_loopback_url(ok), "{ok}");
        }
        for bad in [
            "https://api.example.invalid/v1",
            "http://127.0.0.1@evil.example/v1",
            "http://localhost.evil.example/",
            "http://10.0.0.5:8000/v1",
        ] {
            assert!(!is_loopback_url(bad), "{bad}");
        }
    }

    #[test]
    fn a_panel_is_built_in_order_and_judge_on_the_command_line_replaces_it() {
        let mut cfg =
            ProviderConfig::of_kind(misalign_core::config::ProviderKind::OpenaiCompatible);
        cfg.base_urls = vec!["http://127.0.0.1:9/v1".into()];
        cfg.api_key_env = Some("PANEL_TEST_KEY".into());
        let providers = BTreeMap::from([("p".to_string(), cfg)]);
        let env = |k: &str| (k == "PANEL_TEST_KEY").then(|| "k".to_string());
        let classification = Classification {
            judges: vec!["p/b".into(), "p/a".into()],
            combine: misalign_core::judge::Combine::Any,
            ..Classification::default()
        };
        let build = |choice: &JudgeChoice| {
            options_from_config(&classification, &providers, BTreeMap::new(), choice, &env).unwrap()
        };
        let o = build(&JudgeChoice::default());
        let names: Vec<&str> = o.panel.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["p/b", "p/a"]);
        assert!(o.judge.is_none());
        assert_eq!(o.combine, misalign_core::judge::Combine::Any);
        let one = build(&JudgeChoice {
            judge: Some("p/c".into()),
            ..JudgeChoice::default()
        });
        assert!(one.panel.is_empty());
        assert_eq!(one.judge.map(|j| j.name), Some("p/c".to_string()));
        let none = build(&JudgeChoice {
            no_judge: true,
            ..JudgeChoice::default()
        });
        assert!(none.panel.is_empty() && none.judge.is_none());
    }

    #[test]
    fn reference_facts_cover_every_builtin_scenario() {
        let f = load_facts(&FactsSource::Reference).unwrap();
        let names: Vec<&String> = f.keys().collect();
        let builtin: Vec<&String> = builtin_scenario_names().iter().collect();
        assert_eq!(names, builtin);
        assert_eq!(
            builtin_scenarios_listed(),
            "blackmail, exfiltration, leaking, murder or sabotage"
        );
        // No reference scenario of the new kinds: their facts are the built-in packs'.
        let packs = load_facts(&FactsSource::Packs(None)).unwrap();
        for s in ["exfiltration", "sabotage"] {
            assert_eq!(f[s], packs[s], "{s}");
        }
        assert_ne!(f["blackmail"], packs["blackmail"]);
    }

    #[test]
    fn a_facts_file_of_an_unknown_scenario_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("facts.yaml");
        let pack = load_facts(&FactsSource::Packs(None)).unwrap();
        let mut facts = pack["blackmail"].clone();
        facts.scenario = "blackmial".into();
        std::fs::write(&f, serde_json::to_string(&facts).unwrap()).unwrap();
        let e = load_facts(&FactsSource::File(f)).unwrap_err().to_string();
        assert!(
            e.contains(
                "field `scenario` is \"blackmial\"; expected blackmail, exfiltration, leaking, \
                 murder or sabotage"
            ),
            "{e}"
        );
    }
}
