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
