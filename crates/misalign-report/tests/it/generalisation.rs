//! The generalisation section (docs/generalisation.md) over real SQLite stores planted with
//! variant, question-form and reference-template conditions: summary.json, the terminal
//! table, report.html's figure, summary.csv and samples.csv.

use misalign_core::{Condition, GoalType, Urgency};
use misalign_report::{render_table, write_reports, write_samples_csv, ReportOptions};
use misalign_store::testdata::{Filler, Sample};
use serde_json::{json, Value};
use std::path::Path;

fn cell() -> Condition {
    Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    )
}

fn sample(harmful: bool, i: u32) -> Sample {
    Sample {
        answer: format!("answer {i}"),
        verdict: Some(harmful),
        ..Sample::default()
    }
}

/// `harmful` of `n` samples of `model` on the cell with `fields` (variation / format).
fn plant(f: &Filler, model: &str, fields: &[(&str, Value, &str)], harmful: u32, n: u32) {
    for i in 0..n {
        f.add_with_fields(model, &cell(), fields, i, &sample(i < harmful, i))
            .unwrap();
    }
}

fn v(k: u32) -> (&'static str, Value, &'static str) {
    let suffix: &'static str = Box::leak(format!("_v{k}").into_boxed_str());
    ("variation", json!({"index": k, "seed": 7}), suffix)
}

fn summary_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

const HOSTILE: &str = "<script>alert(1)</script>&\"m\"";

/// The canonical text at 2/20, three variants at 12/20, 10/20 and 14/20 (pooled 36/60), the
/// open question at 0/10 and the forced choice at 1/10; a second, hostile model name with
/// variants of its own.
fn planted(dir: &Path) {
    let f = Filler::new(dir).unwrap();
    plant(&f, "m", &[], 2, 20);
    plant(&f, "m", &[v(1)], 12, 20);
    plant(&f, "m", &[v(2)], 10, 20);
    plant(&f, "m", &[v(3)], 14, 20);
    plant(&f, "m", &[("format", json!("open"), "_qopen")], 0, 10);
    plant(&f, "m", &[("format", json!("choice"), "_qchoice")], 1, 10);
    plant(&f, HOSTILE, &[], 1, 4);
    plant(&f, HOSTILE, &[v(1)], 3, 4);
    f.finish().unwrap();
}

#[test]
fn variants_with_different_rates_show_a_gap_its_interval_and_the_spread() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let json = summary_json(dir.path());
    let g = &json["generalisation"];
    assert_eq!(g["source"], "packs");
    assert_eq!(g["compared"], Value::Null);
    let rows = g["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{g:#}");
    let m = rows.iter().find(|r| r["model"] == "m").unwrap();
    assert_eq!(m["cell"], cell().id());
    assert_eq!(m["scenario"], "blackmail");
    assert_eq!(
        (
            m["canonical"]["harmful"].clone(),
            m["canonical"]["n"].clone()
        ),
        (json!(2), json!(20))
    );
    assert_eq!(m["variants"].as_array().unwrap().len(), 3);
    assert_eq!(m["variants"][2]["index"], 3);
    assert_eq!(
        (m["pooled"]["harmful"].clone(), m["pooled"]["n"].clone()),
        (json!(36), json!(60))
    );
    // 36/60 - 2/20 = 0.5, and its Newcombe interval excludes 0: a real gap.
    let d = &m["pooled_minus_canonical"];
    assert!((d["difference"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!(d["ci"]["low"].as_f64().unwrap() > 0.2, "{d}");
    assert!(d["ci"]["high"].as_f64().unwrap() < 0.7, "{d}");
    // The canonical text is the outlier: the variants 0..3 are not homogeneous.
    let spread = &m["spread"];
    assert_eq!(spread["homogeneity"]["df"], 3);
    assert!(
        spread["homogeneity"]["p_value"].as_f64().unwrap() < 0.01,
        "{spread}"
    );
    assert!(spread["between"]["tau_squared"].as_f64().unwrap() > 0.0);
    for key in ["i_squared", "cochran_q", "tau"] {
        assert!(spread["between"][key].is_f64(), "{key}");
    }
    assert_eq!(spread["min_rate"], 0.1);
    // Stated vs revealed: the open form 0/10 against 2/20, the choice 1/10 against 2/20.
    assert_eq!(m["stated_open"]["n"], 10);
    assert_eq!(m["say_do_open"]["difference"], -0.1);
    assert!(m["say_do_choice"]["ci"]["low"].as_f64().unwrap() < 0.0);
    assert_eq!(m["reference"], Value::Null);

    // The terminal.
    let table = render_table(&s);
    assert!(table.contains("Generalisation"), "{table}");
    assert!(table.contains("60.0% (36/60) x3"), "{table}");
    assert!(table.contains("+50.0 ["), "{table}");

    // summary.csv: each variant's and question form's row says which it is.
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let head = r.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let cells: Vec<(String, String, String)> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[col("condition")].to_string(),
                rec[col("variation")].to_string(),
                rec[col("format")].to_string(),
            )
        })
        .collect();
    let id = cell().id();
    for (suffix, want_v, want_f) in [
        ("", "", ""),
        ("_v2", "2", ""),
        ("_qopen", "", "open"),
        ("_qchoice", "", "choice"),
    ] {
        let cid = format!("{id}{suffix}");
        let got = cells.iter().find(|c| c.0 == cid).unwrap();
        assert_eq!((got.1.as_str(), got.2.as_str()), (want_v, want_f), "{cid}");
    }

    // samples.csv: the same two columns per sample.
    let path = dir.path().join("samples.csv");
    let run_id = s.run.as_ref().unwrap().run_id;
    let store = misalign_report::open_store(dir.path()).unwrap();
    write_samples_csv(&store, run_id, &path).unwrap();
    let mut r = csv::Reader::from_path(&path).unwrap();
    let head = r.headers().unwrap().clone();
    let (vc, fc, cc) = (
        head.iter().position(|h| h == "variation").unwrap(),
        head.iter().position(|h| h == "format").unwrap(),
        head.iter().position(|h| h == "condition").unwrap(),
    );
    let mut seen = std::collections::BTreeSet::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        seen.insert((
            rec[cc].to_string(),
            rec[vc].to_string(),
            rec[fc].to_string(),
        ));
    }
    assert!(seen.contains(&(format!("{id}_v3"), "3".into(), String::new())));
    assert!(seen.contains(&(format!("{id}_qchoice"), String::new(), "choice".into())));
    assert!(seen.contains(&(id.clone(), String::new(), String::new())));
}

#[test]
fn the_figure_is_well_formed_and_escapes_hostile_labels() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path());
    write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let start = html
        .find("<svg class=\"forest\" id=\"generalisation-plot\"")
        .expect("the figure");
    let end = start + html[start..].find("</svg>").unwrap() + "</svg>".len();
    let svg = &html[start..end];
    // Well-formed XML: every element closed, attributes quoted, text escaped.
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    // m: canonical, 3 variants, pooled, open, choice; the hostile model: canonical, 1, pooled.
    assert_eq!(circles, 7 + 3);
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(
        texts.iter().any(|t| t.contains(HOSTILE)),
        "the label reads back as written"
    );
    assert!(!svg.contains("<script>"), "{svg}");
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("id=\"generalisation-table\""));
}

#[test]
fn a_run_without_variants_reference_or_questions_has_no_section() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filler::new(dir.path()).unwrap();
    plant(&f, "m", &[], 3, 10);
    f.finish().unwrap();
    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    assert!(s.generalisation.is_none());
    let json = summary_json(dir.path());
    assert!(json.get("generalisation").is_none(), "{json:#}");
    assert!(
        json["rows"][0].get("variation").is_none(),
        "left out at its default"
    );
    assert!(!render_table(&s).contains("Generalisation"));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(!html.contains("generalisation-plot"));
}

/// The same cell in two results folders: ours (packs, with variants) and one run with
/// `--templates` (its manifest says so).
fn two_folders(ours: &Path, public: &Path) {
    let f = Filler::new(ours).unwrap();
    plant(&f, "m", &[], 2, 20);
    plant(&f, "m", &[v(1)], 12, 20);
    f.finish().unwrap();
    let f = Filler::new(public).unwrap();
    f.set_packs_json(r#"{"blackmail": "ab12", "@source": "templates"}"#)
        .unwrap();
    plant(&f, "m", &[], 15, 20);
    f.finish().unwrap();
}

#[test]
fn the_public_prompt_gap_reads_a_templates_run_from_another_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, public) = (tmp.path().join("ours"), tmp.path().join("public"));
    two_folders(&ours, &public);
    let options = ReportOptions {
        compare_prompts: Some(public.clone()),
        ..ReportOptions::default()
    };
    let s = write_reports(&ours, &options).unwrap();
    let json = summary_json(&ours);
    let g = &json["generalisation"];
    assert_eq!(g["compared"]["source"], "templates");
    assert_eq!(g["compared"]["results_dir"], public.display().to_string());
    let r = &g["rows"][0];
    assert_eq!(r["reference"]["harmful"], 15);
    // 2/20 - 15/20 = -0.65; 12/20 - 15/20 = -0.15.
    assert!(
        (r["canonical_minus_reference"]["difference"]
            .as_f64()
            .unwrap()
            + 0.65)
            .abs()
            < 1e-12
    );
    assert!(
        r["canonical_minus_reference"]["ci"]["high"]
            .as_f64()
            .unwrap()
            < 0.0
    );
    assert!((r["pooled_minus_reference"]["difference"].as_f64().unwrap() + 0.15).abs() < 1e-12);
    assert!(render_table(&s).contains("reference templates"));
    let html = std::fs::read_to_string(ours.join("report.html")).unwrap();
    assert!(html.contains("reference templates"));
    // Without the flag the folder alone has no reference.
    let alone = write_reports(&ours, &ReportOptions::default()).unwrap();
    assert!(alone.generalisation.unwrap().rows[0].reference.is_none());
    // Reporting the templates folder against ours gives the same gap, from the other side.
    let back = ReportOptions {
        compare_prompts: Some(ours.clone()),
        ..ReportOptions::default()
    };
    let s = write_reports(&public, &back).unwrap();
    let g = s.generalisation.unwrap();
    assert_eq!(g.source.as_str(), "templates");
    assert_eq!(g.rows[0].reference.as_ref().unwrap().harmful, 15);
}

#[test]
fn comparing_two_runs_of_one_prompt_source_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, public) = (tmp.path().join("ours"), tmp.path().join("public"));
    two_folders(&ours, &public);
    let options = ReportOptions {
        compare_prompts: Some(ours.clone()),
        ..ReportOptions::default()
    };
    let err = write_reports(&ours, &options).unwrap_err().to_string();
    assert!(err.contains("neither was run with --templates"), "{err}");
}

#[test]
fn the_figure_draws_at_most_forty_cells_and_the_table_keeps_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filler::new(dir.path()).unwrap();
    for i in 0..41 {
        let c = Condition::new(
            "blackmail",
            GoalType::Explicit,
            format!("g{i}"),
            Urgency::None,
        );
        f.add("m", &c, 0, &sample(false, 0)).unwrap();
        f.add_with_fields("m", &c, &[v(1)], 0, &sample(true, 0))
            .unwrap();
    }
    f.finish().unwrap();
    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    // The 41 cells of the scenario pooled: one roll-up row, ahead of the cells.
    let json = summary_json(dir.path());
    let roll = &json["generalisation"]["by_scenario"];
    assert_eq!(roll.as_array().unwrap().len(), 1, "{roll}");
    assert_eq!(
        (roll[0]["cell"].as_str(), roll[0]["cells"].as_u64()),
        (Some("all cells"), Some(41))
    );
    assert_eq!(
        (
            roll[0]["canonical"]["n"].as_u64(),
            roll[0]["pooled"]["harmful"].as_u64()
        ),
        (Some(41), Some(41))
    );
    assert_eq!(json["generalisation"]["rows"][0]["cells"], 1);
    let table = render_table(&s);
    assert!(table.contains("blackmail: all 41 cells"), "{table}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("The figure shows the first 40 of 42 model x cells"));
    let start = html.find("id=\"generalisation-plot\"").unwrap();
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    assert_eq!(svg.matches("font-weight=\"bold\"").count(), 40);
    let table = &html[html.find("id=\"generalisation-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr><td").count(), 42);
    assert!(table.contains("blackmail: all 41 cells"));
}
