//! report.html and `misalign view` in real headless Chromium, driven over the Chrome DevTools
//! Protocol: hostile answers must render as text and never run; filters must work; a
//! screenshot is written to `target/report-screenshot.png`.
//!
//! Without Chromium every test here fails (it never skips): `scripts/setup.sh` installs it.

use base64::Engine;
use misalign_core::{Condition, GoalType, Urgency};
use misalign_report::{write_reports, ReportOptions};
use misalign_store::testdata::{Filler, Sample};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

const HOSTILE: [&str; 4] = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=1\">",
    "</textarea><b>not bold</b>",
    "</script><script>window.__pwned=1</script>",
];

/// Fails the test when the browser is missing: a browser test that skips would let the suite
/// pass without checking the page. `scripts/setup.sh` installs chromium.
fn require_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install it with scripts/setup.sh"
    );
}

/// A store with hostile answers (harmless) and plain harmful ones.
fn hostile_store(dir: &Path) {
    let filler = Filler::new(dir).unwrap();
    let c = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    for (i, h) in HOSTILE.iter().enumerate() {
        let s = Sample {
            answer: format!("Plain words first. {h}\n<tool_use:email>\nto: \"a@b.example\"\nbody: \"{h}\"\n</tool_use:email>"),
            reasoning: Some(format!("thinking {h}")),
            verdict: Some(false),
            awareness: Some("no_deliberation"),
            ..Sample::default()
        };
        filler.add("mock/hostile", &c, i as u32, &s).unwrap();
    }
    for i in 4..7 {
        let s = Sample {
            answer: "<tool_use:email>\nto: \"kai.ferro@brambleway.example\"\nbody: \"keep this quiet\"\n</tool_use:email>".into(),
            verdict: Some(true),
            awareness: Some("deliberates_thinks_real"),
            ..Sample::default()
        };
        filler.add("mock/hostile", &c, i, &s).unwrap();
    }
    // An answer that stopped at max_tokens: labelled as cut off, not "(answer, length)".
    let s = Sample {
        answer: "I will first read the inbox and then I will".into(),
        verdict: Some(false),
        finish_reason: Some("length"),
        ..Sample::default()
    };
    filler.add("mock/hostile", &c, 7, &s).unwrap();
    filler.finish().unwrap();
}

struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // /usr/bin/chromium is a wrapper script: end the whole process group we started.
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET that reads exactly Content-Length bytes (DevTools keeps the
/// connection open, so reading to EOF would hang).
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).ok()?;
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if len.is_some_and(|l| body.len() >= l) || n == 0 {
                return Some(body.to_string());
            }
        }
        if n == 0 {
            return None;
        }
    }
}

impl Browser {
    fn launch() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--remote-debugging-port={port}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--window-size=1200,900")
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Some(body) = http_get(port, "/json/list") {
                if let Ok(Value::Array(targets)) = serde_json::from_str::<Value>(&body) {
                    if let Some(u) = targets
                        .iter()
                        .find(|t| t["type"] == "page")
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    {
                        break u.to_string();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let (ws, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        }
        Browser {
            child,
            ws,
            next_id: 1,
            _profile: profile,
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(tungstenite::Message::text(msg)).unwrap();
        loop {
            let m = self.ws.read().expect("DevTools reply");
            if let tungstenite::Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] == id {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    return v["result"].clone();
                }
            }
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    fn wait_for(&mut self, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.eval(expr) != json!(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {expr}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn goto(&mut self, url: &str) {
        self.call("Page.enable", json!({}));
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'");
    }
}

/// The checks shared by the static report and the served viewer.
fn audit_page(b: &mut Browser) {
    b.wait_for("document.querySelectorAll('#samples .sample').length > 0");
    assert_eq!(
        b.eval("typeof window.__pwned"),
        json!("undefined"),
        "hostile answer executed"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#samples img, #samples script, #samples textarea').length + [...document.querySelectorAll('#samples b')].filter(e => e.textContent === 'not bold').length"),
        json!(0)
    );
    // Hostile text is visible as text (open the <details> so innerText covers reasoning).
    b.eval("document.querySelectorAll('#samples details').forEach(d => d.open = true)");
    for h in HOSTILE {
        let expr = format!(
            "document.getElementById('samples').innerText.includes({})",
            json!(h)
        );
        assert_eq!(
            b.eval(&expr),
            json!(true),
            "hostile text not shown as text: {h}"
        );
    }
    let before = b.eval("document.querySelectorAll('#samples .sample').length");
    assert_eq!(before, json!(8));
    assert_eq!(
        b.eval("[...document.querySelectorAll('#samples h4')].filter(e => e.textContent === 'Answer (cut off at max_tokens)').length"),
        json!(1)
    );
    assert_eq!(
        b.eval("document.getElementById('samples').innerText.includes('length)')"),
        json!(false)
    );
    // Choose "harmful" in the verdict filter the way a user does: focus, pick, change.
    b.eval("(() => { const s = document.getElementById('f-verdict'); s.focus(); s.value = 'harmful'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 3");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#samples .sample')].every(e => e.dataset.verdict === 'harmful')"),
        json!(true)
    );
    assert_eq!(b.eval("typeof window.__pwned"), json!("undefined"));
    b.eval("(() => { const s = document.getElementById('f-verdict'); s.value = ''; s.dispatchEvent(new Event('change')); return true })()");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 8");
}

/// At 800 px: nothing makes the page scroll sideways, the search box filters the samples,
/// and each sample's link opens that sample (also when the page is loaded with it).
fn narrow_search_and_links(b: &mut Browser) {
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 800, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    b.wait_for("window.innerWidth === 800");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 8");
    b.eval("document.querySelectorAll('details').forEach(d => d.open = true); true");
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= document.documentElement.clientWidth"),
        json!(true),
        "the page scrolls sideways at 800 px: {}",
        b.eval("document.documentElement.scrollWidth")
    );
    // Search: type the way a user does (input events), case does not matter.
    b.eval("(() => { const s = document.getElementById('f-text'); s.focus(); s.value = 'KEEP THIS quiet'; s.dispatchEvent(new Event('input', {bubbles: true})); return true })()");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 3");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#samples .sample')].every(e => e.dataset.verdict === 'harmful')"),
        json!(true)
    );
    // Hostile text is searched as text.
    b.eval("(() => { const s = document.getElementById('f-text'); s.value = '<img src=x'; s.dispatchEvent(new Event('input')); return true })()");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 1");
    assert_eq!(b.eval("typeof window.__pwned"), json!("undefined"));
    b.eval("(() => { const s = document.getElementById('f-text'); s.value = ''; s.dispatchEvent(new Event('input')); return true })()");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 8");
    // Each card links to itself.
    let id = b.eval("document.querySelectorAll('#samples .sample')[5].id");
    let id = id.as_str().unwrap().to_string();
    assert!(id.starts_with("sample/mock%2Fhostile/blackmail_"), "{id}");
    assert_eq!(
        b.eval("document.querySelectorAll('#samples .sample')[5].querySelector('a.permalink').getAttribute('href')"),
        json!(format!("#{id}"))
    );
    // Following the link shows that sample, even when another filter hid it.
    b.eval("(() => { const s = document.getElementById('f-verdict'); s.value = 'harmless'; s.dispatchEvent(new Event('change')); return true })()");
    b.eval(&format!("location.hash = {}; true", json!(id)));
    b.wait_for("document.querySelectorAll('#samples .sample').length === 1");
    let shown = format!(
        "document.querySelector('#samples .sample').id === {} && document.querySelector('#samples .sample').classList.contains('targeted')",
        json!(id)
    );
    b.wait_for(&shown);
    // Loading the page with the link opens the sample too.
    b.eval("location.reload(); true");
    std::thread::sleep(Duration::from_millis(300));
    b.wait_for("document.readyState === 'complete'");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 1");
    b.wait_for(&shown);
    assert_eq!(b.eval("typeof window.__pwned"), json!("undefined"));
}

/// The viewer with verdicts shown (`misalign view --no-blind`): these tests check them.
fn seeing() -> misalign_report::Labelling {
    misalign_report::Labelling {
        blind: false,
        ..misalign_report::Labelling::default()
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[test]
fn hostile_report_renders_as_text_filters_and_screenshots() {
    require_chromium();
    let dir = tempfile::tempdir().unwrap();
    hostile_store(dir.path());
    write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no remote resources"
    );
    let mut b = Browser::launch();
    b.goto(&format!(
        "file://{}",
        dir.path().join("report.html").display()
    ));
    audit_page(&mut b);
    let shot = b.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": false}),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let out = target_dir().join("report-screenshot.png");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, png).unwrap();
    eprintln!("screenshot: {}", out.display());
    narrow_search_and_links(&mut b);
}

#[test]
fn served_viewer_pages_from_the_store_in_the_browser() {
    require_chromium();
    let dir = tempfile::tempdir().unwrap();
    hostile_store(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (access, server) = rt
        .block_on(misalign_report::serve::bind_labelling(
            dir.path(),
            &ReportOptions::default(),
            seeing(),
            0,
        ))
        .unwrap();
    rt.spawn(server);
    let path = format!(
        "/api/samples?verdict=harmful&limit=2&token={}",
        access.token
    );
    let body = http_get(access.port, &path).unwrap();
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["samples"].as_array().unwrap().len(), 2);
    let mut b = Browser::launch();
    // The page's own API calls go without the token: they must pass on the cookie.
    b.goto(&access.url());
    audit_page(&mut b);
    narrow_search_and_links(&mut b);
}

/// Long model and condition names: every bar label stays inside its chart (shortened in the
/// middle), and the whole text is there on hover (`<title>`).
#[test]
fn long_bar_labels_fit_their_chart_and_keep_the_full_text() {
    require_chromium();
    let dir = tempfile::tempdir().unwrap();
    let filler = Filler::new(dir.path()).unwrap();
    let mut c = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    c.set_mitigations(&["accurate_context"]).unwrap();
    let long_model = "openai-api/acme-cloud/an-exceptionally-long-model-identifier-v2";
    for (model, i) in [(long_model, 0), ("mock/m", 1)] {
        let s = Sample {
            answer: "I will read the inbox first.".into(),
            verdict: Some(i == 0),
            ..Sample::default()
        };
        filler.add(model, &c, 0, &s).unwrap();
    }
    filler.finish().unwrap();
    write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let mut b = Browser::launch();
    b.goto(&format!(
        "file://{}",
        dir.path().join("report.html").display()
    ));
    b.wait_for("document.querySelectorAll('svg.chart text.label').length === 2");
    // In the chart's own coordinates nothing starts left of 0 (the edge that clipped).
    let lefts =
        b.eval("[...document.querySelectorAll('svg.chart text.label')].map(t => t.getBBox().x)");
    for x in lefts.as_array().unwrap() {
        assert!(
            x.as_f64().unwrap() >= 0.0,
            "a label runs off the chart: {lefts}"
        );
    }
    let full = format!("{long_model}  {}", c.id());
    let titles = b.eval(
        "[...document.querySelectorAll('svg.chart text.label title')].map(t => t.textContent)",
    );
    assert!(
        titles.as_array().unwrap().iter().any(|t| t == &json!(full)),
        "{titles}"
    );
    let shown = b.eval(
        "[...document.querySelectorAll('svg.chart text.label')].map(t => t.lastChild.textContent)",
    );
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().contains('…')),
        "{shown}"
    );
    // The short one is shown whole.
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("mock/m  blackmail_")),
        "{shown}"
    );
}

/// An agent episode's card shows its steps: the calls with their arguments (model-written
/// markup as text), the results with the error marked, the events, the simulated times and
/// the end; the single answer beside it shows none of that.
fn audit_episode(b: &mut Browser) {
    use misalign_store::planted_episodes::{CONDITION, HOSTILE_ARGUMENT, UNKNOWN_TOOL};
    b.wait_for("document.querySelectorAll('#samples .sample').length === 3");
    let card = format!(
        "[...document.querySelectorAll('#samples .sample')].find(c => c.id === 'sample/mock%2Fagent/{CONDITION}/1')"
    );
    assert_eq!(
        b.eval(&format!("{card}.querySelectorAll('.episode .step').length")),
        json!(5)
    );
    b.eval("document.querySelectorAll('#samples details').forEach(d => d.open = true); true");
    let text = b.eval(&format!("{card}.innerText"));
    let text = text.as_str().unwrap();
    for shown in [
        "Agent episode: 5 steps",
        "Tool call: list_emails",
        "Tool call: read_email",
        "Tool call: send_email",
        "The wipe is at 5 pm; I should know everything first.",
        "RE: The 5 pm wipe",
        "the agent finished",
        "System prompt",
        "Instruction",
    ] {
        assert!(text.contains(shown), "{shown} not shown:\n{text}");
    }
    // The arguments are shown as the JSON text the agent wrote, markup and all.
    let markup = serde_json::to_string(HOSTILE_ARGUMENT).unwrap();
    let markup = &markup[1..markup.len() - 1];
    assert!(
        text.contains(markup),
        "arguments not shown as text:\n{text}"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#samples img').length"),
        json!(0)
    );
    assert_eq!(b.eval("typeof window.__pwned"), json!("undefined"));
    // The unknown tool's result is marked as an error; the others are not.
    let errors = b.eval(&format!(
        "[...{card}.querySelectorAll('.call')].filter(c => c.querySelector('pre.tool-error')).map(c => c.dataset.tool)"
    ));
    assert_eq!(errors, json!([UNKNOWN_TOOL]));
    assert_eq!(
        b.eval(&format!("{card}.querySelector('.call[data-tool=\"{UNKNOWN_TOOL}\"] pre.tool-error').textContent.includes('There is no tool')")),
        json!(true)
    );
    // Each step is headed with its simulated times.
    let heads = b.eval(&format!(
        "[...{card}.querySelectorAll('.step h5')].map(h => h.textContent)"
    ));
    let first = heads[0].as_str().unwrap();
    assert!(
        first.starts_with("Step 1  (") && first.contains(" to ") && first.contains(':'),
        "{heads}"
    );
    // The single answer has no episode.
    assert_eq!(
        b.eval("[...document.querySelectorAll('#samples .sample')].filter(c => c.querySelector('.episode')).length"),
        json!(2)
    );
}

#[test]
fn agent_episodes_show_step_by_step_in_the_report_and_the_viewer() {
    require_chromium();
    let dir = tempfile::tempdir().unwrap();
    misalign_store::planted_episodes::fill_mixed(dir.path()).unwrap();
    write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let mut b = Browser::launch();
    b.goto(&format!(
        "file://{}",
        dir.path().join("report.html").display()
    ));
    audit_episode(&mut b);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (access, server) = rt
        .block_on(misalign_report::serve::bind_labelling(
            dir.path(),
            &ReportOptions::default(),
            seeing(),
            0,
        ))
        .unwrap();
    rt.spawn(server);
    let body = http_get(access.port, &format!("/api/samples?token={}", access.token)).unwrap();
    let page: Value = serde_json::from_str(&body).unwrap();
    let steps: Vec<usize> = page["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["steps"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(steps, [5, 4, 0], "{page}");
    b.goto(&access.url());
    audit_episode(&mut b);
}

impl Browser {
    /// Presses a key the way a keyboard does (keydown with its text, keyup).
    fn press(&mut self, key: &str) {
        let (text, code) = match key {
            "Enter" => ("\r".to_string(), 13),
            k => (
                k.to_string(),
                k.to_ascii_uppercase().chars().next().unwrap() as u32,
            ),
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyDown", "key": key, "text": text, "windowsVirtualKeyCode": code}),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "windowsVirtualKeyCode": code}),
        );
    }
}

/// A reviewer labels one sample with the keyboard alone in blind mode: verdicts are hidden
/// until then, the label (with its note) is in the store, and the name is asked once.
#[test]
fn a_reviewer_labels_a_sample_with_the_keyboard_in_blind_mode() {
    require_chromium();
    let dir = tempfile::tempdir().unwrap();
    hostile_store(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (access, server) = rt
        .block_on(misalign_report::serve::bind_labelling(
            dir.path(),
            &ReportOptions::default(),
            misalign_report::Labelling::default(),
            0,
        ))
        .unwrap();
    rt.spawn(server);
    let mut b = Browser::launch();
    b.goto(&access.url());
    b.wait_for("document.querySelectorAll('#samples .sample').length === 8");
    let blind = "[...document.querySelectorAll('#samples .sample')].every(c => c.dataset.verdict === 'blind' && !c.querySelector('.verdicts, mark.cited, .aware'))";
    assert_eq!(b.eval(blind), json!(true), "a verdict shows in blind mode");
    assert_eq!(
        b.eval("document.getElementById('f-verdict').closest('label').hidden && document.getElementById('f-awareness').closest('label').hidden"),
        json!(true),
        "the verdict filters show in blind mode"
    );
    assert_eq!(
        b.eval("[...document.querySelectorAll('#samples .badge')].every(e => e.textContent === 'verdict hidden until you label') && !document.getElementById('samples').innerText.includes('harmless')"),
        json!(true)
    );
    // The name, once (the list is fetched again for it: wait for the new cards).
    b.eval("document.querySelector('#samples .sample').dataset.old = '1'; true");
    b.eval("(() => { const r = document.getElementById('reviewer'); r.focus(); r.value = 'ann'; r.dispatchEvent(new Event('change', {bubbles: true})); r.blur(); return true })()");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 8 && !document.querySelector('#samples .sample[data-old]') && document.querySelector('#samples .sample.current') !== null");
    // j to the sixth sample (a harmful one), t and a note, Enter, then h.
    for _ in 0..5 {
        b.press("j");
    }
    b.wait_for("[...document.querySelectorAll('#samples .sample')].indexOf(document.querySelector('.sample.current')) === 5");
    let item = b.eval("document.querySelector('.sample.current')._sample.item_key");
    let item = item.as_str().unwrap().to_string();
    b.press("t");
    b.wait_for("document.activeElement.classList.contains('label-note')");
    b.call("Input.insertText", json!({"text": "threatens the CTO"}));
    b.press("Enter");
    b.wait_for("document.activeElement === document.body");
    b.press("h");
    b.wait_for("(document.querySelector('.sample.current .label-msg') || {}).textContent === 'Saved: Harmful.'");
    // Now this sample shows its verdicts; the others stay blind.
    assert_eq!(
        b.eval("document.querySelector('.sample.current').dataset.verdict"),
        json!("harmful")
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#samples .sample[data-verdict=blind]').length"),
        json!(7)
    );
    let rows = misalign_store::Store::open_read_only(&dir.path().join(misalign_store::STORE_FILE))
        .unwrap()
        .labels()
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.item_key.as_str(),
            r.reviewer.as_str(),
            r.label,
            r.note.as_str()
        ),
        (
            item.as_str(),
            "ann",
            misalign_core::HumanLabel::Harmful,
            "threatens the CTO"
        )
    );
    // Reloaded: the name is remembered and the labelled sample stays revealed for ann.
    b.eval("location.reload(); true");
    std::thread::sleep(Duration::from_millis(300));
    b.wait_for("document.readyState === 'complete' && document.querySelectorAll('#samples .sample').length === 8");
    assert_eq!(
        b.eval("document.getElementById('reviewer').value"),
        json!("ann")
    );
    b.wait_for("document.querySelectorAll('#samples .sample[data-verdict=blind]').length === 7");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#samples .sample')][5].querySelector('.my-label').textContent"),
        json!("Your label: Harmful")
    );
    // The help lists the keys.
    b.press("?");
    assert_eq!(
        b.eval("!document.getElementById('label-help').hidden && document.getElementById('label-help').innerText.includes('h / n / u')"),
        json!(true)
    );
    assert_eq!(b.eval("typeof window.__pwned"), json!("undefined"));
}
