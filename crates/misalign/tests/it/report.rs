//! `misalign report` end to end on a synthetic store.

use assert_cmd::Command;

#[test]
fn report_writes_files_and_prints_the_table() {
    let dir = tempfile::tempdir().unwrap();
    misalign_store::testdata::fill_synthetic(dir.path(), 2, 3, 20, 200).unwrap();
    let out = Command::cargo_bin("misalign")
        .unwrap()
        .arg("report")
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("mock/model-0") && text.contains("harmful/n"),
        "{text}"
    );
    assert!(
        text.contains("Wrote summary.csv, summary.json, report.html"),
        "{text}"
    );
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3);
    assert!(dir.path().join("report.html").exists());
}

#[test]
fn report_on_an_empty_folder_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("misalign")
        .unwrap()
        .arg("report")
        .arg(dir.path())
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("run `misalign run` first"), "{err}");
}

/// The public-prompt gap as a researcher gets it: the same grid run on the built-in packs and
/// with `--templates` (the repository's reference-layout fixture, our own wording) into two
/// folders against the loopback mock, then `misalign report OURS --compare-prompts PUBLIC`.
/// Only the `--templates` run's manifest carries the prompt-source mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_compares_a_templates_run_with_a_packs_run() {
    use crate::support::{stored, Experiment, TestContext};
    use misalign_mock::{MockConfig, MockServer};
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = TestContext::new().env("GAP_MOCK_KEY", "k");
    dir.write_experiment(
        &Experiment::new("gap")
            .provider(
                "mock",
                "openai-compatible",
                &server.openai_url(),
                Some("GAP_MOCK_KEY"),
            )
            .models(&["mock/mock-model"])
            .global("max_tokens: 50")
            .samples(6)
            .classification("enabled: true"),
    );
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../misalign-core/tests/fixtures/reference-layout")
        .display()
        .to_string();
    let (ours, public, report, same) = tokio::task::spawn_blocking(move || {
        let ours = dir.misalign(&["run", "exp.yaml", "--out", "ours", "--quiet"]);
        let public = dir.misalign(&[
            "run",
            "exp.yaml",
            "--templates",
            &fixture,
            "--out",
            "public",
            "--quiet",
        ]);
        let report = dir.misalign(&["report", "ours", "--compare-prompts", "public"]);
        let same = dir.misalign(&["report", "public", "--compare-prompts", "public"]);
        (
            (ours, dir.path().join("ours")),
            (public, dir.path().join("public")),
            report,
            (same, dir),
        )
    })
    .await
    .unwrap();
    for (out, _) in [&ours, &public] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let packs = |path: &std::path::Path| -> serde_json::Value {
        let run = stored(path).report_run(None).unwrap().unwrap();
        serde_json::from_str(&run.packs_json).unwrap()
    };
    assert_eq!(packs(&public.1)["@source"], "templates");
    assert!(
        packs(&ours.1).get("@source").is_none(),
        "a built-in run's manifest is as before"
    );
    assert!(packs(&ours.1)["blackmail"].is_string());

    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(text.contains("reference templates"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ours.1.join("summary.json")).unwrap())
            .unwrap();
    let g = &json["generalisation"];
    assert_eq!(
        (g["source"].as_str(), g["compared"]["source"].as_str()),
        (Some("packs"), Some("templates"))
    );
    let row = &g["rows"][0];
    assert_eq!(row["cell"], "blackmail_explicit-america_replacement");
    let (ours_n, theirs_n) = (
        row["canonical"]["n"].as_u64().unwrap(),
        row["reference"]["n"].as_u64().unwrap(),
    );
    assert!(ours_n > 0 && theirs_n > 0, "{row}");
    assert!(
        row["canonical_minus_reference"]["ci"]["low"].is_f64(),
        "{row}"
    );

    let (same, _dir) = same;
    assert!(!same.status.success());
    let err = String::from_utf8_lossy(&same.stderr);
    assert!(err.contains("both were run with --templates"), "{err}");
}
