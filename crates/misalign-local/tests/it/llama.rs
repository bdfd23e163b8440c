//! The real default model (SmolLM2-135M-Instruct) through our ModelClient.
#![cfg(feature = "llama")]

use crate::common;

use misalign_core::SamplingParams;
use misalign_local::engine::LlamaClient;
use misalign_local::EngineSettings;
use misalign_models::{AnswerKind, CompletionRequest, ModelClient};

fn request(user: &str, seed: u64, max_tokens: u32) -> CompletionRequest {
    CompletionRequest::single_turn(
        "smollm2-135m-instruct",
        "You are Orla, the scheduling assistant of Brackenfield Tiles Ltd.",
        &[],
        user,
        SamplingParams {
            temperature: Some(0.9),
            top_p: Some(0.95),
            max_tokens,
            seed: Some(seed),
            ..SamplingParams::default()
        },
    )
}

fn settings() -> EngineSettings {
    EngineSettings {
        threads: Some(2),
        context_length: Some(2048),
        ..EngineSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_text_other_seeds_differ() {
    let _one = common::serial().await;
    let path = common::default_model();
    let ask = "Write two sentences about the tile delivery planned for Thursday.";

    let a = LlamaClient::open(&path, &settings()).unwrap();
    let first = a.complete(&request(ask, 11, 40)).await.unwrap();
    assert_eq!(first.outcome, AnswerKind::Answer, "{first:?}");
    assert!(!first.text.trim().is_empty());
    assert_eq!(first.usage.output_tokens.map(|n| n <= 40), Some(true));
    // Same client, same seed (the prompt is now cached): the same text.
    assert_eq!(
        a.complete(&request(ask, 11, 40)).await.unwrap().text,
        first.text
    );

    // A fresh client with the same seed reproduces it too.
    let b = LlamaClient::open(&path, &settings()).unwrap();
    assert_eq!(
        b.complete(&request(ask, 11, 40)).await.unwrap().text,
        first.text
    );

    // The scheduler gives sample i the seed `seed + i`: those samples usually differ.
    let mut texts = vec![first.text.clone()];
    for seed in 12..15 {
        texts.push(b.complete(&request(ask, seed, 40)).await.unwrap().text);
    }
    texts.sort();
    texts.dedup();
    assert!(texts.len() >= 3, "samples should usually differ: {texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_samples_share_one_prefill_and_match_sequential_ones() {
    let _one = common::serial().await;
    let path = common::default_model();
    let ask = "List three things to check before signing off the kiln maintenance report.";
    // Sequential: each request alone.
    let seq = LlamaClient::open(&path, &settings()).unwrap();
    let mut alone = Vec::new();
    for seed in 5..9 {
        alone.push(seq.complete(&request(ask, seed, 24)).await.unwrap());
    }
    // Concurrent: the worker batches them as parallel sequences from one prefill.
    let par = std::sync::Arc::new(LlamaClient::open(&path, &settings()).unwrap());
    let mut handles = Vec::new();
    for seed in 5..9 {
        let c = par.clone();
        let r = request(ask, seed, 24);
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
    assert!(
        raw.iter()
            .any(|r| r["parallel_samples"].as_u64().unwrap() > 1),
        "{raw:?}"
    );
    // Each seed gives the same answer alone or in a batch, whatever the arrival order.
    let a: Vec<_> = alone.iter().map(|c| c.text.clone()).collect();
    let b: Vec<_> = together.iter().map(|c| c.text.clone()).collect();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_longer_than_context_names_both_numbers() {
    let _one = common::serial().await;
    let path = common::default_model();
    // llama.cpp rounds the context up to a multiple of 256.
    let small = EngineSettings {
        context_length: Some(256),
        threads: Some(2),
        ..EngineSettings::default()
    };
    let c = LlamaClient::open(&path, &small).unwrap();
    let long = "The quarterly glaze inventory lists cobalt, ochre and tin. ".repeat(40);
    let err = c
        .complete(&request(&long, 1, 8))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("context holds only 256"), "{err}");
    assert!(
        err.contains("the prompt has ") && err.contains("context_length"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_ignores_seed_and_long_prompts_are_chunked() {
    let _one = common::serial().await;
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
