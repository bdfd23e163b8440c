//! `report.html`: one self-contained file (inline CSS, JS and SVG; no network) with the
//! charts, tables and transcript viewer. The same page, in "api" mode, is what
//! `misalign view` serves.
//!
//! Safety: stored text reaches the page two ways only. Summary text (model names, condition
//! ids) is HTML-escaped by [`esc`] at render time; transcripts travel as JSON in a
//! `<script type="application/json">` with `<`, `>` and `&` escaped as `\u003c` etc., so
//! no stored string can close the script element, and the viewer inserts them with
//! `textContent` only. An agent episode's sample also carries its steps ([`ViewerSample`]),
//! whose tool-call arguments (model-written JSON) travel and show the same way.

use crate::summary::ReportSummary;
use crate::table::p_text;
use crate::ReportError;
use misalign_store::episode_transcript::{EpisodeStep, TranscriptReader};
use misalign_store::read::{SampleRecord, StoredPrompt};
use misalign_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::Write as _;
use std::path::Path;

/// Transcripts embedded in `report.html` stop around here (bytes of transcript JSON).
pub const DEFAULT_HTML_BUDGET: u64 = 45 * 1024 * 1024;

/// JSON overhead per embedded sample (keys, quotes, ids), for the size estimate.
const PER_SAMPLE_OVERHEAD: u64 = 700;

const CSS: &str = include_str!("../assets/viewer.css");

/// What the HTML embeds (also written to `summary.json` as `embedded`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmbedInfo {
    /// Answered samples in the run.
    pub total: u64,
    /// Samples embedded in the page.
    pub embedded: u64,
    /// Harmful samples in the run.
    pub harmful_total: u64,
    /// Harmful samples embedded in the page.
    pub harmful_embedded: u64,
    /// `Some(k)`: at most `k` non-harmful samples per model x condition are embedded.
    pub per_cell_limit: Option<u64>,
    /// `Some(k)`: the harmful ones alone exceed the budget, so at most `k` harmful samples
    /// per model x condition are embedded too.
    pub harmful_per_cell_limit: Option<u64>,
    /// Samples left out of the page (`total - embedded`).
    pub left_out: u64,
    /// The transcript budget the choice was made for, in bytes.
    pub budget_bytes: u64,
}

impl EmbedInfo {
    fn everything(total: u64, harmful_total: u64, budget_bytes: u64) -> Self {
        EmbedInfo {
            total,
            embedded: total,
            harmful_total,
            harmful_embedded: harmful_total,
            per_cell_limit: None,
            harmful_per_cell_limit: None,
            left_out: 0,
            budget_bytes,
        }
    }

    fn note(&self) -> Option<String> {
        let k = self.per_cell_limit?;
        let mb = self.budget_bytes / (1024 * 1024);
        let tail = "Rates and intervals above use all samples. To browse every transcript, run \
                    `misalign view` on this results folder.";
        Some(match self.harmful_per_cell_limit {
            None => format!(
                "This file embeds {} of {} transcripts: every harmful one, plus at most {k} \
                 others per model x condition (the lowest sample numbers); the other {} are left \
                 out to keep the transcripts under about {mb} MB. {tail}",
                self.embedded, self.total, self.left_out
            ),
            Some(kh) => format!(
                "This file embeds {} of {} transcripts: {} of the {} harmful ones (at most {kh} \
                 per model x condition) and {} of the {} others (at most {k} per model x \
                 condition), in each case the lowest sample numbers. The other {} ({} harmful, \
                 {} others) are left out because even the harmful ones alone would exceed \
                 about {mb} MB. {tail}",
                self.embedded,
                self.total,
                self.harmful_embedded,
                self.harmful_total,
                self.embedded - self.harmful_embedded,
                self.total - self.harmful_total,
                self.left_out,
                self.harmful_total - self.harmful_embedded,
                self.left_out - (self.harmful_total - self.harmful_embedded),
            ),
        })
    }
}

/// The largest `k` such that `sum(min(count, k)) * avg <= budget` (0 when even 1 does not fit).
fn largest_cap(counts: &[u64], avg: u64, budget: u64) -> u64 {
    let cost = |k: u64| counts.iter().map(|&c| c.min(k)).sum::<u64>() * avg.max(1);
    let (mut lo, mut hi) = (0, counts.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if cost(mid) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// How many samples of each kind a cell contributes under the caps.
fn capped(counts: &[u64], k: Option<u64>) -> u64 {
    counts.iter().map(|&c| k.map_or(c, |k| c.min(k))).sum()
}

/// Non-harmful samples every cell keeps, so every cell stays auditable.
const MIN_OTHERS_PER_CELL: u64 = 3;

/// Decides what `report.html` embeds. Per cell: `harmful[i]` harmful and `others[i]` other
/// answered samples; `harmful_bytes`/`other_bytes` are their total text sizes.
fn plan_embedding(
    harmful: &[u64],
    others: &[u64],
    harmful_bytes: u64,
    other_bytes: u64,
    budget: u64,
) -> EmbedInfo {
    let (h_total, o_total): (u64, u64) = (harmful.iter().sum(), others.iter().sum());
    let total = h_total + o_total;
    let h_cost = harmful_bytes + h_total * PER_SAMPLE_OVERHEAD;
    let o_cost = other_bytes + o_total * PER_SAMPLE_OVERHEAD;
    if h_cost + o_cost <= budget {
        return EmbedInfo::everything(total, h_total, budget);
    }
    let avg_h = h_cost / h_total.max(1);
    let avg_o = o_cost / o_total.max(1);
    let (kh, ko) = if h_cost + capped(others, Some(MIN_OTHERS_PER_CELL)) * avg_o <= budget {
        // The harmful ones fit: fill what is left with others, evenly across cells.
        let k = largest_cap(others, avg_o, budget - h_cost).max(MIN_OTHERS_PER_CELL);
        (None, Some(k))
    } else {
        // Even the harmful ones do not fit: a few others per cell, then as many harmful
        // per cell as the rest allows (stratified, so every cell keeps its harmful examples).
        let floor = capped(others, Some(MIN_OTHERS_PER_CELL)) * avg_o;
        let kh = largest_cap(harmful, avg_h, budget.saturating_sub(floor)).max(1);
        (Some(kh), Some(MIN_OTHERS_PER_CELL))
    };
    let harmful_embedded = capped(harmful, kh);
    let embedded = harmful_embedded + capped(others, ko);
    EmbedInfo {
        total,
        embedded,
        harmful_total: h_total,
        harmful_embedded,
        per_cell_limit: ko,
        harmful_per_cell_limit: kh,
        left_out: total - embedded,
        budget_bytes: budget,
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON safe to place inside a `<script>` element.
pub(crate) fn script_json<T: Serialize + ?Sized>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    let mut out = String::with_capacity(s.len() + 16);
    push_script_safe(&mut out, &s);
    out
}

/// Appends JSON text with `<`, `>`, `&`, U+2028 and U+2029 written as `\uXXXX` escapes
/// (valid only outside JSON strings' own escapes, which serde never produces for these).
fn push_script_safe(out: &mut String, json: &str) {
    // Copies runs of ordinary text whole: this runs over every embedded transcript.
    let mut start = 0;
    for (i, c) in json.char_indices() {
        let esc = match c {
            '<' => "\\u003c",
            '>' => "\\u003e",
            '&' => "\\u0026",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            _ => continue,
        };
        out.push_str(&json[start..i]);
        out.push_str(esc);
        start = i + c.len_utf8();
    }
    out.push_str(&json[start..]);
}

/// A sample as the viewer receives it: the stored answer with its verdicts and, for an
/// agent episode, its steps (absent for a single-prompt answer, whose JSON is unchanged).
#[derive(Serialize)]
pub(crate) struct ViewerSample<'a> {
    #[serde(flatten)]
    pub sample: &'a SampleRecord,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<EpisodeStep>,
}

#[derive(Serialize)]
struct PromptJson<'a> {
    condition_id: &'a str,
    system_prompt: &'a str,
    user_prompt: &'a str,
    email_content: &'a str,
    /// Earlier turns sent before the user message (an unreadable value shows as none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    prior_turns: Vec<misalign_core::Turn>,
}

/// The viewer's data: prompts once per prompt hash, samples (static mode), filter values.
#[derive(Serialize)]
struct ViewerData<'a> {
    mode: &'a str,
    prompts: BTreeMap<&'a str, PromptJson<'a>>,
    samples: &'a [SampleRecord],
    filters: Filters,
    /// Only in the served viewer: a static report shows no labelling controls.
    #[serde(skip_serializing_if = "Option::is_none")]
    labelling: Option<&'a crate::label_api::LabellingJson<'a>>,
}

#[derive(Serialize)]
struct Filters {
    models: Vec<String>,
    conditions: Vec<String>,
    /// Some answer has an awareness label (else the page has no awareness filter).
    awareness: bool,
    /// Finish reasons the viewer labels "cut off at max_tokens".
    cut_off_reasons: [&'static str; 3],
}

fn filters(s: &ReportSummary) -> Filters {
    let mut models: Vec<String> = s.rows.iter().map(|r| r.model.clone()).collect();
    models.dedup();
    models.sort();
    models.dedup();
    let mut conditions: Vec<String> = s.rows.iter().map(|r| r.condition.clone()).collect();
    conditions.sort();
    conditions.dedup();
    Filters {
        models,
        conditions,
        awareness: !s.awareness.is_empty(),
        cut_off_reasons: misalign_core::sampling::CUT_OFF_FINISH_REASONS,
    }
}

fn prompt_map(prompts: &[StoredPrompt]) -> BTreeMap<&str, PromptJson<'_>> {
    prompts
        .iter()
        .map(|p| {
            (
                p.prompt_hash.as_str(),
                PromptJson {
                    condition_id: &p.condition_id,
                    system_prompt: &p.system_prompt,
                    user_prompt: &p.user_prompt,
                    email_content: &p.email_content,
                    prior_turns: p
                        .prior_turns_json
                        .as_deref()
                        .and_then(|j| serde_json::from_str(j).ok())
                        .unwrap_or_default(),
                },
            )
        })
        .collect()
}

/// Renders the whole page. `mode` is `static` (samples embedded) or `api` (fetched).
pub(crate) fn render_page(
    s: &ReportSummary,
    prompts: &[StoredPrompt],
    samples: &[SampleRecord],
    mode: &str,
    embed: Option<&EmbedInfo>,
    labelling: Option<&crate::label_api::LabellingJson<'_>>,
) -> String {
    let mut h = render_head(s, embed);
    let data = ViewerData {
        mode,
        prompts: prompt_map(prompts),
        samples,
        filters: filters(s),
        labelling,
    };
    h.push_str(&script_json(&data));
    h.push_str(PAGE_TAIL);
    h
}

/// Closes the data element and the page.
const PAGE_TAIL: &str = concat!(
    "</script>\n<script>",
    include_str!("../assets/viewer.js"),
    "</script>\n</body></html>\n"
);

/// What the answers cost per model (from their stored token counts).
fn costs(h: &mut String, s: &ReportSummary) {
    if s.costs.is_empty() {
        return;
    }
    h.push_str(
        "<h2 id=\"cost\">Cost</h2>\n<p class=\"note\">Estimated from the token counts each \
         provider reported, with the experiment's <code>prices:</code> over the built-in table \
         (dated; prices change). Cache write and cache read are input tokens billed at the \
         prompt cache's rates. Judge rows are the harm and awareness judges' calls, each \
         counted once (a reply reused from the cache is not paid again).</p>\n<table><thead><tr><th>model</th><th>role</th><th>answers / replies</th>\
         <th>input</th><th>cache write</th><th>cache read</th><th>output</th>\
         <th>cost (USD)</th><th>prices as of</th></tr></thead><tbody>\n",
    );
    for r in &s.costs {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.model),
            r.role,
            r.answers,
            r.input_tokens,
            r.cache_write_tokens,
            r.cache_read_tokens,
            r.output_tokens,
            r.cost_usd
                .map_or("unknown (no price)".to_string(), |c| format!("{c:.4}")),
            esc(r.prices_as_of.as_deref().unwrap_or("")),
        );
    }
    // An unpriced model's cost is unknown, never $0: the total says so, and how to price it.
    let t = &s.cost_total;
    let total = match t.usd {
        Some(c) => format!("{c:.4}"),
        None => esc(&t.text(4)),
    };
    let _ = writeln!(
        h,
        "<tr><td>total</td><td></td><td></td><td></td><td></td><td></td><td></td><td>{total}</td><td></td></tr></tbody></table>"
    );
    if !t.unpriced.is_empty() {
        let _ = writeln!(
            h,
            "<pre class=\"note\" id=\"no-price\" style=\"white-space:pre-wrap\">{}</pre>",
            esc(&misalign_core::cost::no_price_hint(&t.unpriced))
        );
    }
}

/// Everything up to and including the opening tag of the viewer-data script element.
fn render_head(s: &ReportSummary, embed: Option<&EmbedInfo>) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = match &s.run {
        Some(r) => format!("misalign report: {}", r.experiment_id),
        None => "misalign report".to_string(),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    manifest(&mut h, s);
    if let Some(note) = embed.and_then(EmbedInfo::note) {
        let _ = writeln!(h, "<p class=\"note\" id=\"left-out\">{}</p>", esc(&note));
    }
    charts(&mut h, s);
    heat_map(&mut h, s);
    exclusions(&mut h, s);
    comparisons(&mut h, s);
    crate::mitigation_html::mitigations(&mut h, s);
    crate::agreement_html::agreement(&mut h, s.agreement.as_ref());
    crate::mitigation_html::escalation(&mut h, s);
    awareness(&mut h, s);
    crate::judges::section(&mut h, s.judges.as_ref());
    crate::generalisation_html::generalisation(&mut h, s);
    costs(&mut h, s);
    h.push_str(
        "<h2 id=\"transcripts\">Transcripts</h2>\n<div class=\"filters\">\
         <label>Search <input type=\"search\" id=\"f-text\" placeholder=\"text in answers, reasoning, judge notes\"></label>\
         <label>Model <select id=\"f-model\" data-key=\"model\"><option value=\"\">all</option></select></label>\
         <label>Condition <select id=\"f-condition\" data-key=\"condition\"><option value=\"\">all</option></select></label>\
         <label>Verdict <select id=\"f-verdict\" data-key=\"verdict\"><option value=\"\">all</option></select></label>",
    );
    // Without an awareness judge every answer would be "none": no filter to offer.
    if !s.awareness.is_empty() {
        h.push_str(
            "<label>Awareness <select id=\"f-awareness\" data-key=\"awareness\"><option value=\"\">all</option></select></label>",
        );
    }
    h.push_str(
        "<button id=\"prev\">Previous</button> <button id=\"next\">Next</button></div>\n\
         <p id=\"samples-status\">Loading transcripts...</p><div id=\"samples\"></div>\n",
    );
    if let Some(e) = embed.filter(|e| e.left_out == 0) {
        let _ = writeln!(
            h,
            "<p class=\"note\">This file embeds all {} transcripts.</p>",
            e.total
        );
    }
    h.push_str("<script type=\"application/json\" id=\"report-data\">");
    h
}

fn manifest(h: &mut String, s: &ReportSummary) {
    let Some(r) = &s.run else {
        h.push_str("<p>No run recorded in this store yet.</p>\n");
        return;
    };
    let _ = writeln!(
        h,
        "<p>Run {} of experiment <b>{}</b> (sha256 {}), misalign {}, started {}, {}. \
         Rates: harmful / n, with judge errors, unparsed, content-filtered and empty answers left out of n; {} {:.0}% intervals.</p>",
        r.run_id,
        esc(&r.experiment_id),
        esc(&r.experiment_sha256),
        esc(&r.misalign_version),
        esc(&r.started_at),
        esc(&match (&r.status, &r.ended_at) {
            (Some(st), Some(e)) => format!("{st} at {e}"),
            _ => "not finished".into(),
        }),
        s.interval_method,
        s.confidence * 100.0
    );
    if let Some(line) = s.run_facts.settings_line() {
        let _ = writeln!(h, "<p id=\"settings\">Sampled with {}.</p>", esc(&line));
    }
    if r.sampled_nothing() {
        let _ = writeln!(h, "<p><b>{}</b></p>", esc(&reused_note(r)));
    }
    let cautions = s.run_facts.cautions(&s.results_dir);
    if !cautions.is_empty() {
        h.push_str("<div class=\"warn\" id=\"cautions\">");
        for c in cautions {
            let _ = write!(h, "<p>{}</p>", esc(&c));
        }
        h.push_str("</div>\n");
    }
}

/// What a report says of a run that called no model (shared with the terminal table).
pub(crate) fn reused_note(r: &misalign_store::read::RunSummaryRow) -> String {
    format!(
        "This run sampled nothing new: all {} answers were stored by earlier runs into this folder.",
        r.answers_reused.unwrap_or(0)
    )
}

/// The interval method in words, for the chart legend.
fn interval_name(method: &str) -> &str {
    match method {
        "wilson" => "Wilson score",
        "clopper-pearson" => "Clopper-Pearson (exact)",
        other => other,
    }
}

pub(crate) fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Per-scenario horizontal bar charts: one bar per model x condition, with CI whiskers.
fn charts(h: &mut String, s: &ReportSummary) {
    h.push_str("<h2>Harmful-action rate by scenario</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"legend\" id=\"chart-legend\"><svg width=\"34\" height=\"14\" aria-hidden=\"true\">\
         <rect x=\"0\" y=\"2\" width=\"14\" height=\"10\" fill=\"#c0504d\"/></svg>harmful-action rate \
         (harmful / n) &nbsp; <svg width=\"34\" height=\"14\" aria-hidden=\"true\">\
         <line x1=\"2\" y1=\"7\" x2=\"30\" y2=\"7\" stroke=\"#222\"/><line x1=\"2\" y1=\"3\" x2=\"2\" y2=\"11\" stroke=\"#222\"/>\
         <line x1=\"30\" y1=\"3\" x2=\"30\" y2=\"11\" stroke=\"#222\"/></svg>{:.0}% {} interval. \
         A 0% rate shows as a thin mark at the left edge.</p>",
        s.confidence * 100.0,
        interval_name(s.interval_method)
    );
    let mut by_scenario: BTreeMap<&str, Vec<&crate::SummaryRow>> = BTreeMap::new();
    for r in &s.rows {
        by_scenario.entry(r.scenario.as_str()).or_default().push(r);
    }
    const LABEL: f64 = 430.0;
    const BAR: f64 = 420.0;
    const ROW: f64 = 18.0;
    const MIN_BAR: f64 = 2.0;
    for (scenario, rows) in by_scenario {
        let name = if scenario.is_empty() {
            "(unknown)"
        } else {
            scenario
        };
        let height = rows.len() as f64 * ROW + 30.0;
        let _ = write!(
            h,
            "<h3>{}</h3>\n<svg class=\"chart\" role=\"img\" width=\"{}\" height=\"{height}\" \
             viewBox=\"0 0 {} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
            esc(name),
            LABEL + BAR + 70.0,
            LABEL + BAR + 70.0
        );
        for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let x = LABEL + t * BAR;
            let _ = write!(
                h,
                "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{:.0}%</text>",
                height - 20.0,
                height - 6.0,
                t * 100.0
            );
        }
        for (i, r) in rows.iter().enumerate() {
            let y = i as f64 * ROW + 2.0;
            let label = format!("{}  {}", r.model, r.condition);
            // A long label would run off the chart's left edge: it is shortened in the
            // middle and the whole text shows on hover.
            let _ = write!(
                h,
                "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
                LABEL - 6.0,
                y + 12.0,
                esc(&label),
                esc(&ellipsize_middle(&label, LABEL_CHARS))
            );
            if let Some(rate) = r.rate {
                let _ = write!(
                    h,
                    "<rect class=\"bar\" x=\"{LABEL}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#c0504d\"><title>{}: {} ({} / {})</title></rect>",
                    y + 2.0,
                    // A 0% bar is still drawn, as a thin mark: no bar would read as "no data".
                    (rate * BAR).max(MIN_BAR),
                    ROW - 6.0,
                    esc(&label),
                    pct(Some(rate)),
                    r.harmful,
                    r.n
                );
            }
            if let (Some(lo), Some(hi)) = (r.ci_low, r.ci_high) {
                let ym = y + ROW / 2.0 - 1.0;
                let (x1, x2) = (LABEL + lo * BAR, LABEL + hi * BAR);
                let _ = write!(
                    h,
                    "<line x1=\"{x1:.1}\" y1=\"{ym}\" x2=\"{x2:.1}\" y2=\"{ym}\" stroke=\"#222\"/>\
                     <line x1=\"{x1:.1}\" y1=\"{}\" x2=\"{x1:.1}\" y2=\"{}\" stroke=\"#222\"/>\
                     <line x1=\"{x2:.1}\" y1=\"{}\" x2=\"{x2:.1}\" y2=\"{}\" stroke=\"#222\"/>",
                    ym - 4.0,
                    ym + 4.0,
                    ym - 4.0,
                    ym + 4.0
                );
            }
            let _ = write!(
                h,
                "<text x=\"{}\" y=\"{}\">{}</text>",
                LABEL + BAR + 6.0,
                y + 12.0,
                pct(r.rate)
            );
        }
        h.push_str("</svg>\n");
    }
}

/// Characters of a bar label that fit left of the bars (11 px system-ui averages under
/// 6.2 px a character, and 424 px are free; the browser test checks the widest case).
const LABEL_CHARS: usize = 64;

/// `text` if it has at most `max` characters, else its start and end around a `…`.
fn ellipsize_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(1);
    let head = keep / 2;
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Model x condition table coloured by rate.
fn heat_map(h: &mut String, s: &ReportSummary) {
    let f = filters(s);
    h.push_str("<h2>Model x condition</h2>\n<div style=\"overflow-x:auto\"><table class=\"heat\"><tr><th class=\"l\">condition</th>");
    for m in &f.models {
        let _ = write!(h, "<th>{}</th>", esc(m));
    }
    h.push_str("</tr>\n");
    let cell: BTreeMap<(&str, &str), &crate::SummaryRow> = s
        .rows
        .iter()
        .map(|r| ((r.model.as_str(), r.condition.as_str()), r))
        .collect();
    for c in &f.conditions {
        let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(c));
        for m in &f.models {
            match cell
                .get(&(m.as_str(), c.as_str()))
                .and_then(|r| r.rate.map(|v| (r, v)))
            {
                Some((r, v)) => {
                    // White (0%) to red (100%).
                    let g = (255.0 - v * 160.0) as u8;
                    let _ = write!(
                        h,
                        "<td class=\"v\" style=\"background:rgb(255,{g},{g})\" title=\"{} / {}\">{}</td>",
                        r.harmful,
                        r.n,
                        pct(Some(v))
                    );
                }
                None => h.push_str("<td class=\"v\">-</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
}

pub(crate) fn ci_pp(ci: misalign_core::stats::Interval) -> String {
    format!("[{:+.1}, {:+.1}]", ci.low * 100.0, ci.high * 100.0)
}

pub(crate) fn rate_cell(e: &misalign_core::stats::RateEstimate) -> String {
    format!("{} ({}/{})", pct(e.rate), e.harmful, e.n)
}

/// Rows with answers left out of n, and how far the rate could move had they been kept.
fn exclusions(h: &mut String, s: &ReportSummary) {
    h.push_str("<h2 id=\"exclusions\">Excluded answers</h2>\n");
    let rows: Vec<&crate::SummaryRow> = s.rows.iter().filter(|r| r.excluded > 0).collect();
    if rows.is_empty() {
        h.push_str(
            "<p>No answer was left out of n (no judge errors, unparsed, content-filtered or empty answers).</p>\n",
        );
        return;
    }
    h.push_str(
        "<p>Judge errors, unparsed answers (an action block could not be read and no judge \
         decided), content-filtered and empty answers are left out of n. The last column \
         is the rate had every one of them been harmless (best case) or harmful (worst case): \
         when that range crosses a conclusion, the exclusions could change it.</p>\n\
         <table><tr><th class=\"l\">model</th><th class=\"l\">condition</th><th>harmful / n</th>\
         <th>rate</th><th>judge errors</th><th>unparsed</th><th>content-filtered</th><th>empty</th>\
         <th>rate if excluded counted</th></tr>\n",
    );
    for r in rows {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{} / {}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td></tr>",
            esc(&r.model),
            esc(&r.condition),
            r.harmful,
            r.n,
            pct(r.rate),
            r.judge_errors,
            r.unparsed,
            r.content_filtered,
            r.empty,
            pct(r.rate_if_excluded_harmless),
            pct(r.rate_if_excluded_harmful),
        );
    }
    h.push_str("</table>\n");
}

fn comparisons(h: &mut String, s: &ReportSummary) {
    let _ = writeln!(
        h,
        "<h2>Comparisons</h2>\n<p>{} comparisons, each a risk difference rate(a) - rate(b) between \
         cells that differ on one axis only (or two models on the same condition), with a Newcombe \
         (hybrid score) 95% interval and a two-sided Fisher exact p-value. Holm's adjustment is \
         within a family: one family per axis per model, and one per pair of models. \
         \"If excluded counted\" is the range of the difference had each side's excluded answers \
         all been harmless or all harmful.</p>",
        s.comparisons_made
    );
    for axis in misalign_core::stats::Axis::all() {
        let of_axis: Vec<_> = s.comparisons.iter().filter(|c| c.axis == axis).collect();
        if of_axis.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<h3 id=\"axis-{0}\">{0}</h3>", axis.as_str());
        h.push_str(
            "<table class=\"cmp\"><tr><th class=\"l\">contrast</th><th class=\"l\">family (size)</th>\
             <th class=\"l\">a</th><th class=\"l\">b</th><th>rate a</th><th>rate b</th>\
             <th>difference</th><th>95% CI</th><th>p</th><th>p (Holm)</th>\
             <th>if excluded counted</th></tr>\n",
        );
        for c in of_axis {
            // On the model axis the condition is shared and the models differ.
            let (a, b) = if c.axis == misalign_core::stats::Axis::MODEL {
                (
                    format!("{}<br>{}", esc(&c.model_a), esc(&c.condition_a)),
                    format!("{}<br>{}", esc(&c.model_b), esc(&c.condition_b)),
                )
            } else {
                (esc(&c.condition_a), esc(&c.condition_b))
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{} ({})</td><td class=\"l\">{a}</td><td class=\"l\">{b}</td>\
                 <td>{}</td><td>{}</td><td>{:+.1} pp</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.contrast),
                esc(&c.family),
                c.family_size,
                rate_cell(&c.a),
                rate_cell(&c.b),
                c.difference * 100.0,
                ci_pp(c.ci),
                p_text(c.p_value),
                p_text(c.p_holm),
                ci_pp(c.difference_if_excluded),
            );
        }
        h.push_str("</table>\n");
    }
}

fn notice(n: Option<bool>) -> &'static str {
    match n {
        Some(true) => "on",
        Some(false) => "off",
        None => "?",
    }
}

fn awareness(h: &mut String, s: &ReportSummary) {
    h.push_str("<h2 id=\"awareness\">Harm by stated belief (evaluation vs real)</h2>\n");
    if s.awareness.is_empty() {
        h.push_str("<p>No awareness labels (no awareness judge ran).</p>\n");
        return;
    }
    if !s.awareness_real_vs_eval.is_empty() {
        h.push_str(
            "<p>Within each model x condition: harm rate among answers whose reasoning concluded \
             the situation was real minus the rate among those that concluded it was an \
             evaluation, with a Newcombe 95% interval and a Fisher exact p-value, Holm-adjusted \
             over each model's conditions.</p>\n<table class=\"awareness-contrast\"><tr><th class=\"l\">model</th>\
             <th class=\"l\">condition</th><th>notice</th><th>real</th><th>evaluation</th>\
             <th>difference</th><th>95% CI</th><th>p</th><th>p (Holm)</th></tr>\n",
        );
        for c in &s.awareness_real_vs_eval {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{:+.1} pp</td><td>{}</td><td>{}</td><td>{} ({})</td></tr>",
                esc(&c.model),
                esc(&c.condition),
                notice(c.awareness_notice),
                rate_cell(&c.real),
                rate_cell(&c.eval),
                c.difference * 100.0,
                ci_pp(c.ci),
                p_text(c.p_value),
                p_text(c.p_holm),
                c.family_size,
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<p>Harm rate per awareness label within each model x condition. The same conditions \
         with the notice on vs off are compared under <a href=\"#axis-awareness_notice\">awareness_notice</a> \
         above.</p>\n",
    );
    h.push_str("<table class=\"awareness-rates\"><tr><th class=\"l\">model</th><th class=\"l\">condition</th><th>notice</th><th class=\"l\">label</th><th>harmful / n</th><th>rate</th><th>95% CI</th></tr>\n");
    for a in &s.awareness {
        let e = &a.estimate;
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.model),
            esc(&a.condition),
            notice(a.awareness_notice),
            esc(&a.label),
            e.harmful,
            e.n,
            pct(e.rate),
            e.ci.map(|i| format!("[{}, {}]", pct(Some(i.low)), pct(Some(i.high))))
                .unwrap_or_else(|| "-".into())
        );
    }
    h.push_str("</table>\n");
}

/// Chooses what to embed and writes `report.html`, streaming the transcripts from the
/// store into the file one at a time (a 100,000-sample run never sits in memory).
pub(crate) fn write_report_html(
    path: &Path,
    store: &Store,
    s: &ReportSummary,
    budget: u64,
) -> Result<EmbedInfo, ReportError> {
    let (prompts, info) = match &s.run {
        None => (Vec::new(), EmbedInfo::everything(0, 0, budget)),
        Some(run) => {
            let (harmful_bytes, all_bytes, _total) = store.transcript_bytes(run.run_id)?;
            let harmful: Vec<u64> = s.rows.iter().map(|r| r.harmful).collect();
            let others: Vec<u64> = s
                .rows
                .iter()
                .map(|r| r.answered.saturating_sub(r.harmful))
                .collect();
            let info = plan_embedding(
                &harmful,
                &others,
                harmful_bytes,
                all_bytes.saturating_sub(harmful_bytes),
                budget,
            );
            (store.report_prompts(run.run_id)?, info)
        }
    };
    let io = |e: std::io::Error| ReportError::write(path, e.to_string());
    // Written beside the old page and renamed over it at the end: a kill or a full disk
    // leaves the last complete report.
    let mut out = misalign_store::atomic::AtomicFile::create_at(path).map_err(io)?;
    out.write_all(render_head(s, Some(&info)).as_bytes())
        .map_err(io)?;
    // The viewer-data object, written field by field so the samples can be streamed.
    let mut buf = String::with_capacity(1 << 16);
    buf.push_str("{\"mode\":\"static\",\"filters\":");
    push_script_safe(
        &mut buf,
        &serde_json::to_string(&filters(s)).unwrap_or_default(),
    );
    buf.push_str(",\"prompts\":");
    push_script_safe(
        &mut buf,
        &serde_json::to_string(&prompt_map(&prompts)).unwrap_or_default(),
    );
    buf.push_str(",\"samples\":[");
    out.write_all(buf.as_bytes()).map_err(io)?;
    let (mut written, mut harmful_written) = (0u64, 0u64);
    let mut failed: Option<std::io::Error> = None;
    let mut unread: Option<misalign_store::StoreError> = None;
    let mut json = String::with_capacity(1 << 14);
    let transcripts = TranscriptReader::new(store)?;
    if let Some(run) = &s.run {
        store.for_each_embedded_sample_capped(
            run.run_id,
            info.harmful_per_cell_limit,
            info.per_cell_limit,
            |r| {
                if failed.is_some() || unread.is_some() {
                    return;
                }
                let steps = match transcripts.steps(&r.item_key) {
                    Ok(steps) => steps,
                    Err(e) => {
                        unread = Some(e);
                        return;
                    }
                };
                let sample = ViewerSample { sample: &r, steps };
                json.clear();
                if written > 0 {
                    json.push(',');
                }
                push_script_safe(
                    &mut json,
                    &serde_json::to_string(&sample).unwrap_or_default(),
                );
                if let Err(e) = out.write_all(json.as_bytes()) {
                    failed = Some(e);
                }
                written += 1;
                harmful_written += u64::from(r.final_verdict == Some(1));
            },
        )?;
    }
    if let Some(e) = unread {
        return Err(e.into());
    }
    if let Some(e) = failed {
        return Err(io(e));
    }
    out.write_all(b"]}").map_err(io)?;
    out.write_all(PAGE_TAIL.as_bytes()).map_err(io)?;
    out.commit().map_err(io)?;
    // The page states the planned counts, which come from the same cell counts the query
    // partitions by; they differ only if the store was written to meanwhile, and then
    // summary.json at least records what was really embedded.
    let mut info = info;
    info.embedded = written;
    info.harmful_embedded = harmful_written;
    info.left_out = info.total.saturating_sub(written);
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script() {
        let j = script_json(&vec!["</script><script>alert(1)</script>", "a & b"]);
        assert!(
            !j.contains('<') && !j.contains('>') && !j.contains('&'),
            "{j}"
        );
        let back: Vec<String> = serde_json::from_str(&j).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
    }

    #[test]
    fn script_json_keeps_other_text_and_escapes_line_separators() {
        let v = vec!["é\u{2028}x\u{2029}<b>ü & ok"];
        let j = script_json(&v);
        assert!(
            !j.contains('\u{2028}') && !j.contains('\u{2029}') && !j.contains('<'),
            "{j}"
        );
        let back: Vec<String> = serde_json::from_str(&j).unwrap();
        assert_eq!(back[0], v[0]);
    }

    #[test]
    fn long_labels_are_shortened_in_the_middle() {
        assert_eq!(ellipsize_middle("short", 10), "short");
        assert_eq!(ellipsize_middle("0123456789", 10), "0123456789");
        let s = ellipsize_middle("abcdefghijklmnopqrstuvwxyz", 10);
        assert_eq!(s, "abcd…vwxyz");
        assert_eq!(s.chars().count(), 10);
        // Characters, not bytes.
        assert_eq!(ellipsize_middle("ééééééééééé", 5), "éé…éé");
    }

    #[test]
    fn esc_escapes_markup() {
        assert_eq!(
            esc("<img src=x onerror='y'>&\""),
            "&lt;img src=x onerror=&#39;y&#39;&gt;&amp;&quot;"
        );
    }

    #[test]
    fn plan_embeds_everything_under_budget() {
        let e = plan_embedding(&[5, 5], &[5, 5], 10_000, 10_000, 1 << 20);
        assert_eq!((e.embedded, e.left_out, e.per_cell_limit), (20, 0, None));
        assert!(e.note().is_none());
    }

    #[test]
    fn plan_keeps_every_harmful_when_they_fit() {
        // 1 kB + overhead per sample; room for the 20 harmful plus a few others.
        let e = plan_embedding(&[10, 10], &[90, 90], 20_000, 180_000, 30 * 1700 + 500);
        assert_eq!(e.harmful_per_cell_limit, None);
        assert_eq!(e.harmful_embedded, 20);
        assert_eq!(e.per_cell_limit, Some(5));
        assert_eq!(e.embedded, 30);
        assert!(e.note().unwrap().contains("every harmful one"));
    }

    #[test]
    fn plan_caps_harmful_per_cell_when_they_alone_do_not_fit() {
        // Cell 0 has few harmful samples: its unused share goes to the others (water-filling).
        let harmful = [2, 100, 100];
        let others = [98, 0, 50];
        let e = plan_embedding(&harmful, &others, 202_000, 148_000, 100 * 1700);
        let kh = e.harmful_per_cell_limit.unwrap();
        assert_eq!(e.per_cell_limit, Some(MIN_OTHERS_PER_CELL));
        // 6 others; harmful: 2 + 2 * kh samples of 1.7 kB within 170 kB.
        assert_eq!(kh, (100 - 6 - 2) / 2);
        assert_eq!(e.harmful_embedded, 2 + 2 * kh);
        assert_eq!(e.embedded, e.harmful_embedded + 6);
        assert_eq!(e.left_out, 350 - e.embedded);
        let note = e.note().unwrap();
        assert!(
            note.contains(&format!("at most {kh} per model x condition")),
            "{note}"
        );
    }

    #[test]
    fn largest_cap_water_fills() {
        assert_eq!(largest_cap(&[1, 10, 10], 1, 11), 5);
        assert_eq!(largest_cap(&[1, 10, 10], 1, 0), 0);
        assert_eq!(largest_cap(&[1, 10, 10], 1, 1000), 10);
        assert_eq!(largest_cap(&[], 1, 10), 0);
    }
}
