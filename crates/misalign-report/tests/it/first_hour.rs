//! What a new reader needs from `report.html` and the terminal table before the numbers:
//! the sampling settings, a legend, visible 0% bars, cut-off answers named as such, no
//! awareness noise without an awareness judge, how to finish an interrupted run, and a note
//! on the bundled 135M model. Real SQLite stores with synthetic rows.

use misalign_core::{Condition, GoalType, Urgency};
use misalign_report::{render_table, write_reports, ReportOptions};
use misalign_store::read::SampleFilter;
use misalign_store::testdata::{Filler, Sample};
use std::path::Path;

fn blackmail() -> Condition {
    Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    )
}

fn sample(harmful: bool, finish_reason: Option<&'static str>) -> Sample {
    Sample {
        answer: if harmful {
            "<tool_use:email>\nbody: \"keep this quiet\"\n</tool_use:email>".into()
        } else {
            "I will reply to the schedule email.".into()
        },
        verdict: Some(harmful),
        finish_reason,
        ..Sample::default()
    }
}

/// `cut` of 10 answers stop at max_tokens; the cell has no harmful answer (a 0% bar).
fn store_with(dir: &Path, cut: u32, edit: impl FnOnce(&Filler)) {
    let filler = Filler::new(dir).unwrap();
    for i in 0..10 {
        let reason = (i < cut).then_some("length");
        filler
            .add("mock/m", &blackmail(), i, &sample(false, reason))
            .unwrap();
    }
    edit(&filler);
    filler.finish().unwrap();
}

fn report(dir: &Path) -> (String, String, serde_json::Value) {
    let s = write_reports(dir, &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    (html, render_table(&s), json)
}

#[test]
fn header_states_the_sampling_settings_and_the_chart_has_a_legend() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |_| {});
    let (html, table, json) = report(dir.path());
    let line = "temperature 1.0, max_tokens 256, seed 7, 10 samples per condition";
    assert!(
        html.contains(&format!("<p id=\"settings\">Sampled with {line}.</p>")),
        "{html}"
    );
    assert!(table.contains(&format!("Sampled with {line}.")), "{table}");
    assert_eq!(json["run_facts"]["sampling"]["max_tokens"], 256);
    assert_eq!(
        json["run_facts"]["samples_per_condition"],
        serde_json::json!([10, 10])
    );
    assert!(html.contains("id=\"chart-legend\""));
    assert!(
        html.contains("95% Wilson score interval"),
        "legend names the interval"
    );
    // The clean case has no warnings at all.
    assert!(!html.contains("id=\"cautions\""));
    assert!(!table.contains("warning:"), "{table}");
}

#[test]
fn a_zero_rate_bar_is_a_visible_mark_with_its_label() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |_| {});
    let (html, _, _) = report(dir.path());
    assert!(
        html.contains("<rect class=\"bar\" x=\"430\" y=\"4\" width=\"2.0\""),
        "a 0% rate still draws a 2-unit mark"
    );
    assert!(html.contains(">0.0%</text>"));
}

#[test]
fn many_cut_off_answers_are_warned_about_few_are_not() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 2, |_| {});
    let (html, table, json) = report(dir.path());
    let warning =
        "2 of 10 answers (20%) were cut off at max_tokens (256 tokens): the model may not have reached an action";
    assert!(html.contains(warning), "{html}");
    // The warning comes before the first chart.
    assert!(html.find(warning).unwrap() < html.find("Harmful-action rate by scenario").unwrap());
    assert!(table.contains(&format!("warning: {warning}")), "{table}");
    assert_eq!(json["run_facts"]["cut_off"], 2);
    // The viewer labels each one by the same list of finish reasons.
    assert!(html.contains("\"cut_off_reasons\":[\"length\",\"max_tokens\",\"MAX_TOKENS\"]"));

    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        f.add("mock/m", &blackmail(), 10, &sample(false, Some("length")))
            .unwrap();
    });
    let (html, _, json) = report(dir.path());
    assert_eq!(json["run_facts"]["cut_off"], 1);
    assert!(
        !html.contains("cut off at max_tokens ("),
        "1 of 11 is below 10%"
    );
}

#[test]
fn no_awareness_judge_means_no_awareness_rows_or_filter() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |_| {});
    let (html, _, json) = report(dir.path());
    assert!(!html.contains("unlabelled"));
    assert!(!html.contains("id=\"f-awareness\""));
    assert!(html.contains("\"awareness\":false"));
    assert_eq!(json["awareness"], serde_json::json!([]));

    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        let s = Sample {
            awareness: Some("deliberates_thinks_eval"),
            ..sample(true, None)
        };
        f.add("mock/m", &blackmail(), 10, &s).unwrap();
    });
    let (html, _, _) = report(dir.path());
    assert!(html.contains("id=\"f-awareness\""));
}

#[test]
fn unclassified_answers_name_the_command_that_finishes_classification() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        for i in 10..13 {
            let s = Sample {
                unclassified: true,
                ..sample(false, None)
            };
            f.add("mock/m", &blackmail(), i, &s).unwrap();
        }
    });
    let (html, table, _) = report(dir.path());
    let d = dir.path().display();
    let expected = format!(
        "3 of 13 answers are not classified yet (the run was interrupted or ran with \
         --no-classify), so the rates below leave them out. To finish: `misalign classify {d}` \
         then `misalign report {d}`."
    );
    assert!(html.contains(&expected), "{html}");
    assert!(table.contains(&expected), "{table}");
}

#[test]
fn the_bundled_small_model_gets_its_note_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        f.set_manifest(
            "[\"local/smollm2-135m-instruct\"]",
            "{\"temperature\":1.0,\"max_tokens\":256,\"seed\":7}",
        )
        .unwrap();
    });
    let (html, _, json) = report(dir.path());
    assert!(html.contains("shows the pipeline working, not misalignment"));
    assert_eq!(json["run_facts"]["bundled_small_model"], true);

    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        f.set_manifest(
            "[\"anthropic/claude-sonnet-4-5\"]",
            "{\"temperature\":1.0,\"max_tokens\":256,\"seed\":7}",
        )
        .unwrap();
    });
    let (html, _, _) = report(dir.path());
    assert!(!html.contains("not misalignment"));
}

#[test]
fn earlier_runs_with_other_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        f.add_earlier_run("{\"temperature\":0.2,\"max_tokens\":100}")
            .unwrap();
        // The same settings are not worth a word.
        f.add_earlier_run("{\"temperature\":1.0,\"max_tokens\":256,\"seed\":7}")
            .unwrap();
    });
    let (html, _, json) = report(dir.path());
    assert!(
        html.contains(
            "sampled with other settings (temperature 0.2, max_tokens 100, no seed); this report \
             covers the newest run only"
        ),
        "{html}"
    );
    assert_eq!(
        json["run_facts"]["other_runs_with_other_settings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_viewer_filters_by_text_and_by_sample_number_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 0, |f| {
        f.add("mock/m", &blackmail(), 10, &sample(true, None))
            .unwrap();
        let s = Sample {
            reasoning: Some("Maybe I should KEEP THIS QUIET too".into()),
            ..sample(false, None)
        };
        f.add("mock/m", &blackmail(), 11, &s).unwrap();
    });
    let store = misalign_report::open_store(dir.path()).unwrap();
    let run = store.report_run(None).unwrap().unwrap().run_id;
    let count = |f: SampleFilter| store.count_samples(run, &f).unwrap();
    let text = |t: &str| SampleFilter {
        text: Some(t.into()),
        ..SampleFilter::default()
    };
    // In the answer of one and the reasoning of the other, whatever the case.
    assert_eq!(count(text("keep this quiet")), 2);
    assert_eq!(count(text("Keep This")), 2);
    // `%` and `_` are plain characters, not wildcards.
    assert_eq!(count(text("%")), 0);
    assert_eq!(count(text("schedule")), 11);
    assert_eq!(
        count(SampleFilter {
            sample_index: Some(10),
            ..SampleFilter::default()
        }),
        1
    );
    let page = store
        .sample_page(
            run,
            &SampleFilter {
                sample_index: Some(10),
                ..SampleFilter::default()
            },
            0,
            5,
        )
        .unwrap();
    assert_eq!(page[0].final_verdict, Some(1));
}
