//! The experiment-file reader never panics: on arbitrary text, on YAML-shaped noise, and on
//! random mutations of valid files. Errors always point inside the file.

use misalign_core::config::{parse_experiment, ConfigError};
use misalign_core::plan::{expand, summarize};
use proptest::prelude::*;
use std::path::Path;

fn fixtures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/experiments");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

/// Parses, and when the file is valid also plans it: neither may panic.
fn exercise(text: &str) -> Result<(), ConfigError> {
    let exp = parse_experiment(text, "fuzz.yaml")?;
    let planned = expand(&exp);
    let s = summarize(&planned, exp.samples_per_condition);
    assert_eq!(s.conditions, planned.len());
    Ok(())
}

fn check_location(text: &str, e: &ConfigError) {
    assert_eq!(e.file, "fuzz.yaml");
    assert!(!e.field.is_empty() && !e.message.is_empty(), "{e}");
    // Errors point at a line of the file (or just past its end, for EOF problems). Lines as
    // YAML counts them: a lone carriage return breaks a line too (as old Mac files do).
    let lines = text
        .replace("\r\n", "\n")
        .split(['\n', '\r'])
        .count()
        .max(1);
    assert!(e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
}

/// YAML-ish building blocks so mutations reach deep into the schema, not just the lexer.
const PIECES: &[&str] = &[
    ":",
    " ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "<<: *a\n",
    "? ",
    "!!str ",
    "!!int ",
    "|\n",
    ">\n",
    "~",
    "null",
    "true",
    "on",
    "yes",
    "1e309",
    "-1",
    "99999999999999999999999",
    "0x1F",
    ".nan",
    "\t",
    "\u{feff}",
    "é",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "experiment_id",
    "global",
    "models",
    "expansions",
    "variables",
    "providers",
    "kind",
    "local",
    "base_url",
    "http://[::1]:0",
    "rate_limits",
    "pools",
    "rpm",
    "explicit",
    "none",
    "america",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, piece)| Mutation::Insert { at, piece }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn char_boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Delete { at, len } => {
            let a = char_boundary(text, *at);
            let b = char_boundary(text, (a + len).min(text.len()));
            format!("{}{}", &text[..a], &text[b.max(a)..])
        }
        Mutation::Insert { at, piece } => {
            let a = char_boundary(text, *at);
            format!("{}{}{}", &text[..a], PIECES[*piece], &text[a..])
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = line % lines.len();
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
            }
            lines.join("\n")
        }
        Mutation::Truncate { at } => text[..char_boundary(text, *at)].to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Err(e) = exercise(&text) {
            check_location(&text, &e);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = exercise(&text) {
            check_location(&text, &e);
        }
    }

    #[test]
    fn yaml_shaped_noise_never_panics(parts in proptest::collection::vec(0..PIECES.len(), 0..80)) {
        let text: String = parts.iter().map(|&i| PIECES[i]).collect();
        if let Err(e) = exercise(&text) {
            check_location(&text, &e);
        }
    }

    #[test]
    fn mutated_valid_files_never_panic(
        which in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let all = fixtures();
        let mut text = all[which % all.len()].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        if let Err(e) = exercise(&text) {
            check_location(&text, &e);
        }
    }
}

#[test]
fn alias_bomb_is_refused_not_expanded() {
    // Billion-laughs shape: the YAML budget must stop it quickly.
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let e = parse_experiment(&text, "fuzz.yaml").unwrap_err();
    // Expanded, the document has 10^12 nodes (hours at best); refused, it takes well under a
    // second alone. The bound is loose because this test shares the process with the
    // crate's property tests, on a machine that may be running other builds.
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    check_location(&text, &e);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let e = parse_experiment(&text, "fuzz.yaml").unwrap_err();
    check_location(&text, &e);
}
