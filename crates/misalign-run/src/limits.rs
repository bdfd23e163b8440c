//! Concurrency caps (tokio semaphores) per provider and per model, and requests-per-minute
//! pools (governor) matched by glob over model names.
//!
//! A model named in `global.rate_limits.model_overrides` gets a budget of its own and draws
//! from no pool, as in the reference framework, whose limiter looks the model up in its
//! overrides first and falls back to the first matching pool only when it is not there.

use crate::item::ModelTarget;
use globset::{Glob, GlobSet, GlobSetBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use misalign_core::config::{Concurrency, RatePool};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Calls in flight per provider when `global.concurrency.providers` does not name it.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 10;

/// A rate-pool configuration error.
#[derive(Debug, thiserror::Error)]
#[error("global.rate_limits.{pool}: {message}")]
pub struct LimitsError {
    pub pool: String,
    pub message: String,
}

struct Pool {
    name: String,
    globs: GlobSet,
    limiter: Arc<DefaultDirectRateLimiter>,
}

/// Every limit of a run, shared by all dispatchers.
pub struct Limits {
    providers: HashMap<String, Arc<Semaphore>>,
    models: HashMap<String, Arc<Semaphore>>,
    pools: Vec<Pool>,
    /// Per-model budgets from `model_overrides`, by resolved model name.
    overrides: HashMap<String, Arc<DefaultDirectRateLimiter>>,
}

/// The limits that apply to one model.
#[derive(Clone)]
pub struct ModelLimits {
    provider: Arc<Semaphore>,
    model: Option<Arc<Semaphore>>,
    pools: Vec<Arc<DefaultDirectRateLimiter>>,
    /// Names of the rate pools this model draws from (for messages).
    pub pool_names: Vec<String>,
}

/// Permits held for the duration of one call (attempts and retries included).
pub struct Permits {
    _model: Option<OwnedSemaphorePermit>,
    _provider: OwnedSemaphorePermit,
}

impl Limits {
    pub fn new(
        concurrency: &Concurrency,
        pools: &[RatePool],
        model_overrides: &BTreeMap<String, u32>,
        models: &[Arc<ModelTarget>],
    ) -> Result<Limits, LimitsError> {
        let mut providers = HashMap::new();
        let mut model_caps = HashMap::new();
        for m in models {
            providers.entry(m.provider.clone()).or_insert_with(|| {
                let n = concurrency
                    .providers
                    .get(&m.provider)
                    .copied()
                    .unwrap_or(DEFAULT_PROVIDER_CONCURRENCY)
                    .max(1);
                Arc::new(Semaphore::new(n))
            });
            let cap = [&m.written, &m.name, &m.model_id]
                .into_iter()
                .find_map(|k| concurrency.models.get(k.as_str()).copied());
            if let Some(n) = cap {
                model_caps
                    .entry(m.name.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(n.max(1))));
            }
        }
        let mut built = Vec::new();
        for p in pools {
            let err = |message: String| LimitsError {
                pool: format!("pools.{}", p.name),
                message,
            };
            let rpm = NonZeroU32::new(p.rpm).ok_or_else(|| err("rpm must be at least 1".into()))?;
            let mut b = GlobSetBuilder::new();
            for g in &p.models {
                b.add(
                    Glob::new(g).map_err(|e| {
                        err(format!("model pattern `{g}` is not a valid glob: {e}"))
                    })?,
                );
            }
            let globs = b.build().map_err(|e| err(e.to_string()))?;
            built.push(Pool {
                name: p.name.clone(),
                globs,
                limiter: Arc::new(RateLimiter::direct(Quota::per_minute(rpm))),
            });
        }
        let mut overrides = HashMap::new();
        for m in models {
            let rpm = [&m.written, &m.name, &m.model_id]
                .into_iter()
                .find_map(|k| model_overrides.get(k.as_str()).copied());
            if let Some(rpm) = rpm {
                let rpm = NonZeroU32::new(rpm).ok_or_else(|| LimitsError {
                    pool: format!("model_overrides.{}", m.written),
                    message: "rpm must be at least 1".into(),
                })?;
                overrides.insert(
                    m.name.clone(),
                    Arc::new(RateLimiter::direct(Quota::per_minute(rpm))),
                );
            }
        }
        Ok(Limits {
            providers,
            models: model_caps,
            pools: built,
            overrides,
        })
    }

    /// The limits of `m` (a pool applies when any of its names matches a pattern).
    pub fn for_model(&self, m: &ModelTarget) -> ModelLimits {
        let provider = self
            .providers
            .get(&m.provider)
            .cloned()
            .unwrap_or_else(|| Arc::new(Semaphore::new(DEFAULT_PROVIDER_CONCURRENCY)));
        let mut pools = Vec::new();
        let mut pool_names = Vec::new();
        let own = self.overrides.get(&m.name);
        if let Some(own) = own {
            pools.push(own.clone());
            pool_names.push(format!("model_overrides.{}", m.written));
        }
        for p in self.pools.iter().filter(|_| own.is_none()) {
            if [&m.written, &m.name, &m.model_id]
                .iter()
                .any(|n| p.globs.is_match(n.as_str()))
            {
                pools.push(p.limiter.clone());
                pool_names.push(p.name.clone());
            }
        }
        ModelLimits {
            provider,
            model: self.models.get(&m.name).cloned(),
            pools,
            pool_names,
        }
    }
}

impl ModelLimits {
    /// Waits for a model slot, then a provider slot (so a model waiting on its own cap never
    /// holds a provider slot other models could use), then for every matching rate pool.
    pub async fn acquire(&self) -> Permits {
        let model = match &self.model {
            Some(s) => Some(
                s.clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed"),
            ),
            None => None,
        };
        let provider = self
            .provider
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        for p in &self.pools {
            p.until_ready().await;
        }
        Permits {
            _model: model,
            _provider: provider,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_models::{Completion, CompletionRequest, ModelClient, ProviderError};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    struct Never;
    #[async_trait::async_trait]
    impl ModelClient for Never {
        async fn complete(&self, _: &CompletionRequest) -> Result<Completion, ProviderError> {
            Err(ProviderError::Config("unused".into()))
        }
    }

    fn target(name: &str) -> Arc<ModelTarget> {
        let (p, id) = name.split_once('/').unwrap();
        Arc::new(ModelTarget {
            name: name.into(),
            written: id.into(),
            provider: p.into(),
            model_id: id.into(),
            client: Arc::new(Never),
        })
    }

    #[tokio::test]
    async fn caps_and_pools_apply_by_name_and_glob() {
        let a = target("anthropic/claude-x");
        let b = target("openai/gpt-y");
        let conc = Concurrency {
            providers: BTreeMap::from([("anthropic".into(), 2)]),
            models: BTreeMap::from([("gpt-y".into(), 1)]),
        };
        let pools = vec![RatePool {
            name: "claude".into(),
            rpm: 60,
            models: vec!["claude-*".into()],
        }];
        let limits = Limits::new(&conc, &pools, &BTreeMap::new(), &[a.clone(), b.clone()]).unwrap();
        let la = limits.for_model(&a);
        let lb = limits.for_model(&b);
        assert_eq!(la.pool_names, vec!["claude"]);
        assert!(lb.pool_names.is_empty());
        // gpt-y is capped at 1 in flight.
        let p = lb.acquire().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), lb.acquire())
                .await
                .is_err()
        );
        drop(p);
        let _p = lb.acquire().await;
        // claude: 60 rpm bursts then waits ~1 s per call once the burst is spent.
        let t0 = Instant::now();
        for _ in 0..2 {
            drop(la.acquire().await);
        }
        assert!(t0.elapsed() < Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_model_override_replaces_the_pools() {
        let fast = target("anthropic/claude-fast");
        let pooled = target("anthropic/claude-pooled");
        let pools = vec![RatePool {
            name: "claude".into(),
            rpm: 1,
            models: vec!["claude-*".into()],
        }];
        let overrides = BTreeMap::from([("claude-fast".to_string(), 6000)]);
        let limits = Limits::new(
            &Concurrency::default(),
            &pools,
            &overrides,
            &[fast.clone(), pooled.clone()],
        )
        .unwrap();
        let lf = limits.for_model(&fast);
        assert_eq!(lf.pool_names, vec!["model_overrides.claude-fast"]);
        assert_eq!(limits.for_model(&pooled).pool_names, vec!["claude"]);
        // The 1-rpm pool would hold the second call for a minute; the override lets 3 through.
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(
                tokio::time::timeout(Duration::from_secs(2), lf.acquire())
                    .await
                    .expect("the override, not the 1-rpm pool, limits this model"),
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn bad_pool_is_named() {
        let pools = vec![RatePool {
            name: "p1".into(),
            rpm: 0,
            models: vec![],
        }];
        let e = Limits::new(&Concurrency::default(), &pools, &BTreeMap::new(), &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("pools.p1"), "{e}");
        let pools = vec![RatePool {
            name: "p2".into(),
            rpm: 5,
            models: vec!["a[".into()],
        }];
        let e = Limits::new(&Concurrency::default(), &pools, &BTreeMap::new(), &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("`a[`"), "{e}");
    }
}
