//! The run's money: the `--max-cost` budget (built before the first call, counting what the
//! stored answers of the plan already cost) and the cost of what the run stored. Every
//! figure goes through `misalign_core::cost::cost_usd`.

use super::plan::Plan;
use super::{RunSettings, SessionError};
use crate::budget::{budget_for, Budget, BudgetTarget};
use crate::cost_summary::CostSummary;
use crate::estimate::caching_of;
use misalign_core::cost::PriceTable;
use misalign_store::Store;
use std::sync::Arc;

pub(crate) fn prices(plan: &Plan) -> Result<PriceTable, SessionError> {
    PriceTable::new(&plan.experiment.prices).map_err(|e| SessionError::Config(e.to_string()))
}

fn targets(plan: &Plan) -> Vec<BudgetTarget<'_>> {
    let cache = plan.experiment.execution.prompt_cache;
    plan.models
        .iter()
        .map(|(name, m)| BudgetTarget {
            name,
            caching: caching_of(m.resolved.kind, cache),
        })
        .collect()
}

/// With a cost limit: that it can be kept (every model priced), before
/// anything is written or called. The message names the file and the field.
pub(crate) fn check_budget(plan: &Plan, settings: &RunSettings) -> Result<(), SessionError> {
    let exp = &plan.experiment;
    if exp.execution.max_cost_usd.is_none() {
        return Ok(());
    }
    let file = settings.experiment_path.display();
    budget_for(0.0, 0.0, &targets(plan), &prices(plan)?, 0)
        .map(drop)
        .map_err(|e| SessionError::Config(format!("{file}: execution.max_cost_usd: {e}")))
}

/// The run's budget, or None without a limit. What the plan's stored answers cost (earlier
/// runs into the folder included) is spent already: a resumed run goes on from there.
pub(crate) fn budget(
    plan: &Plan,
    store: &Store,
    run_id: i64,
) -> Result<Option<Arc<Budget>>, SessionError> {
    let Some(limit) = plan.experiment.execution.max_cost_usd else {
        return Ok(None);
    };
    let prices = prices(plan)?;
    let mut already = 0.0;
    for (model, usage) in store.plan_usage_by_model(run_id)? {
        if let Some(price) = prices.price_of(&model) {
            already += usage.cost(&price);
        }
    }
    let max_output = u64::from(plan.experiment.sampling.max_tokens);
    let b = budget_for(limit, already, &targets(plan), &prices, max_output)
        .map_err(|e| SessionError::Config(format!("execution.max_cost_usd: {e}")))?;
    Ok(Some(Arc::new(b)))
}

/// What the answers this run stored cost, per model, from their stored token counts.
pub(crate) fn run_cost(
    plan: &Plan,
    store: &Store,
    run_id: i64,
) -> Result<CostSummary, SessionError> {
    let usage = store.run_usage_by_model(run_id)?;
    Ok(CostSummary::of(&prices(plan)?, &usage))
}

/// What the judge and awareness calls run `run_id` paid for cost, per judge model (batch
/// replies at the batch price; replies reused from the cache are not paid again).
pub(crate) fn judge_cost(
    prices: &PriceTable,
    store: &Store,
    run_id: i64,
) -> Result<CostSummary, SessionError> {
    let usage = store.judge_usage_by_model(Some(run_id))?;
    Ok(CostSummary::of(prices, &usage))
}
