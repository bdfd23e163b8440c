//! Wiring for what a run costs: the `--dry-run` estimate, the `--max-cost` budget and the
//! end-of-run totals. The figures come from `misalign_run::{cost, estimate, budget}`; this
//! module only reads the plan and prints.

use super::run::Planned;
use misalign_core::config::resolve_model;
use misalign_run::budget::{budget_for, Budget, BudgetTarget};
use misalign_run::cost::{estimate_tokens, price_totals, PriceTable, PRICES_AS_OF};
use misalign_run::estimate::{caching_of, transcript_tokens, EstimateLine, PlanEstimate, Role};
use misalign_run::store::Store;
use misalign_run::Tally;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// The dry-run estimate of a plan.
pub(super) struct Estimate {
    pub lines: Vec<EstimateLine>,
    max_output: u64,
    prompt_cache: bool,
}

/// Sample, judge and awareness calls of the plan, per model.
pub(super) fn plan_estimate(p: &Planned, prices: &PriceTable) -> anyhow::Result<Estimate> {
    let exp = &p.exp;
    let samples = u64::from(exp.samples_per_condition);
    let max_out = u64::from(exp.sampling.max_tokens);
    let resolve = |m: &str| {
        resolve_model(m, &exp.providers)
            .map_err(|e| anyhow::anyhow!("classification: judge model `{m}`: {e}"))
    };
    let cl = &exp.classification;
    let default_judge = match (&cl.classifier_model, cl.enabled) {
        (Some(m), true) => Some(resolve(m)?),
        _ => None,
    };
    let mut scenario_judges = BTreeMap::new();
    if cl.enabled {
        for (scenario, m) in cl.scenario_judges() {
            scenario_judges.insert(scenario.to_string(), resolve(m)?);
        }
    }
    let awareness = match (&cl.awareness_model, cl.enabled) {
        (Some(m), true) => Some(resolve(m)?),
        _ => None,
    };
    let mut est = PlanEstimate::new(prices, false);
    for (pi, names) in &p.per_prompt {
        let prompt = &p.prompts[*pi];
        let input =
            estimate_tokens(&prompt.rendered.system_prompt) + estimate_tokens(&prompt.user_message);
        let scenario = &prompt.rendered.condition.scenario;
        for n in names {
            let r = &p.models[n].0;
            let caching = caching_of(r.kind, exp.execution.prompt_cache);
            est.add_samples(n, &r.model_id, caching, input, samples, max_out);
            if let Some(j) = scenario_judges.get(scenario).or(default_judge.as_ref()) {
                let t = transcript_tokens(&prompt.rendered.email_content, max_out);
                est.add_judge_calls(Role::Judge, &j.name, &j.model_id, t, samples);
            }
            if let Some(a) = &awareness {
                let t = transcript_tokens("", max_out);
                est.add_judge_calls(Role::Awareness, &a.name, &a.model_id, t, samples);
            }
        }
    }
    Ok(Estimate {
        lines: est.lines(),
        max_output: max_out,
        prompt_cache: exp.execution.prompt_cache,
    })
}

/// The estimate as a table and its totals.
pub(super) fn render(e: &Estimate) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<40} {:>8} {:>12} {:>12} {:>12} {:>12} {:>11} {:>11}",
        "role",
        "model",
        "calls",
        "input ~",
        "cache wr ~",
        "cache rd ~",
        "output <=",
        "cost USD ~",
        "no cache ~"
    );
    let (mut total, mut uncached) = (0.0, 0.0);
    let mut unpriced = Vec::new();
    for l in &e.lines {
        let money = |c: Option<f64>| c.map_or("?".to_string(), |c| format!("{c:.2}"));
        let _ = writeln!(
            s,
            "{:<10} {:<40} {:>8} {:>12} {:>12} {:>12} {:>12} {:>11} {:>11}",
            l.role.as_str(),
            l.model,
            l.calls,
            l.tokens.input,
            l.tokens.cache_write,
            l.tokens.cache_read,
            l.tokens.output,
            money(l.cost_usd),
            money(l.cost_usd_uncached_live)
        );
        total += l.cost_usd.unwrap_or(0.0);
        uncached += l.cost_usd_uncached_live.unwrap_or(0.0);
        if l.cost_usd.is_none() && !unpriced.contains(&l.model) {
            unpriced.push(l.model.clone());
        }
    }
    let _ = writeln!(
        s,
        "estimated cost: up to ${total:.2} (${uncached:.2} if sent live without prompt caching); \
         prompt caching {}; input by chars/4, output at max_tokens ({} for samples, {} for judges); \
         built-in prices as of {PRICES_AS_OF}",
        if e.prompt_cache { "on" } else { "off" },
        e.max_output,
        misalign_run::estimate::JUDGE_MAX_OUTPUT
    );
    if !unpriced.is_empty() {
        let _ = writeln!(
            s,
            "no price known for {}; add them under `prices:` (USD per 1M tokens) to include them",
            unpriced.join(", ")
        );
    }
    s
}

/// With a cost limit, that every model has a price (before any file is written).
pub(super) fn check_budget_prices(p: &Planned) -> anyhow::Result<()> {
    if p.exp.execution.max_cost_usd.is_none() {
        return Ok(());
    }
    let prices = PriceTable::new(&p.exp.prices)?;
    budget_for(0.0, 0.0, &targets(p), &prices, 0)
        .map(drop)
        .map_err(|e| anyhow::anyhow!("--max-cost: {e}"))
}

fn targets(p: &Planned) -> Vec<BudgetTarget<'_>> {
    p.models
        .iter()
        .map(|(name, (r, _, _))| BudgetTarget {
            name,
            model_id: &r.model_id,
            caching: caching_of(r.kind, p.exp.execution.prompt_cache),
        })
        .collect()
}

/// The run's `--max-cost` budget, with what the stored answers of the plan already cost.
pub(super) fn budget(
    p: &Planned,
    store: &Store,
    run_id: i64,
) -> anyhow::Result<Option<Arc<Budget>>> {
    let Some(limit) = p.exp.execution.max_cost_usd else {
        return Ok(None);
    };
    let prices = PriceTable::new(&p.exp.prices)?;
    let targets = targets(p);
    let mut already = 0.0;
    for (model, usage) in store.plan_usage_by_model(run_id)? {
        let id = p
            .models
            .get(&model)
            .map_or("", |(r, _, _)| r.model_id.as_str());
        if let Some(price) = prices.lookup(&model, id) {
            already += usage.cost(&price);
        }
    }
    let max_output = u64::from(p.exp.sampling.max_tokens);
    let b = budget_for(limit, already, &targets, &prices, max_output)
        .map_err(|e| anyhow::anyhow!("--max-cost: {e}"))?;
    Ok(Some(Arc::new(b)))
}

/// End-of-run totals priced per model, with one printable line per model.
pub(super) struct RunCosts {
    pub total: f64,
    pub per_model: BTreeMap<String, f64>,
    pub unpriced: Vec<String>,
    pub lines: Vec<String>,
}

pub(super) fn run_costs(
    per_model: &BTreeMap<String, (String, Tally)>,
    p: &Planned,
    prices: &PriceTable,
) -> RunCosts {
    let rows: Vec<(&str, &str, misalign_run::cost::TokenCounts)> = per_model
        .iter()
        .map(|(m, (_, t))| {
            let id = p.models.get(m).map_or("", |(r, _, _)| r.model_id.as_str());
            (m.as_str(), id, t.tokens())
        })
        .collect();
    let totals = price_totals(rows.iter().copied(), prices);
    let lines = rows
        .iter()
        .map(|(m, _, t)| {
            let cost = totals
                .per_model
                .get(*m)
                .map_or("no price".to_string(), |c| format!("~${c:.4}"));
            format!(
                "{m}: in {} + cache write {} + cache read {} / out {}: {cost}",
                t.input, t.cache_write, t.cache_read, t.output
            )
        })
        .collect();
    RunCosts {
        total: totals.total,
        per_model: totals.per_model,
        unpriced: totals.unpriced,
        lines,
    }
}
