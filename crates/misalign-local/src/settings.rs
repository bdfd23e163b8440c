//! The llama.cpp knobs of a `kind: local` provider, with their defaults.

use misalign_core::config::ProviderConfig;

/// How one local model is loaded and run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EngineSettings {
    /// KV-cache size in tokens, shared by the prompt and every sample generated in parallel
    /// from it. `None`: the model's training context, capped at [`DEFAULT_CONTEXT_CAP`].
    pub context_length: Option<u32>,
    /// CPU threads (`None`: all available cores).
    pub threads: Option<u32>,
    /// Tokens per prefill step (`n_batch`); longer prompts are fed in chunks of this size.
    pub batch_size: u32,
    /// Layers offloaded to a GPU (only with a GPU-enabled llama.cpp build).
    pub gpu_layers: u32,
    /// Most samples generated at once from one prefilled prompt.
    pub max_parallel: u32,
}

/// Default context cap: larger training contexts (128k) would allocate gigabytes of KV cache.
pub const DEFAULT_CONTEXT_CAP: u32 = 8192;
/// llama-bench's default `n_batch`, so our figures compare like with like.
pub const DEFAULT_BATCH: u32 = 2048;
/// llama-bench's default `n_ubatch`.
pub const DEFAULT_UBATCH: u32 = 512;
pub const DEFAULT_PARALLEL: u32 = 16;

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            context_length: None,
            threads: None,
            batch_size: DEFAULT_BATCH,
            gpu_layers: 0,
            max_parallel: DEFAULT_PARALLEL,
        }
    }
}

impl EngineSettings {
    pub fn from_config(cfg: &ProviderConfig) -> Self {
        let d = EngineSettings::default();
        EngineSettings {
            context_length: cfg.context_length.filter(|n| *n > 0),
            threads: cfg.threads.filter(|n| *n > 0),
            batch_size: cfg.batch_size.filter(|n| *n > 0).unwrap_or(d.batch_size),
            gpu_layers: cfg.gpu_layers.unwrap_or(0),
            max_parallel: d.max_parallel,
        }
    }

    /// Threads to use: the setting, else every available core.
    pub fn thread_count(&self) -> u32 {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(4)
        })
    }

    /// The context to allocate for a model trained on `n_ctx_train` tokens.
    pub fn context_for(&self, n_ctx_train: u32) -> u32 {
        self.context_length.unwrap_or_else(|| {
            if n_ctx_train == 0 {
                DEFAULT_CONTEXT_CAP
            } else {
                n_ctx_train.min(DEFAULT_CONTEXT_CAP)
            }
        })
    }

    /// Micro-batch: never larger than the batch.
    pub fn ubatch(&self) -> u32 {
        self.batch_size.min(DEFAULT_UBATCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_core::config::ProviderKind;

    #[test]
    fn config_knobs_and_defaults() {
        let mut cfg = ProviderConfig::of_kind(ProviderKind::Local);
        let s = EngineSettings::from_config(&cfg);
        assert_eq!(s, EngineSettings::default());
        assert_eq!(s.context_for(8192), 8192);
        assert_eq!(s.context_for(131072), DEFAULT_CONTEXT_CAP);
        cfg.context_length = Some(16384);
        cfg.threads = Some(2);
        cfg.batch_size = Some(256);
        cfg.gpu_layers = Some(99);
        let s = EngineSettings::from_config(&cfg);
        assert_eq!(
            (
                s.context_for(8192),
                s.thread_count(),
                s.batch_size,
                s.ubatch(),
                s.gpu_layers
            ),
            (16384, 2, 256, 256, 99)
        );
    }
}
