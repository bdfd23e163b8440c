//! The report's generalisation section: the store's cells as arms of
//! `misalign_core::generalisation` (variant, question form and prompt source read from the
//! stored condition and the run's manifest), optionally with a second results folder run on
//! the other prompt source (`misalign report OUT --compare-prompts DIR`).

use crate::ReportError;
use misalign_core::generalisation::{
    analyse, analyse_by_scenario, prompt_source, read_stored, Arm, GeneralisationRow, PromptSource,
    ALL_CELLS,
};
use misalign_core::stats::IntervalMethod;
use misalign_store::read::{CellCounts, RunSummaryRow};
use serde::Serialize;
use std::path::Path;

/// The generalisation numbers of a report, with where its prompts came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GeneralisationSection {
    /// The reported run's prompt source (`packs` | `templates`).
    pub source: PromptSource,
    /// The run of the other prompt source the report compares with, if any.
    pub compared: Option<ComparedRun>,
    /// One row per model x cell with a second number beside its canonical rate.
    pub rows: Vec<GeneralisationRow>,
    /// Per model x scenario with more than one such cell: the cells pooled (`cell` is
    /// `all cells`, `cells` their number).
    pub by_scenario: Vec<GeneralisationRow>,
}

impl GeneralisationSection {
    /// The roll-ups first (the headline), then the cells.
    pub fn all_rows(&self) -> impl Iterator<Item = &GeneralisationRow> {
        self.by_scenario.iter().chain(&self.rows)
    }
}

/// How the terminal and the page name a row: its cell, or `blackmail: all 3 cells`.
pub(crate) fn row_label(r: &GeneralisationRow) -> String {
    if r.cell == ALL_CELLS {
        format!("{}: all {} cells", r.scenario, r.cells)
    } else {
        r.cell.clone()
    }
}

/// The run of another results folder, on the other prompt source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComparedRun {
    pub results_dir: String,
    pub run_id: i64,
    pub source: PromptSource,
}

/// The cells `variation` and `format` of a stored condition in summary.csv and samples.csv:
/// the variant index and the question form, each empty at its default (canonical text,
/// agentic) or when the condition cannot be read.
pub(crate) fn axis_cells(condition_json: Option<&str>) -> (String, String) {
    match condition_json.and_then(read_stored) {
        Some(s) => (
            if s.variation == 0 {
                String::new()
            } else {
                s.variation.to_string()
            },
            match s.form {
                misalign_core::generalisation::Form::Agentic => String::new(),
                f => f.as_str().to_string(),
            },
        ),
        None => (String::new(), String::new()),
    }
}

/// The prompt source of a run (its manifest's mark; no run: our packs).
pub fn source_of(run: Option<&RunSummaryRow>) -> PromptSource {
    run.map_or(PromptSource::Packs, |r| prompt_source(&r.packs_json))
}

/// The cells as arms of one prompt source; a cell whose stored condition cannot be read is
/// left out (the summary lists it as unreadable).
pub fn arms(cells: &[CellCounts], source: PromptSource) -> Vec<Arm> {
    cells
        .iter()
        .filter_map(|c| {
            let stored = read_stored(c.condition_json.as_deref()?)?;
            Some(Arm {
                model: c.model.clone(),
                cell: stored.cell.id(),
                scenario: stored.cell.scenario.clone(),
                source,
                variation: stored.variation,
                form: stored.form,
                harmful: c.harmful,
                n: c.harmful + c.harmless,
            })
        })
        .collect()
}

/// The section from the arms, `None` when no row has generalisation data.
pub fn section(
    arms: &[Arm],
    source: PromptSource,
    compared: Option<ComparedRun>,
    method: IntervalMethod,
) -> Option<GeneralisationSection> {
    let rows = analyse(arms, method);
    (!rows.is_empty()).then(|| GeneralisationSection {
        source,
        compared,
        by_scenario: analyse_by_scenario(arms, method),
        rows,
    })
}

/// The newest run of results folder `dir` as arms, refusing a run on the same prompt source
/// as the reported one (`source`): the comparison is one of each.
pub fn compared_arms(
    dir: &Path,
    source: PromptSource,
) -> Result<(Vec<Arm>, ComparedRun), ReportError> {
    let store = crate::open_store(dir)?;
    let Some(run) = store.report_run(None)? else {
        return Err(ReportError::Invalid(format!(
            "{} holds no `misalign run` to compare with",
            dir.display()
        )));
    };
    let theirs = prompt_source(&run.packs_json);
    if theirs == source {
        let how = match source {
            PromptSource::Packs => "neither was run with --templates",
            PromptSource::Templates => "both were run with --templates",
        };
        return Err(ReportError::Invalid(format!(
            "--compare-prompts {}: its prompts came from the same source as the reported \
             run's ({how}); compare a run on the built-in packs with one on the reference \
             templates (docs/generalisation.md, \"The public-prompt gap\")",
            dir.display()
        )));
    }
    let cells = store.cell_counts(run.run_id)?;
    Ok((
        arms(&cells, theirs),
        ComparedRun {
            results_dir: dir.display().to_string(),
            run_id: run.run_id,
            source: theirs,
        },
    ))
}
