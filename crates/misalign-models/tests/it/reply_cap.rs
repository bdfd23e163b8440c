//! `execution.max_reply_bytes`: a reply body is read chunk by chunk and the call fails once
//! it passes the cap, so an endless chunked reply (a broken or hostile server) cannot take
//! the memory. Real HTTP against a loopback server that streams without end.

use crate::common::*;
use misalign_core::config::ProviderKind;
use misalign_models::{
    build_client_with, ClientOptions, ErrorClass, ProviderError, DEFAULT_MAX_REPLY_BYTES,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server on 127.0.0.1 that answers every request with status 200 and `head` (extra
/// header lines), then 64 KiB chunks of `a` without end, until the client goes
/// away. Returns its base URL and the count of body bytes it managed to send.
async fn endless_server(head: &'static str) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                // Read the request head (the body is small and ignored).
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let start =
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{head}\r\n");
                if sock.write_all(start.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'a'; 64 * 1024];
                let framed = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk.clone(),
                    b"\r\n".to_vec(),
                ]
                .concat();
                let chunked = head.contains("chunked");
                loop {
                    let bytes: &[u8] = if chunked { &framed } else { &chunk };
                    if sock.write_all(bytes).await.is_err() {
                        return;
                    }
                    counter.fetch_add(64 * 1024, Ordering::Relaxed);
                }
            });
        }
    });
    (format!("http://{addr}/v1"), sent)
}

fn capped_client(url: String, cap: u64) -> Arc<dyn misalign_models::ModelClient> {
    let kind = ProviderKind::OpenaiCompatible;
    let cfg = config(kind, vec![url], &[]);
    build_client_with(
        &resolved(kind, "test", "mock-model"),
        &cfg,
        &env_with_key,
        None,
        &ClientOptions {
            timeout: Duration::from_secs(60),
            max_reply_bytes: cap,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn an_endless_chunked_reply_fails_the_call_at_the_cap() {
    let (url, sent) = endless_server("transfer-encoding: chunked\r\n").await;
    let cap = 1024 * 1024;
    let client = capped_client(url, cap);
    let t0 = Instant::now();
    let err = client
        .complete(&request("mock-model", params(100)))
        .await
        .expect_err("an endless reply cannot succeed");
    // Quickly, with the reason and the cap in the message, and not retried by the scheduler.
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(
        matches!(err, ProviderError::TooLarge { limit, .. } if limit == cap),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("reply larger than 1048576 bytes"), "{text}");
    assert!(text.contains("execution.max_reply_bytes"), "{text}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    // The client stopped reading: the server could send only the cap plus what socket
    // buffers hold, not the unbounded stream it wanted to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = sent.load(Ordering::Relaxed);
    assert!(n < cap + 32 * 1024 * 1024, "server sent {n} bytes");
}

#[tokio::test]
async fn a_declared_length_above_the_cap_is_refused_before_reading() {
    let (url, _) = endless_server("content-length: 999999999999\r\n").await;
    let client = capped_client(url, 4096);
    let err = client
        .complete(&request("mock-model", params(100)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("reply larger than 4096 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn replies_under_the_cap_still_work_and_the_default_is_8_mib() {
    assert_eq!(DEFAULT_MAX_REPLY_BYTES, 8 * 1024 * 1024);
    assert_eq!(
        ClientOptions::default().max_reply_bytes,
        DEFAULT_MAX_REPLY_BYTES
    );
    let server = mock(misalign_mock::MockConfig::default()).await;
    let kind = ProviderKind::OpenaiCompatible;
    let client = capped_client(base_url(kind, &server), 64 * 1024);
    let c = client
        .complete(&request("mock-model", params(100)))
        .await
        .expect("a normal reply fits");
    assert!(!c.text.is_empty());
    // The same reply with a cap below its size fails.
    let client = capped_client(base_url(kind, &server), 64);
    let err = client
        .complete(&request("mock-model", params(100)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("reply larger than 64 bytes"),
        "{err}"
    );
}
