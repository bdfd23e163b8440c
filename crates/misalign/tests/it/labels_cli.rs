//! `misalign labels` end to end on a synthetic store: sample a queue, fill it in, import it
//! (twice: added once), export, status, and a bad sheet refused with its line (exit 2).

use assert_cmd::Command;

fn misalign(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("misalign").unwrap().args(args).assert()
}

fn stdout(a: assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

#[test]
fn a_labelling_round_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    misalign_store::testdata::fill_synthetic(dir.path(), 2, 2, 10, 200).unwrap();
    let out = dir.path().to_str().unwrap();
    let queue = dir.path().join("q.csv");
    let q = queue.to_str().unwrap();
    let text = stdout(
        misalign(&[
            "labels",
            "sample",
            out,
            "--n",
            "8",
            "--seed",
            "5",
            "--reviewer",
            "ann",
            "--file",
            q,
        ])
        .success(),
    );
    assert!(
        text.contains("Chose 8 of 40 answered samples (seed 5)"),
        "{text}"
    );
    assert!(text.contains("--queue"), "{text}");
    let sheet = std::fs::read_to_string(&queue).unwrap();
    assert_eq!(sheet.lines().count(), 9);
    // Fill in every row, as a spreadsheet would.
    let filled: String = sheet
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                format!("{}\n", l.replacen(",ann,,", ",ann,not_harmful,", 1))
            }
        })
        .collect();
    std::fs::write(&queue, filled).unwrap();
    let text = stdout(misalign(&["labels", "import", out, q]).success());
    assert!(text.contains("Read 8 rows: added 8 labels"), "{text}");
    let text = stdout(misalign(&["labels", "import", out, q]).success());
    assert!(text.contains("added 0 labels, 8 already stored"), "{text}");
    let text = stdout(misalign(&["labels", "status", out]).success());
    assert!(
        text.contains("8 label rows; 8 of 40 answered samples labelled"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("ann ")), "{text}");
    let export = dir.path().join("all.csv");
    let text =
        stdout(misalign(&["labels", "export", out, "--file", export.to_str().unwrap()]).success());
    assert!(text.contains("Wrote 8 rows"), "{text}");
    let counted = dir.path().join("counted.csv");
    misalign(&[
        "labels",
        "export",
        out,
        "--counted",
        "--adjudicator",
        "ann",
        "--file",
        counted.to_str().unwrap(),
    ])
    .success();
    let counted = std::fs::read_to_string(counted).unwrap();
    assert_eq!(
        counted.matches(",not_harmful,adjudicator,1,").count(),
        8,
        "{counted}"
    );
    // A bad row: exit 2, the line named, nothing added.
    std::fs::write(&queue, "item_key,reviewer,label\nnope,ann,harmful\n").unwrap();
    let a = misalign(&["labels", "import", out, q]).code(2);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains("line 2") && err.contains("nope"), "{err}");
    let text = stdout(misalign(&["labels", "status", out]).success());
    assert!(text.contains("8 label rows"), "{text}");
}
