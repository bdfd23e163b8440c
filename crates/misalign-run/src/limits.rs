//! Concurrency caps (tokio semaphores) per provider and per model, and rate pools matched by
//! glob over model names: requests per minute (governor) and tokens per minute
//! ([`TokenBucket`]: governor counts requests, not tokens).
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
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    tokens: Option<Arc<TokenBucket>>,
}

/// A tokens-per-minute budget: a bucket holding up to `tpm` tokens, refilled continuously.
/// A call takes its estimated tokens before it starts (waiting while the bucket is short)
/// and, when it ends, the difference between the estimate and what the provider reported
/// ([`TokenBucket::correct`]), so a run settles on the true rate whatever the estimate.
#[derive(Debug)]
pub struct TokenBucket {
    tpm: f64,
    /// (tokens available, possibly negative after a correction; when last refilled)
    state: std::sync::Mutex<(f64, tokio::time::Instant)>,
}

impl TokenBucket {
    /// A full bucket of `tpm` tokens.
    pub fn new(tpm: u32) -> TokenBucket {
        TokenBucket {
            tpm: f64::from(tpm.max(1)),
            state: std::sync::Mutex::new((f64::from(tpm.max(1)), tokio::time::Instant::now())),
        }
    }

    fn refill(&self, st: &mut (f64, tokio::time::Instant)) {
        let now = tokio::time::Instant::now();
        let per_sec = self.tpm / 60.0;
        st.0 = (st.0 + now.duration_since(st.1).as_secs_f64() * per_sec).min(self.tpm);
        st.1 = now;
    }

    /// Waits until `tokens` (at most a whole minute's budget) are available and takes them.
    pub async fn take(&self, tokens: u64) {
        let want = (tokens as f64).min(self.tpm);
        loop {
            let wait = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                self.refill(&mut st);
                if st.0 >= want {
                    st.0 -= want;
                    return;
                }
                (want - st.0) / (self.tpm / 60.0)
            };
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait.clamp(0.001, 60.0))).await;
        }
    }

    /// After a call: gives back what the estimate took too much, or takes what it took too
    /// little (the bucket may go below zero; later calls wait for it).
    pub fn correct(&self, estimated: u64, actual: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut st);
        st.0 = (st.0 + estimated as f64 - actual as f64).min(self.tpm);
    }

    /// Tokens available now (for tests and progress).
    pub fn available(&self) -> f64 {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut st);
        st.0
    }
}

/// Every limit of a run, shared by all dispatchers.
pub struct Limits {
    providers: HashMap<String, Arc<Semaphore>>,
    models: HashMap<String, Arc<Semaphore>>,
    /// How many calls each model may have in flight: the smaller of its cap and its provider's.
    calls_at_once: HashMap<String, usize>,
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
    token_pools: Vec<Arc<TokenBucket>>,
    /// Names of the rate pools this model draws from (for messages).
    pub pool_names: Vec<String>,
    /// The most calls of this model in flight at once (its cap, or its provider's).
    pub calls_at_once: usize,
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
        let mut calls_at_once = HashMap::new();
        for m in models {
            let provider_cap = concurrency
                .providers
                .get(&m.provider)
                .copied()
                .unwrap_or(DEFAULT_PROVIDER_CONCURRENCY)
                .max(1);
            providers
                .entry(m.provider.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(provider_cap)));
            let cap = [&m.written, &m.name, &m.model_id]
                .into_iter()
                .find_map(|k| concurrency.models.get(k.as_str()).copied());
            calls_at_once.insert(
                m.name.clone(),
                cap.map_or(provider_cap, |n| n.max(1).min(provider_cap)),
            );
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
            let limiter = match p.rpm {
                Some(rpm) => {
                    let rpm =
                        NonZeroU32::new(rpm).ok_or_else(|| err("rpm must be at least 1".into()))?;
                    Some(Arc::new(RateLimiter::direct(Quota::per_minute(rpm))))
                }
                None => None,
            };
            let tokens = match p.tpm {
                Some(0) => return Err(err("tpm must be at least 1".into())),
                Some(tpm) => Some(Arc::new(TokenBucket::new(tpm))),
                None => None,
            };
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
                limiter,
                tokens,
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
            calls_at_once,
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
        let mut token_pools = Vec::new();
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
                pools.extend(p.limiter.clone());
                token_pools.extend(p.tokens.clone());
                pool_names.push(p.name.clone());
            }
        }
        ModelLimits {
            provider,
            model: self.models.get(&m.name).cloned(),
            pools,
            token_pools,
            pool_names,
            calls_at_once: self
                .calls_at_once
                .get(&m.name)
                .copied()
                .unwrap_or(DEFAULT_PROVIDER_CONCURRENCY),
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

    /// Whether a tokens-per-minute pool applies (the scheduler then estimates tokens).
    pub fn counts_tokens(&self) -> bool {
        !self.token_pools.is_empty()
    }

    /// Waits until every matching tokens-per-minute pool has `tokens` and takes them.
    pub async fn take_tokens(&self, tokens: u64) {
        for p in &self.token_pools {
            p.take(tokens).await;
        }
    }

    /// Corrects every tokens-per-minute pool by what the call really used.
    pub fn correct_tokens(&self, estimated: u64, actual: u64) {
        for p in &self.token_pools {
            p.correct(estimated, actual);
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
            rpm: Some(60),
            tpm: None,
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
            rpm: Some(1),
            tpm: None,
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

    #[tokio::test]
    async fn a_tokens_per_minute_pool_delays_calls_and_learns_from_usage() {
        let m = target("openai/gpt-t");
        let pools = vec![RatePool {
            name: "tokens".into(),
            rpm: None,
            tpm: Some(60_000),
            models: vec!["openai/*".into()],
        }];
        let limits = Limits::new(
            &Concurrency::default(),
            &pools,
            &BTreeMap::new(),
            std::slice::from_ref(&m),
        )
        .unwrap();
        let l = limits.for_model(&m);
        assert!(l.counts_tokens());
        assert_eq!(l.pool_names, vec!["tokens"]);
        // A full minute's budget goes at once; the next 500 tokens wait 0.5 s (1,000 a second).
        let t0 = Instant::now();
        l.take_tokens(60_000).await;
        assert!(t0.elapsed() < Duration::from_millis(100));
        l.take_tokens(500).await;
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(450) && waited < Duration::from_millis(1500),
            "{waited:?}"
        );
        // The call used 100 tokens, not the 500 estimated: 400 come back at once.
        l.correct_tokens(500, 100);
        let t1 = Instant::now();
        l.take_tokens(350).await;
        assert!(
            t1.elapsed() < Duration::from_millis(100),
            "{:?}",
            t1.elapsed()
        );
        // It used more than estimated: the debt delays the next call.
        l.correct_tokens(0, 400);
        let t2 = Instant::now();
        l.take_tokens(200).await;
        assert!(
            t2.elapsed() >= Duration::from_millis(450),
            "{:?}",
            t2.elapsed()
        );
        // No pool, no waiting.
        let free = target("anthropic/c");
        let lf = limits.for_model(&free);
        assert!(!lf.counts_tokens());
        lf.take_tokens(1_000_000).await;
    }

    #[test]
    fn bad_pool_is_named() {
        let pools = vec![RatePool {
            name: "p1".into(),
            rpm: Some(0),
            tpm: None,
            models: vec![],
        }];
        let e = Limits::new(&Concurrency::default(), &pools, &BTreeMap::new(), &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("pools.p1"), "{e}");
        let pools = vec![RatePool {
            name: "p2".into(),
            rpm: Some(5),
            tpm: None,
            models: vec!["a[".into()],
        }];
        let e = Limits::new(&Concurrency::default(), &pools, &BTreeMap::new(), &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("`a[`"), "{e}");
    }
}
