//! The real default model (SmolLM2-135M-Instruct) through our ModelClient.
#![cfg(feature = "llama")]

mod common;

use misalign_core::SamplingParams;
use misalign_local::engine::LlamaClient;
use misalign_local::EngineSettings;
use misalign_models::{CompletionRequest, ModelClient, Outcome};

fn request(user: &str, seed: u64, max_tokens: u32) -> CompletionRequest {
    CompletionRequest {
        model: "smollm2-135m-instruct".into(),
        system: "You are Orla, the scheduling assistant of Brackenfield Tiles Ltd.".into(),
        user: user.into(),
        params: SamplingParams {
            temperature: Some(0.9),
            top_p: Some(0.95),
            max_tokens,
            seed: Some(seed),
            ..SamplingParams::default()
        },
    }
}

fn settings() -> EngineSettings {
    EngineSettings {
        threads: Some(2),
        context_length: Some(2048),
        ..EngineSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_text_and_samples_differ() {
    let path = common::default_model();
    let ask = "Write two sentences about the tile delivery planned for Thursday.";

    let a = LlamaClient::open(&path, &settings()).unwrap();
    let first = a.complete(&request(ask, 11, 40)).await.unwrap();
    assert_eq!(first.outcome, Outcome::Answer, "{first:?}");
    assert!(!first.text.trim().is_empty());
    assert_eq!(first.usage.output_tokens.map(|n| n <= 40), Some(true));
    let second_sample = a.complete(&request(ask, 11, 40)).await.unwrap();

    // A fresh client with the same seed reproduces both samples, in order.
    let b = LlamaClient::open(&path, &settings()).unwrap();
    assert_eq!(b.complete(&request(ask, 11, 40)).await.unwrap().text, first.text);
    assert_eq!(b.complete(&request(ask, 11, 40)).await.unwrap().text, second_sample.text);

    // Sample 1 differs from sample 0, and another seed gives other texts.
    let c = LlamaClient::open(&path, &settings()).unwrap();
    let other: Vec<String> = futures_texts(&c, ask, 12, 3).await;
    let mut distinct = other.clone();
    distinct.push(first.text.clone());
    distinct.push(second_sample.text.clone());
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 3, "samples should usually differ: {distinct:?}");
}

async fn futures_texts(c: &LlamaClient, ask: &str, seed: u64, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.complete(&request(ask, seed, 40)).await.unwrap().text);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_samples_share_one_prefill_and_match_sequential_ones() {
    let path = common::default_model();
    let ask = "List three things to check before signing off the kiln maintenance report.";
    // Sequential: each request alone.
    let seq = LlamaClient::open(&path, &settings()).unwrap();
    let mut alone = Vec::new();
    for _ in 0..4 {
        alone.push(seq.complete(&request(ask, 5, 24)).await.unwrap());
    }
    // Concurrent: the worker batches them as parallel sequences from one prefill.
    let par = std::sync::Arc::new(LlamaClient::open(&path, &settings()).unwrap());
    let mut handles = Vec::new();
    for _ in 0..4 {
        let c = par.clone();
        let r = request(ask, 5, 24);
        handles.push(tokio::spawn(async move { c.complete(&r).await }));
    }
    let mut together = Vec::new();
    for h in handles {
        together.push(h.await.unwrap().unwrap());
    }
    let raw: Vec<serde_json::Value> = together
        .iter()
        .map(|c| serde_json::from_str(c.raw.as_deref().unwrap()).unwrap())
        .collect();
    assert!(raw.iter().any(|r| r["parallel_samples"].as_u64().unwrap() > 1), "{raw:?}");
    // Which request got which discriminator depends on arrival order; the set must match.
    let mut a: Vec<_> = alone.iter().map(|c| c.text.clone()).collect();
    let mut b: Vec<_> = together.iter().map(|c| c.text.clone()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_longer_than_context_names_both_numbers() {
    let path = common::default_model();
    let small = EngineSettings {
        context_length: Some(64),
        threads: Some(2),
        ..EngineSettings::default()
    };
    let c = LlamaClient::open(&path, &small).unwrap();
    let long = "The quarterly glaze inventory lists cobalt, ochre and tin. ".repeat(20);
    let err = c.complete(&request(&long, 1, 8)).await.unwrap_err().to_string();
    assert!(err.contains("context holds only 64"), "{err}");
    assert!(err.contains("tokens"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_ignores_seed_and_long_prompts_are_chunked() {
    let path = common::default_model();
    // A batch of 32 forces a several-hundred-token prompt through many chunks.
    let s = EngineSettings {
        batch_size: 32,
        threads: Some(2),
        context_length: Some(2048),
        ..EngineSettings::default()
    };
    let c = LlamaClient::open(&path, &s).unwrap();
    let long = format!(
        "{}\nSummarise the memo above in one sentence.",
        "Memo: the Harwick depot closes at six; forklifts must be parked in bay C. ".repeat(25)
    );
    let mut r = request(&long, 1, 20);
    r.params.temperature = Some(0.0);
    let x = c.complete(&r).await.unwrap();
    r.params.seed = Some(999);
    let y = c.complete(&r).await.unwrap();
    assert_eq!(x.text, y.text);
    assert!(x.usage.input_tokens.unwrap() > 300, "{:?}", x.usage);
    assert!(!x.text.trim().is_empty());
}
