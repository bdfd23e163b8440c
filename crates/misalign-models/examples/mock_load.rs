//! Throughput of one provider client against the mock: N calls, C in flight, L ms latency.
//!
//! `cargo run --release -p misalign-models --example mock_load -- [CALLS] [CONCURRENCY] [LATENCY_MS]`
//! (defaults 1200 100 200). Prints the wall time next to the latency bound CALLS*L/C.
//! This measures the provider layer alone (no store, no scheduler).

use misalign_core::config::{ProviderConfig, ProviderKind, ResolvedModel};
use misalign_core::SamplingParams;
use misalign_mock::{MockConfig, MockServer};
use misalign_models::{build_client, CompletionRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("numeric arguments: CALLS CONCURRENCY LATENCY_MS")
        })
        .collect();
    let calls = args.first().copied().unwrap_or(1200);
    let concurrency = args.get(1).copied().unwrap_or(100) as usize;
    let latency_ms = args.get(2).copied().unwrap_or(200);

    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(latency_ms),
        record_bodies: false,
        ..MockConfig::default()
    })
    .await
    .expect("mock starts");
    let mut cfg = ProviderConfig::of_kind(ProviderKind::OpenaiCompatible);
    cfg.base_urls = vec![server.openai_url()];
    let model = ResolvedModel {
        name: "mock/mock-model".into(),
        provider: "mock".into(),
        kind: ProviderKind::OpenaiCompatible,
        model_id: "mock-model".into(),
    };
    let client = build_client(&model, &cfg, &|_| None, None).expect("client builds");
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (client, sem) = (client.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let request = CompletionRequest::single_turn(
                "mock-model",
                "You are a load-test agent.",
                &[],
                format!("Message {i} from ops@example-load.example"),
                SamplingParams {
                    max_tokens: 200,
                    seed: Some(i),
                    ..Default::default()
                },
            );
            client.complete(&request).await
        });
    }
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        if !matches!(r, Ok(Ok(_))) {
            failed += 1;
        }
    }
    let elapsed = start.elapsed();
    let bound = Duration::from_millis(calls * latency_ms / concurrency as u64);
    println!(
        "{calls} calls, concurrency {concurrency}, latency {latency_ms} ms: {:.3} s \
         (latency bound {:.3} s, ratio {:.3}), {failed} failed, server saw {}",
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        elapsed.as_secs_f64() / bound.as_secs_f64(),
        server.request_count()
    );
}
