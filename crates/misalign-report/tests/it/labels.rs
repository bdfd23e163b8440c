//! Human labels: the viewer's write endpoint and blind mode through real HTTP, the label
//! sheet's export/import, and the stratified queue.

use misalign_core::{Condition, GoalType, HumanLabel, Urgency};
use misalign_report::labels::{self, ExportKind, QueueOptions};
use misalign_report::{Labelling, ReportOptions};
use misalign_store::labels::{LabelSource, NewLabel};
use misalign_store::testdata::{Filler, Sample};
use misalign_store::{Store, STORE_FILE};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

/// 12 harmless, 3 harmful and 1 judge-error answers of one model; returns the item keys
/// (harmful ones are indices 12..15).
fn store(dir: &Path) -> Vec<String> {
    let filler = Filler::new(dir).unwrap();
    let c = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    let mut keys = Vec::new();
    for i in 0..16u32 {
        let verdict = match i {
            0..12 => Some(false),
            12..15 => Some(true),
            _ => None,
        };
        let s = Sample {
            answer: format!("Answer number {i}: I read the inbox."),
            verdict,
            awareness: Some("no_deliberation"),
            ..Sample::default()
        };
        keys.push(filler.add("mock/m", &c, i, &s).unwrap());
    }
    filler.finish().unwrap();
    keys
}

struct Reply {
    status: u16,
    body: String,
}

/// One HTTP/1.1 request over a fresh connection (closed by the server after the reply).
fn request(port: u16, head: &str, body: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (top, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = top.split(' ').nth(1).unwrap().parse().unwrap();
    // Bodies here are small and sent with Content-Length (no chunking).
    Reply {
        status,
        body: rest.to_string(),
    }
}

struct Viewer {
    port: u16,
    token: String,
    _rt: tokio::runtime::Runtime,
}

impl Viewer {
    fn start(dir: &Path, labelling: Labelling) -> Viewer {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (access, server) = rt
            .block_on(misalign_report::serve::bind_labelling(
                dir,
                &ReportOptions::default(),
                labelling,
                0,
            ))
            .unwrap();
        rt.spawn(server);
        Viewer {
            port: access.port,
            token: access.token,
            _rt: rt,
        }
    }

    fn cookie(&self) -> String {
        format!("Cookie: misalign_view_{}={}", self.port, self.token)
    }

    fn get(&self, path: &str) -> Reply {
        request(
            self.port,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}",
                self.port,
                self.cookie()
            ),
            "",
        )
    }

    fn samples(&self, query: &str) -> Value {
        let r = self.get(&format!("/api/samples?limit=50&{query}"));
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// A label as the page sends it, with `extra` header lines (each ending in \r\n).
    fn post(&self, body: &str, headers: &str) -> Reply {
        request(
            self.port,
            &format!("POST /api/labels HTTP/1.1\r\n{headers}"),
            body,
        )
    }

    fn page_headers(&self) -> String {
        format!(
            "Host: 127.0.0.1:{}\r\n{}\r\nContent-Type: application/json\r\nX-Misalign-Label: 1\r\nOrigin: http://127.0.0.1:{}",
            self.port,
            self.cookie(),
            self.port
        )
    }
}

fn body(item: &str, label: &str, reviewer: &str) -> String {
    serde_json::json!({"item_key": item, "label": label, "note": "seen", "reviewer": reviewer})
        .to_string()
}

fn stored(dir: &Path) -> Vec<misalign_store::labels::LabelRow> {
    Store::open_read_only(&dir.join(STORE_FILE))
        .unwrap()
        .labels()
        .unwrap()
}

const VERDICT_KEYS: [&str; 11] = [
    "detector_verdict",
    "unparsed",
    "parse_issues_json",
    "detector_evidence_json",
    "judge_verdict",
    "judge_reasoning",
    "judge_model",
    "final_verdict",
    "awareness_label",
    "awareness_reasoning",
    "labels",
];

fn has_verdicts(sample: &Value) -> bool {
    VERDICT_KEYS.iter().any(|k| sample.get(*k).is_some())
}

#[test]
fn the_write_endpoint_needs_the_token_our_host_and_the_pages_own_request() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(dir.path());
    let v = Viewer::start(dir.path(), Labelling::default());
    let ok = body(&keys[0], "harmful", "ann");
    let page = v.page_headers();
    let host = format!("Host: 127.0.0.1:{}", v.port);
    let json_and_header = "Content-Type: application/json\r\nX-Misalign-Label: 1";
    for (what, headers, status) in [
        ("no token", format!("{host}\r\n{json_and_header}"), 403),
        (
            "a wrong token",
            format!(
                "{host}\r\nCookie: misalign_view_{}=0000\r\n{json_and_header}",
                v.port
            ),
            403,
        ),
        (
            "a foreign host",
            page.replace(&host, &format!("Host: evil.example:{}", v.port)),
            403,
        ),
        (
            "a form's content type",
            page.replace("application/json", "application/x-www-form-urlencoded"),
            415,
        ),
        (
            "text/plain (a cross-site simple request)",
            page.replace("application/json", "text/plain"),
            415,
        ),
        (
            "no custom header",
            page.replace("\r\nX-Misalign-Label: 1", ""),
            403,
        ),
        (
            "a foreign origin",
            page.replace(
                &format!("Origin: http://127.0.0.1:{}", v.port),
                "Origin: http://evil.example",
            ),
            403,
        ),
    ] {
        let r = v.post(&ok, &headers);
        assert_eq!(r.status, status, "{what}: {}", r.body);
    }
    assert!(stored(dir.path()).is_empty(), "a refused request wrote");
    // Bad bodies.
    for (what, b, status) in [
        (
            "an unknown item",
            body("no-such-item", "harmful", "ann"),
            404,
        ),
        ("an unknown label", body(&keys[0], "yes", "ann"), 400),
        ("no reviewer", body(&keys[0], "harmful", ""), 400),
        ("not JSON", "label=harmful".to_string(), 400),
        (
            "an unknown field",
            r#"{"item_key":"k","label":"harmful","reviewer":"ann","verdict":1}"#.to_string(),
            400,
        ),
        (
            "too large",
            serde_json::json!({"item_key": keys[0], "label": "harmful", "reviewer": "ann",
                               "note": "x".repeat(40_000)})
            .to_string(),
            413,
        ),
    ] {
        let r = v.post(&b, &page);
        assert_eq!(r.status, status, "{what}: {}", r.body);
    }
    assert!(stored(dir.path()).is_empty());
    // The page's own request is stored, with the token in the query instead of the cookie too.
    let r = v.post(&ok, &page);
    assert_eq!(r.status, 201, "{}", r.body);
    let by_query = request(
        v.port,
        &format!(
            "POST /api/labels?token={} HTTP/1.1\r\n{host}\r\n{json_and_header}",
            v.token
        ),
        &body(&keys[0], "not_harmful", "ann"),
    );
    assert_eq!(by_query.status, 201, "{}", by_query.body);
    let rows = stored(dir.path());
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].label, rows[1].label, rows[1].source),
        (
            HumanLabel::Harmful,
            HumanLabel::NotHarmful,
            LabelSource::Viewer
        )
    );
    assert_eq!(rows[0].note, "seen");
}

#[test]
fn blind_mode_keeps_verdicts_out_of_the_served_json_until_the_reviewer_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(dir.path());
    let v = Viewer::start(dir.path(), Labelling::default());
    let page = v.samples("");
    let samples = page["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 16);
    assert!(samples
        .iter()
        .all(|s| !has_verdicts(s) && s["blind"] == true));
    assert!(samples.iter().all(|s| s["answer"].is_string()));
    // Filters that would tell verdicts are refused; a search skips the judge's reasoning.
    for q in ["verdict=harmful", "awareness=no_deliberation"] {
        assert_eq!(v.get(&format!("/api/samples?{q}")).status, 400, "{q}");
    }
    assert_eq!(v.samples("text=leverage")["total"], 0);
    assert_eq!(v.samples("text=number%2013")["total"], 1);
    // Ann labels a harmful sample: she now sees its verdicts, Bob does not, nobody else's
    // label is sent.
    let r = v.post(&body(&keys[13], "harmful", "ann"), &v.page_headers());
    assert_eq!(r.status, 201, "{}", r.body);
    let answer: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(answer["sample"]["final_verdict"], 1, "{answer}");
    assert_eq!(answer["sample"]["my_label"]["label"], "harmful");
    let of = |reviewer: &str| -> Value {
        let page = v.samples(&format!("reviewer={reviewer}"));
        page["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["item_key"] == keys[13].as_str())
            .unwrap()
            .clone()
    };
    let ann = of("ann");
    assert_eq!(ann["final_verdict"], 1);
    assert!(
        ann.get("labels").is_none(),
        "other labels sent in blind mode"
    );
    let bob = of("bob");
    assert!(
        !has_verdicts(&bob) && bob.get("my_label").is_none(),
        "{bob}"
    );
    // Without blind mode every sample has its verdicts and everyone's labels.
    let seeing = Viewer::start(
        dir.path(),
        Labelling {
            blind: false,
            ..Labelling::default()
        },
    );
    let page = seeing.samples("");
    assert!(page["samples"].as_array().unwrap().iter().all(has_verdicts));
    assert_eq!(seeing.samples("verdict=harmful")["total"], 3);
    assert_eq!(seeing.samples("text=leverage")["total"], 3);
}

#[test]
fn a_fixed_reviewer_and_a_queue_decide_who_labels_what() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(dir.path());
    let queue = vec![keys[5].clone(), keys[14].clone(), keys[2].clone()];
    let v = Viewer::start(
        dir.path(),
        Labelling {
            blind: true,
            reviewer: Some("cat".into()),
            queue: Some(queue.clone()),
        },
    );
    let page = v.samples("model=other");
    assert_eq!(page["total"], 3);
    let shown: Vec<&str> = page["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["item_key"].as_str().unwrap())
        .collect();
    assert_eq!(shown, queue.iter().map(String::as_str).collect::<Vec<_>>());
    // Another name than the viewer's reviewer is refused; none is the viewer's.
    let r = v.post(&body(&keys[5], "unsure", "dan"), &v.page_headers());
    assert_eq!(r.status, 400, "{}", r.body);
    let r = v.post(
        &serde_json::json!({"item_key": keys[5], "label": "unsure"}).to_string(),
        &v.page_headers(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(stored(dir.path())[0].reviewer, "cat");
}

#[test]
fn a_read_only_results_folder_refuses_labels_and_stays_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = store(dir.path());
    let v = Viewer::start(dir.path(), Labelling::default());
    let file = dir.path().join(STORE_FILE);
    // Checkpoint so the store is one file, then make the folder and file read-only.
    drop(Store::open(&file).unwrap());
    let before = std::fs::read(&file).unwrap();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    let r = if nix_root() {
        // root writes through permission bits: make the store impossible to open for
        // writing another way (a `-journal` that is a link is refused before SQLite opens).
        let link = dir.path().join(format!("{STORE_FILE}-journal"));
        std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
        let r = v.post(&body(&keys[0], "harmful", "ann"), &v.page_headers());
        std::fs::remove_file(&link).unwrap();
        r
    } else {
        mode(&file, 0o444).unwrap();
        mode(dir.path(), 0o555).unwrap();
        let r = v.post(&body(&keys[0], "harmful", "ann"), &v.page_headers());
        mode(dir.path(), 0o755).unwrap();
        mode(&file, 0o644).unwrap();
        r
    };
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("cannot be written"), "{}", r.body);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(stored(dir.path()).is_empty());
}

fn nix_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[test]
fn a_static_report_has_no_labelling() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    misalign_report::write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let data = html
        .split("id=\"report-data\">")
        .nth(1)
        .and_then(|d| d.split("</script>").next())
        .unwrap();
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["mode"], "static");
    assert!(
        data.get("labelling").is_none(),
        "a static report offers labelling"
    );
}

fn new_label(item: &str, reviewer: &str, label: HumanLabel) -> NewLabel {
    NewLabel {
        item_key: item.into(),
        reviewer: reviewer.into(),
        label,
        note: "=cmd|' /C calc'!A0".into(),
        created_at: None,
        source: LabelSource::Viewer,
    }
}

#[test]
fn labels_export_and_import_round_trip_and_bad_rows_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(dir.path());
    {
        let s = Store::open(&dir.path().join(STORE_FILE)).unwrap();
        s.add_label(&new_label(&keys[0], "ann", HumanLabel::Harmful))
            .unwrap();
        s.add_label(&new_label(&keys[0], "bob", HumanLabel::NotHarmful))
            .unwrap();
        s.add_label(&new_label(&keys[0], "cat", HumanLabel::NotHarmful))
            .unwrap();
        s.add_label(&new_label(&keys[1], "ann", HumanLabel::Unsure))
            .unwrap();
    }
    let sheet = dir.path().join("labels.csv");
    assert_eq!(
        labels::export(dir.path(), &sheet, &ExportKind::Labels).unwrap(),
        4
    );
    let text = std::fs::read_to_string(&sheet).unwrap();
    assert!(text.starts_with(
        "item_key,model,condition,scenario,sample,reviewer,label,note,created_at,source\n"
    ));
    // No cell starts a formula.
    assert!(text.contains("'=cmd"), "{text}");
    assert!(!text.contains(",=cmd"), "{text}");
    // Into another copy of the same results: everything comes back; twice adds nothing.
    let other = tempfile::tempdir().unwrap();
    store(other.path());
    let first = labels::import(other.path(), &sheet).unwrap();
    assert_eq!((first.rows, first.added), (4, 4));
    let again = labels::import(other.path(), &sheet).unwrap();
    assert_eq!((again.rows, again.added), (4, 0));
    let strip = |rows: Vec<misalign_store::labels::LabelRow>| -> Vec<_> {
        rows.into_iter()
            .map(|r| (r.item_key, r.reviewer, r.label, r.note, r.created_at))
            .collect()
    };
    assert_eq!(strip(stored(other.path())), strip(stored(dir.path())));
    assert!(stored(other.path())
        .iter()
        .all(|r| r.source == LabelSource::Import));
    // The label that counts: majority (2 of 3 not harmful), or the adjudicator's.
    let counted = dir.path().join("counted.csv");
    let n = labels::export(
        dir.path(),
        &counted,
        &ExportKind::Counted { adjudicator: None },
    )
    .unwrap();
    assert_eq!(n, 2);
    let text = std::fs::read_to_string(&counted).unwrap();
    assert!(
        text.contains(&format!("{},mock/m,", keys[0]))
            && text.contains(",not_harmful,majority,3,1,2,0"),
        "{text}"
    );
    labels::export(
        dir.path(),
        &counted,
        &ExportKind::Counted {
            adjudicator: Some("ann".into()),
        },
    )
    .unwrap();
    let text = std::fs::read_to_string(&counted).unwrap();
    assert!(text.contains(",harmful,adjudicator,3,1,2,0"), "{text}");
    // Bad rows: the error names the line, and nothing of the file is added.
    let bad = dir.path().join("bad.csv");
    for (content, line, words) in [
        (
            format!(
                "item_key,reviewer,label\n{},dan,harmful\nnope,dan,harmful\n",
                keys[2]
            ),
            3,
            "no answered sample",
        ),
        (
            format!("item_key,reviewer,label\n{},dan,yes\n", keys[2]),
            2,
            "not one of harmful",
        ),
        (
            format!(
                "item_key,reviewer,label,sample\n{},dan,harmful,99\n",
                keys[2]
            ),
            2,
            "does not match",
        ),
        (
            format!("item_key,reviewer,label\n{}, dan,harmful\n", keys[2]),
            2,
            "spaces",
        ),
    ] {
        std::fs::write(&bad, content).unwrap();
        let e = labels::import(other.path(), &bad).unwrap_err().to_string();
        assert!(
            e.contains(&format!("line {line}:")) && e.contains(words),
            "{e}"
        );
    }
    std::fs::write(&bad, "item,who\nx,y\n").unwrap();
    let e = labels::import(other.path(), &bad).unwrap_err().to_string();
    assert!(e.contains("no `item_key` column"), "{e}");
    assert_eq!(stored(other.path()).len(), 4);
    // Status: each reviewer's latest labels.
    let s = labels::status(dir.path(), None).unwrap();
    assert_eq!((s.rows, s.labelled, s.answered), (4, 2, 16));
    let ann = s.per_reviewer.iter().find(|c| c.reviewer == "ann").unwrap();
    assert_eq!((ann.harmful, ann.unsure, ann.total()), (1, 1, 2));
    assert_eq!(s.counted[0].total(), 2);
}

#[test]
fn the_queue_covers_the_rare_verdict_is_deterministic_and_imports_once_filled() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(dir.path());
    let queue = dir.path().join("q.csv");
    let options = QueueOptions {
        n: 6,
        seed: 3,
        reviewer: Some("ann".into()),
    };
    let s = labels::sample_queue(dir.path(), &options, &queue).unwrap();
    assert_eq!((s.chosen, s.answered), (6, 16));
    let chosen: Vec<(&str, usize, usize)> = s
        .strata
        .iter()
        .map(|t| (t.verdict.as_str(), t.size, t.chosen))
        .collect();
    let of = |v: &str| chosen.iter().find(|c| c.0 == v).copied().unwrap();
    assert_eq!(
        of("judge_error"),
        ("judge_error", 1, 1),
        "the rare verdict is covered"
    );
    assert_eq!(of("harmful").1, 3);
    assert_eq!(of("harmless").1, 12);
    assert_eq!(of("harmful").2 + of("harmless").2, 5);
    assert!(of("harmful").2.abs_diff(of("harmless").2) <= 1);
    let first = std::fs::read_to_string(&queue).unwrap();
    assert!(
        !first.contains("harmful,") && !first.contains("judge_error"),
        "{first}"
    );
    labels::sample_queue(dir.path(), &options, &queue).unwrap();
    assert_eq!(std::fs::read_to_string(&queue).unwrap(), first);
    let order = labels::read_queue(&queue).unwrap();
    assert_eq!(order.len(), 6);
    assert!(order.contains(&keys[15]));
    // Not filled in yet: nothing to import. Filled in: imported.
    let r = labels::import(dir.path(), &queue).unwrap();
    assert_eq!((r.rows, r.unlabelled, r.added), (6, 6, 0));
    let filled = first.replacen(",ann,,", ",ann,unsure,", 1);
    std::fs::write(&queue, filled).unwrap();
    assert_eq!(labels::import(dir.path(), &queue).unwrap().added, 1);
    let other_seed = QueueOptions { seed: 4, ..options };
    labels::sample_queue(dir.path(), &other_seed, &queue).unwrap();
    assert_ne!(labels::read_queue(&queue).unwrap(), order);
}
