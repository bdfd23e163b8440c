//! The variables-file reader against Python's own `re.findall` + `json.loads` on generated
//! near-miss files (python3 is required: the test fails without it).

use crate::support;

use misalign_core::scenario::variables::VariablesFile;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::BTreeMap;

/// Section key and its variables (`None`: Python saw a non-object section).
type Sections = Vec<(String, Option<BTreeMap<String, String>>)>;

fn near_miss_file() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("## ".to_string()),
            Just("### ".to_string()),
            Just("```json".to_string()),
            Just("```".to_string()),
            Just("\n".to_string()),
            Just("\n\n".to_string()),
            Just(" ".to_string()),
            Just("\u{1c}".to_string()),
            Just("\u{a0}".to_string()),
            Just("Pro-America".to_string()),
            Just("Pro Global ".to_string()),
            Just("Ambiguous".to_string()),
            Just("{\"k\": \"v\", \"n\": 3}".to_string()),
            Just("{\"k\": \"w\", \"k\": true}".to_string()),
            Just("{}".to_string()),
            Just("{\"bad\": }".to_string()),
            Just("[1, 2]".to_string()),
            Just("{\"x\": [1.5, null, \"it's\"]}".to_string()),
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

#[test]
fn matches_python_reader() {
    support::python3();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let files: Vec<String> = (0..400)
        .map(|_| near_miss_file().new_tree(&mut runner).unwrap().current())
        .collect();
    // Python: the reference's pattern and key rule; objects only (the reference would crash
    // later on a non-object section, we reject it), values as str().
    let script = r###"
import json, re, sys
pat = re.compile(r"## (.*?)\n\s*```json\s*(.*?)\s*```", re.DOTALL)
out = []
for text in json.load(sys.stdin):
    secs = {}
    for name, body in pat.findall(text):
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        try:
            val = json.loads(body)
        except json.JSONDecodeError:
            continue
        if not isinstance(val, dict):
            val = None
        secs[key] = val
    out.append([[k, None if v is None else {a: str(b) for a, b in v.items()}] for k, v in secs.items()])
sys.stdout.write(json.dumps(out))
"###;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&files).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want: Vec<Sections> = serde_json::from_slice(&out.stdout).unwrap();
    let mut compared = 0;
    for (text, want) in files.iter().zip(want) {
        // Files where Python saw a non-object section: we skip that section instead.
        if want.iter().any(|(_, v)| v.is_none()) {
            continue;
        }
        let got = VariablesFile::parse(text, "v.md", "v");
        let got: Sections = got
            .sections
            .into_iter()
            .map(|s| (s.key, Some(s.vars)))
            .collect();
        assert_eq!(got, want, "file {text:?}");
        compared += 1;
    }
    assert!(compared > 100, "only {compared} files compared");
}
