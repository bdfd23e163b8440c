//! The `kind: local` provider: resolves `local/<name>` to a GGUF file and hands out clients.

use crate::cache::{check_gguf, ModelCache};
use crate::error::LocalError;
use crate::settings::EngineSettings;
use misalign_core::config::{ProviderConfig, ResolvedModel};
use misalign_models::{LocalBackend, ModelClient, ProviderError};
use std::path::PathBuf;
use std::sync::Arc;

/// The local backend: the model cache plus, in builds with the `llama` feature, llama.cpp.
#[derive(Clone, Debug)]
pub struct LocalModels {
    cache: ModelCache,
    /// The executable that hosts engine runners (the `misalign` binary); `None` runs
    /// llama.cpp in this process, where a native crash ends the process.
    runner: Option<PathBuf>,
}

impl LocalModels {
    pub fn new(cache: ModelCache) -> Self {
        LocalModels {
            cache,
            runner: None,
        }
    }

    /// Runs each model in a runner process started from `exe` (`exe __misalign-engine`;
    /// `engine::runner`), so that a crash of llama.cpp fails the calls in flight instead of
    /// ending the run.
    pub fn with_runner(mut self, exe: impl Into<PathBuf>) -> Self {
        self.runner = Some(exe.into());
        self
    }

    /// Reads the cache named by `$MISALIGN_HOME` (see [`ModelCache::from_env`]).
    pub fn from_env() -> Self {
        Self::new(ModelCache::from_env())
    }

    /// True when this build can run GGUF models.
    pub const fn available() -> bool {
        cfg!(feature = "llama")
    }
}

/// The GGUF file a local model name stands for: the provider's `model_path`, else the
/// cache entry named by the model id.
pub fn model_file(
    cache: &ModelCache,
    model: &ResolvedModel,
    cfg: &ProviderConfig,
) -> Result<PathBuf, LocalError> {
    let path = match cfg.model_path.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => {
            let path = expand_home(p);
            if !path.is_file() {
                return Err(LocalError::Io {
                    path,
                    what: format!(
                        "no such file (`model_path` of provider `{}`): point it at a .gguf file",
                        model.provider
                    ),
                });
            }
            path
        }
        None => cache.locate(&model.model_id)?,
    };
    check_gguf(&path)?;
    Ok(path)
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

impl LocalBackend for LocalModels {
    fn client(
        &self,
        model: &ResolvedModel,
        cfg: &ProviderConfig,
    ) -> Result<Arc<dyn ModelClient>, ProviderError> {
        let path = model_file(&self.cache, model, cfg)
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let settings = EngineSettings::from_config(cfg);
        build_client(path, settings, self.runner.as_deref())
    }
}

#[cfg(feature = "llama")]
fn build_client(
    path: PathBuf,
    settings: EngineSettings,
    runner: Option<&std::path::Path>,
) -> Result<Arc<dyn ModelClient>, ProviderError> {
    Ok(match runner {
        Some(exe) => Arc::new(crate::engine::IsolatedClient::open(exe, &path, &settings)?),
        None => Arc::new(crate::engine::LlamaClient::open(&path, &settings)?),
    })
}

#[cfg(not(feature = "llama"))]
fn build_client(
    path: PathBuf,
    _settings: EngineSettings,
    _runner: Option<&std::path::Path>,
) -> Result<Arc<dyn ModelClient>, ProviderError> {
    Err(ProviderError::Config(format!(
        "this build has no local model support, so {} cannot run: rebuild with \
         `cargo build --release --features local` (needs cmake and libclang-dev)",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_core::config::ProviderKind;

    fn resolved(id: &str) -> ResolvedModel {
        ResolvedModel {
            name: format!("local/{id}"),
            provider: "local".into(),
            kind: ProviderKind::Local,
            model_id: id.into(),
        }
    }

    #[test]
    fn resolves_cache_names_and_model_paths() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        let cfg = ProviderConfig::of_kind(ProviderKind::Local);
        let err = model_file(&cache, &resolved("smollm2-135m-instruct"), &cfg)
            .unwrap_err()
            .to_string();
        assert!(err.contains("misalign models fetch"), "{err}");

        std::fs::write(cache.path_of("tiny"), b"GGUF\x03\0\0\0").unwrap();
        assert_eq!(
            model_file(&cache, &resolved("tiny"), &cfg).unwrap(),
            cache.path_of("tiny")
        );

        let mut cfg = cfg;
        cfg.model_path = Some(dir.path().join("missing.gguf").display().to_string());
        let err = model_file(&cache, &resolved("x"), &cfg)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model_path") && err.contains("missing.gguf"),
            "{err}"
        );

        let not_gguf = dir.path().join("weights.bin");
        std::fs::write(&not_gguf, b"PK\x03\x04").unwrap();
        cfg.model_path = Some(not_gguf.display().to_string());
        let err = model_file(&cache, &resolved("x"), &cfg)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a GGUF"), "{err}");
    }

    #[cfg(not(feature = "llama"))]
    #[test]
    fn without_llama_the_backend_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        std::fs::write(cache.path_of("tiny"), b"GGUF\x03\0\0\0").unwrap();
        let backend = LocalModels::new(cache);
        let cfg = ProviderConfig::of_kind(ProviderKind::Local);
        let err = backend
            .client(&resolved("tiny"), &cfg)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("no local model support") && err.contains("--features local"),
            "{err}"
        );
    }
}
