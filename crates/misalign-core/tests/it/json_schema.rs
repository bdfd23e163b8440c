//! `misalign schema`'s JSON Schema against the loader, checked with a real JSON Schema
//! validator: the loader and the schema accept the same keys, the example files validate,
//! and a wrong key is rejected by both.

use misalign_core::config::{experiment_json_schema, parse_experiment};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn every_field_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/every_field.yaml")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&experiment_json_schema()).expect("the schema compiles")
}

/// The YAML as the JSON an editor's YAML plug-in hands the schema (same YAML 1.2 reader).
fn yaml_to_json(text: &str) -> Value {
    // YAML 1.2 booleans, as the loader and yaml-language-server read them (`off` is text).
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<Value>(text, options).expect("valid YAML")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every property path the schema describes: `a.b`, `a.*` (free-form keys), `a[]` (items).
fn schema_paths(schema: &Value, path: &str, out: &mut BTreeSet<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            let p = join(path, k);
            out.insert(p.clone());
            schema_paths(s, &p, out);
        }
    }
    if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
        let p = join(path, "*");
        out.insert(p.clone());
        schema_paths(s, &p, out);
    }
    if let Some(s) = schema.get("items") {
        schema_paths(s, &format!("{path}[]"), out);
    }
    for alt in schema
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        schema_paths(alt, path, out);
    }
}

/// The schema paths a document uses, found by walking it beside the schema.
fn used_paths(doc: &Value, schema: &Value, path: &str, out: &mut BTreeSet<String>) {
    match doc {
        Value::Object(map) => {
            let schema = choose_alternative(schema, |s| s.get("type") == Some(&"object".into()));
            for (k, v) in map {
                let (p, s) = match schema.get("properties").and_then(|p| p.get(k)) {
                    Some(s) => (join(path, k), s),
                    None => match schema.get("additionalProperties").filter(|s| s.is_object()) {
                        Some(s) => (join(path, "*"), s),
                        None => panic!("{path}.{k} is not in the schema"),
                    },
                };
                out.insert(p.clone());
                used_paths(v, s, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                used_paths(item, &schema["items"], &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn choose_alternative(schema: &Value, pick: impl Fn(&Value) -> bool) -> &Value {
    match schema.get("anyOf").and_then(Value::as_array) {
        Some(alts) => alts.iter().find(|a| pick(a)).unwrap_or(schema),
        None => schema,
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

#[test]
fn the_loader_and_the_schema_accept_the_same_keys() {
    let file = every_field_path();
    let text = std::fs::read_to_string(&file).unwrap();
    // The loader accepts the file that uses every key...
    parse_experiment(&text, file.to_str().unwrap()).expect("the loader accepts every_field.yaml");
    // ...the schema accepts it too...
    let doc = yaml_to_json(&text);
    let v = validator();
    assert_eq!(errors(&v, &doc), Vec::<String>::new());
    // ...and it uses every key the schema describes, and none it does not.
    let schema = experiment_json_schema();
    let mut all = BTreeSet::new();
    schema_paths(&schema, "", &mut all);
    let mut used = BTreeSet::new();
    used_paths(&doc, &schema, "", &mut used);
    let unused: Vec<_> = all.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "every_field.yaml does not use {unused:?}: add them so the loader is checked on them"
    );
    assert!(all.len() > 80, "{} paths", all.len());
}

/// JSON pointers of every closed mapping (fixed keys) the document has.
fn closed_objects(doc: &Value, schema: &Value, pointer: &str, out: &mut Vec<String>) {
    match doc {
        Value::Object(map) => {
            let schema = choose_alternative(schema, |s| s.get("type") == Some(&"object".into()));
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                out.push(pointer.to_string());
            }
            for (k, v) in map {
                let s = schema
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties"))
                    .unwrap_or_else(|| panic!("{pointer}/{k} is not in the schema"));
                let token = k.replace('~', "~0").replace('/', "~1");
                closed_objects(v, s, &format!("{pointer}/{token}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                closed_objects(item, &schema["items"], &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn a_wrong_key_anywhere_is_rejected_by_both() {
    let file = every_field_path();
    let doc = yaml_to_json(&std::fs::read_to_string(&file).unwrap());
    let schema = experiment_json_schema();
    let mut pointers = Vec::new();
    closed_objects(&doc, &schema, "", &mut pointers);
    assert!(pointers.len() >= 15, "{pointers:?}");
    let v = validator();
    for pointer in pointers {
        let mut bad = doc.clone();
        bad.pointer_mut(&pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("temprature".into(), Value::from(1));
        assert!(
            !errors(&v, &bad).is_empty(),
            "schema accepts a wrong key at {pointer:?}"
        );
        // JSON is YAML: the loader reads the same document.
        let text = serde_json::to_string_pretty(&bad).unwrap();
        let err = parse_experiment(&text, file.to_str().unwrap())
            .expect_err(&format!("loader accepts a wrong key at {pointer:?}"));
        assert!(err.message.contains("unknown key"), "{pointer}: {err}");
    }
}

#[test]
fn every_example_and_reference_fixture_validates() {
    let v = validator();
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        root().join("examples"),
        root().join("crates/misalign-core/tests/fixtures/experiments"),
    ] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        parse_experiment(&text, f.to_str().unwrap())
            .unwrap_or_else(|e| panic!("the loader rejects {}: {e}", f.display()));
        let errs = errors(&v, &yaml_to_json(&text));
        assert!(errs.is_empty(), "{}: {errs:?}", f.display());
    }
}

#[test]
fn values_the_loader_refuses_the_schema_refuses() {
    let v = validator();
    let base = yaml_to_json(
        "experiment_id: t\nexpansions:\n  - name: a\n    variables: {scenarios: [blackmail], \
         goal_types: [none], urgency_types: [none]}\n",
    );
    assert_eq!(errors(&v, &base), Vec::<String>::new());
    let cases: [(&str, Value); 8] = [
        ("/global", serde_json::json!({"temperature": 2.5})),
        ("/global", serde_json::json!({"max_tokens": 0})),
        (
            "/global",
            serde_json::json!({"reasoning_effort": "extreme"}),
        ),
        ("/experiment_id", Value::from("../escape")),
        (
            "/providers",
            serde_json::json!({"p": {"base_url": "http://x"}}),
        ),
        ("/providers", serde_json::json!({"p": {"kind": "grpc"}})),
        ("/execution", serde_json::json!({"retries": 101})),
        (
            "/mitigations",
            serde_json::json!({"calm": {"system": "a", "inbox": "b"}}),
        ),
    ];
    for (pointer, value) in cases {
        let mut bad = base.clone();
        bad.as_object_mut()
            .unwrap()
            .insert(pointer[1..].to_string(), value.clone());
        assert!(
            !errors(&v, &bad).is_empty(),
            "schema accepts {pointer} = {value}"
        );
        let text = serde_json::to_string(&bad).unwrap();
        assert!(
            parse_experiment(&text, "t.yaml").is_err(),
            "loader accepts {pointer} = {value}"
        );
    }
    // A wrong goal type inside the grid.
    let mut bad = base.clone();
    bad["expansions"][0]["variables"]["goal_types"] = serde_json::json!(["explict"]);
    assert!(!errors(&v, &bad).is_empty());
}
