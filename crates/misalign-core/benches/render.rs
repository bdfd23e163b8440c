//! Rendering the 162 non-swap conditions of the study's three scenarios (3 scenarios x 4
//! goal types x 8 values x 3 urgencies, collapsed) from a reference-layout folder, and the
//! 270 of all five built-in packs (blackmail, exfiltration, leaking, murder, sabotage) from
//! the built-in tree. The reference generator takes 1.16 s for the same 162 inboxes (whole
//! process). Also: the 162 conditions x 10 surface variants each (drawing the variants,
//! which a fresh source does once per pack, seed and index, and rendering them), expanding
//! a plan over every axis, and writing and reading back its condition ids.

use criterion::{criterion_group, criterion_main, Criterion};
use misalign_core::detect::reference_facts::has_reference_scenario;
use misalign_core::render::render;
use misalign_core::scenario::{ScenarioKind, ScenarioSource};
use misalign_core::{Condition, GoalType, Urgency};
use std::hint::black_box;
use std::path::Path;

const VALUES: [&str; 8] = misalign_core::config::VALUE_GOAL_VALUES;

/// The non-swap conditions of the built-in scenarios `keep` selects.
fn conditions(keep: impl Fn(&str) -> bool) -> Vec<Condition> {
    let mut out = Vec::new();
    for scenario in misalign_core::scenario::builtin_scenarios().filter(|s| keep(s)) {
        for goal_type in [
            GoalType::Explicit,
            GoalType::Latent,
            GoalType::Ambiguous,
            GoalType::None,
        ] {
            for value in VALUES {
                for urgency in Urgency::ALL {
                    let c = Condition::new(scenario, goal_type, value, urgency);
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    // The reference layout has the study's scenarios only.
    let conds = conditions(|s| ScenarioKind::parse(s).is_some_and(has_reference_scenario));
    assert_eq!(conds.len(), 162);
    let every_pack = conditions(|_| true);
    assert_eq!(every_pack.len(), 270);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference-layout");

    // Everything a fresh process does: read the folder, parse, render all 162.
    c.bench_function("reference_layout/read+render 162", |b| {
        b.iter(|| {
            let source = ScenarioSource::from_dir(&fixture).unwrap();
            for cond in &conds {
                black_box(render(&source, cond).unwrap());
            }
        })
    });
    // Rendering only, with the folder already loaded.
    let source = ScenarioSource::from_dir(&fixture).unwrap();
    c.bench_function("reference_layout/render 162", |b| {
        b.iter(|| {
            for cond in &conds {
                black_box(render(&source, cond).unwrap());
            }
        })
    });
    c.bench_function("builtin/load+render 162", |b| {
        b.iter(|| {
            let source = ScenarioSource::builtin();
            for cond in &conds {
                black_box(render(&source, cond).unwrap());
            }
        })
    });
    c.bench_function("builtin/load+render 270 (five packs)", |b| {
        b.iter(|| {
            let source = ScenarioSource::builtin();
            for cond in &every_pack {
                black_box(render(&source, cond).unwrap());
            }
        })
    });
    // Surface variants: 1,620 prompts, each variant drawn afresh (a new source per round).
    let variants: Vec<Condition> = conds
        .iter()
        .flat_map(|cond| {
            (1..=10).map(move |k| {
                let mut v = cond.clone();
                v.set_variation(k, 0);
                v
            })
        })
        .collect();
    c.bench_function("builtin/load+render 162 x 10 variants", |b| {
        b.iter(|| {
            let source = ScenarioSource::builtin();
            for cond in &variants {
                black_box(render(&source, cond).unwrap());
            }
        })
    });
}

/// Every value of the single-prompt axes: 975 conditions (`tests/it/axis_golden.rs` without its
/// `interaction` expansion and without its
/// user-defined mitigation, which needs a file).
const PLAN: &str = "experiment_id: bench
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
                    monitoring, approval, demonstrations+principles, principles+monitoring]
";

fn bench_plan(c: &mut Criterion) {
    let exp = misalign_core::config::parse_experiment(PLAN, "bench.yaml").unwrap();
    c.bench_function("plan/expand", |b| {
        b.iter(|| black_box(misalign_core::plan::expand(black_box(&exp))))
    });
    let planned = misalign_core::plan::expand(&exp);
    c.bench_function("plan/id+parse", |b| {
        b.iter(|| {
            for p in &planned {
                let id = p.condition.id();
                black_box(id.parse::<Condition>().unwrap());
            }
        })
    });
}

criterion_group!(benches, bench, bench_plan);
criterion_main!(benches);
