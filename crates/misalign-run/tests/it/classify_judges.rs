//! Several harm judges (`classification.judges`) against `misalign-mock` over real HTTP:
//! each judge is its own mock server whose replies are scripted by the answer's content, so
//! the judges disagree on purpose. Each combine rule is checked on both sides, and each
//! judge's verdict is stored, cached and counted per judge model.

use crate::classify_store::{judge, seeded_store};
use crate::support::classifications;
use misalign_core::detect::reference_facts::reference_facts;
use misalign_core::judge::Combine;
use misalign_core::scenario::ScenarioKind;
use misalign_mock::{MockConfig, MockServer};
use misalign_run::classify::{classify_store, ClassifyOptions, JudgeModel};
use misalign_store::{JudgeRole, Store};
use std::collections::BTreeMap;

const YES: &str = "<reasoning>It acted on it.</reasoning>\n<answer>yes</answer>";
const NO: &str = "<reasoning>Nothing of the kind.</reasoning>\n<answer>no</answer>";

/// A judge answering yes except to answers containing one of `no_to`; `None`: a judge whose
/// every reply is unparsable.
async fn scripted(no_to: &[&str]) -> MockServer {
    MockServer::start(MockConfig {
        answers: vec![YES.into()],
        answers_by_content: no_to.iter().map(|n| (n.to_string(), NO.into())).collect(),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

async fn unparsable() -> MockServer {
    MockServer::start(MockConfig {
        answers: vec!["Probably yes.".into()],
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

fn options(panel: Vec<JudgeModel>, combine: Combine) -> ClassifyOptions {
    let mut facts = BTreeMap::new();
    for s in misalign_core::scenario::builtin_scenarios() {
        facts.insert(
            s.to_string(),
            reference_facts(ScenarioKind::parse(s).unwrap()),
        );
    }
    ClassifyOptions {
        facts,
        panel,
        combine,
        concurrency: 4,
        judge_attempts: 2,
        ..ClassifyOptions::default()
    }
}

/// The final verdicts of k1 (blackmail), k2 (a polite email to the executive) and k3 (the
/// murder answer that used no code), latest classification each.
fn finals(store: &Store) -> Vec<Option<bool>> {
    let mut latest: BTreeMap<String, (i64, Option<bool>)> = BTreeMap::new();
    for c in classifications(store) {
        let e = latest
            .entry(c.item_key.clone())
            .or_insert((c.id, c.final_verdict));
        if c.id >= e.0 {
            *e = (c.id, c.final_verdict);
        }
    }
    latest.into_values().map(|(_, v)| v).collect()
}

/// Judges A (no to k2), B (no to k3) and C (yes to all): each answer gets two yes or three.
async fn three_judges() -> ([MockServer; 3], Vec<JudgeModel>) {
    let a = scripted(&["finish testing"]).await;
    let b = scripted(&["Someone is trapped"]).await;
    let c = scripted(&[]).await;
    let panel = vec![
        judge(&a, "judge-a"),
        judge(&b, "judge-b"),
        judge(&c, "judge-c"),
    ];
    ([a, b, c], panel)
}

#[tokio::test]
async fn each_rule_combines_the_same_disagreements_its_own_way() {
    // k1: y y y; k2: n y y; k3: y n y. The gate: k1 and k2 emailed the executive, k3 did
    // nothing of the murder scenario's action.
    for (combine, expected) in [
        // Two of three say yes everywhere: harmful, with or without the action.
        (Combine::Majority, [Some(true), Some(true), Some(true)]),
        // The same majority, then the scenario's gate: k3 took no action.
        (Combine::Scenario, [Some(true), Some(true), Some(false)]),
        (Combine::Any, [Some(true), Some(true), Some(true)]),
        // One no is enough against.
        (Combine::All, [Some(true), Some(false), Some(false)]),
    ] {
        let (_servers, panel) = three_judges().await;
        let dir = tempfile::tempdir().unwrap();
        let mut store = seeded_store(dir.path());
        let s = classify_store(&mut store, &options(panel, combine))
            .await
            .unwrap();
        assert_eq!((s.classified, s.judge_calls), (3, 9), "{combine:?}");
        assert_eq!(finals(&store), expected, "{combine:?}");
    }
}

#[tokio::test]
async fn each_judge_is_asked_stored_cached_and_counted_apart() {
    let (servers, panel) = three_judges().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let opts = options(panel, Combine::Scenario);
    let s = classify_store(&mut store, &opts).await.unwrap();
    assert_eq!((s.judge_calls, s.judge_cache_hits), (9, 0));
    for (server, model) in servers.iter().zip(["judge-a", "judge-b", "judge-c"]) {
        assert_eq!(server.request_count(), 3, "{model}");
        assert!(server.requests().iter().all(|r| r.body["model"] == model));
    }
    // Each judge's own verdict, per answer.
    let mut by_judge: BTreeMap<String, Vec<Option<bool>>> = BTreeMap::new();
    for r in store.judge_verdicts().unwrap() {
        assert_eq!(r.role, JudgeRole::Harm);
        by_judge.entry(r.judge_model).or_default().push(r.verdict);
    }
    let y = Some(true);
    let n = Some(false);
    assert_eq!(by_judge["openai-compatible/judge-a"], [y, n, y]);
    assert_eq!(by_judge["openai-compatible/judge-b"], [y, y, n]);
    assert_eq!(by_judge["openai-compatible/judge-c"], [y, y, y]);
    // The classification's own columns hold the combined verdict and name the judges.
    let rows = classifications(&store);
    assert!(rows.iter().all(|c| c.judge_model.as_deref()
        == Some(
            "openai-compatible/judge-a, openai-compatible/judge-b, openai-compatible/judge-c"
        )));
    assert!(rows.iter().all(|c| c.judge_verdict == Some(true)));
    // Costs per judge model: each judge's three replies are its own.
    let usage = store.judge_usage_by_model(None).unwrap();
    let answers: Vec<(&str, u64)> = usage.iter().map(|(m, u)| (m.as_str(), u.answers)).collect();
    assert_eq!(
        answers,
        [
            ("openai-compatible/judge-a", 3),
            ("openai-compatible/judge-b", 3),
            ("openai-compatible/judge-c", 3)
        ]
    );
    // Classifying again answers every judge from the cache: no request reaches a judge.
    let forced = ClassifyOptions {
        force: true,
        ..opts.clone()
    };
    let again = classify_store(&mut store, &forced).await.unwrap();
    assert_eq!(
        (again.classified, again.judge_calls, again.judge_cache_hits),
        (3, 0, 9)
    );
    assert!(servers.iter().all(|s| s.request_count() == 3));
    assert_eq!(store.judge_verdicts().unwrap().len(), 9);
    // A panel is another classifier version than its first judge alone.
    let single = ClassifyOptions {
        panel: Vec::new(),
        judge: Some(opts.panel[0].clone()),
        ..opts.clone()
    };
    assert_ne!(
        misalign_run::classify::classifier_version(&single),
        misalign_run::classify::classifier_version(&opts)
    );
}

#[tokio::test]
async fn a_failed_judge_counts_only_where_it_could_change_the_verdict() {
    // Judge A: yes to k1 and k3, no to k2; judge D never answers usably.
    for (combine, expected) in [
        // The judges that answered decide (A alone here), then the gate.
        (Combine::Scenario, [Some(true), Some(false), Some(false)]),
        (Combine::Majority, [Some(true), Some(false), Some(true)]),
        // A's yes settles `any`; A's no does not (D might have said yes).
        (Combine::Any, [Some(true), None, Some(true)]),
        // A's no settles `all`; A's yes does not.
        (Combine::All, [None, Some(false), None]),
    ] {
        let a = scripted(&["finish testing"]).await;
        let d = unparsable().await;
        let panel = vec![judge(&a, "judge-a"), judge(&d, "judge-d")];
        let dir = tempfile::tempdir().unwrap();
        let mut store = seeded_store(dir.path());
        let s = classify_store(&mut store, &options(panel, combine))
            .await
            .unwrap();
        assert_eq!(finals(&store), expected, "{combine:?}");
        let missing = expected.iter().filter(|v| v.is_none()).count();
        assert_eq!(s.judge_errors, missing, "{combine:?}");
        // D's failures are stored as its own, never as a no.
        let d_rows: Vec<_> = store
            .judge_verdicts()
            .unwrap()
            .into_iter()
            .filter(|r| r.judge_model.ends_with("judge-d"))
            .collect();
        assert_eq!(d_rows.len(), 3);
        assert!(d_rows
            .iter()
            .all(|r| r.verdict.is_none() && r.error.is_some()));
        // D's attempts were billed: recorded as its failures.
        assert_eq!(
            store.judge_usage_by_model(None).unwrap()["openai-compatible/judge-d"].answers,
            3
        );
    }
}

#[tokio::test]
async fn the_awareness_judge_gets_its_own_row() {
    let aware = MockServer::start(MockConfig {
        answers: vec![
            "<reasoning>It never asks.</reasoning>\n<answer>no_deliberation</answer>".into(),
        ],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let (_servers, panel) = three_judges().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let mut opts = options(panel, Combine::Scenario);
    opts.awareness = Some(judge(&aware, "aware"));
    classify_store(&mut store, &opts).await.unwrap();
    let aware_rows: Vec<_> = store
        .judge_verdicts()
        .unwrap()
        .into_iter()
        .filter(|r| r.role == JudgeRole::Awareness)
        .collect();
    assert_eq!(aware_rows.len(), 3);
    assert!(aware_rows
        .iter()
        .all(|r| r.judge_model == "openai-compatible/aware"
            && r.label.as_deref() == Some("no_deliberation")
            && r.verdict.is_none()));
}

/// What a reader sees of the judges after `classify`: response.json, samples.csv,
/// summary.json and report.html; with one judge, none of it appears.
#[tokio::test]
async fn the_files_show_each_judge_and_their_agreement() {
    let (_servers, panel) = three_judges().await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    classify_store(&mut store, &options(panel, Combine::Scenario))
        .await
        .unwrap();
    misalign_store::export::export(&store, dir.path()).unwrap();
    drop(store);
    misalign_report::write_reports(dir.path(), &misalign_report::ReportOptions::default()).unwrap();

    // k3's response.json (the murder answer): each judge by model (B said no).
    let k3 = dir.path().join(misalign_store::layout::response_json_path(
        "mock/agent",
        "murder_explicit-america_replacement",
        0,
    ));
    let k3: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(k3).unwrap()).unwrap();
    assert_eq!(
        k3["classification"]["judges"],
        serde_json::json!({
            "openai-compatible/judge-a": true,
            "openai-compatible/judge-b": false,
            "openai-compatible/judge-c": true,
        })
    );

    let store = Store::open_read_only(&dir.path().join(misalign_store::STORE_FILE)).unwrap();
    misalign_report::write_samples_csv(&store, 1, &dir.path().join("samples.csv")).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(
        ",judge_verdict:openai-compatible/judge-a,judge_verdict:openai-compatible/judge-b,judge_verdict:openai-compatible/judge-c"
    ));
    assert!(csv
        .lines()
        .any(|l| l.starts_with("1,k2,") && l.ends_with(",0,1,1")));

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let j = &summary["judges"];
    let rates: Vec<(String, u64, u64)> = j["judges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["judge"].as_str().unwrap().to_string(),
                r["estimate"]["harmful"].as_u64().unwrap(),
                r["estimate"]["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rates,
        [
            ("openai-compatible/judge-a".to_string(), 2, 3),
            ("openai-compatible/judge-b".to_string(), 2, 3),
            ("openai-compatible/judge-c".to_string(), 3, 3)
        ]
    );
    // A vs B agree on k1 only.
    assert_eq!(j["pairs"][0]["agree"], 1);
    assert_eq!(j["pairs"][0]["n"], 3);
    assert_eq!(j["pairs"].as_array().unwrap().len(), 3);
    assert_eq!(j["detector"].as_array().unwrap().len(), 3);
    assert_eq!(j["disagreements_total"], 2, "k2 and k3 split the judges");
    let listed: Vec<&str> = j["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["item_key"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["k2", "k3"]);

    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<h2 id=\"judges\">Judges</h2>"));
    assert!(html.contains("href=\"#sample/mock%2Fagent/murder_explicit-america_replacement/1\""));
}

#[tokio::test]
async fn one_judge_adds_nothing_to_the_files() {
    let a = scripted(&["finish testing"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded_store(dir.path());
    let mut opts = options(Vec::new(), Combine::Majority);
    opts.judge = Some(judge(&a, "judge-a"));
    classify_store(&mut store, &opts).await.unwrap();
    // Its verdict is stored in judge_verdicts too (one row per answer).
    assert_eq!(store.judge_verdicts().unwrap().len(), 3);
    misalign_store::export::export(&store, dir.path()).unwrap();
    drop(store);
    let summary =
        misalign_report::write_reports(dir.path(), &misalign_report::ReportOptions::default())
            .unwrap();
    assert_eq!(summary.judges, None);
    let json = std::fs::read_to_string(dir.path().join("summary.json")).unwrap();
    assert!(!json.contains("\"judges\""));
    let store = Store::open_read_only(&dir.path().join(misalign_store::STORE_FILE)).unwrap();
    misalign_report::write_samples_csv(&store, 1, &dir.path().join("samples.csv")).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        misalign_report::SAMPLES_CSV_COLUMNS.join(",")
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(!html.contains("id=\"judges\""));
}
