//! How the terminal shows a run: the library's [`Event`]s as notes on stderr, the progress
//! bar (or plain lines), the rate table on stdout; the `--dry-run` estimate and the table of
//! `misalign classify`.

use crate::progress::{Display, ProgressView};
use crate::say::{note, say, say_raw};
use misalign_core::plural::count;
use misalign_run::classify::ClassifySummary;
use misalign_run::session::{DryRunEstimate, Event, Reporter};
use misalign_store::untrusted::terminal_safe;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// The terminal [`Reporter`] of `misalign run`.
pub struct Terminal {
    display: Display,
    progress: Mutex<Option<ProgressView>>,
    timings: bool,
}

impl Terminal {
    pub fn new(display: Display) -> Terminal {
        Terminal {
            display,
            progress: Mutex::new(None),
            // Phase timings for benchmarks and profiling.
            timings: std::env::var_os("MISALIGN_TIMINGS").is_some(),
        }
    }

    /// A phase of the command itself (before the library's run starts).
    pub fn phase(&self, name: &str, since: Instant) {
        self.timing(name, since.elapsed().as_secs_f64());
    }

    fn timing(&self, name: &str, seconds: f64) {
        if self.timings {
            note!("timing: {name} {seconds:.3}s");
        }
    }
}

impl Reporter for Terminal {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Phase { name, seconds } => self.timing(name, seconds),
            Event::TemplateWarning(w) => note!("warning: {w}"),
            Event::TakingOver { out, previous } => note!(
                "note: taking over {} from a misalign process that did not finish ({previous})",
                out.display()
            ),
            Event::ExperimentChanged {
                file,
                out,
                before,
                now,
            } => note!(
                "note: {} changed since the last run into {} (sha256 {before} then, {now} now); \
                 answers already stored for unchanged work items are kept",
                file.display(),
                out.display()
            ),
            Event::Overriding(o) => note!(
                "overriding the file: {}",
                serde_json::to_string(o).unwrap_or_default()
            ),
            Event::Planned {
                experiment_id,
                planned,
                already,
                to_sample,
                out,
            } => note!(
                "misalign run {experiment_id}: {} planned, {already} already stored, {to_sample} to sample -> {}",
                count(planned as u64, "call"),
                out.display()
            ),
            Event::SamplingStarted {
                counters,
                to_sample,
            } => {
                let view = ProgressView::start(counters.clone(), to_sample, self.display);
                *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(view);
            }
            Event::BatchLiveOnly { models } => note!(
                "batch mode: {} called live (their provider has no batch API)",
                models.join(", ")
            ),
            Event::BatchProgress { tally: t, what } => note!(
                "batches: {} submitted, {} in progress, {} ended; {} results stored ({})",
                t.submitted,
                t.in_progress,
                t.ended,
                t.ingested,
                terminal_safe(what)
            ),
            Event::BatchesDone { tally: t } => {
                if t.submitted > 0 {
                    note!(
                        "batches: {} submitted or resumed, {} ended, {} results stored",
                        t.submitted,
                        t.ended,
                        t.ingested
                    );
                }
            }
            Event::JudgeBatchLiveOnly { judges } => note!(
                "judge batches: {} called live (their provider has no batch API)",
                judges.join(", ")
            ),
            Event::JudgeBatchProgress { tally: t, what } => note!(
                "judge batches: {} submitted, {} in progress, {} ended; {} results stored ({})",
                t.submitted,
                t.in_progress,
                t.ended,
                t.ingested,
                terminal_safe(what)
            ),
            Event::JudgeBatchesDone { tally: t } => {
                if t.submitted > 0 {
                    note!(
                        "judge batches: {} submitted or resumed, {} ended, {} results stored",
                        t.submitted,
                        t.ended,
                        t.ingested
                    );
                }
            }
            Event::Stopping { in_flight, grace } => note!(
                "\ninterrupted: starting no new calls; waiting up to {}s for {in_flight} in flight (Ctrl-C again to quit now)",
                grace.as_secs()
            ),
            Event::QuittingNow => note!(
                "quitting now: cutting off the calls in flight; every answer shown as done is stored"
            ),
            Event::SamplingEnded => {
                let view = self.progress.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(v) = view {
                    v.finish();
                }
            }
            Event::Sampled { totals: t, seconds } => {
                let unpriced: Vec<String> = t.unpriced.iter().map(|m| terminal_safe(m)).collect();
                // An unpriced model's cost is unknown, never $0.
                let cost = match (unpriced.is_empty(), t.cost_usd_per_model.is_empty()) {
                    (true, _) => format!("~${:.4}", t.cost_usd_estimate),
                    (false, true) => format!("unknown (no price for {})", unpriced.join(", ")),
                    (false, false) => format!(
                        "unknown (~${:.4} for the priced models; no price for {})",
                        t.cost_usd_estimate,
                        unpriced.join(", ")
                    ),
                };
                note!(
                    "sampled {}, {}, {} in {seconds:.1}s; tokens in {} (+ cache write {}, cache read {}) / out {}; cost {cost}",
                    count(t.answers, "answer"),
                    count(t.errors, "error"),
                    match t.retries {
                        1 => "1 retry".to_string(),
                        n => format!("{n} retries"),
                    },
                    t.input_tokens,
                    t.cache_write_tokens,
                    t.cache_read_tokens,
                    t.output_tokens,
                );
                for (model, tally) in &t.per_model {
                    let cost = match t.cost_usd_per_model.get(model) {
                        Some(c) => format!("~${c:.4}"),
                        None if t.unpriced.contains(model) => "unknown (no price)".to_string(),
                        None => "~$0.0000".to_string(),
                    };
                    note!(
                        "  {}: in {} + cache write {} + cache read {} / out {}: {cost}",
                        terminal_safe(model),
                        tally.input_tokens,
                        tally.cache_write_tokens,
                        tally.cache_read_tokens,
                        tally.output_tokens
                    );
                }
            }
            Event::Exported {
                written,
                unchanged,
                models_dir,
            } => note!(
                "exported {written} response files ({unchanged} unchanged) to {}",
                models_dir.display()
            ),
            Event::BudgetReached {
                why,
                stored,
                resume,
            } => note!(
                "stopped starting calls: {why}; the calls in flight finished and {stored} answers are stored, the rest is pending. To go on, raise --max-cost (or execution.max_cost_usd) and run the same command again:\n  {resume}"
            ),
            Event::Interrupted { stored, resume } => note!(
                "interrupted: {stored} answers stored; to resume, run the same command:\n  {resume}"
            ),
            Event::PartialReport { out, written } => match written {
                Ok(()) => note!(
                    "partial report (answers not classified): {}\n  to classify what is stored and report it: misalign classify {} && misalign report {}",
                    out.join("report.html").display(),
                    out.display(),
                    out.display()
                ),
                Err(e) => note!("no partial report: {}", terminal_safe(e)),
            },
            Event::FailedForGood {
                failed,
                top_errors,
                out,
            } => {
                note!("{failed} calls failed for good (after retries); the most frequent reasons:");
                for (error, n) in top_errors {
                    note!("  {n:>6}  {}", terminal_safe(error));
                }
                note!(
                    "see `misalign status {}`; rerun the same command to retry them",
                    out.display()
                );
            }
            Event::NothingStored => note!("every call failed; nothing to classify or report"),
            Event::Classified { summary, seconds } => {
                note!(
                    "classified {} in {seconds:.1}s ({}, {} from cache, {} judge errors)",
                    count(summary.classified as u64, "answer"),
                    count(summary.judge_calls as u64, "judge call"),
                    summary.judge_cache_hits,
                    summary.judge_errors
                );
                if summary.judge_calls_batched > 0 {
                    note!(
                        "{} of the judge calls went in provider batches",
                        summary.judge_calls_batched
                    );
                }
                if let Some(line) = judge_cost_line(summary) {
                    note!("{line}");
                }
                for (sc, n) in &summary.skipped_no_facts {
                    let sc = terminal_safe(sc);
                    note!("warning: {n} answers of scenario `{sc}` not classified: it declares no facts");
                }
                for (sc, n) in &summary.skipped_unreadable_episodes {
                    let sc = terminal_safe(sc);
                    note!("warning: {n} agent episodes of scenario `{sc}` not classified: a stored step cannot be read (see the log)");
                }
                for w in verdict_warnings(summary) {
                    note!("warning: {w}");
                }
            }
            Event::Reported { report, out } => {
                say_raw!("{}", misalign_report::render_table(report));
                note!(
                    "reports: {} {} {}",
                    out.join("summary.csv").display(),
                    out.join("summary.json").display(),
                    out.join("report.html").display()
                );
            }
        }
    }
}

/// `misalign run --dry-run`'s output.
pub fn print_estimate(e: &DryRunEstimate, experiment_id: &str, out: &Path) {
    say!("experiment {experiment_id}  ->  {}", out.display());
    say!(
        "{} x {}; {}",
        count(e.conditions as u64, "condition"),
        count(e.samples, "sample"),
        count(e.calls, "model call")
    );
    say!(
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
    let money = |c: Option<f64>| c.map_or("unknown".to_string(), |c| format!("{c:.2}"));
    for l in &e.lines {
        say!(
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
    }
    let how = format!(
        "prompt caching {}; batch {}; input by chars/4, output at max_tokens ({} for samples, {} for judges); built-in prices as of {}",
        if e.prompt_cache { "on" } else { "off" },
        if e.batch { "on" } else { "off" },
        e.max_output_tokens,
        misalign_run::estimate::JUDGE_MAX_OUTPUT,
        misalign_core::cost::PRICES_AS_OF
    );
    let priced = e.lines.iter().any(|l| l.cost_usd.is_some());
    // An unpriced model's cost is unknown, never $0: the total says so.
    match (e.unpriced.is_empty(), priced) {
        (true, _) => say!(
            "estimated cost: up to ${:.2} (${:.2} if sent live without prompt caching); {how}",
            e.cost_usd,
            e.cost_usd_uncached_live
        ),
        (false, true) => say!(
            "estimated cost: unknown: up to ${:.2} (${:.2} live without prompt caching) for the priced models, plus {} at no known price; {how}",
            e.cost_usd,
            e.cost_usd_uncached_live,
            e.unpriced.join(", ")
        ),
        (false, false) => say!(
            "estimated cost: unknown (no price for {}); {how}",
            e.unpriced.join(", ")
        ),
    }
    if !e.unpriced.is_empty() {
        say!("{}", misalign_core::cost::no_price_hint(&e.unpriced));
    }
    for m in &e.missing_keys {
        say!("warning: {m}");
    }
}

/// Prints the per-scenario table (stderr-free: the table is the command's output).
pub fn print_summary(s: &ClassifySummary) {
    say!(
        "classified {} answer(s) ({} judge call(s), {} from cache, {} judge error(s)); classifier {}",
        s.classified, s.judge_calls, s.judge_cache_hits, s.judge_errors, s.classifier_version
    );
    if s.judge_calls_batched > 0 {
        say!(
            "{} of the judge calls went in provider batches",
            s.judge_calls_batched
        );
    }
    if let Some(line) = judge_cost_line(s) {
        say!("{line}");
    }
    for (scenario, n) in &s.skipped_no_facts {
        // Scenario names come from the store, which whoever sent the folder wrote.
        let scenario = terminal_safe(scenario);
        say!("skipped {n} {scenario} answer(s): no facts for {scenario}; pass --templates, --facts or --reference-facts");
    }
    for (scenario, n) in &s.skipped_unreadable_episodes {
        let scenario = terminal_safe(scenario);
        say!("skipped {n} {scenario} agent episode(s): a stored step cannot be read (the warning above names it)");
    }
    say!(
        "{:<10} {:>7} {:>9} {:>7} {:>7} {:>7} {:>8} {:>12} {:>8} {:>6}",
        "scenario",
        "answers",
        "detector",
        "judged",
        "judge+",
        "errors",
        "unparsed",
        "harmful",
        "whistle",
        "kappa"
    );
    for (scenario, v) in &s.per_scenario {
        let kappa = v
            .kappa
            .map(|k| format!("{k:.2}"))
            .unwrap_or_else(|| "-".into());
        say!(
            "{:<10} {:>7} {:>9} {:>7} {:>7} {:>7} {:>8} {:>12} {:>8} {:>6}",
            terminal_safe(scenario),
            v.answers,
            v.detector_harmful,
            v.judged,
            v.judge_harmful,
            v.judge_errors,
            v.unparsed,
            format!("{}/{}", v.final_harmful, v.with_verdict),
            v.whistleblowing,
            kappa
        );
    }
    for w in verdict_warnings(s) {
        say!("warning: {w}");
    }
}

/// The warnings of a classification whose verdicts are not all there: judge failures
/// (exit 1) and answers whose action blocks could not be read. Empty when every answer
/// has a verdict.
pub fn verdict_warnings(s: &ClassifySummary) -> Vec<String> {
    let answers: usize = s.per_scenario.values().map(|v| v.answers).sum();
    let errors = s.missing_verdicts();
    let mut out = Vec::new();
    if errors > 0 {
        let all = if errors as usize == answers {
            "the judge failed on every answer, so there are no rates"
        } else {
            "they are left out of the rates"
        };
        out.push(format!(
            "{errors} of {answers} answers have no verdict because the judge gave no usable reply ({all}); \
             failed judge calls are not cached: run `misalign classify` on the folder again to retry them"
        ));
    }
    let unparsed = s.unparsed_no_verdict();
    if unparsed > 0 {
        out.push(format!(
            "{unparsed} of {answers} answers are unparsed: an action block could not be read, so no \
             detector verdict is given (never \"not harmful\"); they are left out of the rates. A judge \
             decides them (`misalign classify OUT --judge MODEL`); `misalign view OUT` lists them"
        ));
    }
    out
}

/// `judge cost: $x (model $y, ...)`: what the judge calls this run made cost (None when it
/// made none).
fn judge_cost_line(s: &ClassifySummary) -> Option<String> {
    let c = s.judge_cost.as_ref()?;
    if c.per_model.is_empty() && c.unpriced.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = c
        .per_model
        .iter()
        .map(|(m, usd)| format!("{} ${usd:.4}", terminal_safe(m)))
        .collect();
    parts.extend(
        c.unpriced
            .iter()
            .map(|m| format!("{}: unknown, no price", terminal_safe(m))),
    );
    // An unpriced judge's cost is unknown, never $0.
    let total = if c.unpriced.is_empty() {
        format!("${:.4}", c.usd)
    } else {
        "unknown".to_string()
    };
    Some(format!(
        "judge cost (estimate from the stored token counts): {total} ({})",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use misalign_run::cost_summary::CostSummary;

    #[test]
    fn an_unpriced_judge_makes_the_judge_cost_unknown() {
        let cost = |unpriced: Vec<String>| CostSummary {
            usd: 0.5,
            per_model: [("anthropic/j".to_string(), 0.5)].into(),
            unpriced,
        };
        let s = ClassifySummary {
            judge_cost: Some(cost(vec!["fleet/j".into()])),
            ..ClassifySummary::default()
        };
        let line = judge_cost_line(&s).unwrap();
        assert!(
            line.ends_with(": unknown (anthropic/j $0.5000, fleet/j: unknown, no price)"),
            "{line}"
        );
        let s = ClassifySummary {
            judge_cost: Some(cost(Vec::new())),
            ..ClassifySummary::default()
        };
        let line = judge_cost_line(&s).unwrap();
        assert!(line.ends_with(": $0.5000 (anthropic/j $0.5000)"), "{line}");
    }
}
