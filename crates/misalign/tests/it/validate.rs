//! `misalign validate` on the real binary: plan output, JSON output, located errors, exit codes.

use crate::support::misalign_without_keys as misalign;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn prints_the_plan_of_a_reference_style_file() {
    misalign()
        .arg("validate")
        .arg(examples().join("reference-style.yaml"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "experiment:            reference_style",
        ))
        .stdout(predicate::str::contains("conditions:            18"))
        .stdout(predicate::str::contains(
            "claude-3-5-sonnet-latest -> anthropic/claude-3-5-sonnet-latest (anthropic)",
        ))
        .stdout(predicate::str::contains(
            "gpt-4.1 -> openai/gpt-4.1 (openai)",
        ))
        .stdout(predicate::str::contains("samples per condition: 10"))
        .stdout(predicate::str::contains("model calls:           360"))
        .stdout(predicate::str::contains(
            "  blackmail_explicit-america_replacement\n",
        ))
        .stdout(predicate::str::contains("  ... and 8 more\n"));
}

#[test]
fn json_output_lists_every_condition() {
    let out = misalign()
        .args(["validate", "--json"])
        .arg(examples().join("api-models.yaml"))
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["experiment_id"], "api_models");
    assert_eq!(v["conditions"].as_array().unwrap().len(), 8);
    assert_eq!(v["model_calls"], 480);
    assert_eq!(v["models"][2]["resolved"], "workstation/qwen3-8b");
    assert_eq!(v["models"][2]["kind"], "openai-compatible");
    assert!(v["conditions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(
            "blackmail_explicit-america_replacement_prod_dont"
        )));
}

#[test]
fn located_error_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "experiment_id: bad\nglobal:\n  models: [gpt-4.1]\nexpansions:\n  - name: a\n    variables:\n      scenarios: [blackmail]\n      goal_types: [explict]\n      goal_values: [america]\n      urgency_types: [none]\n",
    )
    .unwrap();
    let shown = file.display().to_string();
    misalign()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "{shown}:8:20: expansions[0].variables.goal_types[0]: unknown goal type `explict`; did you mean `explicit`?"
        )));

    let out = misalign()
        .args(["validate", "--json"])
        .arg(&file)
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["line"], 8);
    assert_eq!(v["error"]["column"], 20);
    assert_eq!(v["error"]["field"], "expansions[0].variables.goal_types[0]");
}

#[test]
fn models_are_required_unless_generate_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nomodels.yaml");
    std::fs::write(
        &file,
        "experiment_id: g\nexpansions:\n  - name: a\n    variables:\n      scenarios: [murder]\n      goal_types: [none]\n      urgency_types: [none]\n",
    )
    .unwrap();
    misalign()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no models to run"));
    misalign()
        .args(["validate", "--generate-only"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("conditions:            1"))
        .stdout(predicate::str::contains("model calls:           0"));
}

#[test]
fn missing_file_exits_2_with_its_name() {
    misalign()
        .args(["validate", "/nonexistent/dir/exp.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read experiment file /nonexistent/dir/exp.yaml",
        ));
}

/// An experiment file whose only expansion runs `scenario` (on line 8).
fn with_scenario(dir: &std::path::Path, name: &str, scenario: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "experiment_id: sc\nglobal:\n  models: [openai/gpt-4.1]\nexpansions:\n  - name: a\n    enabled: true\n    variables:\n      scenarios: [{scenario}]\n      goal_types: [none]\n      goal_values: [none]\n      urgency_types: [none]\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_misspelt_scenario_is_named_with_file_line_and_a_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let f = with_scenario(tmp.path(), "typo.yaml", "blackmial");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_misalign"))
        .arg("validate")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("typo.yaml:8: expansions[0].variables.scenarios: no scenario `blackmial`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `blackmail`?"), "{stderr}");
}

#[test]
fn several_files_are_each_checked_and_any_invalid_one_fails_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let good = with_scenario(tmp.path(), "good.yaml", "murder");
    let bad = with_scenario(tmp.path(), "bad.yaml", "leakng");
    let run = |files: &[&std::path::Path]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_misalign"))
            .arg("validate")
            .args(files)
            .output()
            .unwrap()
    };
    let out = run(&[&good, &good]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("== ").count(), 2, "{stdout}");
    let out = run(&[&bad, &good]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:8") && stderr.contains("`leaking`"),
        "{stderr}"
    );
    // The valid file after the invalid one is still checked and its plan printed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("good.yaml") && stdout.contains("model calls:"),
        "{stdout}"
    );
}

#[test]
fn a_missing_mitigation_file_is_a_located_error_and_a_present_one_validates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.yaml");
    std::fs::write(
        &file,
        "experiment_id: m\nglobal:\n  models: [gpt-4.1]\nmitigations:\n  house: { system: house.md }\nexpansions:\n  - name: a\n    variables:\n      scenarios: [blackmail]\n      goal_types: [none]\n      urgency_types: [none]\n      mitigations: [none, house, principles+monitoring]\n",
    )
    .unwrap();
    let shown = file.display().to_string();
    misalign()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{shown}:5:20: mitigations.house.system: cannot read"
        )));
    std::fs::write(dir.path().join("house.md"), "Ask first.\n").unwrap();
    misalign()
        .arg("validate")
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "blackmail_none-none_none_mit-house",
        ))
        .stdout(predicate::str::contains(
            "blackmail_none-none_none_mit-principles+monitoring",
        ));
}
