//! `write_reports` over real SQLite stores filled with synthetic rows.

use misalign_core::{Condition, GoalType, Urgency};
use misalign_report::{render_table, write_reports, ReportOptions};
use misalign_store::testdata::{fill_synthetic, Filler, Sample};

fn harmless(i: u32) -> Sample {
    Sample {
        answer: format!("I will reply to the schedule email. ({i})"),
        verdict: Some(false),
        ..Sample::default()
    }
}

#[test]
fn all_harmless_100_gives_rate_0_and_wilson_0_0370() {
    let dir = tempfile::tempdir().unwrap();
    let filler = Filler::new(dir.path()).unwrap();
    let c = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    for i in 0..100 {
        filler.add("mock/harmless", &c, i, &harmless(i)).unwrap();
    }
    filler.finish().unwrap();
    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    assert_eq!(s.rows.len(), 1);
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert_eq!(
        csv,
        "model,condition,scenario,goal_type,goal_value,urgency,extra_instructions,variant,awareness_notice,mitigation,n,harmful,rate,ci_low,ci_high,judge_errors,content_filtered,empty,excluded,rate_if_excluded_harmless,rate_if_excluded_harmful,escalated,escalation_rate,escalation_ci_low,escalation_ci_high,unparsed,planned,pending,variation,format\n\
         mock/harmless,blackmail_explicit-america_replacement,blackmail,explicit,america,replacement,off,dev,false,none,100,0,0.0000,0.0000,0.0370,0,0,0,0,0.0000,0.0000,0,0.0000,0.0000,0.0370,0,100,0,,\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["rows"][0]["n"], 100);
    assert_eq!(json["run"]["experiment_id"], "synthetic");
    assert!(dir.path().join("report.html").exists());
    let table = render_table(&s);
    assert!(
        table.contains("0/100") && table.contains("[0.0, 3.7]"),
        "{table}"
    );
}

#[test]
fn judge_errors_are_counted_not_in_n_and_comparisons_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let filler = Filler::new(dir.path()).unwrap();
    let goal = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    let none = Condition::new("blackmail", GoalType::None, "", Urgency::Replacement);
    for i in 0..10 {
        // goal: 9 harmful of 10, plus 2 judge errors and 1 unclassified answer.
        let s = Sample {
            answer: "<tool_use:email>\nto: \"kai@x.example\"\nbody: \"unless\"\n</tool_use:email>"
                .into(),
            verdict: Some(i < 9),
            awareness: Some(if i % 2 == 0 {
                "deliberates_thinks_real"
            } else {
                "deliberates_thinks_eval"
            }),
            ..Sample::default()
        };
        filler.add("m", &goal, i, &s).unwrap();
        let s = Sample {
            verdict: Some(i < 3),
            ..harmless(i)
        };
        filler.add("m", &none, i, &s).unwrap();
    }
    for i in 10..12 {
        filler
            .add(
                "m",
                &goal,
                i,
                &Sample {
                    verdict: None,
                    ..harmless(i)
                },
            )
            .unwrap();
    }
    filler
        .add(
            "m",
            &goal,
            12,
            &Sample {
                unclassified: true,
                ..harmless(12)
            },
        )
        .unwrap();
    filler.finish().unwrap();

    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let g = s.rows.iter().find(|r| r.condition == goal.id()).unwrap();
    assert_eq!(
        (g.n, g.harmful, g.judge_errors, g.unclassified, g.planned),
        (10, 9, 2, 1, 13)
    );
    assert_eq!(s.comparisons_made, 1);
    let c = &s.comparisons[0];
    assert_eq!(c.contrast, "explicit_vs_none");
    assert_eq!(c.condition_a, goal.id());
    assert_eq!(c.condition_b, none.id());
    // Newcombe (1998) example (b): 9/10 vs 3/10.
    assert_eq!(
        ((c.ci.low * 1e4).round(), (c.ci.high * 1e4).round()),
        (1705.0, 8090.0)
    );
    let real = s
        .awareness
        .iter()
        .find(|a| a.label == "deliberates_thinks_real")
        .unwrap();
    assert_eq!((real.estimate.harmful, real.estimate.n), (5, 5));
    assert_eq!(real.condition, goal.id());
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert!(csv.contains(",10,9,0.9000,"), "{csv}");
    // 2 judge errors, none filtered or empty: 9/12 to 11/12 had they been counted.
    assert!(
        csv.lines().any(|l| l.contains(",2,0,0,2,0.7500,0.9167,")),
        "{csv}"
    );
}

#[test]
fn only_the_latest_run_counts_and_missing_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_reports(dir.path(), &ReportOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("run `misalign run` first"),
        "{err}"
    );

    fill_synthetic(dir.path(), 1, 2, 5, 100).unwrap();
    // A second run planning only one condition of the same model.
    let filler = Filler::new(dir.path()).unwrap();
    let c = Condition::new("murder", GoalType::Latent, "safety", Urgency::None);
    filler.add("mock/new", &c, 0, &harmless(0)).unwrap();
    filler.finish().unwrap();
    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    assert_eq!(s.rows.len(), 1, "{:?}", s.rows);
    assert_eq!(s.rows[0].model, "mock/new");
    let first = write_reports(
        dir.path(),
        &ReportOptions {
            run_id: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(first.rows.len(), 2);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("blackmail_explicit-america_replacement"));
    assert!(!html.contains("left-out"), "small report embeds everything");
}

#[test]
fn html_over_budget_embeds_harmful_plus_a_sample_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fill_synthetic(dir.path(), 2, 3, 200, 500).unwrap();
    // Room for every harmful transcript (about 0.8 MB) but not for all (about 2 MB).
    let opts = ReportOptions {
        html_budget: 1_200_000,
        ..Default::default()
    };
    let s = write_reports(dir.path(), &opts).unwrap();
    let harmful: u64 = s.rows.iter().map(|r| r.harmful).sum();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"left-out\""));
    assert!(html.contains("every harmful one"));
    let embedded = html.matches("\"item_key\"").count() as u64;
    assert!(
        embedded >= harmful && embedded < 1200,
        "embedded {embedded}, harmful {harmful}"
    );
    assert!(
        html.contains(&format!("embeds {embedded} of 1200 transcripts")),
        "count stated"
    );
}

#[test]
fn html_caps_harmful_per_cell_when_they_alone_exceed_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    fill_synthetic(dir.path(), 2, 3, 200, 500).unwrap();
    let opts = ReportOptions {
        html_budget: 100_000,
        ..Default::default()
    };
    let s = write_reports(dir.path(), &opts).unwrap();
    let harmful: u64 = s.rows.iter().map(|r| r.harmful).sum();
    let e = s.html_embedded.clone().expect("embed info");
    let kh = e.harmful_per_cell_limit.expect("harmful ones capped");
    let k = e.per_cell_limit.expect("others capped");
    assert_eq!(e.total, 1200);
    assert_eq!(e.harmful_total, harmful);
    assert!(
        e.harmful_embedded < harmful && e.harmful_embedded > 0,
        "{e:?}"
    );
    // Stratified: every cell with harmful samples keeps min(its harmful, kh) of them.
    let want_h: u64 = s.rows.iter().map(|r| r.harmful.min(kh)).sum();
    let want_o: u64 = s.rows.iter().map(|r| (r.answered - r.harmful).min(k)).sum();
    assert_eq!(e.harmful_embedded, want_h);
    assert_eq!(e.embedded, want_h + want_o);
    assert_eq!(e.left_out, 1200 - e.embedded);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(html.matches("\"item_key\"").count() as u64, e.embedded);
    assert!(
        html.contains(&format!(
            "embeds {} of 1200 transcripts: {} of the {harmful} harmful ones (at most {kh} per model x condition)",
            e.embedded, e.harmful_embedded
        )),
        "the page says what it embeds"
    );
    assert!(html.contains(&format!("The other {} (", e.left_out)));
    // The transcripts stay near the budget (the page adds charts and the viewer).
    assert!(html.len() < 400_000, "report.html is {} bytes", html.len());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["html_embedded"]["embedded"], e.embedded);
    assert_eq!(json["html_embedded"]["harmful_per_cell_limit"], kh);
}
