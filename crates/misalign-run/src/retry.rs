//! One call with a timeout and retries: exponential backoff with jitter (backon), Retry-After
//! honoured through backon's `adjust` hook, and only [`ErrorClass::Retryable`] failures retried.

use backon::{ExponentialBuilder, Retryable};
use misalign_models::{Completion, CompletionRequest, ErrorClass, ModelClient, ProviderError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How failed calls are retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`execution.retries`).
    pub retries: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// A server's Retry-After is honoured up to this long.
    pub max_retry_after: Duration,
    /// Per-attempt timeout (`execution.timeout_seconds`).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            timeout: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.retries as usize)
            .with_jitter()
    }

    /// The delay before the next attempt: the backoff's, or the server's Retry-After when
    /// that is longer. `None` (retries exhausted) stays `None`.
    pub fn delay(&self, err: &ProviderError, backoff: Option<Duration>) -> Option<Duration> {
        let d = backoff?;
        Some(match err.retry_after() {
            Some(ra) => ra.min(self.max_retry_after).max(d),
            None => d,
        })
    }
}

/// What a call came to.
#[derive(Debug)]
pub struct CallResult {
    pub result: Result<Completion, ProviderError>,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
}

/// Calls `client` until it answers, fails permanently, runs out of retries, or
/// `keep_retrying()` says stop (the run is shutting down). `on_retry` sees each retry.
pub async fn call(
    client: &dyn ModelClient,
    request: &CompletionRequest,
    policy: &RetryPolicy,
    keep_retrying: impl Fn() -> bool,
    on_retry: impl FnMut(&ProviderError, Duration),
) -> CallResult {
    let (result, attempts) =
        with_retries(|| client.complete(request), policy, keep_retrying, on_retry).await;
    CallResult { result, attempts }
}

/// What a call for several samples of one prompt came to.
#[derive(Debug)]
pub struct ManyResult {
    /// One completion per choice the server returned.
    pub result: Result<Vec<Completion>, ProviderError>,
    pub attempts: u32,
}

/// [`call`] for `n` samples of `request` in one request (`ModelClient::complete_many`).
pub async fn call_many(
    client: &dyn ModelClient,
    request: &CompletionRequest,
    n: u32,
    policy: &RetryPolicy,
    keep_retrying: impl Fn() -> bool,
    on_retry: impl FnMut(&ProviderError, Duration),
) -> ManyResult {
    let (result, attempts) = with_retries(
        || client.complete_many(request, n),
        policy,
        keep_retrying,
        on_retry,
    )
    .await;
    ManyResult { result, attempts }
}

/// The retry loop both calls share: each attempt under the policy's timeout.
async fn with_retries<T, Fut>(
    make: impl Fn() -> Fut,
    policy: &RetryPolicy,
    keep_retrying: impl Fn() -> bool,
    mut on_retry: impl FnMut(&ProviderError, Duration),
) -> (Result<T, ProviderError>, u32)
where
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let attempts = AtomicU32::new(0);
    let timeout = policy.timeout;
    let attempt = || async {
        attempts.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(timeout, make()).await {
            Ok(r) => r,
            Err(_) => Err(ProviderError::Timeout(timeout)),
        }
    };
    let result = attempt
        .retry(policy.backoff())
        .when(|e: &ProviderError| e.class() == ErrorClass::Retryable && keep_retrying())
        .adjust(|e, d| policy.delay(e, d))
        .notify(|e, d| on_retry(e, d))
        .await;
    (result, attempts.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_models::{AnswerKind, Usage};
    use std::sync::Mutex;
    use std::time::Instant;

    /// Replays a script of results, one per attempt.
    struct Script(Mutex<Vec<Result<Completion, ProviderError>>>);

    #[async_trait::async_trait]
    impl ModelClient for Script {
        async fn complete(&self, _: &CompletionRequest) -> Result<Completion, ProviderError> {
            self.0.lock().unwrap().remove(0)
        }
    }

    fn ok() -> Result<Completion, ProviderError> {
        Ok(Completion {
            reasoning_blocks: Vec::new(),
            text: "hi".into(),
            tool_calls: Vec::new(),
            reasoning: None,
            finish_reason: None,
            outcome: AnswerKind::Answer,
            usage: Usage::default(),
            request_id: None,
            raw: None,
        })
    }

    fn http(status: u16, ra: Option<Duration>) -> Result<Completion, ProviderError> {
        Err(ProviderError::Http {
            status,
            message: "x".into(),
            retry_after: ra,
        })
    }

    fn req() -> CompletionRequest {
        CompletionRequest::single_turn("m", "", &[], "", Default::default())
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn retries_retryable_until_success() {
        let c = Script(Mutex::new(vec![http(500, None), http(529, None), ok()]));
        let mut seen = 0;
        let r = call(&c, &req(), &fast(), || true, |_, _| seen += 1).await;
        assert!(r.result.is_ok());
        assert_eq!((r.attempts, seen), (3, 2));
    }

    #[tokio::test]
    async fn permanent_and_auth_are_not_retried() {
        for s in [400, 401, 404] {
            let c = Script(Mutex::new(vec![http(s, None), ok()]));
            let r = call(&c, &req(), &fast(), || true, |_, _| {}).await;
            assert_eq!(r.attempts, 1, "status {s}");
            assert!(r.result.is_err());
        }
    }

    #[tokio::test]
    async fn gives_up_after_retries_and_when_told_to_stop() {
        let c = Script(Mutex::new(vec![http(500, None); 5]));
        let r = call(&c, &req(), &fast(), || true, |_, _| {}).await;
        assert_eq!(r.attempts, 4);
        let c = Script(Mutex::new(vec![http(500, None); 5]));
        let r = call(&c, &req(), &fast(), || false, |_, _| {}).await;
        assert_eq!(r.attempts, 1);
    }

    #[tokio::test]
    async fn honours_retry_after() {
        let c = Script(Mutex::new(vec![
            http(429, Some(Duration::from_millis(300))),
            ok(),
        ]));
        let t0 = Instant::now();
        let mut delays = vec![];
        let r = call(&c, &req(), &fast(), || true, |_, d| delays.push(d)).await;
        assert!(r.result.is_ok());
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert_eq!(delays, vec![Duration::from_millis(300)]);
    }

    #[tokio::test]
    async fn times_out_slow_attempts() {
        struct Slow;
        #[async_trait::async_trait]
        impl ModelClient for Slow {
            async fn complete(&self, _: &CompletionRequest) -> Result<Completion, ProviderError> {
                tokio::time::sleep(Duration::from_secs(5)).await;
                ok()
            }
        }
        let p = RetryPolicy {
            retries: 1,
            timeout: Duration::from_millis(50),
            ..fast()
        };
        let r = call(&Slow, &req(), &p, || true, |_, _| {}).await;
        assert_eq!(r.attempts, 2);
        assert!(matches!(r.result, Err(ProviderError::Timeout(_))));
    }
}
