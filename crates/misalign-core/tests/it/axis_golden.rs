//! Every condition id the id grammar produces, pinned byte for byte (`tests/data/axis-golden.txt`).
//!
//! A plan covering every value of every axis (every scenario kind of name, goal type, goal
//! value, urgency, variant, extra-instructions setting, awareness setting and mitigation
//! combination) is expanded; for each condition the file lists its plan position, its id
//! (which is also its prompt folder's name and the id stored with its samples), whether the
//! id reads back as the same condition, and the condition's JSON as the store records it
//! (`prompts.condition_json`). A sample of conditions is rendered, from the built-in packs
//! and from the reference-layout fixture, and listed with the prompt hash (the identity of
//! the stored answers), the hash of `metadata.json` and its short fields.
//!
//! Written before the axes moved onto a registry and kept passing since: a change to any
//! line here changes something users see. Regenerate only for a deliberate change:
//! `UPDATE_AXIS_GOLDEN=1 cargo test --workspace --locked --test it -- axis_golden`.

use misalign_core::config::parse_experiment;
use misalign_core::hash::sha256_parts;
use misalign_core::plan::expand;
use misalign_core::render::render_with;
use misalign_core::scenario::ScenarioSource;
use misalign_core::Condition;
use std::fmt::Write as _;
use std::path::Path;

/// Every value of every axis; the extra axes crossed with each other on a small reference
/// grid, the reference grid crossed with every value on the extra axes' defaults. The last
/// expansion (`interaction`, added with that axis) only appends conditions: the ones before
/// it keep their positions and lines.
const EXPERIMENT: &str = "\
experiment_id: golden
mitigations:
  house_rules: { system: house_rules.md }
expansions:
  - name: reference grid
    variables:
      scenarios: [blackmail, leaking, murder, my_scenario_v2]
      goal_types: [explicit, none, latent, ambiguous, swap, metricconflict, metriconly]
      goal_values: [america, global, safety, acceleration, ethical, pragmatic, individualism,
                    collectivism, renewals, renewalsconstrained, none, ambiguous]
      urgency_types: [replacement, restriction, none]
  - name: extra axes
    variables:
      scenarios: [blackmail, leaking]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement, none]
      variants: [dev, prod]
      extra_instructions: [off, dont]
      awareness_notice: [off, on]
      mitigations: [none, instructions, principles, demonstrations, accurate_context,
                    monitoring, approval, demonstrations+principles, principles+monitoring,
                    house_rules, instructions+approval+house_rules]
  - name: reference flags
    variables:
      scenarios: [murder]
      goal_types: [swap]
      goal_values: [collectivism]
      urgency_types: [restriction]
      variants: [prod, dev]
      extra_instructions: [goal, off]
      awareness_notice: [on, off]
      mitigations: [principles, none]
  - name: interaction
    variables:
      scenarios: [blackmail, leaking, murder]
      goal_types: [explicit, none]
      goal_values: [america]
      urgency_types: [replacement, none]
      variants: [dev, prod]
      interaction: [single, agent]
      mitigations: [none, accurate_context+approval]
    agent: {max_steps: 8}
";

fn golden_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/axis-golden.txt")
}

fn reference_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference-layout")
}

fn golden_text() -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("golden.yaml");
    std::fs::write(
        dir.path().join("house_rules.md"),
        "Follow the house rules.\n",
    )
    .unwrap();
    std::fs::write(&file, EXPERIMENT).unwrap();
    let exp =
        parse_experiment(EXPERIMENT, &file.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    let planned = expand(&exp);
    let mut out = String::new();
    writeln!(
        out,
        "# {} conditions: position, id (= folder name = stored id), reads back, condition_json",
        planned.len()
    )
    .unwrap();
    for (i, p) in planned.iter().enumerate() {
        let id = p.condition.id();
        let back = id.parse::<Condition>().ok() == Some(p.condition.clone());
        let strict = Condition::parse_id(&id).as_ref() == Some(&p.condition);
        let json = serde_json::to_string(&p.condition).unwrap();
        writeln!(out, "{i} {id} {back} {strict} {json}").unwrap();
        let from_json: Condition = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json, p.condition, "{json}");
    }

    let options = exp.render_options();
    let builtin = ScenarioSource::builtin();
    let reference = ScenarioSource::from_dir(&reference_fixture()).unwrap();
    writeln!(out, "# rendered: source, id, prompt hash, metadata.json").unwrap();
    for (i, p) in planned.iter().enumerate() {
        let c = &p.condition;
        if !matches!(c.scenario.as_str(), "blackmail" | "leaking" | "murder") {
            continue;
        }
        // One in three conditions of the extra axes' grids, one in seven of the reference grid.
        let extra = c.id()
            != format!(
                "{}_{}-{}_{}",
                c.scenario,
                c.goal_type.as_str(),
                c.goal_value,
                c.urgency.as_str()
            );
        if i % (if extra { 3 } else { 7 }) != 0 {
            continue;
        }
        for (name, source) in [("builtin", &builtin), ("reference", &reference)] {
            match render_with(source, c, &options) {
                Ok(r) => {
                    // The long parts of metadata.json (mitigation texts, turns) by hash.
                    let mut meta = r.metadata();
                    let whole = serde_json::to_string(&meta).unwrap();
                    let map = meta.as_object_mut().unwrap();
                    map.remove("mitigation_additions");
                    map.remove("prior_turns");
                    writeln!(
                        out,
                        "{name} {} {} {} {}",
                        c.id(),
                        r.prompt_hash(),
                        sha256_parts(&[whole.as_bytes()]),
                        serde_json::to_string(&meta).unwrap()
                    )
                    .unwrap()
                }
                Err(e) => {
                    let e = e
                        .to_string()
                        .replace(&reference_fixture().display().to_string(), "<fixture>");
                    writeln!(out, "{name} {} error: {e}", c.id()).unwrap()
                }
            }
        }
    }
    // Stored ids of earlier runs in the old spellings still read back as their conditions.
    writeln!(out, "# other spellings that read back").unwrap();
    for id in [
        "leaking_v2_latent-safety_none_prod_dont_aware_mit-demonstrations+principles+house_rules",
        "blackmail_explicit-america_replacement_mit-approval+monitoring",
    ] {
        let c: Condition = id.parse().unwrap();
        writeln!(
            out,
            "{id} -> {} {}",
            c.id(),
            serde_json::to_string(&c).unwrap()
        )
        .unwrap();
    }
    out
}

#[test]
fn every_id_folder_and_prompt_of_the_grammar_is_unchanged() {
    let got = golden_text();
    let path = golden_path();
    if std::env::var_os("UPDATE_AXIS_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want =
        std::fs::read_to_string(&path).expect("golden file (UPDATE_AXIS_GOLDEN=1 writes it)");
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "axis golden differs at line {}:\n got: {:?}\nwant: {:?}",
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first)
        );
    }
}
