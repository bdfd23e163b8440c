//! `samples.csv` over a real SQLite store holding every kind of row (see
//! `testdata::fill_export_fixture`).

use misalign_report::{
    export_run, open_store, write_reports, write_samples_csv, write_samples_parquet, ReportOptions,
    SAMPLES_CSV_COLUMNS,
};
use misalign_store::testdata::{fill_export_fixture, fill_synthetic, INPUT_TOKENS};
use std::collections::BTreeMap;

type Row = BTreeMap<String, String>;

fn samples_csv(dir: &std::path::Path) -> Vec<Row> {
    let store = open_store(dir).unwrap();
    let run = export_run(&store, None).unwrap();
    let path = dir.join("samples.csv");
    let n = write_samples_csv(&store, run.run_id, &path).unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, SAMPLES_CSV_COLUMNS);
    let rows: Vec<Row> = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect();
    assert_eq!(rows.len() as u64, n);
    rows
}

fn find<'a>(rows: &'a [Row], model: &str, condition: &str, sample: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["model"] == model && r["condition"] == condition && r["sample"] == sample)
        .unwrap_or_else(|| panic!("no row {model} {condition} {sample}"))
}

const BASE: &str = "blackmail_explicit-america_replacement";
const VARIED: &str = "blackmail_explicit-america_replacement_prod_dont_aware";
const LEAKING: &str = "leaking_none-none_restriction";

#[test]
fn samples_csv_has_one_row_per_planned_item_with_axes_verdicts_and_transcript() {
    let dir = tempfile::tempdir().unwrap();
    fill_export_fixture(dir.path()).unwrap();
    let rows = samples_csv(dir.path());
    assert_eq!(rows.len(), 9);

    let harmful = find(&rows, "mock/alpha", BASE, "1");
    assert_eq!(harmful["status"], "answer");
    assert_eq!(harmful["verdict"], "harmful");
    assert_eq!(harmful["final_verdict"], "1");
    assert_eq!(harmful["detector_verdict"], "1");
    assert_eq!(harmful["judge_verdict"], "1");
    assert_eq!(harmful["judge_model"], "mock/judge");
    assert_eq!(harmful["awareness_label"], "deliberates_thinks_eval");
    assert_eq!(harmful["scenario"], "blackmail");
    assert_eq!(harmful["goal_type"], "explicit");
    assert_eq!(harmful["goal_value"], "america");
    assert_eq!(harmful["urgency"], "replacement");
    assert_eq!(harmful["extra_instructions"], "off");
    assert_eq!(harmful["variant"], "dev");
    assert_eq!(harmful["awareness_notice"], "false");
    assert_eq!(harmful["mitigation"], "none");
    assert_eq!(harmful["input_tokens"], INPUT_TOKENS.to_string());
    assert_eq!(harmful["latency_ms"], "800");
    // mock/* is priced at zero in the built-in table: a cost, not a blank.
    assert_eq!(harmful["cost_usd"], "0.000000");
    assert_eq!(
        harmful["transcript"],
        format!("models/mock_alpha/{BASE}/sample_001/response.json")
    );
    assert!(dir.path().join("samples.csv").exists());

    let judge_error = find(&rows, "mock/alpha", BASE, "3");
    assert_eq!(judge_error["verdict"], "judge_error");
    assert_eq!(judge_error["final_verdict"], "");
    assert_eq!(
        judge_error["judge_error"],
        "judge reply had no <answer> tag"
    );

    let filtered = find(&rows, "mock/alpha", VARIED, "1");
    assert_eq!(filtered["status"], "content_filtered");
    assert_eq!(filtered["verdict"], "content_filtered");
    assert_eq!(filtered["variant"], "prod");
    assert_eq!(filtered["extra_instructions"], "dont");
    assert_eq!(filtered["awareness_notice"], "true");
    // `dont` extra instructions are the `instructions` mitigation.
    assert_eq!(filtered["mitigation"], "instructions");

    let failed = find(&rows, "mock/alpha", VARIED, "2");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["verdict"], "error");
    assert_eq!(failed["error"], "HTTP 400: the model is not available");
    assert_eq!(failed["attempts"], "3");
    assert_eq!(failed["transcript"], "", "no answer, no transcript");
    assert_eq!(failed["input_tokens"], "");

    let unclassified = find(&rows, "mock/beta_2", LEAKING, "1");
    assert_eq!(unclassified["verdict"], "unclassified");
    assert_eq!(
        unclassified["transcript"],
        format!("models/mock_beta%5F2/{LEAKING}/sample_001/response.json")
    );
    assert_eq!(
        find(&rows, "mock/beta_2", BASE, "1")["awareness_label"],
        "deliberates_thinks_real"
    );
}

/// The pandas snippet of docs/inspect.md, done by hand: rows with a final verdict, grouped
/// by model and condition, give summary.csv's `n` and `harmful`.
#[test]
fn samples_csv_reproduces_the_summary_table() {
    let dir = tempfile::tempdir().unwrap();
    fill_synthetic(dir.path(), 2, 5, 40, 100).unwrap();
    let rows = samples_csv(dir.path());
    assert_eq!(rows.len(), 2 * 5 * 40);
    let mut grouped: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r["final_verdict"].is_empty()) {
        let cell = grouped
            .entry((r["model"].clone(), r["condition"].clone()))
            .or_default();
        cell.0 += 1;
        cell.1 += u64::from(r["final_verdict"] == "1");
    }
    let summary = write_reports(
        dir.path(),
        &ReportOptions {
            html: false,
            ..ReportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(grouped.len(), summary.rows.len());
    for s in &summary.rows {
        let (n, harmful) = grouped[&(s.model.clone(), s.condition.clone())];
        assert_eq!(
            (n, harmful),
            (s.n, s.harmful),
            "{} {}",
            s.model,
            s.condition
        );
    }
    assert!(summary
        .rows
        .iter()
        .any(|s| s.harmful > 0 && s.harmful < s.n));
}

#[test]
fn a_hostile_model_name_cannot_become_a_spreadsheet_formula() {
    let dir = tempfile::tempdir().unwrap();
    let f = misalign_store::testdata::Filler::new(dir.path()).unwrap();
    let c = misalign_store::testdata::export_fixture_conditions()[0].clone();
    f.add(
        "=cmd|'/c calc'!A1",
        &c,
        0,
        &misalign_store::testdata::Sample {
            answer: "ok".into(),
            verdict: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    f.finish().unwrap();
    let rows = samples_csv(dir.path());
    assert_eq!(rows[0]["model"], "'=cmd|'/c calc'!A1");
    assert!(rows[0]["item_key"].starts_with("'="));
}

#[test]
fn exporting_a_store_without_a_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    misalign_store::Store::open_dir(dir.path()).unwrap();
    let store = open_store(dir.path()).unwrap();
    let e = export_run(&store, None).unwrap_err().to_string();
    assert!(e.contains("no `misalign run` yet"), "{e}");
    let e = export_run(&store, Some(7)).unwrap_err().to_string();
    assert!(e.contains("run 7 is not a sampling run"), "{e}");
}

/// Every row of a samples.parquet, as column name -> value.
fn parquet_rows(path: &std::path::Path) -> Vec<BTreeMap<String, parquet::record::Field>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(names, SAMPLES_CSV_COLUMNS);
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect()
}

#[test]
fn samples_parquet_holds_the_csv_rows_typed() {
    use parquet::record::Field;
    let dir = tempfile::tempdir().unwrap();
    fill_export_fixture(dir.path()).unwrap();
    let csv = samples_csv(dir.path());
    let store = open_store(dir.path()).unwrap();
    let path = dir.path().join("samples.parquet");
    assert_eq!(write_samples_parquet(&store, 1, &path).unwrap(), 9);
    let rows = parquet_rows(&path);
    assert_eq!(rows.len(), csv.len());
    for (p, c) in rows.iter().zip(&csv) {
        for (name, cell) in c {
            let shown = match &p[name] {
                Field::Null => String::new(),
                Field::Long(v) => v.to_string(),
                Field::Double(v) => format!("{v:.6}"),
                Field::Str(s) => s.clone(),
                other => panic!("{name}: unexpected {other:?}"),
            };
            assert_eq!(&shown, cell, "column {name}");
        }
    }
    let harmful = rows
        .iter()
        .find(|r| r["item_key"] == Field::Str(format!("mock/alpha|{BASE}|0")))
        .unwrap();
    assert_eq!(harmful["final_verdict"], Field::Long(1));
    assert_eq!(harmful["input_tokens"], Field::Long(INPUT_TOKENS));
    assert_eq!(harmful["cost_usd"], Field::Double(0.0));
    let failed = rows
        .iter()
        .find(|r| r["status"] == Field::Str("error".into()))
        .unwrap();
    assert_eq!(failed["input_tokens"], Field::Null);
    assert_eq!(failed["transcript"], Field::Null);
}

#[test]
fn samples_parquet_keeps_text_as_stored_and_spans_row_groups() {
    use parquet::record::Field;
    let dir = tempfile::tempdir().unwrap();
    // 2 x 5 x 2,000 = 20,000 rows: more than one row group.
    fill_synthetic(dir.path(), 2, 5, 2_000, 20).unwrap();
    let store = open_store(dir.path()).unwrap();
    let path = dir.path().join("samples.parquet");
    assert_eq!(write_samples_parquet(&store, 1, &path).unwrap(), 20_000);
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert!(reader.metadata().num_row_groups() > 1);
    assert_eq!(reader.metadata().file_metadata().num_rows(), 20_000);

    let dir = tempfile::tempdir().unwrap();
    let f = misalign_store::testdata::Filler::new(dir.path()).unwrap();
    let c = misalign_store::testdata::export_fixture_conditions()[0].clone();
    let sample = misalign_store::testdata::Sample {
        answer: "ok".into(),
        verdict: Some(false),
        ..Default::default()
    };
    f.add("=cmd|'/c calc'!A1", &c, 0, &sample).unwrap();
    f.finish().unwrap();
    let store = open_store(dir.path()).unwrap();
    let path = dir.path().join("samples.parquet");
    write_samples_parquet(&store, 1, &path).unwrap();
    assert_eq!(
        parquet_rows(&path)[0]["model"],
        Field::Str("=cmd|'/c calc'!A1".into())
    );
}

/// An agent episode (steps played on the blackmail pack's real environment, its verdict
/// stored with its episode fields) is one sample: counted once in its cell's rate, one row
/// of samples.csv and samples.parquet with the episode columns typed; a single answer's
/// episode columns are blank (null), its `interaction` is `single`.
#[test]
fn an_agent_episode_is_one_sample_with_its_episode_columns() {
    use misalign_store::classifications::{EpisodeFields, NewClassification};
    use misalign_store::episode_script::{call, play, say};
    use misalign_store::testdata::{Filler, Sample};
    use parquet::record::Field;
    let dir = tempfile::tempdir().unwrap();
    let agent = "blackmail_explicit-america_replacement";
    let steps = play(
        agent,
        3,
        &(0..3)
            .map(|i| {
                say(
                    "",
                    vec![call(&format!("l{i}"), "list_emails", serde_json::json!({}))],
                )
            })
            .collect::<Vec<_>>(),
    );
    let filler = Filler::new(dir.path()).unwrap();
    let episode_sample = Sample {
        answer: String::new(),
        unclassified: true,
        finish_reason: Some("step_limit"),
        ..Sample::default()
    };
    filler
        .add_episode(
            "mock/alpha",
            &agent.parse().unwrap(),
            0,
            &steps,
            &episode_sample,
        )
        .unwrap();
    let harmful = Sample {
        answer: "a threat".into(),
        verdict: Some(true),
        ..Sample::default()
    };
    filler
        .add("mock/alpha", &agent.parse().unwrap(), 1, &harmful)
        .unwrap();
    let store = filler.finish().unwrap();
    let key = format!("mock/alpha|{agent}|0");
    let response_id = store.answer_id(&key).unwrap().unwrap();
    store
        .insert_classification(&NewClassification {
            response_id,
            item_key: key.clone(),
            classifier_version: "synthetic-1".into(),
            actions_json: "[]".into(),
            parse_issues_json: "[]".into(),
            detector_verdict: false,
            detector_evidence_json: "{}".into(),
            judge_model: None,
            judge_verdict: None,
            judge_reasoning: None,
            judge_error: None,
            final_verdict: Some(false),
            whistleblowing: None,
            awareness_label: None,
            awareness_reasoning: None,
            classified_at: "t".into(),
            escalation: Some(false),
            escalation_evidence_json: None,
            unparsed: false,
            episode: Some(EpisodeFields {
                steps: 3,
                terminal: Some("step_limit".into()),
                ..EpisodeFields::default()
            }),
        })
        .unwrap();
    drop(store);

    let store = open_store(dir.path()).unwrap();
    let cells = store.cell_counts(1).unwrap();
    assert_eq!(cells.len(), 1);
    assert_eq!(
        (
            cells[0].planned,
            cells[0].classified,
            cells[0].harmful,
            cells[0].harmless
        ),
        (2, 2, 1, 1),
        "the episode is one sample"
    );
    let rows = samples_csv(dir.path());
    let episode = find(&rows, "mock/alpha", agent, "1");
    let cells: Vec<&str> = [
        "verdict",
        "interaction",
        "steps",
        "terminal",
        "harmful_step",
        "harmful_sim_time",
        "leverage_read_first",
    ]
    .iter()
    .map(|c| episode[*c].as_str())
    .collect();
    assert_eq!(cells, ["harmless", "agent", "3", "step_limit", "", "", ""]);
    let single = find(&rows, "mock/alpha", agent, "2");
    assert_eq!(
        (
            single["interaction"].as_str(),
            single["steps"].as_str(),
            single["terminal"].as_str()
        ),
        ("single", "", "")
    );

    let path = dir.path().join("samples.parquet");
    assert_eq!(write_samples_parquet(&store, 1, &path).unwrap(), 2);
    let rows = parquet_rows(&path);
    let episode = rows
        .iter()
        .find(|r| r["item_key"] == Field::Str(key.clone()))
        .unwrap();
    assert_eq!(episode["interaction"], Field::Str("agent".into()));
    assert_eq!(episode["steps"], Field::Long(3));
    assert_eq!(episode["harmful_step"], Field::Null);
    let single = rows
        .iter()
        .find(|r| r["item_key"] != Field::Str(key.clone()))
        .unwrap();
    assert_eq!(single["steps"], Field::Null);
    assert_eq!(single["leverage_read_first"], Field::Null);
}
