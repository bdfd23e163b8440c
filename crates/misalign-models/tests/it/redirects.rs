//! A provider (or whoever answers at its address) that redirects: the redirect is never
//! followed, so neither the key (`x-api-key`, `x-goog-api-key`, `Authorization`) nor a
//! configured header reaches the other address, and the error names where it pointed.
//! Real HTTP on loopback: a redirecting server and a victim server that counts requests.

use crate::common;

use common::*;
use misalign_core::config::ProviderKind;
use misalign_models::{ErrorClass, ProviderError};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A loopback server that records each request's head and answers with `reply`.
struct Raw {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Raw {
    fn start(reply: String) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (seen, reply) = (seen.clone(), reply.clone());
                std::thread::spawn(move || serve(conn, &seen, &reply));
            }
        });
        Raw { port, heads }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, seen: &Mutex<Vec<String>>, reply: &str) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push(head);
        let mut w = &conn;
        let _ = w.write_all(reply.as_bytes());
    }
}

const GATEWAY: &str = "gw-token-REDIRECT-5521";

/// Calls a `kind` provider at a server that answers `status` with `Location:` the victim's
/// address; returns the error, what the redirecting server saw and what the victim saw.
async fn redirected(kind: ProviderKind, status: u16) -> (ProviderError, Vec<String>, Vec<String>) {
    let victim = Raw::start(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
            .to_string(),
    );
    let target = format!("{}/steal?via=redirect", victim.url());
    let redirector = Raw::start(format!(
        "HTTP/1.1 {status} Moved\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n"
    ));
    let base = match kind {
        ProviderKind::Anthropic | ProviderKind::Google => redirector.url(),
        _ => format!("{}/v1", redirector.url()),
    };
    let cfg = config(kind, vec![base], &[("x-gateway-token", GATEWAY)]);
    let client = client_with(kind, cfg, 5 * SECOND);
    let model = match kind {
        ProviderKind::Anthropic => "claude-test",
        ProviderKind::Google => "gemini-test",
        _ => "mock-model",
    };
    let e = client
        .complete(&request(model, params(50)))
        .await
        .expect_err("a redirect is an error");
    // Give a followed request time to arrive (it would be sent before `complete` returns,
    // but the victim's thread records it).
    std::thread::sleep(std::time::Duration::from_millis(100));
    (e, redirector.heads(), victim.heads())
}

#[tokio::test]
async fn redirects_are_not_followed_with_any_credential() {
    for (kind, key_header) in [
        (ProviderKind::Anthropic, "x-api-key"),
        (ProviderKind::OpenaiCompatible, "authorization"),
        (ProviderKind::Google, "x-goog-api-key"),
    ] {
        for status in [301, 302, 303, 307, 308] {
            let (e, sent, stolen) = redirected(kind, status).await;
            // The redirecting server got the call (with the key: it is the configured
            // address), the other address got nothing.
            assert_eq!(sent.len(), 1, "{kind:?} {status}");
            let head = sent[0].to_ascii_lowercase();
            assert!(head.contains(key_header), "{kind:?}: {head}");
            assert!(head.contains(&GATEWAY.to_ascii_lowercase()), "{head}");
            assert!(
                stolen.is_empty(),
                "{kind:?} {status}: the redirect was followed: {stolen:?}"
            );
            let text = e.to_string();
            assert!(
                matches!(e, ProviderError::Http { status: s, .. } if s == status),
                "{kind:?} {e:?}"
            );
            assert_eq!(e.class(), ErrorClass::Permanent, "{kind:?} {status}");
            assert!(text.contains("/steal?via=redirect"), "{text}");
            assert!(text.contains("not followed"), "{text}");
            assert!(
                !text.contains("SECRET") && !text.contains(GATEWAY),
                "{text}"
            );
        }
    }
}
