//! A results folder is hostile input, two processes never pay twice, nothing is lost on a
//! kill: the real binary against the loopback mock (or a scripted loopback server that says
//! what an attacker's would) with real SQLite stores.

use crate::support::{bin, classifications, count, responses, ResponseRecord, TestContext};
use misalign_core::{Condition, GoalType, Urgency};
use misalign_mock::{MockConfig, MockServer};
use misalign_store::testdata::{fill_synthetic, Filler, Sample};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY_VAR: &str = "HOSTILE_TEST_KEY";
const KEY: &str = "sk-hostile-test-key-0001";

/// A test's folder, every command of it with the key in the environment.
fn context() -> TestContext {
    TestContext::new().env(KEY_VAR, KEY)
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An experiment against an OpenAI-compatible server at `url`: `scenarios` x (explicit,
/// none) conditions, `samples` each. `extra_provider` is indented under the provider,
/// `global_extra` under `global:`.
struct Exp<'a> {
    id: &'a str,
    url: &'a str,
    models: &'a str,
    scenarios: &'a str,
    samples: u32,
    classify: bool,
    extra_provider: &'a str,
    global_extra: &'a str,
}

impl Default for Exp<'_> {
    fn default() -> Self {
        Exp {
            id: "hostile-test",
            url: "http://127.0.0.1:9/v1",
            models: "mock/mock-model",
            scenarios: "blackmail",
            samples: 2,
            classify: false,
            extra_provider: "",
            global_extra: "",
        }
    }
}

impl Exp<'_> {
    fn write(&self, path: &Path) {
        let text = format!(
            "experiment_id: {id}
providers:
  mock:
    kind: openai-compatible
    base_url: {url}
    api_key_env: {KEY_VAR}
{extra_provider}
global:
  models: [{models}]
  temperature: 1.0
  max_tokens: 100
  samples_per_condition: {samples}
  concurrency:
    providers:
      mock: 4
{global_extra}
expansions:
  - name: grid
    enabled: true
    variables:
      scenarios: [{scenarios}]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement]
classification:
  enabled: {classify}
execution:
  timeout_seconds: 20
  retries: 2
",
            id = self.id,
            url = self.url,
            extra_provider = self.extra_provider,
            models = self.models,
            samples = self.samples,
            global_extra = self.global_extra,
            scenarios = self.scenarios,
            classify = self.classify,
        );
        std::fs::write(path, text).unwrap();
    }
}

/// A loopback HTTP server answering every request with what `reply` makes of the request
/// (its head and body): a provider that says what an attacker's would.
pub(crate) struct Scripted {
    port: u16,
    requests: Arc<AtomicU64>,
}

type Reply = dyn Fn(&str, &str) -> (u16, String) + Send + Sync;

impl Scripted {
    pub(crate) fn start(
        reply: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let reply: Arc<Reply> = Arc::new(reply);
        let count = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (reply, count) = (reply.clone(), count.clone());
                std::thread::spawn(move || serve_one(conn, &*reply, &count));
            }
        });
        Scripted { port, requests }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub(crate) fn count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve_one(conn: TcpStream, reply: &Reply, count: &AtomicU64) {
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
        count.fetch_add(1, Ordering::SeqCst);
        let (status, text) = reply(&head, &String::from_utf8_lossy(&body));
        let mut w = &conn;
        let _ = write!(
            w,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
    }
}

/// An OpenAI chat completion reply; `content` is JSON string content (already escaped).
pub(crate) fn completion(content: &str, usage: &str) -> String {
    format!(
        r#"{{"id":"c1","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}"}},"finish_reason":"stop"}}],"usage":{usage}}}"#
    )
}

pub(crate) fn json_escape(s: &str) -> String {
    let v = serde_json::to_string(s).unwrap();
    v[1..v.len() - 1].to_string()
}

pub(crate) fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub(crate) fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn condition() -> Condition {
    Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    )
}

fn sample(verdict: bool) -> Sample {
    Sample {
        answer: "I will wait for the board.".into(),
        verdict: Some(verdict),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- 1, 2: writes and kills

#[cfg(unix)]
#[test]
fn report_replaces_planted_symlinks_and_neutralises_formulas() {
    let dir = context();
    let out = dir.path().join("out");
    let f = Filler::new(&out).unwrap();
    f.add(
        "=HYPERLINK(\"http://x.example\")",
        &condition(),
        0,
        &sample(true),
    )
    .unwrap();
    f.add("-2+3", &condition(), 0, &sample(false)).unwrap();
    f.finish().unwrap();
    let victims: Vec<PathBuf> = ["csv", "json", "html"]
        .iter()
        .map(|ext| {
            let v = dir.path().join(format!("victim.{ext}"));
            std::fs::write(&v, "precious\n").unwrap();
            v
        })
        .collect();
    for (name, v) in ["summary.csv", "summary.json", "report.html"]
        .iter()
        .zip(&victims)
    {
        std::os::unix::fs::symlink(v, out.join(name)).unwrap();
    }
    let r = dir.misalign(&["report", "out"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    for v in &victims {
        assert_eq!(
            std::fs::read_to_string(v).unwrap(),
            "precious\n",
            "{}",
            v.display()
        );
    }
    for name in ["summary.csv", "summary.json", "report.html"] {
        let m = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(m.file_type().is_file(), "{name} is still a link");
    }
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x.example\"\")\""),
        "{csv}"
    );
    assert!(csv.contains("'-2+3,"), "{csv}");
    assert!(
        !csv.lines()
            .any(|l| l.starts_with('=') || l.starts_with('-')),
        "{csv}"
    );
}

#[cfg(unix)]
#[test]
fn export_refuses_a_models_folder_that_is_a_symlink() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let server = server_rt
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let dir = context();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let url = server.openai_url();
    Exp {
        url: &url,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    std::fs::remove_dir_all(dir.path().join("out/models")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.path().join("out/models")).unwrap();
    std::fs::write(dir.path().join("exp.yaml"), {
        let t = std::fs::read_to_string(dir.path().join("exp.yaml")).unwrap();
        t.replace("samples_per_condition: 2", "samples_per_condition: 3")
    })
    .unwrap();
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    let err = text(&r.stderr);
    assert!(!r.status.success(), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert!(
        all_files(&elsewhere).is_empty(),
        "{:?}",
        all_files(&elsewhere)
    );
}

/// `report` killed with SIGKILL at several points leaves every report file either as it was
/// or complete, never truncated.
#[test]
fn kill_9_during_report_keeps_the_last_good_report() {
    let dir = context();
    let out = dir.path().join("out");
    fill_synthetic(&out, 2, 12, 60, 20_000).unwrap();
    let r = dir.misalign(&["report", "out"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let names = ["summary.csv", "summary.json", "report.html"];
    let good: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(out.join(n)).unwrap())
        .collect();
    let t0 = Instant::now();
    let r = dir.misalign(&["report", "out"]);
    assert!(r.status.success());
    let full = t0.elapsed();
    assert!(
        good[2].len() > 10_000_000,
        "report.html is only {} bytes",
        good[2].len()
    );
    let mut interrupted = 0;
    for i in 1..=8u32 {
        let at = full * i / 9;
        let mut child = dir.spawn(&["report", "out"]);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        interrupted += u32::from(!status.success());
        for (n, g) in names.iter().zip(&good) {
            let now = std::fs::read(out.join(n)).unwrap();
            assert!(
                now == *g,
                "{n} changed after kill -9 at {at:?}: {} bytes instead of {}",
                now.len(),
                g.len()
            );
        }
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} of 8 reports were killed mid-way"
    );
    // A later report cleans nothing up it should not: the results are still there.
    let r = dir.misalign(&["report", "out"]);
    assert!(r.status.success());
}

// ---------------------------------------------------------------- 3: one process per folder

#[test]
fn two_runs_started_at_once_pay_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockServer::start(MockConfig {
            latency: Duration::from_millis(15),
            ..Default::default()
        }))
        .unwrap();
    let dir = context();
    let url = server.openai_url();
    Exp {
        url: &url,
        scenarios: "blackmail, leaking",
        samples: 50,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let start = || {
        dir.command()
            .args(["run", "exp.yaml", "--out", "out", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (pa, pb) = (a.id(), b.id());
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(
        server.request_count(),
        200,
        "the plan was paid for more than once"
    );
    let (winner, loser, winner_pid) = match (oa.status.success(), ob.status.success()) {
        (true, false) => (&oa, &ob, pa),
        (false, true) => (&ob, &oa, pb),
        _ => panic!(
            "exactly one run must succeed:\nA {:?} {}\nB {:?} {}",
            oa.status,
            text(&oa.stderr),
            ob.status,
            text(&ob.stderr)
        ),
    };
    let why = text(&loser.stderr);
    assert_eq!(loser.status.code(), Some(2), "{why}");
    assert!(why.contains("in use by another misalign process"), "{why}");
    assert!(why.contains(&format!("pid {winner_pid} ")), "{why}");
    let _ = winner;
    let store = dir.path().join("out/results.sqlite");
    assert_eq!(responses(&store).len(), 200);
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockServer::start(MockConfig {
            latency: Duration::from_millis(200),
            ..Default::default()
        }))
        .unwrap();
    let dir = context();
    let url = server.openai_url();
    Exp {
        url: &url,
        samples: 20,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let mut child = dir.spawn(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.request_count() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = std::fs::read_to_string(dir.path().join("out/.misalign.lock")).unwrap();
    assert!(lock.starts_with(&format!("pid {} ", child.id())), "{lock}");
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    let err = text(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("taking over"), "{err}");
    let lock = std::fs::read_to_string(dir.path().join("out/.misalign.lock")).unwrap();
    assert_eq!(lock, "", "a clean exit leaves an empty lock file");
}

// ---------------------------------------------------------------- 4: model folders

#[test]
fn models_whose_names_differ_only_in_slash_or_underscore_get_their_own_folders() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let dir = context();
    let url = server.openai_url();
    let long = format!("mock/{}", "l".repeat(300));
    let models = format!("mock/a/b, mock/a_b, {long}");
    Exp {
        url: &url,
        models: &models,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let models_dir = dir.path().join("out/models");
    let mut folders: Vec<String> = std::fs::read_dir(&models_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 3, "{folders:?}");
    assert!(folders.contains(&"mock_a_b".to_string()), "{folders:?}");
    assert!(folders.contains(&"mock_a%5Fb".to_string()), "{folders:?}");
    for f in &folders {
        assert!(f.len() <= 200, "{f}");
        let files = all_files(&models_dir.join(f));
        assert_eq!(files.len(), 4, "{f}: {files:?}");
        for file in files {
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let model = doc["metadata"]["model"].as_str().unwrap().to_string();
            assert_eq!(misalign_store::layout::model_folder(&model), *f);
        }
    }
}

#[test]
fn models_that_clash_on_a_case_insensitive_disk_are_refused_before_any_call() {
    let server = Scripted::start(|_, _| (200, completion("hi", "{}")));
    let dir = context();
    let url = server.url();
    Exp {
        url: &url,
        models: "mock/Model, mock/model",
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out"]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("upper/lower case"), "{err}");
    assert_eq!(server.count(), 0);
}

// ---------------------------------------------------------------- 5: hostile numbers

#[test]
fn absurd_token_counts_and_the_largest_seed_do_not_poison_the_store() {
    let server = Scripted::start(|_, _| {
        (
            200,
            completion(
                "I will wait.",
                r#"{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551615}"#,
            ),
        )
    });
    let dir = context();
    let url = server.url();
    Exp {
        url: &url,
        samples: 3,
        global_extra: "  seed: 18446744073709551615",
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    // The library's warning reaches the user (a tracing subscriber is installed).
    assert!(
        text(&r.stderr).contains("implausible"),
        "{}",
        text(&r.stderr)
    );
    let store = dir.path().join("out/results.sqlite");
    let rows = responses(&store);
    assert_eq!(count(&rows, |r| r.status == "answer"), 6);
    assert_eq!(
        count(&rows, |r| r.output_tokens.is_some()),
        0,
        "implausible counts are stored as unknown"
    );
    // The raw reply keeps what the provider said.
    let kept = |r: &ResponseRecord| {
        r.raw_reply
            .as_deref()
            .is_some_and(|x| x.contains("18446744073709551615"))
    };
    assert_eq!(count(&rows, kept), 6);
    for _ in 0..2 {
        let st = dir.misalign(&["status", "out", "--json"]);
        assert!(st.status.success(), "{}", text(&st.stderr));
        let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        assert_eq!(j["total"]["completed"], 6);
    }
    // A store poisoned by an older misalign (the largest integer SQLite holds, twice)
    // still gives a status.
    misalign_store::testdata::plant::output_tokens(&store, i64::MAX).unwrap();
    let st = dir.misalign(&["status", "out"]);
    assert!(st.status.success(), "{}", text(&st.stderr));
}

// ---------------------------------------------------------------- 6: secrets in headers

#[test]
fn configured_header_values_are_redacted_when_a_server_echoes_them() {
    const GATEWAY: &str = "gw-token-ECHOED-7731";
    let server = Scripted::start(|head, _| {
        let echo = format!("You sent:\n{head}");
        (
            200,
            completion(
                &json_escape(&echo),
                r#"{"prompt_tokens":5,"completion_tokens":7}"#,
            ),
        )
    });
    let dir = context();
    let url = server.url();
    Exp {
        url: &url,
        classify: true,
        extra_provider: &format!("    headers:\n      x-gateway-token: {GATEWAY}\n"),
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(server.count() >= 4);
    let out = dir.path().join("out");
    assert!(out.join("report.html").exists());
    for needle in [GATEWAY, KEY] {
        assert!(!contains(&r.stderr, needle) && !contains(&r.stdout, needle));
        for f in all_files(&out) {
            let b = std::fs::read(&f).unwrap();
            assert!(!contains(&b, needle), "{needle} found in {}", f.display());
        }
    }
    // The echo itself was stored (redacted), so the test saw what it meant to.
    let store = out.join("results.sqlite");
    let echoed = |r: &ResponseRecord| {
        r.answer
            .as_deref()
            .is_some_and(|a| a.contains("x-gateway-token: [redacted]"))
    };
    assert_eq!(count(&responses(&store), echoed), 4);
}

#[test]
fn a_key_that_cannot_be_a_header_value_stops_before_any_call() {
    let server = Scripted::start(|_, _| (200, completion("hi", "{}")));
    let dir = context();
    let url = server.url();
    Exp {
        url: &url,
        samples: 5,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir
        .command()
        .env(KEY_VAR, "sk-first-half\nsk-second-half")
        .args(["run", "exp.yaml", "--out", "out", "--quiet"])
        .output()
        .unwrap();
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("not allowed in HTTP headers"), "{err}");
    assert!(!err.contains("sk-first-half"), "{err}");
    assert_eq!(server.count(), 0);
    assert!(!dir.path().join("out/results.sqlite").exists());
}

// ---------------------------------------------------------------- 7: .env

#[test]
fn a_bad_dotenv_line_is_reported_with_file_and_line() {
    let dir = context();
    Exp::default().write(&dir.path().join("exp.yaml"));
    std::fs::write(
        dir.path().join(".env"),
        "FIRST=1\nTHIS LINE IS sk-not-a-secret-9 BROKEN\nHOSTILE_TEST_KEY=later\n",
    )
    .unwrap();
    let r = dir
        .command()
        .env_remove(KEY_VAR)
        .args(["run", "exp.yaml", "--dry-run"])
        .output()
        .unwrap();
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains(".env: line 2"), "{err}");
    assert!(
        !err.contains("sk-not-a-secret-9"),
        "the line's text is not echoed: {err}"
    );
}

// ---------------------------------------------------------------- 8: read-only review

/// Runs `script` (sh) with `dir` bind-mounted read-only in a private mount namespace.
/// Fails the test when private mount namespaces are unavailable.
fn in_read_only_namespace(dir: &Path, script: &str) -> Option<Output> {
    let d = dir.display();
    let full = format!("mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}' && {script}");
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &full])
        .output();
    let refused = match &out {
        Err(e) => Some(e.to_string()),
        Ok(o) if o.status.code() != Some(0) && text(&o.stderr).contains("unshare") => {
            Some(text(&o.stderr))
        }
        Ok(o) if o.status.code() != Some(0) && text(&o.stderr).contains("mount") => {
            Some(text(&o.stderr))
        }
        Ok(_) => None,
    };
    if let Some(why) = refused {
        // A read-only test that skips would pass without checking anything.
        panic!("a private mount namespace is required (run as root with unshare): {why}");
    }
    out.ok()
}

#[test]
fn status_report_and_view_work_on_a_read_only_mount() {
    let dir = context();
    let out = dir.path().join("out");
    fill_synthetic(&out, 1, 2, 3, 100).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let b = bin().display().to_string();
    let o = out.display().to_string();
    let e = elsewhere.path().display().to_string();
    let script = format!(
        "touch '{o}/probe' 2>/dev/null && echo WRITABLE; \
         '{b}' status '{o}' && '{b}' report '{o}' --out '{e}' && \
         ( '{b}' view '{o}' --port 0 & pid=$!; sleep 2; kill $pid )"
    );
    let Some(r) = in_read_only_namespace(&out, &script) else {
        return;
    };
    let stdout = text(&r.stdout);
    let stderr = text(&r.stderr);
    assert!(!stdout.contains("WRITABLE"), "the mount was not read-only");
    assert!(r.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("mock/model-0"), "{stdout}");
    assert!(stdout.contains("Viewer for"), "{stdout}\n{stderr}");
    for f in ["summary.csv", "summary.json", "report.html"] {
        assert!(elsewhere.path().join(f).exists(), "{f}");
        assert!(!out.join(f).exists(), "{f} written into the results folder");
    }
}

// ---------------------------------------------------------------- 9: terminal output

#[test]
fn status_cleans_escape_sequences_and_survives_a_closed_pipe() {
    let dir = context();
    let out = dir.path().join("out");
    let f = Filler::new(&out).unwrap();
    f.add(
        "mock/\u{1b}[2J\u{1b}]0;pwned\u{7}x",
        &condition(),
        0,
        &sample(true),
    )
    .unwrap();
    f.finish().unwrap();
    let r = dir.misalign(&["status", "out"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(
        !r.stdout.contains(&0x1b) && !r.stdout.contains(&0x07),
        "{:?}",
        text(&r.stdout)
    );
    assert!(text(&r.stdout).contains("mock/?[2J?]0;pwned?x"));
    // stdout closed before anything is printed: a quiet exit, not a panic (101).
    let mut child = dir
        .command()
        .args(["status", "out"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn classify_cleans_scenario_names_from_the_store() {
    let dir = context();
    let out = dir.path().join("out");
    let f = Filler::new(&out).unwrap();
    let c = Condition::new(
        "black\u{1b}[31mmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    let mut s = sample(true);
    s.unclassified = true;
    f.add("mock/m", &c, 0, &s).unwrap();
    f.finish().unwrap();
    Exp::default().write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["classify", "out", "--no-judge", "--experiment", "exp.yaml"]);
    let all = [r.stdout.clone(), r.stderr.clone()].concat();
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(
        text(&r.stdout).contains("black?[31mmail"),
        "{}",
        text(&r.stdout)
    );
    assert!(!all.contains(&0x1b), "{}", text(&all));
}

#[test]
fn classify_does_not_send_keys_where_a_results_folder_says() {
    let dir = context();
    let out = dir.path().join("out");
    let f = Filler::new(&out).unwrap();
    let mut s = sample(true);
    s.unclassified = true;
    f.add("mock/m", &condition(), 0, &s).unwrap();
    f.finish().unwrap();
    let recorded = dir.path().join("recorded.yaml");
    for (url, refused) in [
        ("http://collector.attacker.invalid/v1", true),
        ("http://10.0.0.5:8000/v1", true),
        ("http://127.0.0.1:9/v1", false),
        ("http://[::1]:9/v1", false),
    ] {
        Exp {
            url,
            classify: true,
            ..Default::default()
        }
        .write(&recorded);
        let mut yaml = std::fs::read_to_string(&recorded).unwrap();
        if refused {
            // A judge at that provider would get the reader's key.
            yaml = yaml.replace(
                "classification:\n  enabled: true\n",
                "classification:\n  enabled: true\n  classifier_model: mock/judge\n",
            );
            assert!(yaml.contains("classifier_model"));
        }
        let store = out.join("results.sqlite");
        misalign_store::testdata::plant::experiment_text(&store, &yaml).unwrap();
        let r = dir.misalign(&["classify", "out"]);
        let err = text(&r.stderr);
        if refused {
            assert_eq!(r.status.code(), Some(2), "{url}: {err}");
            assert!(err.contains("does not send your API keys"), "{err}");
            assert!(err.contains("--experiment"), "{err}");
            // Detectors alone call nobody.
            let r = dir.misalign(&["classify", "out", "--no-judge"]);
            assert!(r.status.success(), "{url}: {}", text(&r.stderr));
        } else {
            assert!(r.status.success(), "{url}: {err}");
        }
    }
}

#[test]
fn run_with_closed_output_pipes_still_classifies_and_reports() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let dir = context();
    let url = server.openai_url();
    Exp {
        url: &url,
        classify: true,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let mut child = dir
        .command()
        .args(["run", "exp.yaml", "--out", "out"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let out = dir.path().join("out");
    assert!(out.join("report.html").exists());
    assert_eq!(classifications(&out).len(), 4);
}

// ---------------------------------------------------------------- 10: view

fn get(port: u16, host: &str, path: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let t = text(&buf);
    let (head, body) = t.split_once("\r\n\r\n").unwrap_or((&t, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

#[test]
fn view_wants_a_loopback_host_and_its_token() {
    let dir = context();
    let out = dir.path().join("out");
    fill_synthetic(&out, 1, 2, 3, 100).unwrap();
    let mut child = KillOnDrop(
        dir.command()
            .args(["view", "out", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    let (addr, query) = url.trim_start_matches("http://").split_once("/?").unwrap();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let token = query.strip_prefix("token=").unwrap();
    let host = format!("127.0.0.1:{port}");
    let checks = || -> Result<(), String> {
        let (c, _, _) = get(port, &host, "/", None);
        if c != 403 {
            return Err(format!("no token: {c}"));
        }
        let (c, _, _) = get(port, &host, "/api/samples", None);
        if c != 403 {
            return Err(format!("api without token: {c}"));
        }
        let (c, _, _) = get(
            port,
            &format!("rebound.example:{port}"),
            &format!("/?token={token}"),
            None,
        );
        if c != 403 {
            return Err(format!("foreign host: {c}"));
        }
        let (c, head, body) = get(port, &host, &format!("/?token={token}"), None);
        if c != 200 || !body.contains("<html") {
            return Err(format!("with token: {c}"));
        }
        let cookie = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .ok_or("no cookie set")?
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let (c, _, body) = get(
            port,
            &format!("localhost:{port}"),
            "/api/samples?limit=2",
            Some(&cookie),
        );
        if c != 200 || !body.contains("\"total\"") {
            return Err(format!("api with cookie: {c} {body}"));
        }
        Ok(())
    };
    checks().unwrap();
}

/// A server process stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------- 11: one folder, one experiment

#[test]
fn another_experiment_into_a_used_folder_needs_append_and_a_rerun_says_it_sampled_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(MockServer::start(MockConfig::default()))
        .unwrap();
    let dir = context();
    let url = server.openai_url();
    Exp {
        url: &url,
        classify: true,
        ..Default::default()
    }
    .write(&dir.path().join("a.yaml"));
    Exp {
        id: "another-experiment",
        url: &url,
        classify: true,
        scenarios: "leaking",
        ..Default::default()
    }
    .write(&dir.path().join("b.yaml"));
    let r = dir.misalign(&["run", "a.yaml", "--out", "out", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let r = dir.misalign(&["run", "b.yaml", "--out", "out", "--quiet"]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("holds experiment `hostile-test`"), "{err}");
    assert!(err.contains("--append"), "{err}");
    assert_eq!(server.request_count(), 4);
    let r = dir.misalign(&["run", "b.yaml", "--out", "out", "--quiet", "--append"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(server.request_count(), 8);
    // Back to the first: nothing new to sample, and the report says so.
    let r = dir.misalign(&["run", "a.yaml", "--out", "out", "--quiet", "--append"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(server.request_count(), 8);
    let table = text(&r.stdout);
    assert!(
        table.contains("This run sampled nothing new: all 4 answers"),
        "{table}"
    );
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("This run sampled nothing new"));
}

// ---------------------------------------------------------------- 12: odd inputs

#[cfg(unix)]
#[test]
fn an_endless_experiment_file_is_refused_quickly() {
    let dir = context();
    let t0 = Instant::now();
    let r = dir.misalign(&["validate", "/dev/zero"]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 4 MiB"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn out_into_someone_elses_folder_or_sqlite_file_is_refused_untouched() {
    let server = Scripted::start(|_, _| (200, completion("hi", "{}")));
    let dir = context();
    let url = server.url();
    Exp {
        url: &url,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let mine = dir.path().join("thesis");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("chapter1.tex"), "mine").unwrap();
    let r = dir.misalign(&["run", "exp.yaml", "--out", "thesis"]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("not a misalign results folder"), "{err}");
    assert!(!mine.join("results.sqlite").exists());
    // What `generate` wrote into the default folder is misalign's own: a run may follow.
    let g = dir.misalign(&["generate", "exp.yaml", "--out", "gen"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "gen", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(server.count(), 4);

    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    let db = foreign.join("results.sqlite");
    misalign_store::testdata::plant::foreign_database(&db).unwrap();
    let before = std::fs::read(&db).unwrap();
    let r = dir.misalign(&["run", "exp.yaml", "--out", "foreign"]);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("not a misalign results store"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(
        server.count(),
        4,
        "nothing was requested for the refused folders"
    );
}

#[test]
fn a_reply_with_a_lone_surrogate_is_stored_lossily_once() {
    let server = Scripted::start(|_, _| {
        (
            200,
            completion(
                r"I will \ud800wait.",
                r#"{"prompt_tokens":5,"completion_tokens":3}"#,
            ),
        )
    });
    let dir = context();
    let url = server.url();
    Exp {
        url: &url,
        ..Default::default()
    }
    .write(&dir.path().join("exp.yaml"));
    let r = dir.misalign(&["run", "exp.yaml", "--out", "out", "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(server.count(), 4, "a reply was retried");
    let store = dir.path().join("out/results.sqlite");
    let lossy = |r: &ResponseRecord| {
        r.status == "answer" && r.answer.as_deref() == Some("I will \u{fffd}wait.")
    };
    assert_eq!(count(&responses(&store), lossy), 4);
}
