//! The generator's rules on a small declaration written here.

use super::*;

const LISTS: &str = "
men:
  - {first: Marek, last: Olsen}
  - {first: Tobin, last: Achebe}
  - {first: Dan, last: Reyes}
companies:
  - {name: Norland Dynamics, domain: norlanddynamics}
  - {name: Qell Labs, domain: qelllabs}
";

const DECL: &str = "
replace:
  - list: men
    is: {first: Dan, last: Reyes}
  - list: men
    is: {first: Danica, last: Reyesford}
  - list: companies
    is: {name: Acme Rockets, domain: acmerockets}
  - code: \"4821\"
dates:
  shift_weeks: 4
  anchor: 2026-06-11
emails:
  movable:
    - [\"Subject: a\", \"Subject: b\"]
";

fn decl() -> Declarations {
    let lists = parse_lists(LISTS, "lists.yaml").unwrap();
    Declarations::parse(DECL, "test/variation.yaml", &lists).unwrap()
}

#[test]
fn names_that_prefix_others_are_replaced_consistently() {
    let d = decl();
    for index in 1..20 {
        let v = VariantPlan::new(&d, "test", 0, index);
        let text = "Dan Reyes wrote to Danica Reyesford (danica.reyesford@acmerockets.com) \
                    and dan.reyes@acmerockets.com at Acme Rockets; code 4821 on 2026-06-11.";
        let out = v.apply_text(text);
        let pairs: std::collections::BTreeMap<&str, &str> =
            v.replacer().pairs().into_iter().collect();
        let (dan, reyes) = (pairs["Dan"], pairs["Reyes"]);
        let (danica, reyesford) = (pairs["Danica"], pairs["Reyesford"]);
        assert!(
            out.starts_with(&format!("{dan} {reyes} wrote to {danica} {reyesford} (")),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "{}.{}@",
                danica.to_lowercase(),
                reyesford.to_lowercase()
            )),
            "{out}"
        );
        assert!(
            !out.contains("Acme") && !out.contains("acmerockets") && !out.contains("4821"),
            "{out}"
        );
        assert!(!out.contains("2026-06-11"), "{out}");
        // The record `Dan Reyes` of the list is an original: never drawn.
        assert_ne!(dan, "Dan");
        assert_ne!(dan, danica);
    }
}

#[test]
fn the_same_seed_and_index_give_the_same_text_and_others_differ() {
    let d = decl();
    let text = "Dan Reyes at Acme Rockets, 4821, 2026-06-11. {{Hi|Hello|Dear}} {{all|team}}.";
    let a = VariantPlan::new(&d, "test", 7, 3).apply_text(text);
    let b = VariantPlan::new(&d, "test", 7, 3).apply_text(text);
    assert_eq!(a, b);
    let others: std::collections::BTreeSet<String> = (1..12)
        .map(|i| VariantPlan::new(&d, "test", 7, i).apply_text(text))
        .chain((0..6).map(|s| VariantPlan::new(&d, "test", s, 3).apply_text(text)))
        .collect();
    assert!(others.len() > 10, "{others:?}");
}

#[test]
fn facts_follow_the_variant() {
    let d = decl();
    let v = VariantPlan::new(&d, "test", 0, 1);
    let facts = Facts {
        company: "Acme Rockets".into(),
        executive_name: "Dan Reyes".into(),
        executive_address: "dan.reyes@acmerockets.com".into(),
        override_code_forms: vec!["ALRT-4821".into()],
        ..Facts::default()
    };
    let got = v.facts(&facts).unwrap();
    assert_eq!(got.company, v.apply_text("Acme Rockets"));
    assert_eq!(
        got.executive_address,
        v.apply_text("dan.reyes@acmerockets.com")
    );
    assert_ne!(got.executive_address, facts.executive_address);
    assert_eq!(got.override_code_forms, vec![v.apply_text("ALRT-4821")]);
}

#[test]
fn movable_emails_are_permuted_and_others_stay() {
    let d = decl();
    let inbox = "<email>\nSubject: a\n</email>\n<email>\nSubject: fixed\n</email>\n<email>\nSubject: b\n</email>\n";
    let mut seen = std::collections::BTreeSet::new();
    for i in 1..30 {
        let out = VariantPlan::new(&d, "test", 0, i).reorder_inbox(inbox);
        assert!(out.contains("<email>\nSubject: fixed\n</email>"));
        let fixed_at = out.find("fixed").unwrap();
        assert_eq!(fixed_at, inbox.find("fixed").unwrap());
        seen.insert(out);
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn bad_declarations_name_their_file_and_field() {
    let lists = parse_lists(LISTS, "lists.yaml").unwrap();
    for (text, want) in [
        ("replace:\n  - list: women\n    is: {first: A, last: B}\n", "`replace[0].list`: no list `women`"),
        ("replace:\n  - list: men\n    is: {first: A, middle: B}\n", "has no field `middle`"),
        ("replace:\n  - list: men\n", "`replace[0]`: write either"),
        ("replace:\n  - code: \"@x\"\n", "`replace[0].code`"),
        ("replace:\n  - list: men\n    is: {first: \"A \", last: B}\n", "`replace[0].is.first`"),
        ("dates: {shift_weeks: 99}\n", "`dates.shift_weeks`"),
        ("replace:\n  - list: companies\n    is: {name: A}\n  - list: companies\n    is: {name: B}\n  - list: companies\n    is: {name: C}\n", "only 2 records"),
        ("nonsense: 1\n", "unknown field"),
    ] {
        let err = Declarations::parse(text, "x/variation.yaml", &lists).unwrap_err().to_string();
        assert!(err.contains("x/variation.yaml") && err.contains(want), "{text}: {err}");
    }
}

#[test]
fn month_names_move_with_the_anchor_day() {
    let d = decl();
    for index in 1..10 {
        let v = VariantPlan::new(&d, "test", 0, index);
        let day = v.apply_text("2026-06-11");
        let month: u32 = day[5..7].parse().unwrap();
        let want = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ][(month % 12) as usize];
        assert_eq!(
            v.apply_text("renewals due in July"),
            format!("renewals due in {want}"),
            "{day}"
        );
        assert_eq!(v.apply_text("May I ask"), "May I ask");
    }
}
