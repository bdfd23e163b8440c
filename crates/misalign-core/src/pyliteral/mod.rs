//! Reads a Python module of literals as data, without running Python.
//!
//! The reference framework keeps its system prompts, instruction and goal texts in a Python
//! file. We read exactly the subset such a file uses: string literals (plain, raw,
//! triple-quoted, every escape form), adjacent literals joined, names bound earlier in the
//! file, `+` between strings (or lists, or tuples), parentheses, lists, tuples, dicts with
//! string keys, and a list comprehension with one `for` over a list of tuples, whose result
//! may be unpacked into several names (`A, B = [... for x, y in [(..), (..)]]`). Anything
//! else is an error naming its line, never a guess.

mod eval;
mod lexer;
mod parser;

pub use eval::Value;

use std::collections::BTreeMap;

/// Something outside the subset, or a value of the wrong shape, at a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PyError {
    pub line: usize,
    pub message: String,
}

/// A name bound at the top level of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub value: Value,
    /// The line of the statement that bound it last.
    pub line: usize,
}

/// The top-level names of a file and their values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    pub names: BTreeMap<String, Binding>,
}

impl Module {
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.names.get(name)
    }
}

/// Reads `text` (already decoded, universal newlines) as a module of literals.
pub fn evaluate(text: &str) -> Result<Module, PyError> {
    let tokens = lexer::tokenize(text)?;
    let statements = parser::parse(&tokens)?;
    eval::run(&statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_string())
    }

    fn get(m: &Module, name: &str) -> Value {
        m.get(name).unwrap().value.clone()
    }

    #[test]
    fn strings_names_and_plus() {
        let m = evaluate(
            "\"\"\"Docstring.\"\"\"\n# comment\nA = 'x' \"y\"  # adjacent literals join\nB = A + '\\n' + (\n    A\n)\n",
        )
        .unwrap();
        assert_eq!(get(&m, "A"), s("xy"));
        assert_eq!(get(&m, "B"), s("xy\nxy"));
        assert_eq!(m.get("B").unwrap().line, 4);
    }

    #[test]
    fn dicts_lists_tuples() {
        let m = evaluate(
            "D = {\n  'k': {'a': 'b',},\n  # note\n  'k': {'a': 'c'},\n  'l': ['x', ('y', 'z')],\n}\nE = ()\nF = 'a',\nG = []\nH = {}\n",
        )
        .unwrap();
        let Value::Dict(d) = get(&m, "D") else {
            panic!()
        };
        // A repeated key keeps its first place and takes the last value, as in Python.
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0],
            ("k".to_string(), Value::Dict(vec![("a".into(), s("c"))]))
        );
        assert_eq!(
            d[1].1,
            Value::List(vec![s("x"), Value::Tuple(vec![s("y"), s("z")])])
        );
        assert_eq!(get(&m, "E"), Value::Tuple(vec![]));
        assert_eq!(get(&m, "F"), Value::Tuple(vec![s("a")]));
        assert_eq!(get(&m, "G"), Value::List(vec![]));
        assert_eq!(get(&m, "H"), Value::Dict(vec![]));
    }

    #[test]
    fn comprehension_unpacked_into_two_names() {
        let m = evaluate(
            "PAD = 'pad;'\nTOOLS = 'tools.'\nDEV, PROD = [\n    'head ' + pad + 'body ' + tools\n    for pad, tools in [\n        (PAD, TOOLS),\n        (\"\\n\\n\", TOOLS),\n    ]\n]\n",
        )
        .unwrap();
        assert_eq!(get(&m, "DEV"), s("head pad;body tools."));
        assert_eq!(get(&m, "PROD"), s("head \n\nbody tools."));
        // The loop names do not leak into the module.
        assert!(m.get("pad").is_none());
        let m = evaluate("X = [a + a for (a) in ['1', '2']]\nY = [b for (a, b) in [('1', '2')]]\n")
            .unwrap();
        assert_eq!(get(&m, "X"), Value::List(vec![s("11"), s("22")]));
        assert_eq!(get(&m, "Y"), Value::List(vec![s("2")]));
    }

    #[test]
    fn list_and_tuple_concatenation() {
        let m = evaluate("A = ['a'] + ['b']\nB = ('a',) + ('b',)\nC, D = B\n").unwrap();
        assert_eq!(get(&m, "A"), Value::List(vec![s("a"), s("b")]));
        assert_eq!(get(&m, "C"), s("a"));
        assert_eq!(get(&m, "D"), s("b"));
    }

    #[test]
    fn errors_name_the_line_and_what_was_found() {
        for (src, line, needle) in [
            ("A = 'a'\nB = C\n", 2, "`C` is not defined"),
            ("A = 'a' + ['b']\n", 1, "cannot add a list to a string"),
            ("A, B = ['a']\n", 1, "1 value(s) into 2 names"),
            ("A, B = 'ab'\n", 1, "a string cannot be unpacked"),
            (
                "A = [x for x, y in ['ab']]\n",
                1,
                "a string cannot be unpacked",
            ),
            ("A = [x for x in 'ab']\n", 1, "iterate over a string"),
            ("A = {['a']: 'b'}\n", 1, "dict keys must be strings"),
            ("A = [x for x in [] if x]\n", 1, "`if`"),
            (
                "A = [x for x in [] for y in []]\n",
                1,
                "more than one `for`",
            ),
            ("A = (x for x in [])\n", 1, "generator"),
            ("A = B = 'a'\n", 1, "chained assignment"),
            ("import os\n", 1, "`import`"),
            ("def f():\n", 1, "`def`"),
            ("A = None\n", 1, "`None`"),
            ("A = {'a', 'b'}\n", 1, "a set"),
            ("A = 'a'\n'doc' = A\n", 2, "only names can be assigned"),
            ("A\n", 1, "not an assignment"),
            ("A = 'a' 'b' C\n", 1, "end of the statement"),
            ("A = f('x')\n", 1, "calling or indexing"),
            ("A = {'a' 'b'}\n", 1, "a set"),
            ("A = {'a': }\n", 1, "expected a value"),
        ] {
            let e = evaluate(src).unwrap_err();
            assert_eq!(e.line, line, "{src:?}: {e}");
            assert!(e.message.contains(needle), "{src:?}: {}", e.message);
        }
    }

    #[test]
    fn exponential_growth_is_refused() {
        let mut src = String::from("A = 'xxxxxxxxxxxxxxxx'\n");
        for _ in 0..40 {
            src.push_str("A = A + A\n");
        }
        let e = evaluate(&src).unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
    }

    #[test]
    fn doubling_without_plus_stops_at_the_total_bound() {
        // T1 = (T0, T0), T2 = (T1, T1), ...: 2^24 leaves if nothing stops it (GBs). The
        // bound on everything built stops it at a line, quickly.
        let mut src = String::from("T0 = 'aaaaaaaaaaaaaaaa'\n");
        for i in 1..=24 {
            src.push_str(&format!("T{i} = (T{p}, T{p})\n", p = i - 1));
        }
        let t0 = std::time::Instant::now();
        let e = evaluate(&src).unwrap_err();
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
        assert!(e.message.contains("more than 64 MiB"), "{e}");
        assert!((15..=25).contains(&e.line), "{e}");
        // The same with lists and dicts, and through a comprehension.
        let mut src = String::from("T0 = ['aaaaaaaaaaaaaaaa']\n");
        for i in 1..=24 {
            src.push_str(&format!("T{i} = {{'a': T{p}, 'b': [T{p}]}}\n", p = i - 1));
        }
        assert!(evaluate(&src).unwrap_err().message.contains("64 MiB"));
        let mut src = String::from("T0 = ['aaaaaaaaaaaaaaaa', 'b']\n");
        for i in 1..=24 {
            src.push_str(&format!("T{i} = [T{p} for x in T{p}]\n", p = i - 1));
        }
        assert!(evaluate(&src).is_err());
        // Copying one large value many times is bounded too.
        let mut src = format!("A = '{}'\n", "x".repeat(1 << 20));
        for i in 0..100 {
            src.push_str(&format!("B{i} = A\n"));
        }
        assert!(evaluate(&src).unwrap_err().message.contains("64 MiB"));
    }

    #[test]
    fn a_long_chain_of_plus_needs_no_deep_stack() {
        // 5,000 terms overflowed the stack when each `+` was a nested pair; now a loop (and
        // this runs on a test thread, whose stack is smaller than the main thread's).
        let src = format!(
            "A = 'a'{}\nC = 'c'\nB = C{}\n",
            " + 'a'".repeat(4999),
            " + C".repeat(4999)
        );
        let m = evaluate(&src).unwrap();
        assert_eq!(get(&m, "A"), s(&"a".repeat(5000)));
        assert_eq!(get(&m, "B"), s(&"c".repeat(5000)));
        let src = format!("A = ['a']{}\n", " + ['a']".repeat(49_999));
        let Value::List(l) = get(&evaluate(&src).unwrap(), "A") else {
            panic!()
        };
        assert_eq!(l.len(), 50_000);
        // A type error in the middle of a chain names the line of its `+`.
        let e = evaluate("A = 'a' +\\\n 'b' + \\\n ['c']\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "cannot add a list to a string")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = evaluate(&text);
        }

        #[test]
        fn never_panics_on_python_like_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "A", "B", " = ", ", ", " + ", "'x'", "\"\"\"y\n\"\"\"", "r'\\q'", "(", ")", "[", "]",
                    "{", "}", ": ", " for ", " in ", "\n", "#c\n", "\\\n", "'\\x4", "'\\u00e9'", "u'z'",
                ]),
                0..60,
            )
        ) {
            let _ = evaluate(&parts.concat());
        }
    }
}
