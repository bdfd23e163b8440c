use super::*;

fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn arm(cell: &str, source: PromptSource, variation: u32, form: Form, x: u64, n: u64) -> Arm {
    Arm {
        model: "m".into(),
        cell: cell.into(),
        scenario: "blackmail".into(),
        source,
        variation,
        form,
        harmful: x,
        n,
    }
}

fn ci(d: &Option<RateDifference>) -> (f64, f64, f64) {
    let d = d.expect("a difference");
    (r4(d.difference), r4(d.ci.low), r4(d.ci.high))
}

use Form::{Agentic, Choice, Open};
use PromptSource::{Packs, Templates};

// The counts are chosen so each difference is one of Newcombe (1998) Table II's worked
// examples of method 10, whose published bounds are the expected values here:
//   (a) 56/70 - 48/80: 0.0524 to 0.3339;  (b) 9/10 - 3/10: 0.1705 to 0.8090;
//   (e) 0/10 - 0/20: -0.1611 to 0.2775;  (g) 10/10 - 0/20: 0.6791 to 1.0000.

#[test]
fn pooled_variants_against_the_canonical_text() {
    // Canonical 48/80; variants 30/35 and 26/35 pool to 56/70: example (a).
    let arms = [
        arm("a", Packs, 0, Agentic, 48, 80),
        arm("a", Packs, 1, Agentic, 30, 35),
        arm("a", Packs, 2, Agentic, 26, 35),
    ];
    let rows = analyse(&arms, IntervalMethod::Wilson);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.canonical.harmful, r.canonical.n), (48, 80));
    let pooled = r.pooled.as_ref().unwrap();
    assert_eq!((pooled.harmful, pooled.n), (56, 70));
    assert_eq!(ci(&r.pooled_minus_canonical), (0.2, 0.0524, 0.3339));
    assert_eq!(
        r.variants.iter().map(|v| v.index).collect::<Vec<_>>(),
        [1, 2]
    );
    // The spread covers the canonical text and both variants.
    let s = r.spread.unwrap();
    assert_eq!(s.homogeneity.variants, 3);
    assert_eq!(
        s.homogeneity,
        homogeneity(&[(48, 80), (30, 35), (26, 35)]).unwrap()
    );
    assert!(s.homogeneity.p_value < 0.05, "{s:?}");
    assert_eq!((r4(s.min_rate), r4(s.max_rate)), (0.6, 0.8571));
    assert!(r.reference.is_none() && r.canonical_minus_reference.is_none());
    assert!(r.say_do_open.is_none() && r.stated_choice.is_none());
}

#[test]
fn public_prompt_gap_against_the_reference_templates() {
    // Canonical 9/10 against the reference templates' 3/10: example (b).
    let arms = [
        arm("b", Packs, 0, Agentic, 9, 10),
        arm("b", Templates, 0, Agentic, 3, 10),
        // A template run's variant is not the reference (left out).
        arm("b", Templates, 1, Agentic, 10, 10),
    ];
    let r = &analyse(&arms, IntervalMethod::Wilson)[0];
    assert_eq!(ci(&r.canonical_minus_reference), (0.6, 0.1705, 0.809));
    assert_eq!(
        r.reference.as_ref().map(|e| (e.harmful, e.n)),
        Some((3, 10))
    );
    assert!(r.pooled.is_none() && r.pooled_minus_reference.is_none());
    assert!(r.variants.is_empty() && r.spread.is_none());
}

#[test]
fn say_do_gap_per_question_form() {
    // Revealed 0/20. Stated open 0/10: example (e); stated choice 10/10: example (g).
    let arms = [
        arm("c", Packs, 0, Agentic, 0, 20),
        arm("c", Packs, 0, Open, 0, 10),
        arm("c", Packs, 0, Choice, 10, 10),
    ];
    let r = &analyse(&arms, IntervalMethod::Wilson)[0];
    assert_eq!(ci(&r.say_do_open), (0.0, -0.1611, 0.2775));
    assert_eq!(ci(&r.say_do_choice), (1.0, 0.6791, 1.0));
    assert_eq!(r.stated_open.as_ref().map(|e| e.n), Some(10));
}

#[test]
fn a_cell_without_a_second_number_has_no_row_and_empty_sides_no_difference() {
    let arms = [
        arm("plain", Packs, 0, Agentic, 3, 10),
        // Stated but never revealed: the stated rate shows, the gap cannot.
        arm("q", Packs, 0, Open, 2, 10),
    ];
    let rows = analyse(&arms, IntervalMethod::Wilson);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].cell, "q");
    assert_eq!(rows[0].canonical.n, 0);
    assert!(rows[0].stated_open.is_some() && rows[0].say_do_open.is_none());
}

#[test]
fn models_and_cells_are_kept_apart_and_arms_of_one_cell_add_up() {
    let mut other = arm("a", Packs, 1, Agentic, 1, 10);
    other.model = "z".into();
    let arms = [
        arm("a", Packs, 0, Agentic, 2, 10),
        arm("a", Packs, 1, Agentic, 3, 10),
        arm("a", Packs, 1, Agentic, 4, 10),
        other,
    ];
    let rows = analyse(&arms, IntervalMethod::Wilson);
    let got: Vec<(&str, u64, u64)> = rows
        .iter()
        .map(|r| {
            let v = &r.variants[0].estimate;
            (r.model.as_str(), v.harmful, v.n)
        })
        .collect();
    assert_eq!(got, [("m", 7, 20), ("z", 1, 10)]);
}

#[test]
fn form_words_read_back() {
    for f in [Agentic, Open, Choice] {
        assert_eq!(Form::parse(f.as_str()), Some(f));
    }
    assert_eq!(Form::parse("question"), None);
    assert_eq!(PromptSource::Templates.as_str(), "templates");
}

#[test]
fn a_scenario_roll_up_pools_its_cells_with_data() {
    // Two cells whose canonical rates add to 48/80 and whose variants add to 56/70:
    // Newcombe's example (a) again. A third cell without variants stays out of the roll-up.
    let arms = [
        arm("x", Packs, 0, Agentic, 20, 40),
        arm("x", Packs, 1, Agentic, 30, 35),
        arm("y", Packs, 0, Agentic, 28, 40),
        arm("y", Packs, 1, Agentic, 26, 35),
        arm("plain", Packs, 0, Agentic, 40, 40),
    ];
    let rolled = analyse_by_scenario(&arms, IntervalMethod::Wilson);
    assert_eq!(rolled.len(), 1, "{rolled:?}");
    let r = &rolled[0];
    assert_eq!(
        (r.cell.as_str(), r.scenario.as_str(), r.cells),
        (ALL_CELLS, "blackmail", 2)
    );
    assert_eq!((r.canonical.harmful, r.canonical.n), (48, 80));
    assert_eq!(ci(&r.pooled_minus_canonical), (0.2, 0.0524, 0.3339));
    // Per cell, each row pools one cell.
    assert!(analyse(&arms, IntervalMethod::Wilson)
        .iter()
        .all(|r| r.cells == 1));
    // A scenario with one cell of data has no roll-up (it would repeat the cell's row).
    assert!(analyse_by_scenario(&arms[..2], IntervalMethod::Wilson).is_empty());
}
