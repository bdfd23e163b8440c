//! Error classification for every protocol, against injected mock faults over real HTTP,
//! and the fake key's absence from every error's Display and Debug text.

use crate::common;

use common::*;
use misalign_core::config::ProviderKind;
use misalign_mock::MockConfig;
use misalign_models::{AnswerKind, ErrorClass, ProviderError};
use std::time::{Duration, Instant};

const KINDS: [ProviderKind; 3] = [
    ProviderKind::OpenaiCompatible,
    ProviderKind::Anthropic,
    ProviderKind::Google,
];

fn model_for(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "claude-test",
        ProviderKind::Google => "gemini-test",
        _ => "mock-model",
    }
}

fn assert_no_key(e: &ProviderError) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains("SECRET"), "key leaked: {text}");
    }
}

/// Calls with the mock forced to `fault` and returns the error.
async fn fail_with(kind: ProviderKind, fault: &str, timeout: Duration) -> ProviderError {
    let server = mock(MockConfig {
        slow: Duration::from_secs(5),
        retry_after_secs: 7,
        ..MockConfig::default()
    })
    .await;
    let client = client_for(kind, &server, &[("x-mock-fault", fault)], timeout);
    let e = client
        .complete(&request(model_for(kind), params(100)))
        .await
        .expect_err(fault);
    assert_no_key(&e);
    assert_eq!(server.request_count(), 1);
    eprintln!("{kind:?} {fault}: {e}");
    e
}

#[tokio::test]
async fn status_errors_are_classified() {
    for kind in KINDS {
        let e = fail_with(kind, "429", 10 * SECOND).await;
        assert!(
            matches!(e, ProviderError::Http { status: 429, .. }),
            "{kind:?} {e:?}"
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.class(), ErrorClass::Retryable);
        assert!(e.to_string().contains("rate limit reached"), "{e}");

        let e = fail_with(kind, "500", 10 * SECOND).await;
        assert!(
            matches!(e, ProviderError::Http { status: 500, .. }),
            "{kind:?} {e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Retryable);
        assert_eq!(e.retry_after(), None);

        let e = fail_with(kind, "529", 10 * SECOND).await;
        assert!(
            matches!(e, ProviderError::Http { status: 529, .. }),
            "{kind:?} {e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Retryable);
        assert!(e.to_string().contains("overloaded"), "{e}");
    }
}

#[tokio::test]
async fn wrong_key_is_an_auth_error_without_the_key() {
    for kind in KINDS {
        let server = mock(MockConfig::default()).await;
        // The server now expects another key than the client's KEY.
        server.update_config(|c| c.api_key = Some("sk-test-the-right-one".into()));
        let client = client_for(kind, &server, &[], 10 * SECOND);
        let e = client
            .complete(&request(model_for(kind), params(100)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProviderError::Http { status: 401, .. }),
            "{kind:?} {e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Auth);
        assert_no_key(&e);
        assert_eq!(server.stats().unauthorized, 1);
    }
}

#[tokio::test]
async fn injected_401_is_auth() {
    for kind in KINDS {
        let e = fail_with(kind, "401", 10 * SECOND).await;
        assert_eq!(e.class(), ErrorClass::Auth, "{kind:?} {e:?}");
    }
}

#[tokio::test]
async fn dropped_connection_is_a_connection_error() {
    for kind in KINDS {
        let e = fail_with(kind, "drop", 10 * SECOND).await;
        assert!(matches!(e, ProviderError::Connection(_)), "{kind:?} {e:?}");
        assert_eq!(e.class(), ErrorClass::Retryable);
    }
}

#[tokio::test]
async fn truncated_json_is_malformed() {
    for kind in KINDS {
        let e = fail_with(kind, "truncate", 10 * SECOND).await;
        assert!(matches!(e, ProviderError::Malformed(_)), "{kind:?} {e:?}");
        assert_eq!(e.class(), ErrorClass::Retryable);
    }
}

#[tokio::test]
async fn slow_reply_times_out() {
    for kind in KINDS {
        let start = Instant::now();
        let e = fail_with(kind, "slow", Duration::from_millis(300)).await;
        assert_eq!(
            e,
            ProviderError::Timeout(Duration::from_millis(300)),
            "{kind:?}"
        );
        assert_eq!(e.class(), ErrorClass::Retryable);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn content_filter_and_empty_are_outcomes() {
    for kind in KINDS {
        let server = mock(MockConfig::default()).await;
        let client = client_for(kind, &server, &[("x-mock-fault", "filter")], 10 * SECOND);
        let c = client
            .complete(&request(model_for(kind), params(100)))
            .await
            .unwrap();
        assert_eq!(c.outcome, AnswerKind::ContentFiltered, "{kind:?}");

        let client = client_for(kind, &server, &[("x-mock-fault", "empty")], 10 * SECOND);
        let c = client
            .complete(&request(model_for(kind), params(100)))
            .await
            .unwrap();
        assert_eq!(c.outcome, AnswerKind::Empty, "{kind:?}");
        assert_eq!(c.text, "");
    }
}

#[tokio::test]
async fn refused_connection_is_a_connection_error() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for kind in KINDS {
        let cfg = config(kind, vec![dead.clone()], &[]);
        let client = client_with(kind, cfg, 10 * SECOND);
        let e = client
            .complete(&request(model_for(kind), params(100)))
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Connection(_)), "{kind:?} {e:?}");
        assert_no_key(&e);
    }
}

#[tokio::test]
async fn fail_first_attempts_then_answer() {
    let server = mock(MockConfig {
        fail_first: 2,
        fail_first_kind: "529".parse().unwrap(),
        ..MockConfig::default()
    })
    .await;
    let client = client_for(ProviderKind::OpenaiCompatible, &server, &[], 10 * SECOND);
    let req = request("mock-model", params(100));
    for _ in 0..2 {
        let e = client.complete(&req).await.unwrap_err();
        assert!(
            matches!(e, ProviderError::Http { status: 529, .. }),
            "{e:?}"
        );
    }
    let c = client.complete(&req).await.unwrap();
    assert_eq!(c.outcome, AnswerKind::Answer);
    let stats = server.stats();
    assert_eq!(
        (stats.requests, stats.answered, stats.max_per_prompt),
        (3, 1, 3)
    );
    assert_eq!(stats.faults.get("529"), Some(&2));
}

#[tokio::test]
async fn client_debug_output_hides_the_key() {
    let server = mock(MockConfig::default()).await;
    let t = misalign_models::http::Transport::new(
        &[server.url()],
        Some(misalign_models::ApiKey::new(KEY)),
        misalign_models::http::AuthStyle::Bearer,
        &[("x-gateway-token".into(), "gw-SECRET-1".into())],
        &Default::default(),
    )
    .unwrap();
    let anthropic = misalign_models::anthropic::AnthropicClient::new(t);
    let dbg = format!("{anthropic:?}");
    assert!(!dbg.contains("SECRET"), "{dbg}");
    assert!(dbg.contains("[redacted]"), "{dbg}");
}
