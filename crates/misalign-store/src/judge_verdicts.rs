//! Each judge's verdict on a classification (`judge_verdicts`, schema 10): written with the
//! classification in one transaction, read over the current classification of each current
//! answer. A classification written before version 10 has no rows of its own; its one harm
//! judge is read from its `judge_*` columns in their place, so an old store reports the same.

use super::{Store, StoreError};
use crate::cell::cell;
use crate::classifications::NewClassification;
use rusqlite::params;

/// What a judge was asked: the harm verdict, or the eval-awareness label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JudgeRole {
    Harm,
    Awareness,
}

impl JudgeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeRole::Harm => "harm",
            JudgeRole::Awareness => "awareness",
        }
    }

    pub fn parse(word: &str) -> Option<JudgeRole> {
        match word {
            "harm" => Some(JudgeRole::Harm),
            "awareness" => Some(JudgeRole::Awareness),
            _ => None,
        }
    }
}

/// One judge's verdict to store with a classification.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJudgeVerdict {
    pub judge_model: String,
    pub role: JudgeRole,
    /// Harm: yes/no; `None` on error and for awareness.
    pub verdict: Option<bool>,
    /// Awareness: the label.
    pub label: Option<String>,
    pub reasoning: Option<String>,
    /// Set when the judge gave no usable reply.
    pub error: Option<String>,
}

/// One judge's verdict on the current classification of a current answer.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeVerdictRow {
    pub item_key: String,
    pub response_id: i64,
    pub judge_model: String,
    pub role: JudgeRole,
    pub verdict: Option<bool>,
    /// Awareness: the label (an addition to the contract's fields).
    pub label: Option<String>,
    pub error: Option<String>,
}

impl Store {
    /// Adds a classification and its judges' verdicts together (a reader never sees one
    /// without the other); returns the classification's id.
    pub fn insert_classification_with_judges(
        &self,
        c: &NewClassification,
        judges: &[NewJudgeVerdict],
    ) -> Result<i64, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let id = self.insert_classification(c)?;
        for j in judges {
            self.conn
                .execute(
                    "INSERT INTO judge_verdicts (classification_id, item_key, judge_model, role,
                        verdict, label, reasoning, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        id,
                        c.item_key,
                        j.judge_model,
                        j.role.as_str(),
                        j.verdict,
                        j.label,
                        j.reasoning,
                        j.error
                    ],
                )
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Every judge's verdict on the current classification of each current answer
    /// (`current_answers`), by item, harm before awareness, then judge. A classification without
    /// rows of its own (written before schema 10) gives its harm judge from its columns.
    pub fn judge_verdicts(&self) -> Result<Vec<JudgeVerdictRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.item_key, a.response_id, v.judge_model, v.role, v.verdict, v.label, v.error
                   FROM current_answers a
                   JOIN judge_verdicts v ON v.classification_id = a.classification_id
                 UNION ALL
                 SELECT a.item_key, a.response_id, a.judge_model, 'harm', a.judge_verdict, NULL,
                        a.judge_error
                   FROM current_answers a
                  WHERE a.judge_model IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM judge_verdicts v
                                     WHERE v.classification_id = a.classification_id)
                 ORDER BY 1, 4 DESC, 3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let role: String = cell(r, 3)?;
                Ok((
                    role,
                    JudgeVerdictRow {
                        item_key: cell(r, 0)?,
                        response_id: cell(r, 1)?,
                        judge_model: cell(r, 2)?,
                        role: JudgeRole::Harm,
                        verdict: cell(r, 4)?,
                        label: cell(r, 5)?,
                        error: cell(r, 6)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (role, mut row) = row.map_err(|e| self.err(e))?;
            row.role = JudgeRole::parse(&role).ok_or_else(|| StoreError::Invalid {
                path: self.path.clone(),
                message: format!(
                    "judge_verdicts of {} has the role `{role}` (expected harm or awareness)",
                    row.item_key
                ),
            })?;
            out.push(row);
        }
        Ok(out)
    }
}
