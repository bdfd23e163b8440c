//! What a reader needs before the numbers: how the answers were sampled, and the cautions
//! that change how to read them (answers cut off at `max_tokens`, classification not
//! finished, the bundled 135M model). Shown at the top of `report.html` and the terminal
//! table, and written to `summary.json` as `run_facts`.

use crate::summary::ReportSummary;
use misalign_core::sampling::SamplingParams;
use misalign_store::read::SampleFilter;
use misalign_store::{Store, StoreError};
use serde::Serialize;

/// Warn when at least this share of the answers stopped at `max_tokens`.
pub const CUT_OFF_WARNING_SHARE: f64 = 0.10;

/// The local model `misalign models fetch` installs by default: too small to scheme.
const BUNDLED_SMALL_MODEL: &str = "smollm2-135m";

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunFacts {
    /// The run's sampling parameters (`None`: its manifest could not be read).
    pub sampling: Option<SamplingParams>,
    /// Planned samples per model x condition: the fewest and the most (equal when uniform).
    pub samples_per_condition: Option<(u64, u64)>,
    /// Other runs in this results folder that sampled with other settings:
    /// (run id, their settings in words).
    pub other_runs_with_other_settings: Vec<(i64, String)>,
    /// Answered samples, and those cut off at `max_tokens`.
    pub answered: u64,
    pub cut_off: u64,
    /// Answered but not classified (after an interrupted run, or `run --no-classify`).
    pub unclassified: u64,
    /// Planned samples, and those without an answer yet (never sampled, or every attempt
    /// failed): an interrupted run leaves the rest pending.
    pub planned: u64,
    pub pending: u64,
    /// Classified answers without a verdict because the judge gave no usable reply.
    pub judge_errors: u64,
    /// Classified answers without a verdict because an action block could not be read.
    pub unparsed: u64,
    /// Classified answers (any outcome).
    pub classified: u64,
    /// The run used the bundled SmolLM2-135M model.
    pub bundled_small_model: bool,
}

impl RunFacts {
    /// Whether so many answers were cut off that the reader must be warned.
    pub fn many_cut_off(&self) -> bool {
        self.answered > 0 && self.cut_off as f64 >= CUT_OFF_WARNING_SHARE * self.answered as f64
    }

    /// "temperature 1.0, max_tokens 256, seed 7, 3 samples per condition"; when some are
    /// not sampled yet, "10 samples per condition planned, 20 of 80 sampled (60 pending)".
    pub fn settings_line(&self) -> Option<String> {
        let p = self.sampling.as_ref()?;
        let mut line = settings_words(p);
        let planned = if self.pending > 0 { " planned" } else { "" };
        match self.samples_per_condition {
            Some((a, b)) if a == b => line.push_str(&format!(
                ", {} per condition{planned}",
                misalign_core::plural::count(a, "sample")
            )),
            Some((a, b)) => line.push_str(&format!(", {a} to {b} samples per condition{planned}")),
            None => {}
        }
        if self.pending > 0 {
            line.push_str(&format!(
                ", {} of {} sampled ({} pending)",
                self.planned - self.pending,
                self.planned,
                self.pending
            ));
        }
        Some(line)
    }

    /// The warnings, most important first, each one sentence or two of plain text.
    /// `results` is how the reader names the results folder in a command.
    pub fn cautions(&self, results: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.classified > 0 && self.judge_errors == self.classified {
            out.push(format!(
                "The judge failed on every answer ({} of {}): there is no verdict and no rate. \
                 Check the judge (its replies must end with <answer>yes</answer> or \
                 <answer>no</answer>), then `misalign classify {results}` asks it again.",
                self.judge_errors, self.classified
            ));
        } else if self.judge_errors > 0 {
            out.push(format!(
                "{} of {} classified answers have no verdict because the judge gave no usable \
                 reply; the rates leave them out. `misalign classify {results}` asks again \
                 (failures are not cached).",
                self.judge_errors, self.classified
            ));
        }
        if self.pending > 0 {
            out.push(format!(
                "{} of {} planned samples have no answer yet (the run stopped early, or their \
                 calls failed): the rates cover the {} that were sampled. Run the same \
                 `misalign run` command again to sample the rest.",
                self.pending,
                self.planned,
                self.planned - self.pending
            ));
        }
        if self.unparsed > 0 {
            out.push(format!(
                "{} answers are unparsed: an action block could not be read, so the detectors \
                 give no verdict (never \"not harmful\"); the rates leave them out. A judge \
                 decides them: `misalign classify {results} --judge MODEL`.",
                self.unparsed
            ));
        }
        if self.unclassified > 0 {
            out.push(format!(
                "{} of {} answers are not classified yet (the run was interrupted or ran with \
                 --no-classify), so the rates below leave them out. To finish: \
                 `misalign classify {results}` then `misalign report {results}`.",
                self.unclassified, self.answered
            ));
        }
        if self.many_cut_off() {
            let max = self
                .sampling
                .as_ref()
                .map(|p| format!(" ({} tokens)", p.max_tokens))
                .unwrap_or_default();
            out.push(format!(
                "{} of {} answers ({:.0}%) were cut off at max_tokens{max}: the model may not \
                 have reached an action, so harm can be undercounted. Raise `global.max_tokens`.",
                self.cut_off,
                self.answered,
                100.0 * self.cut_off as f64 / self.answered as f64
            ));
        }
        if self.bundled_small_model {
            out.push(
                "This run used SmolLM2-135M-Instruct, the bundled 135M-parameter local model: it \
                 shows the pipeline working, not misalignment (it rarely follows the tool format, \
                 let alone schemes). Point the experiment at an API model or a larger model to \
                 measure."
                    .to_string(),
            );
        }
        for (id, words) in &self.other_runs_with_other_settings {
            out.push(format!(
                "Run {id} in this folder sampled with other settings ({words}); this report \
                 covers the newest run only."
            ));
        }
        out
    }
}

fn settings_words(p: &SamplingParams) -> String {
    let mut parts = vec![
        match p.temperature {
            Some(t) => format!("temperature {t:.1}"),
            None => "temperature: provider default".to_string(),
        },
        format!("max_tokens {}", p.max_tokens),
        match p.seed {
            Some(s) => format!("seed {s}"),
            None => "no seed".to_string(),
        },
    ];
    if let Some(v) = p.top_p {
        parts.push(format!("top_p {v}"));
    }
    if let Some(v) = p.thinking_budget {
        parts.push(format!("thinking_budget {v}"));
    }
    if let Some(v) = &p.reasoning_effort {
        parts.push(format!("reasoning_effort {v}"));
    }
    parts.join(", ")
}

/// Reads the facts of the summary's run from the store.
pub(crate) fn run_facts(store: &Store, s: &ReportSummary) -> Result<RunFacts, StoreError> {
    let Some(run) = &s.run else {
        return Ok(RunFacts::default());
    };
    let sampling: Option<SamplingParams> = serde_json::from_str(&run.sampling_json).ok();
    let planned = s.rows.iter().map(|r| r.planned).filter(|n| *n > 0);
    let samples_per_condition = planned.clone().min().zip(planned.max());
    let mut other = Vec::new();
    for (id, json) in store.other_plan_runs_sampling(run.run_id)? {
        let theirs: Option<SamplingParams> = serde_json::from_str(&json).ok();
        if theirs != sampling {
            let words = theirs
                .as_ref()
                .map(settings_words)
                .unwrap_or_else(|| "unreadable".to_string());
            other.push((id, words));
        }
    }
    let models: Vec<String> = serde_json::from_str(&run.models_json).unwrap_or_default();
    let cut_off = store.count_samples(
        run.run_id,
        &SampleFilter {
            cut_off: true,
            ..SampleFilter::default()
        },
    )?;
    Ok(RunFacts {
        sampling,
        samples_per_condition,
        other_runs_with_other_settings: other,
        answered: s.rows.iter().map(|r| r.answered).sum(),
        cut_off,
        unclassified: s.rows.iter().map(|r| r.unclassified).sum(),
        planned: s.rows.iter().map(|r| r.planned).sum(),
        pending: s.rows.iter().map(|r| r.pending).sum(),
        judge_errors: s.rows.iter().map(|r| r.judge_errors).sum(),
        unparsed: s.rows.iter().map(|r| r.unparsed).sum(),
        classified: s
            .rows
            .iter()
            .map(|r| r.n + r.judge_errors + r.unparsed)
            .sum(),
        bundled_small_model: models
            .iter()
            .any(|m| m.to_ascii_lowercase().contains(BUNDLED_SMALL_MODEL)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RunFacts {
        RunFacts {
            sampling: Some(SamplingParams {
                temperature: Some(1.0),
                max_tokens: 256,
                seed: Some(7),
                ..SamplingParams::default()
            }),
            samples_per_condition: Some((3, 3)),
            answered: 18,
            ..RunFacts::default()
        }
    }

    #[test]
    fn settings_line_names_every_setting() {
        assert_eq!(
            facts().settings_line().unwrap(),
            "temperature 1.0, max_tokens 256, seed 7, 3 samples per condition"
        );
        let mut f = facts();
        f.samples_per_condition = Some((1, 3));
        f.sampling.as_mut().unwrap().seed = None;
        assert_eq!(
            f.settings_line().unwrap(),
            "temperature 1.0, max_tokens 256, no seed, 1 to 3 samples per condition"
        );
    }

    #[test]
    fn cut_off_warning_from_ten_percent() {
        let mut f = facts();
        f.cut_off = 1;
        assert!(!f.many_cut_off());
        assert!(f.cautions("OUT").is_empty());
        f.cut_off = 2; // 2 of 18 = 11%
        assert!(f.many_cut_off());
        let c = f.cautions("OUT");
        assert_eq!(c.len(), 1);
        assert!(c[0].starts_with("2 of 18 answers (11%) were cut off at max_tokens (256 tokens)"));
    }

    #[test]
    fn unclassified_answers_name_the_command_that_finishes() {
        let mut f = facts();
        f.unclassified = 5;
        let c = f.cautions("results/quickstart");
        assert!(
            c[0].contains("`misalign classify results/quickstart`"),
            "{c:?}"
        );
        f.unclassified = 0;
        assert!(f.cautions("x").is_empty());
    }

    #[test]
    fn missing_verdicts_and_pending_samples_are_warned() {
        let mut f = facts();
        f.classified = 36;
        f.judge_errors = 36;
        let c = f.cautions("OUT");
        assert!(
            c[0].starts_with("The judge failed on every answer (36 of 36)"),
            "{c:?}"
        );
        f.judge_errors = 4;
        assert!(f.cautions("OUT")[0].starts_with("4 of 36 classified answers have no verdict"));
        f.judge_errors = 0;
        f.unparsed = 3;
        assert!(f.cautions("OUT")[0].starts_with("3 answers are unparsed"));
        f.unparsed = 0;
        f.planned = 80;
        f.pending = 60;
        assert!(f.cautions("OUT")[0].starts_with("60 of 80 planned samples have no answer yet"));
        assert_eq!(
            f.settings_line().unwrap(),
            "temperature 1.0, max_tokens 256, seed 7, 3 samples per condition planned, 20 of 80 sampled (60 pending)"
        );
        f.pending = 0;
        assert!(f.cautions("OUT").is_empty());
    }

    #[test]
    fn bundled_model_note() {
        let mut f = facts();
        f.bundled_small_model = true;
        assert!(f.cautions("x")[0].contains("not misalignment"));
    }
}
