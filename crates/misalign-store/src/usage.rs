//! Token usage summed from the stored answers: what a run's plan has cost so far.
//!
//! An answer is billed through a batch when the store's `batch_results` table (batch mode)
//! lists it. An agent episode is billed per step (`episode_steps`, each by the run that made
//! it, an unfinished episode's steps included): its answer row counts as an answer, and the
//! token sums it carries are not counted again.

use crate::cell::{cell, sql_tokens};
use crate::{Store, StoreError};
use misalign_core::cost::{cost_usd, ModelPrice, TokenCounts};
use std::collections::BTreeMap;

/// One model's stored answers in a plan and the tokens they used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub answers: u64,
    /// All answers' tokens, live and batch.
    pub tokens: TokenCounts,
    /// The part of `tokens` billed through a batch API.
    pub batch_tokens: TokenCounts,
}

impl ModelUsage {
    /// What these answers cost at `price`: the live part at full price, the batch part with
    /// the batch discount.
    pub fn cost(&self, price: &ModelPrice) -> f64 {
        let t = &self.tokens;
        let b = &self.batch_tokens;
        let live = TokenCounts {
            input: t.input.saturating_sub(b.input),
            cache_write: t.cache_write.saturating_sub(b.cache_write),
            cache_read: t.cache_read.saturating_sub(b.cache_read),
            output: t.output.saturating_sub(b.output),
        };
        cost_usd(price, &live, false) + cost_usd(price, b, true)
    }
}

/// SQL for "response `r` was billed through a batch" (batch mode lists such answers in
/// `batch_results`).
pub(crate) const BILLED_AS_BATCH: &str =
    "EXISTS (SELECT 1 FROM batch_results ba WHERE ba.response_id = r.id)";

fn add_rows(
    rows: impl Iterator<Item = rusqlite::Result<(String, bool, u64, TokenCounts)>>,
) -> rusqlite::Result<BTreeMap<String, ModelUsage>> {
    let mut out: BTreeMap<String, ModelUsage> = BTreeMap::new();
    for row in rows {
        let (model, batched, answers, tokens) = row?;
        let u = out.entry(model).or_default();
        u.answers += answers;
        u.tokens.add(&tokens);
        if batched {
            u.batch_tokens.add(&tokens);
        }
    }
    Ok(out)
}

/// The four token sums of the rows aliased `t`: only plausible counts are summed (an odd
/// cell counts as unknown, i.e. 0), so the sums cannot overflow whatever a store holds.
fn token_sums(t: &str) -> String {
    [
        "input_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "output_tokens",
    ]
    .map(|c| format!("sum({})", sql_tokens(&format!("{t}.{c}"))))
    .join(", ")
}

/// The token sums of answers `r`, an episode's answer row counted as nothing (its steps are
/// counted from `episode_steps` by [`step_usage_of_run`] and [`step_usage_of_plan`]).
fn answer_token_sums() -> String {
    [
        "input_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "output_tokens",
    ]
    .map(|c| {
        format!(
            "sum(CASE WHEN {IS_EPISODE} THEN NULL ELSE {} END)",
            sql_tokens(&format!("r.{c}"))
        )
    })
    .join(", ")
}

/// SQL for "answer `r` is an agent episode's".
const IS_EPISODE: &str = "EXISTS (SELECT 1 FROM episode_steps es WHERE es.item_key = r.item_key)";

/// Per model, the episode steps run `?1` paid for (rows of [`usage_row`]'s shape).
fn step_usage_of_run() -> String {
    format!(
        "SELECT w.model, 0, 0, {sums} FROM episode_steps e
           JOIN work_items w ON w.item_key = e.item_key
          WHERE e.run_id = ?1 GROUP BY w.model",
        sums = token_sums("e")
    )
}

/// Per model, the episode steps of the items run `?1` planned, whichever run paid for them.
fn step_usage_of_plan() -> String {
    format!(
        "SELECT w.model, 0, 0, {sums} FROM run_items ri
           JOIN work_items w ON w.item_key = ri.item_key
           JOIN episode_steps e ON e.item_key = ri.item_key
          WHERE ri.run_id = ?1 GROUP BY w.model",
        sums = token_sums("e")
    )
}

fn usage_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, bool, u64, TokenCounts)> {
    let answers: i64 = cell(r, 2)?;
    let tokens = TokenCounts::from_stored(cell(r, 3)?, cell(r, 4)?, cell(r, 5)?, cell(r, 6)?);
    Ok((
        cell(r, 0)?,
        cell(r, 1)?,
        u64::try_from(answers).unwrap_or(0),
        tokens,
    ))
}

impl Store {
    /// The usage rows of `answers` and of `steps` (both over `?1` = `run_id`), added up.
    fn usage_with_steps(
        &self,
        answers: &str,
        steps: &str,
        run_id: i64,
    ) -> Result<BTreeMap<String, ModelUsage>, StoreError> {
        let mut all = Vec::new();
        for sql in [answers, steps] {
            let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
            let rows = st.query_map([run_id], usage_row).map_err(|e| self.err(e))?;
            for r in rows {
                all.push(r);
            }
        }
        add_rows(all.into_iter()).map_err(|e| self.err(e))
    }

    /// Per model, the answers run `run_id` itself stored (not those of earlier runs) and
    /// their summed token counts: what this invocation spent.
    pub fn run_usage_by_model(
        &self,
        run_id: i64,
    ) -> Result<BTreeMap<String, ModelUsage>, StoreError> {
        let sql = format!(
            "SELECT w.model, {BILLED_AS_BATCH} AS batched, count(r.id), {sums}
               FROM responses r JOIN work_items w ON w.item_key = r.item_key
              WHERE r.run_id = ?1 AND r.status != 'error'
              GROUP BY w.model, batched",
            sums = answer_token_sums()
        );
        self.usage_with_steps(&sql, &step_usage_of_run(), run_id)
    }

    /// Per model, the answers stored for the items run `run_id` planned (the latest answer
    /// of each item, whichever run stored it) and their summed token counts. Costs are these
    /// counts priced with [`misalign_core::cost::cost_usd`].
    pub fn plan_usage_by_model(
        &self,
        run_id: i64,
    ) -> Result<BTreeMap<String, ModelUsage>, StoreError> {
        let sql = format!(
            "SELECT w.model, {batched} AS batched, count(r.id), {sums}
               FROM run_items ri
               JOIN work_items w ON w.item_key = ri.item_key
               JOIN responses r ON r.id = (SELECT max(x.id) FROM responses x
                                            WHERE x.item_key = ri.item_key
                                              AND x.status != 'error')
              WHERE ri.run_id = ?1
              GROUP BY w.model, batched",
            batched = BILLED_AS_BATCH,
            sums = answer_token_sums()
        );
        self.usage_with_steps(&sql, &step_usage_of_plan(), run_id)
    }
}

impl Store {
    /// Per judge model (harm and awareness judges alike), the judge replies run `run_id`
    /// paid for (`judge_cache.run_id`: the run that called the judge live, or that sent the
    /// batch) and their summed token counts; `None`: every judge reply this folder paid
    /// for. A reply reused from the cache was paid once, by the run that stored it, so it is
    /// counted once. `answers` counts replies. Replies listed in `batch_results` are
    /// billed at the batch price. Calls whose reply was unusable (`judge_failures`) are
    /// counted as well: the provider billed them.
    pub fn judge_usage_by_model(
        &self,
        run_id: Option<i64>,
    ) -> Result<BTreeMap<String, ModelUsage>, StoreError> {
        // Calls whose reply was unusable (`judge_failures`) were billed too.
        let sql = format!(
            "SELECT judge_model, batched, count(*), {sums} FROM (
               SELECT c.judge_model AS judge_model,
                      EXISTS (SELECT 1 FROM batch_results a WHERE {judged})
                        AS batched,
                      c.input_tokens AS input_tokens, c.cache_write_tokens AS cache_write_tokens,
                      c.cache_read_tokens AS cache_read_tokens, c.output_tokens AS output_tokens
                 FROM judge_cache c
                WHERE ?1 IS NULL OR c.run_id = ?1
               UNION ALL
               SELECT f.judge_model, f.batched, f.input_tokens, f.cache_write_tokens,
                      f.cache_read_tokens, f.output_tokens
                 FROM judge_failures f
                WHERE ?1 IS NULL OR f.run_id = ?1) u
              GROUP BY judge_model, batched",
            sums = token_sums("u"),
            judged = crate::batches::judged_in_batch("c.cache_key")
        );
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = st.query_map([run_id], usage_row).map_err(|e| self.err(e))?;
        add_rows(rows).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_latest_answer_of_each_planned_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                     experiment_sha256, packs_json, models_json, sampling_json, started_at)
                   VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't'),
                          (2, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO prompts VALUES ('p', 'c', '{}', '', '', '', NULL);
                 INSERT INTO work_items VALUES ('a', 'p', 'c', 'x/m', 0, '{}', 'blackmail'),
                                               ('b', 'p', 'c', 'x/m', 1, '{}', 'blackmail'),
                                               ('c', 'p', 'c', 'y/n', 0, '{}', 'blackmail');
                 INSERT INTO run_items VALUES (1, 'a'), (1, 'b'), (2, 'a'), (2, 'c');
                 INSERT INTO responses (item_key, run_id, status, input_tokens,
                     cache_write_tokens, cache_read_tokens, output_tokens, attempts,
                     started_at, finished_at)
                   VALUES ('a', 1, 'error', 99, 99, 99, 99, 1, 't', 't'),
                          ('a', 1, 'answer', 10, 3000, NULL, 50, 1, 't', 't'),
                          ('b', 1, 'answer', 10, NULL, 3000, 40, 1, 't', 't'),
                          ('c', 2, 'empty', 7, 0, 0, 0, 1, 't', 't');",
            )
            .unwrap();
        let u = store.plan_usage_by_model(1).unwrap();
        assert_eq!(u.len(), 1);
        assert_eq!(
            u["x/m"],
            ModelUsage {
                answers: 2,
                tokens: TokenCounts {
                    input: 20,
                    cache_write: 3000,
                    cache_read: 3000,
                    output: 90
                },
                batch_tokens: TokenCounts::default(),
            }
        );
        let u = store.plan_usage_by_model(2).unwrap();
        assert_eq!((u["x/m"].answers, u["y/n"].answers), (1, 1));
        // What run 2 itself stored: only `c` (run 1 stored `a`).
        let r = store.run_usage_by_model(2).unwrap();
        assert_eq!(r.keys().collect::<Vec<_>>(), vec!["y/n"]);
        assert_eq!((r["y/n"].answers, r["y/n"].tokens.input), (1, 7));
        assert_eq!(store.run_usage_by_model(1).unwrap()["x/m"].answers, 2);
        assert!(store.plan_usage_by_model(3).unwrap().is_empty());

        // Answers batch mode lists in batch_results are billed at the batch price.
        store
            .conn
            .execute_batch(
                "INSERT INTO batches (id, run_id, model, provider, marker, request_count,
                     created_at) VALUES (1, 1, 'x/m', 'x', 'b1', 1, 't');
                 INSERT INTO batch_results (batch_id, request_key, response_id)
                   SELECT 1, item_key, id FROM responses WHERE id = 3;",
            )
            .unwrap();
        let u = store.plan_usage_by_model(1).unwrap();
        assert_eq!(u["x/m"].batch_tokens.cache_read, 3000);
        assert_eq!(u["x/m"].batch_tokens.output, 40);
        let price = misalign_core::cost::PriceTable::new(&Default::default())
            .unwrap()
            .price_of("anthropic/claude-sonnet-4-5")
            .unwrap();
        let live = (10.0 * 3.0 + 3000.0 * 3.75 + 50.0 * 15.0) / 1e6;
        let batch = (10.0 * 3.0 + 3000.0 * 0.3 + 40.0 * 15.0) / 1e6 / 2.0;
        assert!((u["x/m"].cost(&price) - (live + batch)).abs() < 1e-12);
    }
}
