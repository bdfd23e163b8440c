//! Token usage summed from the stored answers: what a run's plan has cost so far.

use super::{Store, StoreError};
use crate::cost::TokenCounts;
use std::collections::BTreeMap;

/// One model's stored answers in a plan and the tokens they used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub answers: u64,
    pub tokens: TokenCounts,
}

impl Store {
    /// Per model, the answers stored for the items run `run_id` planned (the latest answer
    /// of each item, whichever run stored it) and their summed token counts. Costs are these
    /// counts priced with [`crate::cost::cost_usd`].
    pub fn plan_usage_by_model(
        &self,
        run_id: i64,
    ) -> Result<BTreeMap<String, ModelUsage>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT w.model, count(r.id), sum(r.input_tokens), sum(r.cache_write_tokens),
                        sum(r.cache_read_tokens), sum(r.output_tokens)
                   FROM run_items ri
                   JOIN work_items w ON w.item_key = ri.item_key
                   JOIN responses r ON r.id = (SELECT max(x.id) FROM responses x
                                                WHERE x.item_key = ri.item_key
                                                  AND x.status != 'error')
                  WHERE ri.run_id = ?1
                  GROUP BY w.model",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([run_id], |r| {
                let model: String = r.get(0)?;
                let answers: i64 = r.get(1)?;
                let tokens = TokenCounts::from_stored(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
                Ok((
                    model,
                    ModelUsage {
                        answers: u64::try_from(answers).unwrap_or(0),
                        tokens,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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
            .conn()
            .execute_batch(
                "INSERT INTO runs (id, command, experiment_id, misalign_version, experiment_text,
                     experiment_sha256, packs_json, models_json, sampling_json, started_at)
                   VALUES (1, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't'),
                          (2, 'run', 'e', '0', '', '', '{}', '[]', '{}', 't');
                 INSERT INTO prompts VALUES ('p', 'c', '{}', '', '', '');
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
                }
            }
        );
        let u = store.plan_usage_by_model(2).unwrap();
        assert_eq!((u["x/m"].answers, u["y/n"].answers), (1, 1));
        assert!(store.plan_usage_by_model(3).unwrap().is_empty());
    }
}
