//! The mitigation table on a real SQLite store: a mitigation that removes the harm
//! (`principles`: 18/20 -> 0/20), one that halves it (`instructions`, stored as `dont`:
//! 9/20) and one that does nothing (`monitoring`: 18/20), each against `none` of the same
//! model and condition, in summary.json, summary.csv, the terminal and report.html.
//!
//! Reference numbers were computed independently of `statrs` and of our code by a small
//! pure-Python script (Wilson and Newcombe method 10 from their closed forms with
//! z = 1.959963984540054; Fisher's two-sided p as the exact sum, in rationals, of the
//! hypergeometric probabilities no larger than the observed one times 1 + 1e-7, as R does;
//! Holm by its definition over the three p-values of the model's family).

use misalign_core::{Condition, GoalType, Urgency};
use misalign_report::{render_table, write_reports, ReportOptions};
use misalign_store::testdata::{Filler, Sample};

fn add(f: &Filler, model: &str, c: &Condition, harmful: u32, total: u32) {
    for k in 0..total {
        let s = Sample {
            answer: format!("Note {k} to the Pellingham archive about shelf labels."),
            verdict: Some(k < harmful),
            ..Sample::default()
        };
        f.add(model, c, k, &s).unwrap();
    }
}

fn with(mitigations: &[&str]) -> Condition {
    let mut c = Condition::new(
        "blackmail",
        GoalType::Explicit,
        "america",
        Urgency::Replacement,
    );
    c.set_mitigations(mitigations).unwrap();
    c
}

#[track_caller]
fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[track_caller]
fn close_rel(got: f64, want: f64) {
    assert!(((got - want) / want).abs() < 1e-6, "got {got}, want {want}");
}

#[test]
fn a_mitigation_that_removes_the_harm_is_reported_as_exactly_that() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filler::new(dir.path()).unwrap();
    add(&f, "m", &with(&[]), 18, 20);
    add(&f, "m", &with(&["instructions"]), 9, 20);
    add(&f, "m", &with(&["principles"]), 0, 20);
    add(&f, "m", &with(&["monitoring"]), 18, 20);
    // A mitigated cell with no `none` cell of its model is not compared.
    add(&f, "lonely", &with(&["principles"]), 0, 5);
    f.finish().unwrap();

    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    let by = |name: &str| {
        s.mitigations
            .iter()
            .find(|m| m.mitigation == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", s.mitigations))
    };
    assert_eq!(s.mitigations.len(), 3, "{:?}", s.mitigations);

    let p = by("principles");
    assert_eq!(p.model, "m");
    assert_eq!(p.condition, "blackmail_explicit-america_replacement");
    assert_eq!(
        p.condition_mitigated,
        "blackmail_explicit-america_replacement_mit-principles"
    );
    assert_eq!(
        (p.none.harmful, p.none.n, p.mitigated.harmful, p.mitigated.n),
        (18, 20, 0, 20)
    );
    close(p.mitigated.rate.unwrap(), 0.0);
    let ci = p.mitigated.ci.unwrap();
    close(ci.low, 0.0);
    close(ci.high, 0.16112515805281938);
    let ci = p.none.ci.unwrap();
    close(ci.low, 0.6989663547715128);
    close(ci.high, 0.9721335187862319);
    close(p.difference, -0.9);
    close(p.ci.low, -0.9721335187862319);
    close(p.ci.high, -0.6423649032616106);
    close(p.relative_risk_reduction.unwrap(), 1.0);
    close_rel(p.p_value, 3.351553382989278e-09);
    close_rel(p.p_holm, 1.0054660148967834e-08);
    assert_eq!((p.family.as_str(), p.family_size), ("mitigation: m", 3));

    let i = by("instructions");
    assert_eq!(
        i.condition_mitigated,
        "blackmail_explicit-america_replacement_dont"
    );
    close(i.difference, -0.45);
    close(i.ci.low, -0.6549178033022345);
    close(i.ci.high, -0.1607889501802452);
    close(i.relative_risk_reduction.unwrap(), 0.5);
    close_rel(i.p_value, 0.005735673700078594);
    close_rel(i.p_holm, 0.011471347400157188);

    let o = by("monitoring");
    close(o.difference, 0.0);
    close(o.ci.low, -0.2135831712620096);
    close(o.ci.high, 0.2135831712620096);
    close(o.relative_risk_reduction.unwrap(), 0.0);
    close(o.p_value, 1.0);
    close(o.p_holm, 1.0);

    // summary.json carries the table; summary.csv has the mitigation of every row.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let rows = json["mitigations"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .any(|r| r["mitigation"] == "principles" && r["difference"] == -0.9));
    let mut csv = csv::Reader::from_path(dir.path().join("summary.csv")).unwrap();
    let head = csv.headers().unwrap().clone();
    let col = head.iter().position(|h| h == "mitigation").unwrap();
    let cond = head.iter().position(|h| h == "condition").unwrap();
    let mut seen: Vec<(String, String)> = csv
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[cond].to_string(), r[col].to_string())
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            (
                "blackmail_explicit-america_replacement".to_string(),
                "none".to_string()
            ),
            (
                "blackmail_explicit-america_replacement_dont".into(),
                "instructions".into()
            ),
            (
                "blackmail_explicit-america_replacement_mit-monitoring".into(),
                "monitoring".into()
            ),
            (
                "blackmail_explicit-america_replacement_mit-principles".into(),
                "principles".into()
            ),
        ]
    );

    // The terminal and the page.
    let table = render_table(&s);
    assert!(table.contains("Mitigations against none"), "{table}");
    let section = &table[table.find("Mitigations against none").unwrap()..];
    // The `none` cell heads its model and condition; each mitigation has a row under it.
    assert!(
        section.contains("m  blackmail_explicit-america_replacement: none 90.0% (18/20)\n"),
        "{section}"
    );
    let line = section.lines().find(|l| l.contains("principles")).unwrap();
    assert!(line.contains("0.0% (0/20)"), "{line}");
    assert!(
        line.contains("-90.0 [-97.2, -64.2]") && line.contains("100%"),
        "{line}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<h2 id=\"mitigations\">Mitigations</h2>"));
    assert!(html.contains("<svg class=\"forest\""));
    // Three rows in the plot: one interval line and one dot each.
    let svg = &html[html.find("<svg class=\"forest\"").unwrap()..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    assert_eq!(svg.matches("<circle").count(), 3);
    // principles' whole interval is below zero: drawn as a reduction.
    assert!(
        svg.contains("fill=\"#1a7f37\"><title>principles: -90.0 pp"),
        "{svg}"
    );
    assert!(html.contains("<table class=\"cmp\" id=\"mitigation-table\">"));
}

#[test]
fn a_run_without_mitigations_has_no_mitigation_table() {
    let dir = tempfile::tempdir().unwrap();
    let f = Filler::new(dir.path()).unwrap();
    add(&f, "m", &with(&[]), 3, 10);
    f.finish().unwrap();
    let s = write_reports(dir.path(), &ReportOptions::default()).unwrap();
    assert!(s.mitigations.is_empty());
    assert!(!render_table(&s).contains("Mitigations against none"));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(!html.contains("id=\"mitigations\""));
}

/// The terminal table fits 120 columns with realistic names, two mitigations combined and
/// escalations on both sides: a heading per model and condition, a row per mitigation.
#[test]
fn the_terminal_mitigation_table_fits_120_columns() {
    use misalign_store::read::CellCounts;
    let cell = |c: &Condition, harmful: u64, escalated: u64| CellCounts {
        model: "anthropic/claude-sonnet-4-5".into(),
        condition_id: c.id(),
        condition_json: Some(serde_json::to_string(c).unwrap()),
        planned: 100,
        answered: 100,
        classified: 100,
        harmful,
        harmless: 100 - harmful,
        escalated,
        ..CellCounts::default()
    };
    let cells = vec![
        cell(&with(&[]), 96, 3),
        cell(&with(&["accurate_context", "principles"]), 12, 40),
        cell(&with(&["oversight"]), 90, 5),
    ];
    let s = misalign_report::summarize(None, &cells, &[], Default::default());
    assert_eq!(s.mitigations.len(), 2);
    let table = render_table(&s);
    let section = &table[table.find("Mitigations against none").unwrap()..];
    let section = &section[..section.find("\n\n").unwrap_or(section.len())];
    for line in section.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns: {line}\n{section}",
            line.chars().count()
        );
    }
    // One heading for the model and condition, then the two mitigations under it.
    let heading = "anthropic/claude-sonnet-4-5  blackmail_explicit-america_replacement: \
                   none 96.0% (96/100), escalated 3/100\n";
    assert_eq!(section.matches(heading).count(), 1, "{section}");
    let row = section
        .lines()
        .find(|l| l.contains("accurate_context") && l.contains("principles"))
        .unwrap();
    assert!(
        row.contains("12.0% (12/100)") && row.ends_with("40/100"),
        "{row}"
    );
}
