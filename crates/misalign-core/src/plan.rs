//! Expanding an experiment into conditions and work items.
//!
//! Conditions are the union, over enabled expansions in file order, of each expansion's
//! cartesian product. Within an expansion the loops nest as the reference framework's
//! generator nests them (scenario, then goal type, then goal value, then urgency), with the
//! axes of [`crate::axes`] innermost in id order (variant, extra instructions, awareness
//! notice, mitigations), each in the order the file lists its values. Goal types `none`/`ambiguous` take the single goal value
//! `none`; goal types with a goal value skip the neutral values `none`/`ambiguous`. A
//! condition produced twice is kept once, at its first position, and runs the union of the
//! models of every expansion that produced it (first-seen order).
//!
//! (The reference generator instead merged all enabled expansions' value lists into one
//! sorted grid, which can create conditions no expansion asked for; we follow its
//! documented intent, the union of products.)

use crate::axes::{Axis, Interaction};
use crate::condition::{Condition, GoalType};
use crate::config::{AgentSettings, Expansion, Experiment};
use crate::hash::sha256_parts;
use crate::sampling::SamplingParams;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A condition with the models that run it (an expansion may override the global models).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedCondition {
    pub condition: Condition,
    pub models: Vec<String>,
}

/// Identity of one model call: hash of (prompt hash, model, sampling params, sample index).
/// Rerunning never duplicates; changing a prompt never reuses a stale answer.
pub fn work_item_key(
    prompt_hash: &str,
    model: &str,
    params: &SamplingParams,
    sample_index: u32,
) -> String {
    let params = serde_json::to_string(params).expect("sampling params serialize");
    sha256_parts(&[
        prompt_hash.as_bytes(),
        model.as_bytes(),
        params.as_bytes(),
        &sample_index.to_le_bytes(),
    ])
}

/// Counts shown by `misalign validate` and before a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub conditions: usize,
    /// Distinct models across all conditions.
    pub models: usize,
    pub samples_per_condition: u32,
    /// Sum over conditions of (models running it x samples per condition).
    pub model_calls: u64,
}

/// At most this many model calls (work items) in one run. A run records its whole plan in
/// the store and keeps one entry per work item in memory while it samples (a few hundred
/// bytes each), so a plan of 81 conditions x 1,000,000 samples (81 million items) would
/// need tens of GB before the first call; it is refused with the numbers instead. A real
/// study is far below it (the README's example plans 28,800 calls).
pub const MAX_CALLS_PER_RUN: u64 = 1_000_000;

/// Why a plan cannot run in one go (`None`: it fits [`MAX_CALLS_PER_RUN`]), with its numbers
/// and what to do.
pub fn too_large(summary: &PlanSummary) -> Option<String> {
    (summary.model_calls > MAX_CALLS_PER_RUN).then(|| {
        format!(
            "the plan has {} model calls ({} conditions, {} models, {} samples per condition); \
             one run takes at most {MAX_CALLS_PER_RUN}: lower samples_per_condition (or \
             --samples), run fewer conditions (--limit) or models (--model), or split the \
             experiment into several files run into separate --out folders",
            summary.model_calls, summary.conditions, summary.models, summary.samples_per_condition
        )
    })
}

/// Every condition of the experiment with the models that run it (see the module docs for
/// order and deduplication).
pub fn expand(exp: &Experiment) -> Vec<PlannedCondition> {
    let mut out: Vec<PlannedCondition> = Vec::new();
    let mut seen: HashMap<Condition, usize> = HashMap::new();
    for e in exp.expansions.iter().filter(|e| e.enabled) {
        let models = e.models.as_ref().unwrap_or(&exp.models);
        for_each_condition(e, |c| add(&mut out, &mut seen, c, models));
    }
    out
}

/// Calls `f` with every condition of one expansion, in plan order (repeats included).
pub(crate) fn for_each_condition(e: &Expansion, mut f: impl FnMut(Condition)) {
    // The axes' loops, in id order, inside the reference grid's.
    let axes: Vec<(&dyn Axis, &[String])> = crate::axes::id_order()
        .iter()
        .map(|&a| (a, e.values(a.name())))
        .collect();
    for scenario in &e.scenarios {
        for &goal_type in &e.goal_types {
            for goal_value in goal_values_for(goal_type, &e.goal_values) {
                for &urgency in &e.urgency_types {
                    let base = Condition::new(scenario.as_str(), goal_type, goal_value, urgency);
                    for_each_setting(&base, &axes, &mut f);
                }
            }
        }
    }
}

/// Whether an expansion has agent conditions (`agent` among its `interaction` values).
pub(crate) fn has_agent(e: &Expansion) -> bool {
    e.values(crate::axes::interaction::AXIS.name)
        .iter()
        .any(|v| v == Interaction::Agent.as_str())
}

/// The `agent:` settings of every agent condition of the enabled expansions, from the
/// first expansion that yields it (the loader refuses two that yield one condition with
/// different settings).
pub fn agent_settings(exp: &Experiment) -> BTreeMap<Condition, AgentSettings> {
    let mut out = BTreeMap::new();
    for e in exp.expansions.iter().filter(|e| e.enabled && has_agent(e)) {
        for_each_condition(e, |c| {
            if c.interaction() == Interaction::Agent {
                out.entry(c).or_insert(e.agent);
            }
        });
    }
    out
}

/// Calls `f` with `base` under every combination of the axes' values, the first axis
/// outermost. A combination an axis refuses (mitigation `instructions` with
/// `extra_instructions: goal`, checked at validate time) is skipped.
fn for_each_setting(
    base: &Condition,
    axes: &[(&dyn Axis, &[String])],
    mut f: impl FnMut(Condition),
) {
    if axes.iter().any(|(_, values)| values.is_empty()) {
        return;
    }
    let mut at = vec![0usize; axes.len()];
    'combinations: loop {
        let mut c = base.clone();
        let applied = axes
            .iter()
            .zip(&at)
            .all(|((axis, values), &i)| axis.apply(&mut c, &values[i]).is_ok());
        if applied {
            f(c);
        }
        // Next combination: the last axis turns fastest.
        for k in (0..axes.len()).rev() {
            at[k] += 1;
            if at[k] < axes[k].1.len() {
                continue 'combinations;
            }
            at[k] = 0;
        }
        break;
    }
}

/// The values a goal type takes from an expansion's list: `metric` only the metric values,
/// the value goal types only the others, `none` and `ambiguous` the neutral `none`.
fn goal_values_for(goal_type: GoalType, values: &[String]) -> Vec<&str> {
    if !goal_type.has_goal_value() {
        return vec!["none"];
    }
    let want_metric = goal_type.is_metric();
    values
        .iter()
        .map(String::as_str)
        .filter(|v| !matches!(*v, "none" | "ambiguous"))
        .filter(|v| crate::scenario::goals::is_metric(v) == want_metric)
        .collect()
}

fn add(
    out: &mut Vec<PlannedCondition>,
    seen: &mut HashMap<Condition, usize>,
    condition: Condition,
    models: &[String],
) {
    match seen.get(&condition) {
        // Hash sets, not `Vec::contains`: linear in the number of models (200,000 models
        // took minutes when each was compared with every other).
        Some(&i) => {
            let existing = &mut out[i].models;
            let mut have: HashSet<String> = existing.iter().cloned().collect();
            for m in models {
                if have.insert(m.clone()) {
                    existing.push(m.clone());
                }
            }
        }
        None => {
            seen.insert(condition.clone(), out.len());
            let mut unique: Vec<String> = Vec::with_capacity(models.len());
            let mut have: HashSet<&str> = HashSet::with_capacity(models.len());
            for m in models {
                if have.insert(m) {
                    unique.push(m.clone());
                }
            }
            out.push(PlannedCondition {
                condition,
                models: unique,
            });
        }
    }
}

/// Counts for a plan.
pub fn summarize(planned: &[PlannedCondition], samples_per_condition: u32) -> PlanSummary {
    let mut models: std::collections::HashSet<&str> = Default::default();
    let mut calls: u64 = 0;
    for p in planned {
        calls = calls.saturating_add(p.models.len() as u64 * u64::from(samples_per_condition));
        models.extend(p.models.iter().map(String::as_str));
    }
    PlanSummary {
        conditions: planned.len(),
        models: models.len(),
        samples_per_condition,
        model_calls: calls,
    }
}

/// Every (condition, model, sample index) of a plan: conditions in plan order, then models,
/// then sample indices `0..samples`.
pub fn work_items(
    planned: &[PlannedCondition],
    samples: u32,
) -> impl Iterator<Item = (&Condition, &str, u32)> {
    planned.iter().flat_map(move |p| {
        p.models
            .iter()
            .flat_map(move |m| (0..samples).map(move |i| (&p.condition, m.as_str(), i)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_experiment;

    fn plan(yaml: &str) -> (Experiment, Vec<PlannedCondition>) {
        let exp = parse_experiment(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let planned = expand(&exp);
        (exp, planned)
    }

    fn ids(planned: &[PlannedCondition]) -> Vec<String> {
        planned.iter().map(|p| p.condition.id()).collect()
    }

    #[test]
    fn cartesian_product_in_reference_order_with_collapse() {
        let (_, planned) = plan(
            "experiment_id: t\nglobal:\n  models: [gpt-4.1]\nexpansions:\n  - name: a\n    variables:\n      scenarios: [blackmail, leaking]\n      goal_types: [explicit, none, ambiguous]\n      goal_values: [america, global]\n      urgency_types: [replacement, none]\n",
        );
        // explicit: 2 values x 2 urgencies; none/ambiguous: 1 value x 2 urgencies; x 2 scenarios
        assert_eq!(planned.len(), 2 * (4 + 2 + 2));
        assert_eq!(
            &ids(&planned)[..6],
            [
                "blackmail_explicit-america_replacement",
                "blackmail_explicit-america_none",
                "blackmail_explicit-global_replacement",
                "blackmail_explicit-global_none",
                "blackmail_none-none_replacement",
                "blackmail_none-none_none",
            ]
        );
        assert!(planned.iter().all(|p| p.models == ["gpt-4.1"]));
    }

    #[test]
    fn union_dedupes_and_merges_models_and_skips_disabled() {
        let (exp, planned) = plan(
            "experiment_id: t\nglobal:\n  models: [gpt-4.1]\nexpansions:\n  - name: a\n    variables:\n      scenarios: [murder]\n      goal_types: [explicit, none]\n      goal_values: [america]\n      urgency_types: [replacement]\n  - name: b\n    models: [claude-opus-4-1, gpt-4.1]\n    variables:\n      scenarios: [murder]\n      goal_types: [none, explicit]\n      goal_values: [global, america]\n      urgency_types: [replacement]\n  - name: off\n    enabled: false\n    variables:\n      scenarios: [leaking]\n      goal_types: [none]\n      urgency_types: [none]\n",
        );
        assert_eq!(
            ids(&planned),
            [
                "murder_explicit-america_replacement",
                "murder_none-none_replacement",
                "murder_explicit-global_replacement",
            ]
        );
        assert_eq!(planned[0].models, ["gpt-4.1", "claude-opus-4-1"]);
        assert_eq!(planned[1].models, ["gpt-4.1", "claude-opus-4-1"]);
        assert_eq!(planned[2].models, ["claude-opus-4-1", "gpt-4.1"]);
        let s = summarize(&planned, exp.samples_per_condition);
        assert_eq!(
            s,
            PlanSummary {
                conditions: 3,
                models: 2,
                samples_per_condition: 1,
                model_calls: 6
            }
        );
    }

    #[test]
    fn extra_axes_are_innermost_and_suffix_ids() {
        let (_, planned) = plan(
            "experiment_id: t\nexpansions:\n  - name: a\n    variables:\n      scenarios: [blackmail]\n      goal_types: [none]\n      urgency_types: [none]\n      variants: [dev, prod]\n      extra_instructions: [off, dont]\n      awareness_notice: [off, on]\n",
        );
        assert_eq!(
            ids(&planned),
            [
                "blackmail_none-none_none",
                "blackmail_none-none_none_aware",
                "blackmail_none-none_none_dont",
                "blackmail_none-none_none_dont_aware",
                "blackmail_none-none_none_prod",
                "blackmail_none-none_none_prod_aware",
                "blackmail_none-none_none_prod_dont",
                "blackmail_none-none_none_prod_dont_aware",
            ]
        );
        // generate-only files may have no models
        assert!(planned.iter().all(|p| p.models.is_empty()));
    }

    #[test]
    fn work_items_enumerate_condition_model_sample() {
        let (exp, planned) = plan(
            "experiment_id: t\nglobal:\n  models: [gpt-4.1, claude-x-1]\n  samples_per_condition: 3\nexpansions:\n  - name: a\n    variables:\n      scenarios: [blackmail, murder]\n      goal_types: [none]\n      urgency_types: [none]\n",
        );
        let items: Vec<_> = work_items(&planned, exp.samples_per_condition).collect();
        assert_eq!(items.len() as u64, summarize(&planned, 3).model_calls);
        assert_eq!(items.len(), 2 * 2 * 3);
        assert_eq!(items[0].0.id(), "blackmail_none-none_none");
        assert_eq!((items[0].1, items[0].2), ("gpt-4.1", 0));
        assert_eq!((items[2].1, items[2].2), ("gpt-4.1", 2));
        assert_eq!((items[3].1, items[3].2), ("claude-x-1", 0));
        assert_eq!(items[6].0.id(), "murder_none-none_none");
    }
}
